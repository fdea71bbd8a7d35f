"""An independent, deliberately plain computation of both marts, straight from the sources.

Counts and sums are SQL on PostgreSQL; sessions, downtime and battery averages are a per-event
loop written from the contract's words, sharing no code with the pipeline.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import psycopg2

SESSION_CAP = timedelta(hours=24)
DOWNTIME_CAP = timedelta(days=7)


def month_bounds(report_date: date) -> tuple[datetime, datetime, datetime]:
    month_start = datetime(report_date.year, report_date.month, 1)
    next_month = datetime(month_start.year + month_start.month // 12, month_start.month % 12 + 1, 1)
    horizon = datetime.combine(report_date + timedelta(days=1), datetime.min.time())
    return month_start, min(next_month, horizon), horizon


def user_mart(crm_url: str, report_date: date) -> dict[int, dict]:
    start, end, _ = month_bounds(report_date)
    query = """
        SELECT u.user_id, u.user_uuid::text,
          (SELECT coalesce(sum(amount), 0) FROM crm_payments p
             WHERE p.user_id = u.user_id AND payment_date >= %(s)s AND payment_date < %(e)s),
          (SELECT coalesce(sum(amount), 0) FROM crm_payments p
             WHERE p.user_id = u.user_id AND payment_date >= %(s)s AND payment_date < %(e)s AND status = 'success'),
          (SELECT count(*) FROM crm_payments p
             WHERE p.user_id = u.user_id AND payment_date >= %(s)s AND payment_date < %(e)s AND status = 'failed'),
          (SELECT count(*) FROM crm_subscriptions s
             WHERE s.user_id = u.user_id AND start_date < %(e)s AND (end_date IS NULL OR end_date >= %(s)s)),
          (SELECT coalesce(sum(monthly_cost), 0) FROM crm_subscriptions s
             WHERE s.user_id = u.user_id AND start_date < %(e)s AND (end_date IS NULL OR end_date >= %(s)s)),
          (SELECT count(*) FROM crm_support_tickets t
             WHERE t.user_id = u.user_id AND created_at >= %(s)s AND created_at < %(e)s),
          (SELECT count(*) FROM crm_support_tickets t
             WHERE t.user_id = u.user_id AND resolved_at >= %(s)s AND resolved_at < %(e)s)
        FROM crm_users u WHERE u.created_at < %(e)s ORDER BY u.user_id"""
    names = ["user_id", "user_uuid", "total_payments", "successful_payments", "failed_payments_count",
             "active_subscriptions_count", "subscription_cost_total", "support_tickets_opened",
             "support_tickets_resolved"]
    with psycopg2.connect(crm_url) as conn, conn.cursor() as cur:
        cur.execute(query, {"s": start, "e": end})
        rows = [dict(zip(names, row)) for row in cur.fetchall()]
    for row in rows:
        row["total_payments"] = Decimal(row["total_payments"]).quantize(Decimal("0.01"))
        row["successful_payments"] = Decimal(row["successful_payments"]).quantize(Decimal("0.01"))
        row["subscription_cost_total"] = Decimal(row["subscription_cost_total"]).quantize(Decimal("0.01"))
    return {row["user_id"]: row for row in rows}


def _union_within(intervals: list[tuple[datetime, datetime]], lo: datetime, hi: datetime) -> timedelta:
    clipped = sorted((max(s, lo), min(e, hi)) for s, e in intervals if min(e, hi) > max(s, lo))
    total, current_start, current_end = timedelta(0), None, None
    for s, e in clipped:
        if current_end is None or s > current_end:
            if current_end is not None:
                total += current_end - current_start
            current_start, current_end = s, e
        else:
            current_end = max(current_end, e)
    if current_end is not None:
        total += current_end - current_start
    return total


def prosthetic_mart(crm_url: str, telemetry_url: str, report_date: date) -> dict[int, dict]:
    start, end, horizon = month_bounds(report_date)
    with psycopg2.connect(crm_url) as conn, conn.cursor() as cur:
        cur.execute("""SELECT p.prosthetic_id, p.user_id, u.user_uuid::text, p.prosthetic_uuid::text, p.device_type
                       FROM crm_prosthetics p JOIN crm_users u USING (user_id)
                       WHERE p.purchase_date < %(e)s""", {"e": end})
        dims = cur.fetchall()
    with psycopg2.connect(telemetry_url) as conn, conn.cursor() as cur:
        # Device resends are one event: the lowest event_id of each identical group.
        cur.execute("""SELECT DISTINCT ON (prosthetic_id, event_type, event_timestamp, event_value)
                              event_id, prosthetic_id, event_type, severity, event_timestamp
                       FROM telemetry_events
                       WHERE event_timestamp >= %(lo)s AND event_timestamp < %(h)s
                       ORDER BY prosthetic_id, event_type, event_timestamp, event_value, event_id""",
                    {"lo": start - DOWNTIME_CAP, "h": horizon})
        events = cur.fetchall()
        cur.execute("""SELECT DISTINCT ON (prosthetic_id, metric_timestamp)
                              prosthetic_id, metric_timestamp, current_ma, is_charging
                       FROM battery_metrics WHERE metric_timestamp >= %(s)s AND metric_timestamp < %(e)s
                       ORDER BY prosthetic_id, metric_timestamp, metric_id""", {"s": start, "e": end})
        samples = cur.fetchall()

    by_prosthetic: dict[int, list] = {}
    for event_id, pid, etype, severity, ts in events:
        by_prosthetic.setdefault(pid, []).append((ts, event_id, etype, severity))
    result = {}
    for pid, user_id, user_uuid, prosthetic_uuid, device_type in dims:
        timeline = sorted(by_prosthetic.get(pid, []))
        in_month = [e for e in timeline if start <= e[0] < end]
        sessions, downtimes = [], []
        for i, (ts, _, etype, _) in enumerate(timeline):
            if etype == "power_on":
                stop = next((t for t, _, k, _ in timeline[i + 1:] if k in ("power_off", "power_on", "critical_error")), horizon)
                sessions.append((ts, min(stop, ts + SESSION_CAP, horizon)))
            elif etype == "critical_error":
                stop = next((t for t, _, k, _ in timeline[i + 1:] if k == "power_on"), horizon)
                downtimes.append((ts, min(stop, ts + DOWNTIME_CAP, horizon)))
        active, idle, charge = [], [], []
        for sample_pid, ts, current, charging in samples:
            if sample_pid != pid:
                continue
            if charging:
                charge.append(current)
            elif current < 0:
                inside = any(s <= ts < e for s, e in sessions)
                (active if inside else idle).append(abs(current))
        active_us = _union_within(sessions, start, end) // timedelta(microseconds=1)
        downtime_us = _union_within(downtimes, start, end) // timedelta(microseconds=1)
        result[pid] = {
            "prosthetic_id": pid, "user_id": user_id, "user_uuid": user_uuid,
            "prosthetic_uuid": prosthetic_uuid, "device_type": device_type,
            "power_on_count": sum(1 for e in in_month if e[2] == "power_on"),
            "power_off_count": sum(1 for e in in_month if e[2] == "power_off"),
            "total_active_hours": active_us / 3.6e9,
            "avg_discharge_rate_active": sum(active) / len(active) if active else 0.0,
            "avg_discharge_rate_idle": sum(idle) / len(idle) if idle else 0.0,
            "avg_charge_rate": sum(charge) / len(charge) if charge else 0.0,
            "charge_cycles": sum(1 for e in in_month if e[2] == "charging_completed"),
            "warning_count": sum(1 for e in in_month if e[3] == "warning"),
            "error_count": sum(1 for e in in_month if e[3] == "error"),
            "critical_error_count": sum(1 for e in in_month if e[3] == "critical"),
            "downtime_minutes": downtime_us // 60_000_000,
        }
    return result
