"""The pandas reference of the user mart (tests only; production is tasks/sql/): payments,
subscriptions and support tickets of one month to date.

The contract is ``/work/shared/spec/marts.md``. Money is summed as integer cents so that it is
exact, and returned as ``decimal.Decimal`` with two places (ClickHouse ``Decimal(12,2)``).
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import numpy as np
import pandas as pd

from bionicpro.contract import USER_MART_COLUMNS
from tests.metrics_reference import as_int32, period_end

__all__ = ["USER_MART_COLUMNS", "user_month"]



def _cents(amount: object) -> int:
    """An amount as whole cents; refuses to round (floats go through their shortest repr)."""
    value = amount if isinstance(amount, Decimal) else Decimal(str(amount))
    cents = value.scaleb(2)
    if not cents.is_finite() or cents != cents.to_integral_value():
        raise ValueError(f"amount {amount!r} is not a whole number of cents")
    return int(cents)


def _cents_array(amounts: pd.Series) -> np.ndarray:
    # Decimal has no vectorised form; this runs once per payment/subscription of the month.
    return np.fromiter((_cents(a) for a in amounts), dtype=np.int64, count=len(amounts))


def _money(cents: np.ndarray) -> list[Decimal]:
    return [Decimal(int(c)).scaleb(-2) for c in cents]


def _in(values: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> np.ndarray:
    """``start <= value < end``; NULL is never inside."""
    ts = pd.to_datetime(values)
    return ((ts >= start) & (ts < end)).to_numpy(dtype=bool)


def _per_user(user_id: pd.Series, columns: dict[str, np.ndarray]) -> pd.DataFrame:
    frame = pd.DataFrame({"user_id": user_id.to_numpy(dtype=np.int64), **columns})
    return frame.groupby("user_id").sum()


def user_month(
    users: pd.DataFrame,
    payments: pd.DataFrame,
    subscriptions: pd.DataFrame,
    tickets: pd.DataFrame,
    month_start: date,
    horizon: object,
) -> pd.DataFrame:
    """Mart rows of one month to date, one per user created before the period end (zeros without
    activity), sorted by user_id. Inputs may hold rows outside the month: every rule is applied here."""
    start = pd.Timestamp(month_start)
    end = period_end(month_start, horizon)

    u = users[(pd.to_datetime(users["created_at"]) < end).to_numpy(dtype=bool)]
    u = u.sort_values("user_id", kind="stable").reset_index(drop=True)
    user_ids = u["user_id"].to_numpy(dtype=np.int64)

    pay = payments[_in(payments["payment_date"], start, end)]
    cents = _cents_array(pay["amount"])
    status = pay["status"].to_numpy(dtype=object)
    by_pay = _per_user(
        pay["user_id"],
        {
            "total": cents,
            "success": np.where(status == "success", cents, 0),
            "failed": (status == "failed").astype(np.int64),
        },
    )

    # Active at any moment of the month to date, decided from the dates (never from is_active).
    sub_start = pd.to_datetime(subscriptions["start_date"])
    sub_end = pd.to_datetime(subscriptions["end_date"])
    active = ((sub_start < end) & (sub_end.isna() | (sub_end >= start))).to_numpy(dtype=bool)
    sub = subscriptions[active]
    by_sub = _per_user(
        sub["user_id"],
        {"subs": np.ones(len(sub), dtype=np.int64), "cost": _cents_array(sub["monthly_cost"])},
    )

    by_ticket = _per_user(
        tickets["user_id"],
        {
            "opened": _in(tickets["created_at"], start, end).astype(np.int64),
            "resolved": _in(tickets["resolved_at"], start, end).astype(np.int64),
        },
    )

    # Aggregate first, then align on the user list: one row per user, no join fan-out.
    agg = pd.concat([by_pay, by_sub, by_ticket], axis=1).reindex(user_ids).fillna(0).astype(np.int64)
    return pd.DataFrame(
        {
            "report_date": np.full(len(u), start.date(), dtype=object),
            "user_id": as_int32(user_ids, "user_id"),
            "user_uuid": u["user_uuid"].astype(str),
            "total_payments": _money(agg["total"].to_numpy()),
            "successful_payments": _money(agg["success"].to_numpy()),
            "failed_payments_count": as_int32(agg["failed"], "failed_payments_count"),
            "active_subscriptions_count": as_int32(agg["subs"], "active_subscriptions_count"),
            "subscription_cost_total": _money(agg["cost"].to_numpy()),
            "support_tickets_opened": as_int32(agg["opened"], "support_tickets_opened"),
            "support_tickets_resolved": as_int32(agg["resolved"], "support_tickets_resolved"),
        }
    )[USER_MART_COLUMNS]
