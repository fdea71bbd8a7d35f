"""Bad data on purpose: one or more rows of each kind of "Bad data" of the marts' contract.

``insert_anomalies(settings, day)`` works on an already seeded database and dates every row on
``day`` (``seed --anomalies`` uses the last day of the period). Ids continue above the current
maxima, so calling it again adds another set (the CRM prosthesis bought in the future is reused).

Rules (the keys of the returned dict, with the rows each inserts):

- ``unknown_prosthetic_id``: a telemetry event and a battery sample of a prosthetic_id the CRM does
  not know (its max id + 1000).
- ``unknown_user_id``: a telemetry event of a known prosthesis with a user_id the CRM does not know.
- ``charge_level_out_of_range``: battery samples with charge_level 120 and -5.
- ``current_sign_contradicts_charging``: a sample charging with current_ma < 0, one not charging
  with current_ma > 0.
- ``voltage_out_of_range``: a sample with voltage -9.
- ``temperature_out_of_range``: a sample with temperature_c 999.9 (a sensor's fault code).
- ``unknown_event_type``: an event of type ``teleport``.
- ``unknown_severity``: an event of severity ``fatal``.
- ``telemetry_before_purchase``: a CRM prosthesis of user 1 bought 10 days after ``day``, and an
  event of it on ``day``.
- ``event_after_created_at``: an event whose event_timestamp is 1 hour after its created_at.

Two kinds of bad data cannot be inserted: a negative payment ``amount`` and a CRM row with an
unknown ``user_id``; crm_db's CHECK (``amount >= 0``) and FOREIGN KEY constraints reject them, which
is the intended protection (the schema tests check it).
"""

from __future__ import annotations

import random
import uuid
from collections import Counter
from datetime import date, datetime, time, timedelta

from bionicpro.db import pg_connection
from bionicpro.settings import CRM_DB, TELEMETRY_DB, Settings

RULES = (
    "unknown_prosthetic_id", "unknown_user_id", "charge_level_out_of_range",
    "current_sign_contradicts_charging", "voltage_out_of_range", "temperature_out_of_range",
    "unknown_event_type", "unknown_severity",
    "telemetry_before_purchase", "event_after_created_at",
)


def insert_anomalies(settings: Settings, day: date) -> dict[str, int]:
    """Insert the bad rows dated on ``day``; returns rule -> rows inserted (telemetry rows)."""
    rules, _tables = insert_anomalies_counted(settings, day)
    return rules


def insert_anomalies_counted(settings: Settings, day: date) -> tuple[dict[str, int], Counter]:
    """``insert_anomalies``, and the rows it added per table (including the CRM prosthesis)."""
    at = lambda hour, minute=0: datetime.combine(day, time(hour, minute))  # noqa: E731
    tables: Counter = Counter()
    with pg_connection(settings, CRM_DB) as crm, crm.cursor() as cur:
        cur.execute(
            "SELECT prosthetic_id, user_id FROM crm_prosthetics WHERE purchase_date < %s "
            "ORDER BY prosthetic_id LIMIT 1",
            (day,),
        )
        known = cur.fetchone()
        cur.execute("SELECT (SELECT coalesce(max(user_id), 0) FROM crm_users), "
                    "(SELECT coalesce(max(prosthetic_id), 0) FROM crm_prosthetics)")
        max_user, max_prosthetic = cur.fetchone()
        cur.execute("SELECT 1 FROM crm_users WHERE user_id = 1")
        if known is None or cur.fetchone() is None:
            raise RuntimeError(f"insert_anomalies needs a seeded crm_db (user 1 and a prosthesis bought before {day})")
        serial = f"BPA-ANOMALY-{day:%Y%m%d}"
        cur.execute("SELECT prosthetic_id FROM crm_prosthetics WHERE serial_number = %s", (serial,))
        row = cur.fetchone()
        if row is None:
            future_id = max_prosthetic + 1
            rnd = random.Random(day.toordinal())
            cur.execute(
                """
                INSERT INTO crm_prosthetics (prosthetic_id, prosthetic_uuid, user_id, device_type, model,
                    serial_number, firmware_version, purchase_date, warranty_until, status, created_at)
                VALUES (%s, %s, 1, 'hand', 'BionicHand X3', %s, '4.0.0', %s, %s, 'active', %s)
                """,
                (future_id, str(uuid.UUID(int=rnd.getrandbits(128), version=4)), serial,
                 day + timedelta(days=10), day + timedelta(days=10 + 730), at(9)),
            )
            tables["crm_prosthetics"] += 1
        else:
            future_id = row[0]
    known_prosthetic, owner = known
    unknown_prosthetic = max_prosthetic + 1000
    unknown_user = max_user + 1000

    events = [  # (rule, prosthetic_id, user_id, event_type, severity, event_timestamp, value, created_at)
        ("unknown_prosthetic_id", unknown_prosthetic, owner, "grip", "info", at(10), 42.0, at(10)),
        ("unknown_user_id", known_prosthetic, unknown_user, "grip", "info", at(10, 5), 40.0, at(10, 5)),
        ("unknown_event_type", known_prosthetic, owner, "teleport", "info", at(10, 10), None, at(10, 10)),
        ("unknown_severity", known_prosthetic, owner, "warning", "fatal", at(10, 15), 150.0, at(10, 15)),
        ("telemetry_before_purchase", future_id, 1, "power_on", "info", at(10, 20), 95.0, at(10, 20)),
        ("event_after_created_at", known_prosthetic, owner, "grip", "info", at(12), 30.0, at(11)),
    ]
    samples = [  # (rule, prosthetic_id, metric_timestamp, charge_level, voltage, current_ma, temp, is_charging)
        ("unknown_prosthetic_id", unknown_prosthetic, at(10), 80.0, 4.02, -200, 30.0, False),
        ("charge_level_out_of_range", known_prosthetic, at(10, 30), 120.0, 4.20, -200, 30.0, False),
        ("charge_level_out_of_range", known_prosthetic, at(10, 35), -5.0, 3.20, -200, 30.0, False),
        ("current_sign_contradicts_charging", known_prosthetic, at(10, 40), 60.0, 3.90, -500, 31.0, True),
        ("current_sign_contradicts_charging", known_prosthetic, at(10, 45), 61.0, 3.90, 700, 31.0, False),
        ("voltage_out_of_range", known_prosthetic, at(10, 50), 62.0, -9.0, -200, 31.0, False),
        ("temperature_out_of_range", known_prosthetic, at(10, 55), 62.0, 3.90, -200, 999.9, False),
    ]
    rules = dict.fromkeys(RULES, 0)
    with pg_connection(settings, TELEMETRY_DB) as conn, conn.cursor() as cur:
        cur.execute("LOCK TABLE telemetry_events, battery_metrics IN SHARE ROW EXCLUSIVE MODE")
        cur.execute("SELECT coalesce(max(event_id), 0) FROM telemetry_events")
        next_event = cur.fetchone()[0] + 1
        cur.execute("SELECT coalesce(max(metric_id), 0) FROM battery_metrics")
        next_metric = cur.fetchone()[0] + 1
        for offset, (rule, *row) in enumerate(events):
            cur.execute(
                "INSERT INTO telemetry_events (event_id, prosthetic_id, user_id, event_type, severity, "
                "event_timestamp, event_value, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                (next_event + offset, *row),
            )
            rules[rule] += 1
            tables["telemetry_events"] += 1
        for offset, (rule, *row) in enumerate(samples):
            cur.execute(
                "INSERT INTO battery_metrics (metric_id, prosthetic_id, metric_timestamp, charge_level, voltage, "
                "current_ma, temperature_c, is_charging, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (next_metric + offset, *row, row[1]),
            )
            rules[rule] += 1
            tables["battery_metrics"] += 1
    return rules, tables
