"""Shared fixtures: a real embedded PostgreSQL and chDB under a temporary data dir."""

from __future__ import annotations

import os

import pytest

# No network here: Prefect's usage telemetry would only log failures.
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

URL_VARIABLES = ("CRM_DATABASE_URL", "TELEMETRY_DATABASE_URL", "CLICKHOUSE_URL")


@pytest.fixture(scope="session")
def settings(tmp_path_factory):
    """Settings on fresh embedded databases with every schema applied (tables empty)."""
    from bionicpro.settings import get_settings
    from schema import apply_all

    for name in URL_VARIABLES:
        os.environ.pop(name, None)
    os.environ["BIONICPRO_DATA_DIR"] = str(tmp_path_factory.mktemp("data"))
    current = get_settings()
    apply_all(current)
    return current


@pytest.fixture(scope="session")
def prefect_harness(settings):
    """A throwaway Prefect API for flow runs (state under the test's data dir)."""
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness():
        yield
