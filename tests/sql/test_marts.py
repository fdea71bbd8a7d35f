"""tasks/sql/build_user_mart.sql and build_prosthetic_mart.sql on tiny hand-made rows; expected
figures worked out by hand in the comments."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest

from tests.sql.helpers import (
    OTHER_RUN,
    build_prosthetic_mart,
    build_user_mart,
    compute_partials,
    one,
    stage_events,
    stage_payments,
    stage_prosthetics,
    stage_samples,
    stage_subscriptions,
    stage_tickets,
    stage_users,
)

pytestmark = pytest.mark.integration

D = datetime
MARCH = date(2024, 3, 1)
# The run for report date 20 March: horizon 21 March, so March is [1 Mar, 21 Mar).
MARCH_END = D(2024, 3, 21)


# --- user mart ----------------------------------------------------------------------------------


def test_money_is_exact_and_per_status(db):
    stage_users(db, [(1, "2024-01-01 00:00")])
    stage_payments(db, [
        (1, 1, "0.10", "success", "2024-03-01 00:00"),   # at month_start: inside
        (2, 1, "0.20", "success", "2024-03-05 10:00"),
        (3, 1, "99.99", "failed", "2024-03-06 10:00"),
        (4, 1, "1.01", "pending", "2024-03-20 23:59:59.999999"),  # last microsecond: inside
        (5, 1, "500.00", "success", "2024-03-21 00:00"),  # at period_end: a later run's
        (6, 1, "7.00", "failed", "2024-02-29 23:59:59"),  # February (the stage holds a wider range)
    ])
    u = one(build_user_mart(db, MARCH, MARCH_END), user_id=1)
    # total 0.10 + 0.20 + 99.99 + 1.01 = 101.30; success 0.10 + 0.20 = 0.30 exactly; 1 failed.
    assert u["total_payments"] == Decimal("101.30")
    assert u["successful_payments"] == Decimal("0.30")
    assert str(u["successful_payments"]) == "0.30"
    assert u["failed_payments_count"] == 1


def test_subscription_active_rule_and_no_fan_out(db):
    stage_users(db, [(1, "2024-01-01 00:00"), (2, "2024-01-01 00:00")])
    stage_subscriptions(db, [
        (1, 1, "10.00", date(2023, 1, 1), None),               # open-ended: active
        (2, 1, "20.00", date(2023, 1, 1), date(2024, 3, 1)),   # ends on month_start: active
        (3, 1, "40.00", date(2023, 1, 1), date(2024, 2, 29)),  # ended the day before: not
        (4, 1, "80.00", date(2024, 3, 20), None),              # starts on the last day to date: active
        (5, 1, "160.00", date(2024, 3, 21), None),             # starts at the period end: not yet
        (6, 2, "0.10", date(2024, 3, 2), date(2024, 3, 3)),
        (7, 2, "0.20", date(2024, 3, 2), date(2024, 3, 3)),
    ])
    # Three payments of user 1 must not multiply its subscriptions (nor the other way round).
    stage_payments(db, [(1, 1, "1.00", "success", "2024-03-02 00:00"), (2, 1, "1.00", "success", "2024-03-03 00:00"),
                        (3, 1, "1.00", "failed", "2024-03-04 00:00")])
    stage_tickets(db, [(1, 1, "2024-03-02 00:00", None), (2, 1, "2024-03-03 00:00", None)])
    mart = build_user_mart(db, MARCH, MARCH_END)
    u1, u2 = one(mart, user_id=1), one(mart, user_id=2)
    # Subscriptions 1, 2, 4: 10 + 20 + 80 = 110.00.
    assert (u1["active_subscriptions_count"], u1["subscription_cost_total"]) == (3, Decimal("110.00"))
    assert (u1["total_payments"], u1["successful_payments"], u1["failed_payments_count"]) == (
        Decimal("3.00"), Decimal("2.00"), 1)
    assert u1["support_tickets_opened"] == 2
    assert (u2["active_subscriptions_count"], u2["subscription_cost_total"]) == (2, Decimal("0.30"))


def test_tickets_opened_and_resolved_in_the_period(db):
    stage_users(db, [(1, "2024-01-01 00:00")])
    stage_tickets(db, [
        (1, 1, "2024-02-20 10:00", "2024-03-02 10:00"),  # opened before, resolved in March: resolved
        (2, 1, "2024-03-03 10:00", None),                # opened, unresolved
        (3, 1, "2024-03-04 10:00", "2024-03-05 10:00"),  # opened and resolved
        (4, 1, "2024-03-10 10:00", "2024-03-21 00:00"),  # resolved at the period end: not yet
        (5, 1, "2024-03-21 00:00", "2024-03-21 01:00"),  # opened at the period end: neither
        (6, 1, "2024-02-01 10:00", "2024-02-02 10:00"),  # February: neither
    ])
    u = one(build_user_mart(db, MARCH, MARCH_END), user_id=1)
    assert (u["support_tickets_opened"], u["support_tickets_resolved"]) == (3, 2)


def test_users_created_by_the_period_end_only_with_zeros_without_activity(db):
    stage_users(db, [
        (1, "2024-03-20 23:59:59.999999"),  # created just before the period end: a row
        (2, "2024-03-21 00:00"),            # at the period end: none
        (3, "2024-04-02 00:00"),            # later: none (its payment below is ignored too)
    ])
    stage_payments(db, [(1, 3, "5.00", "success", "2024-03-10 00:00")])
    # Another run's rows are ignored.
    stage_users(db, [(4, "2020-01-01 00:00")], run_id=OTHER_RUN)
    stage_payments(db, [(2, 1, "5.00", "success", "2024-03-10 00:00")], run_id=OTHER_RUN)
    mart = build_user_mart(db, MARCH, MARCH_END)
    assert mart.to_dict("records") == [{
        "report_date": MARCH, "user_id": 1, "user_uuid": "u-1", "total_payments": Decimal("0.00"),
        "successful_payments": Decimal("0.00"), "failed_payments_count": 0, "active_subscriptions_count": 0,
        "subscription_cost_total": Decimal("0.00"), "support_tickets_opened": 0, "support_tickets_resolved": 0,
    }]


def test_a_full_month_runs_to_the_next_month_start(db):
    # February built after its end (period_end = 1 March): 29 Feb is in, 1 Mar is not.
    stage_users(db, [(1, "2024-01-01 00:00")])
    stage_payments(db, [(1, 1, "1.25", "success", "2024-02-29 23:00"), (2, 1, "2.50", "success", "2024-03-01 00:00")])
    u = one(build_user_mart(db, date(2024, 2, 1), D(2024, 3, 1)), user_id=1)
    assert u["total_payments"] == Decimal("1.25")


# --- prosthesis mart ----------------------------------------------------------------------------


def test_prostheses_bought_by_the_period_end_with_zeros_without_telemetry(db):
    stage_users(db, [(1, "2024-01-01 00:00"), (2, "2024-01-01 00:00")])
    stage_prosthetics(db, [
        (1, 1, date(2024, 3, 20)),  # bought on the last day to date: a row
        (2, 2, date(2024, 3, 21)),  # bought at the period end: none
        (3, 2, date(2024, 1, 5)),   # no telemetry: a row of zeros
    ])
    stage_events(db, [(1, 1, "power_on", "2024-03-20 12:00"), (2, 1, "power_on", "2024-03-21 00:00")])
    stage_samples(db, [(1, 1, "2024-03-20 13:00", -30, False), (2, 1, "2024-03-20 14:00", -60, False),
                       (3, 1, "2024-03-20 15:00", 100, True), (4, 1, "2024-03-20 16:00", 250, True),
                       (5, 1, "2024-03-20 17:00", 400, True)])
    compute_partials(db, D(2024, 3, 20), D(2024, 3, 21))
    mart = build_prosthetic_mart(db, MARCH, MARCH_END)
    assert mart["prosthetic_id"].tolist() == [1, 3]
    p1, p3 = one(mart, prosthetic_id=1), one(mart, prosthetic_id=3)
    # The session 12:00..24:00 (H); samples at 13:00 and 14:00 are active: (30 + 60) / 2 = 45;
    # charge (100 + 250 + 400) / 3 = 250.
    assert (p1["power_on_count"], p1["total_active_hours"]) == (1, 12.0)
    assert (p1["avg_discharge_rate_active"], p1["avg_discharge_rate_idle"], p1["avg_charge_rate"]) == (45.0, 0.0, 250.0)
    assert p3 == {
        "report_date": MARCH, "prosthetic_id": 3, "user_id": 2, "user_uuid": "u-2", "prosthetic_uuid": "p-3",
        "device_type": "arm", "power_on_count": 0, "power_off_count": 0, "total_active_hours": 0.0,
        "avg_discharge_rate_active": 0.0, "avg_discharge_rate_idle": 0.0, "avg_charge_rate": 0.0,
        "charge_cycles": 0, "warning_count": 0, "error_count": 0, "critical_error_count": 0,
        "downtime_minutes": 0,
    }


def test_prosthesis_of_an_unstaged_user_fails_the_build(db):
    stage_users(db, [(1, "2024-01-01 00:00")])
    stage_prosthetics(db, [(1, 1, date(2024, 1, 5)), (2, 99, date(2024, 1, 5))])
    with pytest.raises(Exception, match="references a user that is not staged"):
        build_prosthetic_mart(db, MARCH, MARCH_END)
