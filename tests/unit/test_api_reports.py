"""The report's pure parts: month parsing, reliability, status rules, the JSON shape."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from api.reports import (
    ATTENTION_ERRORS,
    ATTENTION_WARNINGS,
    DEVICE_FIELDS,
    REPAIR_DOWNTIME_MINUTES,
    USER_FIELDS,
    MonthFetch,
    build_report,
    device_status,
    minutes_to_date,
    parse_month,
    reliability_pct,
)
from api.store import Rows


@pytest.mark.parametrize("text, month", [("2024-01", date(2024, 1, 1)), ("1970-01", date(1970, 1, 1)),
                                         ("2149-05", date(2149, 5, 1)), ("2024-12", date(2024, 12, 1))])
def test_months_parse(text, month):
    assert parse_month(text) == month


@pytest.mark.parametrize("text, reason", [("2024-13", "01..12"), ("2024-00", "01..12"), ("2024-1", "YYYY-MM"),
                                          ("1969-12", "between"), ("2149-06", "between"), ("0000-01", "between"),
                                          ("\u0662\u0660\u0662\u0664-\u0660\u0661", "YYYY-MM"),
                                          ("2024-01\n", "YYYY-MM")])
def test_bad_months_say_why(text, reason):
    with pytest.raises(ValueError, match=reason):
        parse_month(text)


def test_minutes_to_date_and_reliability():
    january = date(2024, 1, 1)
    assert minutes_to_date(january, datetime(2024, 2, 1, tzinfo=timezone.utc)) == 31 * 24 * 60
    assert minutes_to_date(january, datetime(2024, 3, 1, tzinfo=timezone.utc)) == 31 * 24 * 60  # capped at month end
    assert minutes_to_date(january, datetime(2024, 1, 11, tzinfo=timezone.utc)) == 10 * 24 * 60
    assert reliability_pct(0, 44640) == 100.0
    assert reliability_pct(446, 44640) == 99.0
    assert reliability_pct(1, 3) == 66.67
    assert reliability_pct(10_000, 1440) == 0.0 and reliability_pct(-5, 1440) == 100.0
    assert reliability_pct(5, 0) == 100.0


def _device(**overrides) -> dict:
    base = dict(prosthetic_id=1, prosthetic_uuid="p", device_type="hand", total_active_hours=1.5, power_on_count=1,
                avg_discharge_rate_active=1.0, avg_discharge_rate_idle=0.5, avg_charge_rate=2.0, charge_cycles=1,
                warning_count=0, error_count=0, critical_error_count=0, downtime_minutes=0)
    return {**base, **overrides}


def test_device_status_rules():
    assert device_status(_device()) == ("healthy", [])
    below = _device(error_count=ATTENTION_ERRORS - 1, warning_count=ATTENTION_WARNINGS - 1)
    assert device_status(below)[0] == "healthy"
    assert device_status(_device(error_count=ATTENTION_ERRORS))[0] == "attention"
    assert device_status(_device(warning_count=ATTENTION_WARNINGS))[0] == "attention"
    assert device_status(_device(critical_error_count=1))[0] == "repair"
    assert device_status(_device(downtime_minutes=REPAIR_DOWNTIME_MINUTES))[0] == "repair"
    assert device_status(_device(downtime_minutes=REPAIR_DOWNTIME_MINUTES - 1))[0] == "healthy"


def _fetch(user: dict, devices: list[dict], horizon=(1, 1706745600)) -> MonthFetch:
    rows = Rows(("load", "users", "devices"),
                [(horizon, [tuple(user[f] for f in USER_FIELDS)],
                  [tuple(d[f] for f in DEVICE_FIELDS) for d in devices])])
    return MonthFetch.from_rows(date(2024, 1, 1), rows)


USER = dict(user_id=7, user_uuid="u-7", total_payments=Decimal("2990.00"), successful_payments=Decimal("2990.00"),
            failed_payments_count=0, active_subscriptions_count=1, subscription_cost_total=Decimal("2990.00"),
            support_tickets_opened=0, support_tickets_resolved=0)


def test_report_status_precedence():
    assert build_report(_fetch(USER, [_device()]))["status"] == "healthy"
    assert build_report(_fetch(USER, [_device(), _device(prosthetic_id=2, error_count=5)]))["status"] == "attention"
    assert build_report(_fetch(USER, [_device(error_count=5), _device(prosthetic_id=2, critical_error_count=1)]))[
        "status"] == "repair"
    unpaid = dict(USER, failed_payments_count=1, successful_payments=Decimal("0.00"))
    report = build_report(_fetch(unpaid, [_device(critical_error_count=1)]))
    assert report["status"] == "payment_issue" and report["status_reasons"][0].startswith("1 failed payment")
    # A failed payment that was retried successfully is no payment issue.
    retried = dict(USER, failed_payments_count=1, total_payments=Decimal("5980.00"))
    assert build_report(_fetch(retried, []))["status"] == "healthy"


def test_report_shape_and_partial_month():
    report = build_report(_fetch(USER, [_device(prosthetic_id=2), _device(prosthetic_id=1, downtime_minutes=144)],
                                 horizon=(1, int(datetime(2024, 1, 11, tzinfo=timezone.utc).timestamp()))))
    assert report["period"] == "2024-01" and report["complete"] is False
    assert report["data_complete_through"] == "2024-01-11T00:00:00Z"
    assert [d["prosthetic_id"] for d in report["devices"]] == [1, 2]
    assert report["devices"][0]["reliability_pct"] == 99.0  # 144 of 14,400 minutes
    assert report["financial"]["monthly_cost"] == "2990.00"
    full = build_report(_fetch(USER, [], horizon={"1": 1, "2": 1706745600}))  # a named tuple comes as a dict
    assert full["complete"] is True and full["data_complete_through"] == "2024-02-01T00:00:00Z"


def test_a_month_without_both_marts_is_not_loaded():
    fetch = MonthFetch.from_rows(date(2024, 1, 1), Rows(("load", "users", "devices"), [((0, 0), [], [])]))
    assert not fetch.loaded and fetch.horizon is None and fetch.user is None
