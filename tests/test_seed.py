"""The seed on the embedded PostgreSQL: volumes, coherence, determinism, constraints, anomalies.

Every assertion is a SQL query on what was loaded. The default profile is seeded once for the
module; the tests that reseed (determinism, CLI, anomalies) restore or replace it and come last.
"""

from __future__ import annotations

from datetime import date, datetime

import psycopg2.errors
import pytest

from bionicpro.db import pg_connection
from bionicpro.settings import CRM_DB, TELEMETRY_DB
from seed import SeedConfig, insert_anomalies, seed_database
from seed.anomalies import RULES
from seed.load import load_seed

pytestmark = pytest.mark.integration

DEFAULT = SeedConfig(end_date=date(2024, 7, 1))
LAST_DAY = date(2024, 6, 30)
STATES = "('power_on', 'power_off', 'critical_error')"
# one row per resent event (the contract: same prosthetic, type, timestamp and value; NULLs equal)
DEDUPED = """
    SELECT DISTINCT ON (prosthetic_id, event_type, event_timestamp, event_value) *
    FROM telemetry_events
    ORDER BY prosthetic_id, event_type, event_timestamp, event_value, event_id
"""


@pytest.fixture(scope="module")
def seeded(settings):
    return load_seed(settings, DEFAULT)


def query(settings, database: str, sql: str, params=None) -> list[tuple]:
    with pg_connection(settings, database) as conn, conn.cursor() as cur:
        cur.execute(sql, params)
        return cur.fetchall()


def scalar(settings, database: str, sql: str, params=None):
    return query(settings, database, sql, params)[0][0]


def test_volumes(settings, seeded):
    events = scalar(settings, TELEMETRY_DB, "SELECT count(*) FROM telemetry_events")
    samples = scalar(settings, TELEMETRY_DB, "SELECT count(*) FROM battery_metrics")
    assert 456_000 * 0.9 <= events <= 456_000 * 1.1
    assert 45_000 * 0.9 <= samples <= 45_000 * 1.1
    assert scalar(settings, CRM_DB, "SELECT count(*) FROM crm_users") == 12
    assert 12 <= scalar(settings, CRM_DB, "SELECT count(*) FROM crm_prosthetics") <= 24
    assert seeded.rows["telemetry_events"] == events and seeded.rows["battery_metrics"] == samples
    assert scalar(settings, CRM_DB, "SELECT count(*) FROM crm_support_tickets WHERE resolved_at IS NULL") > 0
    assert scalar(settings, CRM_DB, "SELECT count(*) FROM crm_support_tickets WHERE resolved_at IS NOT NULL") > 0


def test_period_and_arrival(settings, seeded):
    (first, last, max_created, early, late, too_late) = query(settings, TELEMETRY_DB, """
        SELECT min(event_timestamp), max(event_timestamp), max(created_at),
               count(*) FILTER (WHERE event_timestamp > created_at + interval '5 minutes'),
               count(*) FILTER (WHERE created_at >= event_timestamp + interval '1 hour'),
               count(*) FILTER (WHERE created_at > '2024-07-01')
        FROM telemetry_events""")[0]
    assert first >= datetime(2022, 1, 1) and last.date() == LAST_DAY
    assert max_created <= datetime(2024, 7, 1)
    assert early == 0 and too_late == 0
    # resends of late events are late too; fewer only where capped at the end of the period
    assert seeded.stats["late_events"] * 0.98 <= late <= seeded.stats["late_events"] + seeded.stats["duplicate_events"]
    assert 0.015 < late / seeded.rows["telemetry_events"] < 0.025


def test_power_on_and_off_alternate(settings, seeded):
    pairs = dict(((prev, cur), n) for prev, cur, n in query(settings, TELEMETRY_DB, f"""
        WITH d AS ({DEDUPED}),
        s AS (SELECT event_type, lag(event_type) OVER (PARTITION BY prosthetic_id ORDER BY event_timestamp, event_id) AS prev
              FROM d WHERE event_type IN {STATES})
        SELECT prev, event_type, count(*) FROM s WHERE prev IS NOT NULL GROUP BY 1, 2"""))
    assert pairs.get(("power_off", "power_off"), 0) == 0
    assert pairs.get(("power_off", "critical_error"), 0) == 0
    assert pairs.get(("critical_error", "power_off"), 0) == 0
    assert pairs.get(("critical_error", "critical_error"), 0) == 0
    crit = scalar(settings, TELEMETRY_DB, f"SELECT count(*) FROM ({DEDUPED}) d WHERE event_type = 'critical_error'")
    assert crit == seeded.stats["critical_stops"] > 0
    assert pairs.get(("critical_error", "power_on"), 0) == crit  # a stop ends with a power_on only
    # power_on followed by power_on: exactly the lost power_offs that have a later power_on
    lost, devices = seeded.stats["lost_power_offs"], seeded.rows["crm_prosthetics"]
    assert lost > 0
    assert lost - devices <= pairs.get(("power_on", "power_on"), 0) <= lost
    sessions = pairs.get(("power_on", "power_off"), 0)
    assert 0.005 < lost / sessions < 0.015


def test_critical_error_stops_until_a_later_power_on(settings, seeded):
    rows = query(settings, TELEMETRY_DB, f"""
        WITH d AS ({DEDUPED}),
        n AS (SELECT event_type, event_timestamp,
                     lead(event_type) OVER w AS next_type, lead(event_timestamp) OVER w AS next_time
              FROM d WINDOW w AS (PARTITION BY prosthetic_id ORDER BY event_timestamp, event_id))
        SELECT next_type, min(next_time - event_timestamp), max(next_time - event_timestamp), count(*)
        FROM n WHERE event_type = 'critical_error' GROUP BY 1""")
    assert len(rows) == 1
    next_type, shortest, longest, _count = rows[0]
    assert next_type == "power_on"
    assert shortest.total_seconds() >= 60 and longest.total_seconds() <= 4 * 3600


def test_warnings_errors_and_activity_inside_sessions(settings, seeded):
    rows = dict(query(settings, TELEMETRY_DB, f"""
        WITH e AS (
            SELECT prosthetic_id, event_type, severity,
                   count(*) FILTER (WHERE event_type IN {STATES})
                       OVER (PARTITION BY prosthetic_id ORDER BY event_timestamp, event_id) AS grp
            FROM telemetry_events),
        s AS (SELECT prosthetic_id, grp, event_type AS state FROM e WHERE event_type IN {STATES})
        SELECT coalesce(s.state, 'none') = 'power_on' AS inside, count(*)
        FROM e LEFT JOIN s USING (prosthetic_id, grp)
        WHERE e.severity IN ('warning', 'error')
           OR e.event_type IN ('grip', 'release', 'gesture_change', 'sensor_reading', 'calibration')
        GROUP BY 1"""))
    assert rows.get(False, 0) == 0
    assert rows[True] > 0.8 * seeded.rows["telemetry_events"]


def test_no_telemetry_before_purchase_or_sign_up(settings, seeded):
    crm = {pid: (user, purchase, created) for pid, user, purchase, created in query(settings, CRM_DB, """
        SELECT p.prosthetic_id, p.user_id, p.purchase_date, u.created_at
        FROM crm_prosthetics p JOIN crm_users u USING (user_id)""")}
    assert all(purchase >= created.date() for _user, purchase, created in crm.values())
    events = query(settings, TELEMETRY_DB, """
        SELECT prosthetic_id, user_id, min(event_timestamp) FROM telemetry_events GROUP BY 1, 2""")
    assert {pid for pid, _u, _t in events} <= set(crm)
    for pid, user, first in events:
        owner, purchase, created = crm[pid]
        assert user == owner
        assert first.date() > purchase and first > created
    for pid, first in query(settings, TELEMETRY_DB, "SELECT prosthetic_id, min(metric_timestamp) FROM battery_metrics GROUP BY 1"):
        assert first.date() > crm[pid][1]


def test_battery_sign_and_trend(settings, seeded):
    assert scalar(settings, TELEMETRY_DB, """
        SELECT count(*) FROM battery_metrics
        WHERE (is_charging AND current_ma <= 0) OR (NOT is_charging AND current_ma > 0)
           OR charge_level NOT BETWEEN 0 AND 100""") == 0
    falling_up, charging_down, charging_pairs = query(settings, TELEMETRY_DB, """
        WITH d AS (SELECT DISTINCT ON (prosthetic_id, metric_timestamp) * FROM battery_metrics
                   ORDER BY prosthetic_id, metric_timestamp, metric_id),
        p AS (SELECT is_charging, charge_level, metric_timestamp,
                     lag(is_charging) OVER w AS prev_charging, lag(charge_level) OVER w AS prev_level,
                     lag(metric_timestamp) OVER w AS prev_time
              FROM d WINDOW w AS (PARTITION BY prosthetic_id ORDER BY metric_timestamp))
        SELECT count(*) FILTER (WHERE NOT is_charging AND NOT prev_charging AND charge_level > prev_level),
               count(*) FILTER (WHERE is_charging AND prev_charging AND metric_timestamp - prev_time < interval '6 hours'
                                  AND charge_level < prev_level),
               count(*) FILTER (WHERE is_charging AND prev_charging AND metric_timestamp - prev_time < interval '6 hours')
        FROM p""")[0]
    assert falling_up == 0 and charging_down == 0 and charging_pairs > 100
    assert scalar(settings, TELEMETRY_DB, """
        SELECT count(*) FROM (SELECT prosthetic_id, metric_timestamp FROM battery_metrics
                              GROUP BY 1, 2 HAVING count(*) > 1) d""") == seeded.stats["duplicate_samples"] > 0


def test_payments_inside_subscriptions_and_mostly_successful(settings, seeded):
    assert scalar(settings, CRM_DB, """
        SELECT count(*) FROM crm_payments p JOIN crm_subscriptions s USING (subscription_id)
        WHERE p.payment_date < s.start_date
           OR (s.end_date IS NOT NULL AND p.payment_date >= s.end_date + 1)
           OR p.user_id <> s.user_id OR p.amount <> s.monthly_cost""") == 0
    statuses = dict(query(settings, CRM_DB, "SELECT status, count(*) FROM crm_payments GROUP BY 1"))
    total = sum(statuses.values())
    assert 0.80 <= statuses["success"] / total <= 0.90
    assert statuses.get("failed", 0) > 0 and statuses.get("pending", 0) > 0
    assert scalar(settings, CRM_DB, """
        SELECT count(*) FROM crm_payments WHERE status = 'pending' AND payment_date < '2024-06-26'""") == 0
    retried = scalar(settings, CRM_DB, """
        SELECT count(*) FROM crm_payments f WHERE f.status = 'failed' AND EXISTS (
            SELECT 1 FROM crm_payments r WHERE r.subscription_id = f.subscription_id
              AND r.payment_date > f.payment_date AND r.payment_date < f.payment_date + interval '7 days')""")
    assert retried >= 0.8 * statuses["failed"]


def test_schema_rejects_what_the_seed_cannot_insert(settings, seeded):
    payment = ("INSERT INTO crm_payments (payment_id, user_id, subscription_id, amount, payment_date, status, "
               "payment_method, created_at) VALUES (999999, %s, 1, %s, '2024-06-30', %s, 'card', '2024-06-30')")
    with pytest.raises(psycopg2.errors.CheckViolation), pg_connection(settings, CRM_DB) as conn, conn.cursor() as cur:
        cur.execute(payment, (1, -10, "success"))
    with pytest.raises(psycopg2.errors.CheckViolation), pg_connection(settings, CRM_DB) as conn, conn.cursor() as cur:
        cur.execute(payment, (1, 10, "refunded"))
    with pytest.raises(psycopg2.errors.ForeignKeyViolation), pg_connection(settings, CRM_DB) as conn, conn.cursor() as cur:
        cur.execute(payment, (424242, 10, "success"))
    assert scalar(settings, CRM_DB, "SELECT count(*) FROM crm_payments WHERE payment_id = 999999") == 0


CHECKSUM = "SELECT md5(string_agg(t::text, ',' ORDER BY {key})) FROM {table} t"
TABLE_KEYS = {
    CRM_DB: {"crm_users": "user_id", "crm_prosthetics": "prosthetic_id", "crm_subscriptions": "subscription_id",
             "crm_payments": "payment_id", "crm_support_tickets": "ticket_id"},
    TELEMETRY_DB: {"telemetry_events": "event_id", "battery_metrics": "metric_id"},
}


def checksums(settings) -> dict[str, str]:
    return {table: scalar(settings, database, CHECKSUM.format(key=key, table=table))
            for database, tables in TABLE_KEYS.items() for table, key in tables.items()}


def test_seeding_twice_gives_identical_tables(settings, seeded):
    before = checksums(settings)
    again = seed_database(settings, DEFAULT)
    assert again == seeded.rows
    assert checksums(settings) == before
    assert all(before.values())


def test_cli_seeds_and_rejects_a_bad_date(settings):
    import typer
    from typer.testing import CliRunner

    from seed.cli import seed_command

    app = typer.Typer()
    app.command()(seed_command)
    runner = CliRunner()
    bad = runner.invoke(app, ["--end-date", "2024-02-30"])
    assert bad.exit_code == 2 and "--end-date" in bad.output
    ok = runner.invoke(app, ["--users", "3", "--months", "1", "--end-date", "2024-02-01", "--seed", "5"])
    assert ok.exit_code == 0, ok.output
    assert "telemetry_events" in ok.output
    first, last = query(settings, TELEMETRY_DB, "SELECT min(event_timestamp), max(event_timestamp) FROM telemetry_events")[0]
    assert first >= datetime(2024, 1, 1) and last < datetime(2024, 2, 1)
    assert scalar(settings, CRM_DB, "SELECT count(*) FROM crm_users") == 3


def test_insert_anomalies_adds_every_kind_of_bad_data(settings):
    seed_database(settings, SeedConfig(users=3, months=1, end_date=date(2024, 7, 1)))
    inserted = insert_anomalies(settings, LAST_DAY)
    assert set(inserted) == set(RULES) and all(count >= 1 for count in inserted.values())
    assert inserted["charge_level_out_of_range"] >= 2

    known = {pid: purchase for pid, purchase in query(settings, CRM_DB, "SELECT prosthetic_id, purchase_date FROM crm_prosthetics")}
    users = {u for (u,) in query(settings, CRM_DB, "SELECT user_id FROM crm_users")}
    events = query(settings, TELEMETRY_DB, """
        SELECT prosthetic_id, user_id, event_type, severity, event_timestamp, created_at FROM telemetry_events
        WHERE event_timestamp::date = %s""", (LAST_DAY,))
    assert any(pid not in known for pid, *_ in events)
    assert any(user not in users for _p, user, *_ in events)
    assert any(kind == "teleport" for _p, _u, kind, *_ in events)
    assert any(severity == "fatal" for _p, _u, _k, severity, *_ in events)
    assert any(pid in known and ts.date() < known[pid] for pid, _u, _k, _s, ts, _c in events)
    assert any((ts - created).total_seconds() > 300 for *_, ts, created in events)
    level_high, level_low, contradicts = query(settings, TELEMETRY_DB, """
        SELECT count(*) FILTER (WHERE charge_level > 100), count(*) FILTER (WHERE charge_level < 0),
               count(*) FILTER (WHERE (is_charging AND current_ma < 0) OR (NOT is_charging AND current_ma > 0))
        FROM battery_metrics WHERE metric_timestamp::date = %s""", (LAST_DAY,))[0]
    assert level_high >= 1 and level_low >= 1 and contradicts >= 2

    # again: new rows above the current ids, the prosthesis bought in the future is reused
    prostheses = scalar(settings, CRM_DB, "SELECT count(*) FROM crm_prosthetics")
    assert insert_anomalies(settings, LAST_DAY) == inserted
    assert scalar(settings, CRM_DB, "SELECT count(*) FROM crm_prosthetics") == prostheses
    assert scalar(settings, TELEMETRY_DB, "SELECT count(*) FROM telemetry_events WHERE event_type = 'teleport'") == 2


def test_seed_with_anomalies_counts_them(settings):
    rows = seed_database(settings, SeedConfig(users=3, months=1, end_date=date(2024, 7, 1), anomalies=True))
    assert rows["telemetry_events"] == scalar(settings, TELEMETRY_DB, "SELECT count(*) FROM telemetry_events")
    assert rows["battery_metrics"] == scalar(settings, TELEMETRY_DB, "SELECT count(*) FROM battery_metrics")
    assert rows["crm_prosthetics"] == scalar(settings, CRM_DB, "SELECT count(*) FROM crm_prosthetics")
    assert scalar(settings, TELEMETRY_DB, "SELECT count(*) FROM telemetry_events WHERE event_type = 'teleport'") == 1
