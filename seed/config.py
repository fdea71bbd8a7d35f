"""What to seed (``SeedConfig``) and the constants of the generated world (the "profile").

The period of a seed is ``[end_date - months, end_date)``: ``end_date`` is exclusive, so
``SeedConfig(months=1, end_date=date(2024, 2, 1))`` is exactly January 2024 and its last day of
data is 2024-01-31.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

EPOCH = date(1970, 1, 1)
DAY = 86_400


def today_utc() -> date:
    return datetime.now(timezone.utc).date()


def subtract_months(day: date, months: int) -> date:
    """``day`` minus whole calendar months (the day of month is clamped: 31 Mar - 1 month = 29 Feb)."""
    index = day.year * 12 + (day.month - 1) - months
    year, month = divmod(index, 12)
    month += 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


@dataclass(frozen=True)
class SeedConfig:
    """A seed run: ``users`` users, ``months`` months of data ending (exclusive) at ``end_date``."""

    users: int = 12
    months: int = 30
    end_date: date | None = None  # exclusive; None = today (UTC)
    seed: int = 42
    anomalies: bool = False

    def __post_init__(self) -> None:
        if self.users < 1:
            raise ValueError(f"users must be >= 1, got {self.users}")
        if self.months < 1:
            raise ValueError(f"months must be >= 1, got {self.months}")
        if self.end_date is not None and not isinstance(self.end_date, date):
            raise TypeError(f"end_date must be a date or None, got {self.end_date!r}")

    @property
    def end(self) -> date:
        """Exclusive end of the period (``end_date`` or today UTC)."""
        return self.end_date if self.end_date is not None else today_utc()

    @property
    def start(self) -> date:
        """First day of the period."""
        return subtract_months(self.end, self.months)

    @property
    def last_day(self) -> date:
        """Last day that has data (``end - 1 day``); the day the anomalies are dated on."""
        return self.end - timedelta(days=1)

    @property
    def period_days(self) -> int:
        return (self.end - self.start).days

    def resolved(self) -> SeedConfig:
        """The same config with ``end_date`` fixed (so that a run does not straddle midnight)."""
        if self.end_date is not None:
            return self
        return SeedConfig(self.users, self.months, self.end, self.seed, self.anomalies)


def epoch_seconds(day: date) -> int:
    """Seconds since 1970-01-01 of ``day`` 00:00 UTC."""
    return (day - EPOCH).days * DAY


# --- The profile: rates of the generated world (tuned so that the default profile gives
# --- ~456,000 events and ~45,000 battery samples, and 10,000 users ~500,000 events a day).

# Users sign up uniformly over [start - USER_HISTORY_DAYS, start + USER_JOIN_FRACTION * period]:
# most users already exist when the period starts (a CRM has history), some join during it.
USER_HISTORY_DAYS = 730
USER_JOIN_FRACTION = 0.4
FIRST_PURCHASE_MAX_DAYS = 21        # first prosthesis bought 0..21 days after sign-up
SECOND_PURCHASE_MIN_DAYS = 30       # half of the users buy a second one 30..900 days later
SECOND_PURCHASE_MAX_DAYS = 900

DAY_OFF_PROBABILITY = 0.05          # a device is not worn on ~5% of its days
TWO_SESSION_PROBABILITY = 0.30      # midday break: power_off ... power_on
ACTIVITY_PER_DAY = 29.3             # grip/release/gesture_change/sensor_reading per worn day (mean)
CALIBRATION_PER_DAY = 0.08
WARNINGS_PER_DAY = 0.25
ERRORS_PER_DAY = 0.04
CRITICAL_PER_DAY = 0.004            # critical_error -> device stopped minutes..hours, then power_on
SAMPLES_PER_DAY = 3.5               # battery samples per worn day (one is always taken while charging)

LATE_EVENT_FRACTION = 0.02          # created_at 1 h .. 3 days after event_timestamp
LOST_POWER_OFF_FRACTION = 0.01      # of the sessions' power_off events
DUPLICATE_EVENT_FRACTION = 0.005    # resent by the device: new event_id, later created_at
LATE_SAMPLE_FRACTION = 0.01
DUPLICATE_SAMPLE_FRACTION = 0.002

PLAN_COSTS = {"basic": 1490.00, "standard": 2990.00, "premium": 4990.00}  # RUB a month
PLAN_CHANGE_PER_YEAR = 0.12         # hazard of a plan change or a cancellation
PAYMENT_SUCCESS = (0.89, 0.70, 0.60)  # first attempt, first retry, second retry
PENDING_DAYS = 5                    # payments of the last 5 days of the period are still pending
TICKETS_PER_USER_MONTH = 0.2

# Target size of a telemetry chunk (events); at least a day, at most four weeks per chunk.
CHUNK_EVENTS = 1_000_000
