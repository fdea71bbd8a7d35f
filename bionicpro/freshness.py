"""Which computed days are out of date: pure decisions over arrival spans and computation times."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pandas as pd


def reached_days(arrivals: pd.DataFrame) -> dict[date, datetime]:
    """Every day an arrival can change, with the latest arrival that reaches it.

    ``arrivals``: [day, reach, last_arrival] (see find_arrivals.sql).
    """
    latest: dict[date, datetime] = {}
    for row in arrivals.itertuples(index=False):
        for offset in range(int(row.reach) + 1):
            day = row.day + timedelta(days=offset)
            arrived = pd.Timestamp(row.last_arrival).to_pydatetime()
            if day not in latest or arrived > latest[day]:
                latest[day] = arrived
    return latest


def stale_days(computed: dict[date, datetime], reached: dict[date, datetime]) -> list[date]:
    """Computed days that a row reached after their computation."""
    return sorted(day for day, arrived in reached.items() if day in computed and arrived >= computed[day])


def days_to_compute(month_days: list[date], computed: dict[date, tuple[datetime, bool]]) -> list[date]:
    """Days of the month never computed, or marked stale since."""
    return [day for day in month_days if day not in computed or computed[day][1]]
