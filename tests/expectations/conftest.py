"""Staging helpers on the session's work warehouse (tests/conftest.py): every test stages under
its own ``run_id`` (which is also what the checks must keep apart)."""

from __future__ import annotations

import copy
import itertools
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest


COLUMNS = {
    "stage_users": ("run_id", "user_id", "user_uuid", "created_at"),
    "stage_prosthetics": ("run_id", "prosthetic_id", "prosthetic_uuid", "user_id", "device_type", "purchase_date"),
    "stage_events": ("run_id", "event_id", "prosthetic_id", "user_id", "event_type", "severity",
                     "event_timestamp", "event_value", "created_at"),
    "stage_lookback": ("run_id", "event_id", "prosthetic_id", "event_type", "event_timestamp", "event_value",
                       "created_at"),
    "stage_battery": ("run_id", "metric_id", "prosthetic_id", "metric_timestamp", "charge_level", "current_ma",
                      "is_charging", "created_at", "voltage", "temperature_c"),
    "stage_payments": ("run_id", "payment_id", "user_id", "subscription_id", "amount", "status", "payment_date"),
    "stage_subscriptions": ("run_id", "subscription_id", "user_id", "monthly_cost", "start_date", "end_date"),
    "stage_tickets": ("run_id", "ticket_id", "user_id", "created_at", "resolved_at"),
    "user_mart_candidates": ("run_id", "report_date", "user_id", "user_uuid", "total_payments",
                             "successful_payments", "failed_payments_count", "active_subscriptions_count",
                             "subscription_cost_total", "support_tickets_opened", "support_tickets_resolved",
                             "period_end"),
    "prosthetic_mart_candidates": ("run_id", "report_date", "prosthetic_id", "user_id", "user_uuid",
                                   "prosthetic_uuid", "device_type", "power_on_count", "power_off_count",
                                   "total_active_hours", "avg_discharge_rate_active", "avg_discharge_rate_idle",
                                   "avg_charge_rate", "charge_cycles", "warning_count", "error_count",
                                   "critical_error_count", "downtime_minutes", "period_end"),
}


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)


def good_rows() -> dict[str, list[dict]]:
    """A small run that breaks no rule (one day of telemetry, 15 Jan 2024)."""
    period_end = ts("2024-01-16 00:00:00")
    events = [
        (1, "power_on", "info", "2024-01-15 08:00:00"),
        (2, "grip", "info", "2024-01-15 09:00:00"),
        (3, "battery_low", "warning", "2024-01-15 10:00:00"),
        (4, "power_off", "info", "2024-01-15 11:00:00"),
    ]
    return {
        "stage_users": [
            {"user_id": 1, "user_uuid": "u-1", "created_at": ts("2023-01-01 00:00:00")},
            {"user_id": 2, "user_uuid": "u-2", "created_at": ts("2023-02-01 00:00:00")},
        ],
        "stage_prosthetics": [
            {"prosthetic_id": 10, "prosthetic_uuid": "p-10", "user_id": 1, "device_type": "arm",
             "purchase_date": date(2023, 6, 1)},
            {"prosthetic_id": 11, "prosthetic_uuid": "p-11", "user_id": 2, "device_type": "hand",
             "purchase_date": date(2024, 1, 15)},
        ],
        "stage_events": [
            {"event_id": i, "prosthetic_id": 10, "user_id": 1, "event_type": t, "severity": s,
             "event_timestamp": ts(at), "event_value": None, "created_at": ts(at).replace(second=1)}
            for i, t, s, at in events
        ],
        "stage_lookback": [
            # a state event before the window (its arrival was checked by its own run)
            {"event_id": 90, "prosthetic_id": 10, "event_type": "power_on",
             "event_timestamp": ts("2024-01-14 22:00:00"), "event_value": None, "created_at": None},
            # arrived during the window, dated after it, exactly 5 minutes ahead: allowed
            {"event_id": 91, "prosthetic_id": 10, "event_type": "grip",
             "event_timestamp": ts("2024-01-16 00:00:00"), "event_value": 12.5,
             "created_at": ts("2024-01-15 23:55:00")},
        ],
        # voltage and temperature_c of samples 2 and 3 sit on the bounds of their ranges
        "stage_battery": [
            {"metric_id": 1, "prosthetic_id": 10, "metric_timestamp": ts("2024-01-15 08:30:00"),
             "charge_level": 80.5, "current_ma": -120, "is_charging": False,
             "created_at": ts("2024-01-15 08:30:02"), "voltage": 3.98, "temperature_c": 31.5},
            {"metric_id": 2, "prosthetic_id": 10, "metric_timestamp": ts("2024-01-15 12:00:00"),
             "charge_level": 100.0, "current_ma": 900, "is_charging": True,
             "created_at": ts("2024-01-15 12:00:02"), "voltage": 5.0, "temperature_c": 125.0},
            {"metric_id": 3, "prosthetic_id": 11, "metric_timestamp": ts("2024-01-15 00:00:00"),
             "charge_level": 0.0, "current_ma": 0, "is_charging": False,
             "created_at": ts("2024-01-15 00:05:00"), "voltage": 0.0, "temperature_c": -40.0},
        ],
        "stage_payments": [
            {"payment_id": 100, "user_id": 1, "subscription_id": 1000, "amount": Decimal("49.90"),
             "status": "success", "payment_date": ts("2024-01-05 10:00:00")},
            {"payment_id": 101, "user_id": 2, "subscription_id": 1001, "amount": Decimal("0.00"),
             "status": "failed", "payment_date": ts("2024-01-06 10:00:00")},
        ],
        "stage_subscriptions": [
            {"subscription_id": 1000, "user_id": 1, "monthly_cost": Decimal("49.90"),
             "start_date": date(2023, 6, 1), "end_date": None},
            {"subscription_id": 1001, "user_id": 2, "monthly_cost": Decimal("10.00"),
             "start_date": date(2023, 1, 1), "end_date": date(2023, 1, 1)},
        ],
        "stage_tickets": [
            {"ticket_id": 5000, "user_id": 1, "created_at": ts("2024-01-03 09:00:00"),
             "resolved_at": ts("2024-01-03 09:00:00")},
            {"ticket_id": 5001, "user_id": 2, "created_at": ts("2024-01-05 09:00:00"), "resolved_at": None},
        ],
        "user_mart_candidates": [
            {"report_date": date(2024, 1, 1), "user_id": 1, "user_uuid": "u-1",
             "total_payments": Decimal("49.90"), "successful_payments": Decimal("49.90"),
             "failed_payments_count": 0, "active_subscriptions_count": 1,
             "subscription_cost_total": Decimal("49.90"), "support_tickets_opened": 1,
             "support_tickets_resolved": 1, "period_end": period_end},
            {"report_date": date(2024, 1, 1), "user_id": 2, "user_uuid": "u-2",
             "total_payments": Decimal("9999999999.99"), "successful_payments": Decimal("0.00"),
             "failed_payments_count": 1, "active_subscriptions_count": 0,
             "subscription_cost_total": Decimal("-0.00"), "support_tickets_opened": 1,
             "support_tickets_resolved": 0, "period_end": period_end},
        ],
        "prosthetic_mart_candidates": [
            {"report_date": date(2024, 1, 1), "prosthetic_id": 10, "user_id": 1, "user_uuid": "u-1",
             "prosthetic_uuid": "p-10", "device_type": "arm", "power_on_count": 1, "power_off_count": 1,
             "total_active_hours": 3.0, "avg_discharge_rate_active": 120.0, "avg_discharge_rate_idle": 0.0,
             "avg_charge_rate": 900.0, "charge_cycles": 0, "warning_count": 1, "error_count": 0,
             "critical_error_count": 0, "downtime_minutes": 0, "period_end": period_end},
            # the bounds are the row's own month to date: 15 days = 360 h = 21600 min
            {"report_date": date(2024, 1, 1), "prosthetic_id": 11, "user_id": 2, "user_uuid": "u-2",
             "prosthetic_uuid": "p-11", "device_type": "hand", "power_on_count": 0, "power_off_count": 0,
             "total_active_hours": 360.0, "avg_discharge_rate_active": 0.0, "avg_discharge_rate_idle": 0.0,
             "avg_charge_rate": 0.0, "charge_cycles": 0, "warning_count": 0, "error_count": 0,
             "critical_error_count": 0, "downtime_minutes": 21600, "period_end": period_end},
        ],
    }


@pytest.fixture(scope="session")
def work(settings):
    """The session's settings (their work warehouse has ``schema/work.sql`` applied)."""
    return settings, None


_RUNS = itertools.count(1)


@pytest.fixture
def stage(work):
    """``stage(rows=None, run_id=None) -> run_id``: insert ``rows`` (default: the good run)."""
    from bionicpro.db import clickhouse_client
    from bionicpro.settings import WORK

    def _stage(rows: dict[str, list[dict]] | None = None, run_id: str | None = None) -> str:
        run_id = run_id or f"t{next(_RUNS)}"
        with clickhouse_client(work[0], WORK) as client:
            for table, records in (copy.deepcopy(good_rows()) if rows is None else rows).items():
                if not records:
                    continue
                columns = COLUMNS[table]
                data = [[run_id if c == "run_id" else r[c] for c in columns] for r in records]
                client.insert(f"bionicpro_work.{table}", data, column_names=list(columns))
        return run_id

    return _stage
