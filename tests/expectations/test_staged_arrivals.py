"""An event dated years ahead lies outside every staging window until its date: the run that sees
it arrive stages it with the look-back (tasks/sql/stage_lookback.sql) and reports it."""

from __future__ import annotations

from datetime import datetime

import pytest

from tests.expectations.conftest import good_rows

pytestmark = pytest.mark.integration

WINDOW = {"window_start": datetime(2024, 1, 15), "window_end": datetime(2024, 1, 16)}
FUTURE, SKEWED, ARRIVED_LATER = 9_000_000_001, 9_000_000_002, 9_000_000_003
# (event_id, event_timestamp, created_at)
ARRIVALS = [
    (FUTURE, datetime(2030, 1, 1, 8), datetime(2024, 1, 15, 12)),
    (SKEWED, datetime(2024, 1, 16, 0, 0, 30), datetime(2024, 1, 15, 23, 59, 50)),  # 40 s ahead: a clock's skew
    (ARRIVED_LATER, datetime(2030, 1, 1, 8), datetime(2024, 1, 16)),  # the next window's arrival
]


@pytest.fixture
def arrivals(work):
    from bionicpro.db import pg_connection
    from bionicpro.settings import TELEMETRY_DB

    settings, _ = work
    with pg_connection(settings, TELEMETRY_DB) as conn, conn.cursor() as cur:
        for event_id, at, created in ARRIVALS:
            cur.execute("INSERT INTO telemetry_events VALUES (%s, 10, 1, 'grip', 'info', %s, NULL, %s)",
                        (event_id, at, created))
    yield
    with pg_connection(settings, TELEMETRY_DB) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM telemetry_events WHERE event_id = ANY(%s)", ([a[0] for a in ARRIVALS],))


def test_event_dated_2030_is_reported_by_the_run_that_saw_it_arrive(work, stage, arrivals):
    from bionicpro.db import clickhouse_client
    from bionicpro.pgio import read_sql
    from bionicpro.settings import WORK
    from expectations import check
    from tasks.stage import collection_statements

    settings, _ = work
    rows = good_rows()
    del rows["stage_lookback"]
    run_id = stage(rows)
    with clickhouse_client(settings, WORK) as client:
        if settings.warehouse_uses_chdb(WORK):
            for statement in collection_statements(settings):
                client.command(statement)
        client.command(read_sql("stage_lookback"), parameters={"run_id": run_id, **WINDOW})
        staged = {r[0] for r in client.query(
            "SELECT event_id FROM bionicpro_work.stage_lookback WHERE run_id = {r:String} AND created_at IS NOT NULL",
            parameters={"r": run_id}).result_rows}
    assert {FUTURE, SKEWED} <= staged and ARRIVED_LATER not in staged

    report = check(settings, run_id, ["telemetry_events"], f"test-{run_id}", update_docs=False)
    assert report.passed, report.to_markdown()
    failure = next(f for f in report.warning_failures if f.rule == "arrived_dated_ahead")
    flagged = {e["event_id"] for e in failure.examples}
    assert FUTURE in flagged and SKEWED not in flagged, failure.summary()
