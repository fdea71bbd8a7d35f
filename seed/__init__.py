"""Seed data for crm_db and telemetry_db: deterministic, coherent, a little messy on purpose.

    from seed import SeedConfig, seed_database, insert_anomalies
    rows = seed_database(settings, SeedConfig(users=12, months=30, end_date=date(2024, 7, 1)))

See ``seed.generate`` (what is generated, the event types and the deliberate mess),
``seed.anomalies`` (bad data on purpose) and docs/seed.md.
"""

from __future__ import annotations

from collections.abc import Callable

from seed.anomalies import insert_anomalies
from seed.config import SeedConfig

__all__ = ["SeedConfig", "insert_anomalies", "seed_database"]


def seed_database(settings, config: SeedConfig, progress: Callable[[str, int], None] | None = None) -> dict[str, int]:
    """TRUNCATE the seven source tables and load the data of ``config``; returns table -> rows.

    ``progress(stage, advance)``: ``advance`` is a number of days of the period loaded (they sum to
    ``config.period_days``); calls with ``advance == 0`` only name the current step. With
    ``config.anomalies`` the bad rows of ``insert_anomalies`` (dated on the last day) are added and
    counted in the returned rows. ``seed.load.load_seed`` returns the same with statistics and timings.
    """
    from seed.load import load_seed

    return load_seed(settings, config, progress).rows
