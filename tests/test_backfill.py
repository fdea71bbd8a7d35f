"""Backfills, resumption, scheduled-date resolution and late rows, through the real flows."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from tests import reference

pytestmark = pytest.mark.integration

# A period no other test module loads: April to June 2023.
END = date(2023, 7, 1)
APRIL, MAY, JUNE = date(2023, 4, 1), date(2023, 5, 1), date(2023, 6, 1)


@pytest.fixture(scope="module")
def seeded(settings, prefect_harness):
    from seed import SeedConfig, seed_database

    seed_database(settings, SeedConfig(users=4, months=3, end_date=END, seed=11))
    return settings


def load_log(settings, month: date) -> list[tuple]:
    from bionicpro.db import clickhouse_client

    with clickhouse_client(settings) as client:
        return client.query("SELECT mart, status, horizon FROM reports_db.load_log WHERE report_date = {m:Date} "
                            "ORDER BY loaded_at", parameters={"m": month}).result_rows


def mart_devices(settings, month: date) -> dict[int, dict]:
    from bionicpro.db import clickhouse_client

    with clickhouse_client(settings) as client:
        result = client.query("SELECT * FROM reports_db.report_prosthetic_monthly_metrics WHERE report_date = {m:Date}",
                              parameters={"m": month})
    return {row[1]: dict(zip(result.column_names, row)) for row in result.result_rows}


def test_a_failed_month_does_not_stop_the_others_and_failed_mode_redoes_only_it(seeded):
    from bionicpro.db import pg_connection
    from bionicpro.settings import CRM_DB, TELEMETRY_DB
    from flows.backfill import bionicpro_backfill
    from seed import insert_anomalies

    with pg_connection(seeded, TELEMETRY_DB) as conn, conn.cursor() as cur:
        cur.execute("SELECT max(event_id), max((SELECT max(metric_id) FROM battery_metrics)) FROM telemetry_events")
        last_event, last_metric = cur.fetchone()
    insert_anomalies(seeded, date(2023, 6, 30))
    with pytest.raises(RuntimeError, match="1 month\\(s\\) failed: 2023-06"):
        bionicpro_backfill(start_date=APRIL, end_date=date(2023, 6, 30))
    assert [status for _, status, _ in load_log(seeded, APRIL)] == ["success", "success"]
    assert [status for _, status, _ in load_log(seeded, MAY)] == ["success", "success"]
    assert {status for _, status, _ in load_log(seeded, JUNE)} == {"failed"}

    # The bad rows are removed at the source; only the failed month runs again.
    with pg_connection(seeded, TELEMETRY_DB) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM telemetry_events WHERE event_id > %s", (last_event,))
        cur.execute("DELETE FROM battery_metrics WHERE metric_id > %s", (last_metric,))
    with pg_connection(seeded, CRM_DB) as conn, conn.cursor() as cur:
        cur.execute("DELETE FROM crm_prosthetics WHERE purchase_date > %s", (END,))
    table = bionicpro_backfill(start_date=APRIL, end_date=date(2023, 6, 30), mode="failed")
    assert [(row["month"], row["status"]) for row in table] == [
        ("2023-04", "skipped (already loaded)"), ("2023-05", "skipped (already loaded)"), ("2023-06", "loaded")]
    assert len(load_log(seeded, APRIL)) == 2


def test_three_months_are_three_exact_partitions_and_missing_mode_skips_them(seeded):
    from bionicpro.settings import CRM_DB, TELEMETRY_DB
    from flows.backfill import bionicpro_backfill

    table = bionicpro_backfill(start_date=date(2023, 4, 10), end_date=date(2023, 6, 30), mode="missing")
    assert {row["status"] for row in table} == {"skipped (already loaded)"}
    for month in (APRIL, MAY, JUNE):
        expected = reference.prosthetic_mart(seeded.postgres_url(CRM_DB), seeded.postgres_url(TELEMETRY_DB),
                                             (month + timedelta(days=32)).replace(day=1) - timedelta(days=1))
        loaded = mart_devices(seeded, month)
        assert loaded.keys() == expected.keys() and loaded
        for pid, row in expected.items():
            assert loaded[pid]["total_active_hours"] == row["total_active_hours"]
            assert loaded[pid]["downtime_minutes"] == row["downtime_minutes"]
            assert loaded[pid]["power_on_count"] == row["power_on_count"]


def test_an_interrupted_backfill_resumed_finishes_only_what_was_left(seeded):
    """Interrupted after March: resuming over February..March 2023 loads only the missing month."""
    from flows.backfill import bionicpro_backfill

    first = bionicpro_backfill(start_date=date(2023, 3, 1), end_date=date(2023, 3, 31))
    assert [row["status"] for row in first] == ["loaded"]
    resumed = bionicpro_backfill(start_date=date(2023, 2, 1), end_date=date(2023, 3, 31))
    assert [(row["month"], row["status"]) for row in resumed] == [
        ("2023-02", "loaded"), ("2023-03", "skipped (already loaded)")]
    assert len(load_log(seeded, date(2023, 3, 1))) == 2


def test_report_date_none_is_the_day_before_the_scheduled_start(seeded):
    """A flow run scheduled for 16 May 02:00 UTC, as the deployment's schedule would create it."""
    from prefect import get_client
    from prefect.flow_engine import run_flow
    from prefect.states import Scheduled

    from flows.daily import bionicpro_etl_daily

    with get_client(sync_client=True) as client:
        scheduled = client.create_flow_run(
            bionicpro_etl_daily, parameters={},
            state=Scheduled(scheduled_time=datetime(2023, 5, 16, 2, 0, tzinfo=timezone.utc)))
    run_flow(bionicpro_etl_daily, flow_run=scheduled)
    assert load_log(seeded, MAY)[-1][2] == datetime(2023, 5, 16)


def test_late_rows_of_a_closed_month_change_it_after_the_next_daily_run(seeded):
    """A power_on of April that reaches the server now: the June daily run reloads April."""
    from bionicpro.db import pg_connection
    from bionicpro.settings import CRM_DB, TELEMETRY_DB
    from flows.daily import bionicpro_etl_daily

    bionicpro_etl_daily(report_date=date(2023, 4, 30))  # April whole, the watermark set before the row arrives
    before = mart_devices(seeded, APRIL)
    with pg_connection(seeded, TELEMETRY_DB) as conn, conn.cursor() as cur:
        cur.execute("SELECT max(event_id) + 1 FROM telemetry_events")
        new_id = cur.fetchone()[0]
        # Late at night on 29 April, after every seeded event of that device that day.
        cur.execute("SELECT prosthetic_id, user_id FROM telemetry_events ORDER BY event_id LIMIT 1")
        pid, uid = cur.fetchone()
        cur.execute("INSERT INTO telemetry_events VALUES (%s, %s, %s, 'power_on', 'info', '2023-04-29 23:59:00', "
                    "NULL, %s)", (new_id, pid, uid, datetime.utcnow()))
    bionicpro_etl_daily(report_date=date(2023, 6, 30))
    after = mart_devices(seeded, APRIL)
    expected = reference.prosthetic_mart(seeded.postgres_url(CRM_DB), seeded.postgres_url(TELEMETRY_DB),
                                         date(2023, 4, 30))
    assert after[pid]["power_on_count"] == before[pid]["power_on_count"] + 1
    assert after[pid]["total_active_hours"] == expected[pid]["total_active_hours"]
    assert after[pid]["created_at"] == before[pid]["created_at"]
