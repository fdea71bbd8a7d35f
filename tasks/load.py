"""Load tasks: day partials, the atomic month swap, and the load log (ClickHouse)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timezone
from string import Template

import pandas as pd
from prefect import get_run_logger, task

from bionicpro.db import clickhouse_client
from bionicpro.metrics.prosthetic import PARTIAL_COLUMNS, PROSTHETIC_MART_COLUMNS
from bionicpro.metrics.user import USER_MART_COLUMNS
from bionicpro.pgio import read_sql
from bionicpro.settings import Settings
from tasks.common import DB_TASK, Period


@dataclass(frozen=True)
class Mart:
    name: str
    table: str
    keys: tuple[str, ...]
    columns: list[str]

    @property
    def staging(self) -> str:
        return f"{self.table}_staging"


# The only identifiers ever placed into ClickHouse SQL.
MARTS = {
    "user": Mart("user", "report_user_monthly_metrics", ("user_id",), USER_MART_COLUMNS),
    "prosthetic": Mart("prosthetic", "report_prosthetic_monthly_metrics", ("prosthetic_id",),
                       PROSTHETIC_MART_COLUMNS),
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _sql(name: str, mart: Mart | None = None) -> str:
    text = read_sql(name)
    if mart is None:
        return text
    return Template(text).substitute(table=mart.table, staging=mart.staging, keys=", ".join(mart.keys))


@task(name="read_computed_days", **DB_TASK)
def read_computed_days(settings: Settings, first_day: date, last_day: date) -> dict[date, tuple[datetime, bool]]:
    """For each computed day in the range: its latest computation time and whether it went stale."""
    params = {"first_day": first_day, "last_day": last_day}
    with clickhouse_client(settings) as client:
        rows = client.query(_sql("ch_computed_days"), parameters=params).result_rows
    return {day: (computed_at, bool(stale)) for day, computed_at, stale in rows}


@task(name="mark_stale_days", **DB_TASK)
def mark_stale_days(settings: Settings, days: list[date], now: datetime) -> None:
    """Durably mark days whose inputs changed, so whichever run of their month comes next recomputes them."""
    if days:
        with clickhouse_client(settings) as client:
            client.insert_df("reports_db.partial_days",
                             pd.DataFrame({"day": days, "computed_at": now, "rows": 0, "stale": 1}))
        get_run_logger().info("marked %d day(s) stale: %s", len(days), ", ".join(map(str, days)))


@task(name="read_arrival_watermark", **DB_TASK)
def read_arrival_watermark(settings: Settings) -> datetime | None:
    with clickhouse_client(settings) as client:
        found = client.query(_sql("ch_arrival_watermark")).result_rows[0][0]
    # An empty table answers the type's zero value.
    return found if found and found.year > 1970 else None


@task(name="advance_arrival_watermark", **DB_TASK)
def advance_arrival_watermark(settings: Settings, checked_from: datetime, run_id: str) -> None:
    with clickhouse_client(settings) as client:
        client.insert_df("reports_db.arrival_checks", pd.DataFrame({"checked_from": [checked_from], "run_id": [run_id]}))


@task(name="read_stale_months", **DB_TASK)
def read_stale_months(settings: Settings) -> list[date]:
    with clickhouse_client(settings) as client:
        return [row[0] for row in client.query(_sql("ch_stale_months")).result_rows]


@task(name="read_load_status", **DB_TASK)
def read_load_status(settings: Settings, first_month: date, last_month: date) -> dict[date, tuple[str, datetime | None]]:
    """Per month: the latest attempt's status and the latest successful horizon (None if none)."""
    params = {"first_month": first_month, "last_month": last_month}
    with clickhouse_client(settings) as client:
        rows = client.query(_sql("ch_load_status"), parameters=params).result_rows
    return {month: (status, horizon if horizon.year > 1970 else None) for month, status, horizon in rows}


@task(name="read_loaded_months", **DB_TASK)
def read_loaded_months(settings: Settings) -> dict[date, datetime]:
    """Months whose both marts loaded successfully, with the latest successful horizon."""
    with clickhouse_client(settings) as client:
        rows = client.query(_sql("ch_loaded_months")).result_rows
    return {month: horizon for month, horizon in rows}


@task(name="load_partials", **DB_TASK)
def load_partials(settings: Settings, partials: pd.DataFrame, days: list[date], computed_at: datetime) -> int:
    """Write the days' partials, then mark the days computed (the mark makes them count)."""
    frame = partials[PARTIAL_COLUMNS].copy()
    frame["computed_at"] = computed_at
    marks = pd.DataFrame({"day": days, "computed_at": computed_at,
                          "rows": [int((partials["day"] == d).sum()) for d in days]})
    with clickhouse_client(settings) as client:
        if not frame.empty:
            client.insert_df("reports_db.prosthetic_daily_partials", frame)
        client.insert_df("reports_db.partial_days", marks)
    get_run_logger().info("stored %d partial rows for %d day(s)", len(frame), len(days))
    return len(frame)


@task(name="read_month_sums", **DB_TASK)
def read_month_sums(settings: Settings, period: Period) -> pd.DataFrame:
    params = {"month_start": period.month_start, "period_end": period.period_end.date()}
    with clickhouse_client(settings) as client:
        sums = client.query_df(_sql("ch_month_partial_sums"), parameters=params)
    get_run_logger().info("summed partials of %s for %d prostheses", period.label, len(sums))
    return sums


def stamp_rows(frame: pd.DataFrame, first_loaded: pd.DataFrame, keys: tuple[str, ...], now: datetime) -> pd.DataFrame:
    """Keep each row's first ``created_at`` across reloads; ``last_updated`` is now."""
    stamped = frame.merge(first_loaded, on=list(keys), how="left") if not first_loaded.empty else frame.assign(created_at=pd.NaT)
    stamped["created_at"] = pd.to_datetime(stamped["created_at"]).fillna(pd.Timestamp(now)).astype("datetime64[s]")
    stamped["last_updated"] = pd.Timestamp(now).floor("s")
    return stamped


def swap_month(client, mart: Mart, frame: pd.DataFrame, period: Period, now: datetime) -> int:
    """Stage the month, then swap it into the mart in one atomic step."""
    params = {"partition": period.partition, "report_date": period.month_start}
    first_loaded = client.query_df(_sql("ch_first_loaded", mart), parameters=params)
    rows = stamp_rows(frame[mart.columns], first_loaded, mart.keys, now)
    client.command(_sql("ch_clear_staging", mart), parameters=params)
    if rows.empty:
        client.command(_sql("ch_drop_partition", mart), parameters=params)
    else:
        client.insert_df(f"reports_db.{mart.staging}", rows)
        client.command(_sql("ch_swap_partition", mart), parameters=params)
        client.command(_sql("ch_clear_staging", mart), parameters=params)
    return len(rows)


def _log_rows(period: Period, rows: dict[str, int], status: str, message: str, run_id: str, now: datetime) -> pd.DataFrame:
    return pd.DataFrame([
        {"report_date": period.month_start, "mart": mart, "rows": count, "horizon": period.horizon,
         "status": status, "message": message[:2000], "run_id": run_id, "loaded_at": now}
        for mart, count in rows.items()
    ])


@task(name="load_marts", **DB_TASK)
def load_marts(settings: Settings, frames: dict[str, pd.DataFrame], period: Period, run_id: str) -> dict[str, int]:
    """Swap each mart's month in, then log the load (one ClickHouse session)."""
    now = utcnow()
    with clickhouse_client(settings) as client:
        rows = {name: swap_month(client, MARTS[name], frame, period, now) for name, frame in frames.items()}
        client.insert_df("reports_db.load_log", _log_rows(period, rows, "success", "", run_id, now))
    get_run_logger().info("loaded %s for %s", ", ".join(f"{n} {c} rows" for n, c in rows.items()), period.label)
    return rows


@task(name="record_failed_load", **DB_TASK)
def record_failed_load(settings: Settings, period: Period, message: str, run_id: str) -> None:
    with clickhouse_client(settings) as client:
        client.insert_df("reports_db.load_log",
                         _log_rows(period, {name: 0 for name in MARTS}, "failed", message, run_id, utcnow()))
