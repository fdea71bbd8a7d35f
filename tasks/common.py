"""What every task shares: retry policy for database work, and the run's time window."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from bionicpro.contract import next_month_start


def is_transient(task, task_run, state) -> bool:
    """Retry what may pass on a second try (connections, timeouts), not a wrong query or bad data."""
    import psycopg2
    from clickhouse_connect.driver.exceptions import OperationalError as ClickHouseOperationalError

    try:
        state.result()
    except (psycopg2.OperationalError, psycopg2.InterfaceError, ClickHouseOperationalError,
            ConnectionError, TimeoutError):
        return True
    except Exception:
        return False
    return False


# Database tasks retry transient failures with exponential backoff and jitter; data-quality tasks
# never retry: the same rows would fail the same way.
DB_TASK = dict(
    retries=3,
    retry_delay_seconds=exponential_backoff(backoff_factor=2),
    retry_jitter_factor=0.5,
    retry_condition_fn=is_transient,
    cache_policy=NO_CACHE,
    persist_result=False,
)
PURE_TASK = dict(cache_policy=NO_CACHE, persist_result=False)


def midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


@dataclass(frozen=True)
class Period:
    """The month a run computes, to date: ``[month_start, period_end)`` with horizon H."""

    report_date: date

    @property
    def month_start(self) -> date:
        return self.report_date.replace(day=1)

    @property
    def horizon(self) -> datetime:
        return datetime.combine(self.report_date + timedelta(days=1), datetime.min.time())

    @property
    def period_end(self) -> datetime:
        return min(datetime.combine(next_month_start(self.month_start), datetime.min.time()), self.horizon)

    @property
    def days(self) -> list[date]:
        count = (self.report_date - self.month_start).days + 1
        return [self.month_start + timedelta(days=i) for i in range(count)]

    @property
    def partition(self) -> int:
        return self.month_start.year * 100 + self.month_start.month

    @property
    def label(self) -> str:
        return self.month_start.strftime("%Y-%m")

    @property
    def hours_to_date(self) -> float:
        start = datetime.combine(self.month_start, datetime.min.time())
        return (self.period_end - start).total_seconds() / 3600


@dataclass(frozen=True)
class Span:
    """Consecutive months to date, from the first month's start to the last one's period end: the
    CRM rows of a span are the union of its months' (users and prostheses are all of them)."""

    first: Period
    last: Period

    @property
    def month_start(self) -> date:
        return self.first.month_start

    @property
    def period_end(self) -> datetime:
        return self.last.period_end

    @property
    def label(self) -> str:
        return f"{self.first.label}..{self.last.label}"
