"""The tests of the ClickHouse SQL (tasks/sql/compute_partials.sql, build_user_mart.sql,
build_prosthetic_mart.sql) run on the session's work warehouse (tests/conftest.py)."""

from __future__ import annotations

import pytest

WORK_TABLES = (
    "stage_events", "stage_lookback", "stage_battery", "stage_users", "stage_prosthetics",
    "stage_payments", "stage_subscriptions", "stage_tickets", "prosthetic_daily_partials",
    "partial_days", "arrival_checks", "user_mart_candidates", "prosthetic_mart_candidates",
)


@pytest.fixture
def db(settings):
    """A client on the session's work warehouse with every bionicpro_work table emptied: the
    partials and their day marks are not partitioned by run, so each test starts from nothing."""
    from bionicpro.db import clickhouse_client
    from bionicpro.settings import WORK

    with clickhouse_client(settings, WORK) as client:
        for table in WORK_TABLES:
            client.command("TRUNCATE TABLE bionicpro_work.{table:Identifier}", parameters={"table": table})
        yield client
