"""The marts as pure pandas functions: the reference the SQL of tasks/sql/ is tested against
(DataFrame in, DataFrame out; no I/O).

Shared here: the "month to date" window of a run, see ``/work/shared/spec/marts.md``.
"""

from __future__ import annotations

from datetime import date, datetime

import numpy as np
import pandas as pd

__all__ = ["as_int32", "as_naive_utc", "next_month_start", "period_end"]


def as_naive_utc(value: object) -> pd.Timestamp:
    """A scalar (date, datetime, str, Timestamp) as a naive UTC ``pd.Timestamp``."""
    ts = pd.Timestamp(value)
    if pd.isna(ts):
        raise ValueError("a time bound cannot be NaT")
    if ts.tzinfo is not None:
        # Aware input is accepted but compared in UTC like every source timestamp.
        ts = ts.tz_convert("UTC").tz_localize(None)
    return ts


def next_month_start(month_start: date) -> date:
    """The first day of the month after ``month_start`` (which must be a first of month)."""
    if isinstance(month_start, datetime):
        # A datetime is also a date; accept it only at midnight so that no time is silently dropped.
        if month_start.time() != datetime.min.time():
            raise ValueError(f"month_start must be a date, got {month_start!r}")
        month_start = month_start.date()
    if month_start.day != 1:
        raise ValueError(f"month_start must be the first day of a month, got {month_start}")
    if month_start.month == 12:
        return date(month_start.year + 1, 1, 1)
    return date(month_start.year, month_start.month + 1, 1)


def period_end(month_start: date, horizon: object) -> pd.Timestamp:
    """Exclusive end of "month to date": ``min(next_month_start, horizon)``.

    A month that starts at or after the horizon has no data a run may use; asking for it is a
    caller error rather than an empty month.
    """
    end = min(pd.Timestamp(next_month_start(month_start)), as_naive_utc(horizon))
    if end <= pd.Timestamp(month_start):
        raise ValueError(f"month {month_start} starts at or after the horizon {horizon}")
    return end


_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1


def as_int32(values: object, name: str) -> np.ndarray:
    """Integers as int32 for the marts' Int32 columns; raises instead of wrapping around."""
    arr = np.asarray(values, dtype=np.int64)
    if arr.size and (arr.min() < _INT32_MIN or arr.max() > _INT32_MAX):
        raise OverflowError(f"{name} does not fit Int32")
    return arr.astype(np.int32)
