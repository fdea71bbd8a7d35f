"""User mart metrics on small hand-made frames; expected values worked out in comments."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from tests.metrics_reference import next_month_start, period_end
from tests.metrics_reference.user import USER_MART_COLUMNS, user_month

T = pd.Timestamp
D = Decimal
FEB = date(2024, 2, 1)
MID_FEB = T("2024-02-20")  # horizon of the run for report date 02-19: period end 02-20 00:00


def frame(columns: list[str], *rows: tuple) -> pd.DataFrame:
    return pd.DataFrame([dict(zip(columns, r)) for r in rows], columns=columns)


def users(*rows: tuple) -> pd.DataFrame:
    f = frame(["user_id", "user_uuid", "created_at"], *rows)
    f["created_at"] = pd.to_datetime(f["created_at"], format="ISO8601")
    return f


def payments(*rows: tuple) -> pd.DataFrame:
    f = frame(["payment_id", "user_id", "amount", "status", "payment_date"], *rows)
    f["payment_date"] = pd.to_datetime(f["payment_date"], format="ISO8601")
    return f


def subscriptions(*rows: tuple) -> pd.DataFrame:
    return frame(["subscription_id", "user_id", "monthly_cost", "start_date", "end_date", "is_active"], *rows)


def tickets(*rows: tuple) -> pd.DataFrame:
    f = frame(["ticket_id", "user_id", "created_at", "resolved_at"], *rows)
    f["created_at"] = pd.to_datetime(f["created_at"], format="ISO8601")
    f["resolved_at"] = pd.to_datetime(f["resolved_at"], format="ISO8601")
    return f


NO_PAYMENTS = payments()
NO_SUBSCRIPTIONS = subscriptions()
NO_TICKETS = tickets()

USERS = users(
    (4, "u-4", "2024-01-10"),  # listed first: output is sorted by user_id
    (1, "u-1", "2023-01-01"),
    (2, "u-2", "2024-02-19 23:59"),  # created just before the period end: present
    (3, "u-3", "2024-02-20 00:00"),  # created at the period end: absent
)


def one(out: pd.DataFrame, user_id: int) -> pd.Series:
    return out.set_index("user_id").loc[user_id]


def test_payments_any_status_success_only_and_failed_count():
    pay = payments(
        (1, 1, D("10.00"), "success", "2024-02-01 00:00"),  # at month_start: in
        (2, 1, D("5.50"), "failed", "2024-02-05 12:00"),
        (3, 1, D("2.25"), "pending", "2024-02-06 12:00"),
        (4, 1, D("100.00"), "success", "2024-01-31 23:59:59"),  # last month: out
        (5, 1, D("7.00"), "success", "2024-02-20 00:00"),  # at the horizon: out
        (6, 1, D("1.00"), "failed", "2024-02-10 08:00"),
    )
    u1 = one(user_month(USERS, pay, NO_SUBSCRIPTIONS, NO_TICKETS, FEB, MID_FEB), 1)
    assert u1["total_payments"] == D("18.75")  # 10.00 + 5.50 + 2.25 + 1.00
    assert u1["successful_payments"] == D("10.00")
    assert u1["failed_payments_count"] == 2


def test_money_is_exact_and_has_two_places():
    pay = payments(
        (1, 2, D("0.1"), "success", "2024-02-03"),
        (2, 2, D("0.2"), "success", "2024-02-04"),
        *[(10 + i, 1, D("0.01"), "failed", "2024-02-05") for i in range(10)],
    )
    out = user_month(USERS, pay, NO_SUBSCRIPTIONS, NO_TICKETS, FEB, MID_FEB)
    u2 = one(out, 2)
    assert str(u2["total_payments"]) == "0.30"  # not 0.30000000000000004, not 0.3
    assert str(u2["successful_payments"]) == "0.30"
    assert str(one(out, 1)["total_payments"]) == "0.10"  # ten cents, summed as cents
    assert str(one(out, 4)["total_payments"]) == "0.00"
    # Floats are read through their shortest repr, so 0.1 + 0.2 is still exactly 0.30.
    floats = pay.assign(amount=pay["amount"].astype(float))
    from_floats = user_month(USERS, floats, NO_SUBSCRIPTIONS, NO_TICKETS, FEB, MID_FEB)
    assert str(one(from_floats, 2)["total_payments"]) == "0.30"
    for column in ["total_payments", "successful_payments", "subscription_cost_total"]:
        assert all(isinstance(v, Decimal) and v.as_tuple().exponent == -2 for v in out[column]), column


def test_amount_that_is_not_whole_cents_is_refused():
    pay = payments((1, 1, D("0.005"), "success", "2024-02-03"))
    with pytest.raises(ValueError, match="cents"):
        user_month(USERS, pay, NO_SUBSCRIPTIONS, NO_TICKETS, FEB, MID_FEB)


def test_subscriptions_active_in_month_decided_from_dates_without_fan_out():
    subs = subscriptions(
        (1, 1, D("99.99"), date(2022, 1, 1), date(2023, 12, 31), True),  # ended last year: out
        (2, 1, D("10.10"), date(2023, 6, 1), date(2024, 2, 1), False),  # ends on month_start: in
        (3, 1, D("50.00"), date(2024, 2, 20), None, True),  # starts at the period end: out
        (4, 1, D("20.20"), date(2024, 2, 19), None, True),  # starts the day before: in
        (5, 1, D("5.05"), date(2023, 1, 1), None, True),  # open-ended: in
        (6, 1, D("3.00"), date(2024, 1, 15), date(2024, 1, 31), True),  # ended the day before: out
        (7, 2, D("1.00"), date(2024, 2, 1), date(2024, 2, 29), True),
    )
    # Three payments of user 1 in the month: a subscription-payment join would triple the cost.
    pay = payments(*[(i, 1, D("1.00"), "success", "2024-02-02") for i in range(3)])
    out = user_month(USERS, pay, subs, NO_TICKETS, FEB, MID_FEB)
    u1 = one(out, 1)
    assert u1["active_subscriptions_count"] == 3  # ids 2, 4, 5
    assert u1["subscription_cost_total"] == D("35.35")  # 10.10 + 20.20 + 5.05
    assert u1["total_payments"] == D("3.00")
    assert one(out, 2)["active_subscriptions_count"] == 1


def test_subscription_ending_as_nat_and_full_month_period_end():
    subs = subscriptions(
        (1, 1, D("1.00"), date(2024, 2, 29), pd.NaT, True),  # last day of February: in
        (2, 1, D("2.00"), date(2024, 3, 1), pd.NaT, True),  # next month: out
    )
    pay = payments(
        (1, 1, D("4.00"), "success", "2024-02-29 23:59:59.999999"),  # in
        (2, 1, D("8.00"), "success", "2024-03-01 00:00"),  # next month: out
    )
    # Horizon beyond the month: the period end is next_month_start.
    u1 = one(user_month(USERS, pay, subs, NO_TICKETS, FEB, T("2024-03-05")), 1)
    assert (u1["active_subscriptions_count"], u1["subscription_cost_total"]) == (1, D("1.00"))
    assert u1["total_payments"] == D("4.00")


def test_tickets_opened_and_resolved_in_month():
    tix = tickets(
        (1, 1, "2024-01-20 10:00", "2024-02-03 10:00"),  # opened last month, resolved now: resolved
        (2, 1, "2024-02-02 10:00", None),  # still open: opened
        (3, 1, "2024-02-10 10:00", "2024-02-20 00:00"),  # resolved at the horizon: opened only
        (4, 1, "2024-02-11 10:00", "2024-02-12 10:00"),  # both
        (5, 1, "2024-01-05 10:00", "2024-01-06 10:00"),  # last month: neither
        (6, 2, "2024-02-20 00:00", None),  # at the horizon: not opened
    )
    out = user_month(USERS, NO_PAYMENTS, NO_SUBSCRIPTIONS, tix, FEB, MID_FEB)
    assert (one(out, 1)["support_tickets_opened"], one(out, 1)["support_tickets_resolved"]) == (3, 2)
    assert (one(out, 2)["support_tickets_opened"], one(out, 2)["support_tickets_resolved"]) == (0, 0)


def test_one_row_per_user_created_before_period_end_with_zeros():
    out = user_month(USERS, NO_PAYMENTS, NO_SUBSCRIPTIONS, NO_TICKETS, FEB, MID_FEB)
    assert list(out.columns) == USER_MART_COLUMNS
    assert out["user_id"].tolist() == [1, 2, 4]  # user 3 is created at the period end
    u4 = one(out, 4)
    assert u4["user_uuid"] == "u-4"
    money = ["total_payments", "successful_payments", "subscription_cost_total"]
    assert u4[money].tolist() == [D("0.00")] * 3
    counts = [
        "failed_payments_count",
        "active_subscriptions_count",
        "support_tickets_opened",
        "support_tickets_resolved",
    ]
    assert u4[counts].tolist() == [0, 0, 0, 0]
    assert out["report_date"].tolist() == [FEB] * 3
    for c in ["user_id", *counts]:
        assert out[c].dtype == np.int32, c


def test_month_helpers():
    assert next_month_start(date(2024, 12, 1)) == date(2025, 1, 1)
    assert next_month_start(date(2024, 2, 1)) == date(2024, 3, 1)
    assert period_end(date(2024, 2, 1), date(2024, 2, 20)) == T("2024-02-20")
    assert period_end(date(2024, 2, 1), T("2024-04-01")) == T("2024-03-01")
    with pytest.raises(ValueError):
        next_month_start(date(2024, 2, 2))
    with pytest.raises(ValueError):
        period_end(date(2024, 2, 1), T("2024-02-01"))  # nothing of February is known yet
