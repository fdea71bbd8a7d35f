"""The contract's vocabulary (``shared/spec/marts.md``): what the stage, check and build steps
name. The figures themselves are SQL (``tasks/sql/``)."""

from __future__ import annotations

from datetime import date

# The last four are the activity events of our seed.
EVENT_TYPES: tuple[str, ...] = (
    "power_on", "power_off", "battery_low", "charging_started", "charging_completed", "calibration",
    "warning", "error", "critical_error", "grip", "release", "gesture_change", "sensor_reading",
)
SEVERITIES: tuple[str, ...] = ("info", "warning", "error", "critical")

USER_MART_COLUMNS: list[str] = [
    "report_date", "user_id", "user_uuid", "total_payments", "successful_payments", "failed_payments_count",
    "active_subscriptions_count", "subscription_cost_total", "support_tickets_opened", "support_tickets_resolved",
]
PROSTHETIC_MART_COLUMNS: list[str] = [
    "report_date", "prosthetic_id", "user_id", "user_uuid", "prosthetic_uuid", "device_type",
    "power_on_count", "power_off_count", "total_active_hours", "avg_discharge_rate_active",
    "avg_discharge_rate_idle", "avg_charge_rate", "charge_cycles", "warning_count", "error_count",
    "critical_error_count", "downtime_minutes",
]
# The event counts, as both the partials and the prosthesis mart name them.
COUNT_MEASURES: list[str] = ["power_on_count", "power_off_count", "charge_cycles", "warning_count",
                             "error_count", "critical_error_count"]


def next_month_start(month_start: date) -> date:
    """The first day of the month after ``month_start`` (which must be a first of month)."""
    if month_start.day != 1:
        raise ValueError(f"month_start must be the first day of a month, got {month_start}")
    return date(month_start.year + month_start.month // 12, month_start.month % 12 + 1, 1)
