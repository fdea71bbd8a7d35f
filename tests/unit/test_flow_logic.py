"""The flow's own decisions: which date, which days, which created_at."""

from datetime import date, datetime, timezone

import pandas as pd
import pytest

from flows.daily import resolve_report_date
from tasks.common import Period
from bionicpro.freshness import days_to_compute, reached_days, stale_days
from tasks.load import stamp_rows

TODAY = date(2024, 3, 10)


def test_none_means_the_day_before_the_scheduled_start():
    scheduled = datetime(2024, 3, 5, 2, 0, tzinfo=timezone.utc)
    assert resolve_report_date(None, scheduled, TODAY) == date(2024, 3, 4)


def test_none_without_a_schedule_means_yesterday():
    assert resolve_report_date(None, None, TODAY) == date(2024, 3, 9)


def test_an_explicit_date_is_kept_and_today_is_allowed():
    assert resolve_report_date(date(2023, 1, 15), None, TODAY) == date(2023, 1, 15)
    assert resolve_report_date(TODAY, None, TODAY) == TODAY


def test_a_future_date_is_rejected_by_name():
    with pytest.raises(ValueError, match="report_date=2024-03-11 is after today"):
        resolve_report_date(date(2024, 3, 11), None, TODAY)


def test_period_of_a_mid_month_date_is_the_month_to_date():
    period = Period(date(2024, 2, 14))
    assert period.month_start == date(2024, 2, 1)
    assert period.horizon == datetime(2024, 2, 15)
    assert period.period_end == datetime(2024, 2, 15)
    assert period.partition == 202402
    assert len(period.days) == 14
    assert period.hours_to_date == 14 * 24


def test_period_of_a_month_end_stops_at_the_next_month():
    period = Period(date(2024, 12, 31))
    assert period.period_end == datetime(2025, 1, 1)
    assert period.days[-1] == date(2024, 12, 31)


def test_arrivals_reach_their_day_and_up_to_seven_days_on():
    arrivals = pd.DataFrame({
        # a battery sample of Jan 3 (reach 0) and a critical_error of Jan 1 (reach 7)
        "day": [date(2024, 1, 3), date(2024, 1, 1)],
        "reach": [0, 7],
        "last_arrival": [datetime(2024, 1, 9), datetime(2024, 1, 6)],
    })
    reached = reached_days(arrivals)
    assert sorted(reached) == [date(2024, 1, d) for d in range(1, 9)]
    assert reached[date(2024, 1, 3)] == datetime(2024, 1, 9)  # the later of the two arrivals
    assert reached[date(2024, 1, 8)] == datetime(2024, 1, 6)


def test_only_days_computed_before_the_arrival_are_stale():
    reached = {date(2024, 1, d): datetime(2024, 1, 6) for d in range(1, 9)}
    # Jan d was computed at Jan d+1 02:00; Jan 9 never.
    computed = {date(2024, 1, d): datetime(2024, 1, d + 1, 2) for d in range(1, 9)}
    assert stale_days(computed, reached) == [date(2024, 1, d) for d in (1, 2, 3, 4)]


def test_days_to_compute_are_missing_or_stale():
    month_days = [date(2024, 1, d) for d in range(1, 5)]
    computed = {date(2024, 1, 1): (datetime(2024, 1, 2), False), date(2024, 1, 2): (datetime(2024, 1, 9), True),
                date(2024, 1, 3): (datetime(2024, 1, 4), False)}
    assert days_to_compute(month_days, computed) == [date(2024, 1, 2), date(2024, 1, 4)]


def test_stamp_rows_keeps_first_created_at():
    now = datetime(2024, 2, 2, 3, 0, 0)
    frame = pd.DataFrame({"user_id": [1, 2]})
    first = pd.DataFrame({"user_id": [1], "created_at": [pd.Timestamp("2024-01-05 02:00:00")]})
    stamped = stamp_rows(frame, first, "user_id", now)
    assert stamped["created_at"].tolist() == [pd.Timestamp("2024-01-05 02:00:00"), pd.Timestamp(now)]
    assert (stamped["last_updated"] == pd.Timestamp(now)).all()
