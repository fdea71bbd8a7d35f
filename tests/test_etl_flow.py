"""The daily flow end to end on embedded PostgreSQL and chDB, against an independent reference."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from tests import reference

pytestmark = pytest.mark.integration

END = date(2024, 4, 1)  # seeded period: Jan, Feb, Mar 2024
MARCH_END = date(2024, 3, 31)
USER_COLUMNS = ["user_uuid", "total_payments", "successful_payments", "failed_payments_count",
                "active_subscriptions_count", "subscription_cost_total", "support_tickets_opened",
                "support_tickets_resolved"]
PROSTHETIC_COLUMNS = ["user_id", "user_uuid", "prosthetic_uuid", "device_type", "power_on_count", "power_off_count",
                      "total_active_hours", "avg_discharge_rate_active", "avg_discharge_rate_idle", "avg_charge_rate",
                      "charge_cycles", "warning_count", "error_count", "critical_error_count", "downtime_minutes"]


@pytest.fixture(scope="module")
def seeded(settings, prefect_harness):
    from seed import SeedConfig, seed_database

    seed_database(settings, SeedConfig(users=5, months=3, end_date=END, seed=7))
    return settings


def mart_rows(settings, table: str, key: str, month: date) -> dict[int, dict]:
    from bionicpro.db import clickhouse_client

    with clickhouse_client(settings) as client:
        result = client.query(f"SELECT * FROM reports_db.{table} WHERE report_date = {{m:Date}} ORDER BY {key}",
                              parameters={"m": month})
    rows = [dict(zip(result.column_names, row)) for row in result.result_rows]
    keys = [row[key] for row in rows]
    assert len(keys) == len(set(keys)), f"duplicate {key} in {table} {month}"
    return {row[key]: row for row in rows}


def assert_marts_match_reference(settings, report_date: date) -> None:
    from bionicpro.settings import CRM_DB, TELEMETRY_DB

    month = report_date.replace(day=1)
    crm_url, telemetry_url = settings.postgres_url(CRM_DB), settings.postgres_url(TELEMETRY_DB)

    expected_users = reference.user_mart(crm_url, report_date)
    loaded_users = mart_rows(settings, "report_user_monthly_metrics", "user_id", month)
    assert loaded_users.keys() == expected_users.keys()
    for user_id, expected in expected_users.items():
        assert {c: loaded_users[user_id][c] for c in USER_COLUMNS} == {c: expected[c] for c in USER_COLUMNS}, user_id

    expected_devices = reference.prosthetic_mart(crm_url, telemetry_url, report_date)
    loaded_devices = mart_rows(settings, "report_prosthetic_monthly_metrics", "prosthetic_id", month)
    assert loaded_devices.keys() == expected_devices.keys()
    for pid, expected in expected_devices.items():
        got = {c: loaded_devices[pid][c] for c in PROSTHETIC_COLUMNS}
        # Exact: both sides divide the same integers (microseconds, milliamp sums and counts).
        assert got == {c: expected[c] for c in PROSTHETIC_COLUMNS}, pid
    assert sum(d["total_active_hours"] for d in expected_devices.values()) > 0, "seed gave no usage: test is void"


def test_full_month_matches_the_reference(seeded):
    from flows.daily import bionicpro_etl_daily

    rows = bionicpro_etl_daily(report_date=MARCH_END)
    assert rows["user"] == 5 and rows["prosthetic"] > 0
    assert_marts_match_reference(seeded, MARCH_END)


def test_daily_runs_build_the_month_to_date(seeded):
    """Feb 10 then Feb 11: the second run computes one new day and sums the month."""
    from flows.daily import bionicpro_etl_daily

    bionicpro_etl_daily(report_date=date(2024, 2, 10))
    assert_marts_match_reference(seeded, date(2024, 2, 10))
    bionicpro_etl_daily(report_date=date(2024, 2, 11))
    assert_marts_match_reference(seeded, date(2024, 2, 11))


def test_three_reruns_change_nothing_but_last_updated(seeded):
    from flows.daily import bionicpro_etl_daily

    bionicpro_etl_daily(report_date=MARCH_END)
    before = {t: mart_rows(seeded, t, k, date(2024, 3, 1)) for t, k in
              (("report_user_monthly_metrics", "user_id"), ("report_prosthetic_monthly_metrics", "prosthetic_id"))}
    for _ in range(3):
        bionicpro_etl_daily(report_date=MARCH_END)
    for (table, key), rows in zip((("report_user_monthly_metrics", "user_id"),
                                   ("report_prosthetic_monthly_metrics", "prosthetic_id")), before.values()):
        after = mart_rows(seeded, table, key, date(2024, 3, 1))
        assert after.keys() == rows.keys()
        for k, row in rows.items():
            assert after[k]["last_updated"] >= row["last_updated"]
            # load_id names the run that published the row: each rerun publishes its own
            assert {c: v for c, v in after[k].items() if c not in ("last_updated", "load_id")} == \
                   {c: v for c, v in row.items() if c not in ("last_updated", "load_id")}


def test_late_event_changes_a_computed_day(seeded):
    """A power_off that arrives a day late shortens a session that had run to the 24-hour cap."""
    from bionicpro.db import pg_connection
    from bionicpro.settings import TELEMETRY_DB
    from flows.daily import bionicpro_etl_daily

    bionicpro_etl_daily(report_date=date(2024, 1, 20))
    with pg_connection(seeded, TELEMETRY_DB) as conn, conn.cursor() as cur:
        cur.execute("SELECT max(event_id) + 1 FROM telemetry_events")
        new_id = cur.fetchone()[0]
        cur.execute("SELECT prosthetic_id, user_id, event_timestamp FROM telemetry_events "
                    "WHERE event_type = 'power_on' AND event_timestamp >= '2024-01-10' AND event_timestamp < '2024-01-11' "
                    "ORDER BY event_id LIMIT 1")
        pid, uid, started = cur.fetchone()
        # One second after the power_on, arriving now: whatever the session was, it is now one second long.
        cur.execute("INSERT INTO telemetry_events VALUES (%s, %s, %s, 'power_off', 'info', %s, NULL, %s)",
                    (new_id, pid, uid, started + timedelta(seconds=1), datetime.utcnow()))
    try:
        bionicpro_etl_daily(report_date=date(2024, 1, 20))
        assert_marts_match_reference(seeded, date(2024, 1, 20))
    finally:
        with pg_connection(seeded, TELEMETRY_DB) as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM telemetry_events WHERE event_id = %s", (new_id,))


def test_empty_month_replaces_the_partition(seeded):
    """A month before any user existed: the old rows of that partition are dropped, not kept."""
    from bionicpro.db import clickhouse_client
    from flows.daily import bionicpro_etl_daily

    with clickhouse_client(seeded) as client:
        client.command("INSERT INTO reports_db.report_user_monthly_metrics (report_date, user_id, user_uuid, "
                       "created_at, last_updated) VALUES ('2019-06-01', 99, 'stale', now(), now())")
    assert bionicpro_etl_daily(report_date=date(2019, 6, 30)) == {"user": 0, "prosthetic": 0}
    assert mart_rows(seeded, "report_user_monthly_metrics", "user_id", date(2019, 6, 1)) == {}


def test_anomalies_fail_the_blocking_suite_and_keep_previous_rows(seeded):
    from expectations import DataQualityError
    from flows.daily import bionicpro_etl_daily
    from seed import insert_anomalies

    bionicpro_etl_daily(report_date=MARCH_END)
    before_users = mart_rows(seeded, "report_user_monthly_metrics", "user_id", date(2024, 3, 1))
    before_devices = mart_rows(seeded, "report_prosthetic_monthly_metrics", "prosthetic_id", date(2024, 3, 1))
    inserted = insert_anomalies(seeded, MARCH_END)
    assert inserted and all(count >= 1 for count in inserted.values())
    with pytest.raises(DataQualityError) as failure:
        # The anomalies carry backdated created_at values, as bad rows found in a source would.
        bionicpro_etl_daily(report_date=MARCH_END, recompute=True)
    message = str(failure.value)
    # Each kind of bad row the seed makes is stopped by its named rule, with the row's key.
    for suite, rule in (("telemetry_events", "prosthetic_known"), ("battery_metrics", "prosthetic_known"),
                        ("telemetry_events", "user_known"), ("battery_metrics", "charge_level_range"),
                        ("battery_metrics", "current_sign"), ("telemetry_events", "event_type_known"),
                        ("telemetry_events", "severity_known"), ("telemetry_events", "not_before_purchase"),
                        ("telemetry_events", "not_ahead_of_arrival")):
        assert f"{suite}.blocking: {rule} failed" in message, (suite, rule)
    assert mart_rows(seeded, "report_user_monthly_metrics", "user_id", date(2024, 3, 1)) == before_users
    assert mart_rows(seeded, "report_prosthetic_monthly_metrics", "prosthetic_id", date(2024, 3, 1)) == before_devices
