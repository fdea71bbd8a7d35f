"""Load tasks: the run's state (computed days, arrivals) in the work warehouse, and the publish
step: each month's checked candidates published as one new version of both marts, committed by its load_log row."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime, timezone

import pandas as pd
from prefect import get_run_logger, task

from bionicpro.db import clickhouse_client
from bionicpro.faults import failpoint
from bionicpro.contract import PROSTHETIC_MART_COLUMNS, USER_MART_COLUMNS
from bionicpro.pgio import read_sql
from bionicpro.settings import WORK, Settings
from tasks.common import DB_TASK, Period


@dataclass(frozen=True)
class Mart:
    name: str
    table: str
    key: str
    candidates: str
    columns: list[str]

    @property
    def staging(self) -> str:
        return f"{self.table}_staging"


# The only identifiers ever bound into ClickHouse SQL as {name:Identifier}.
MARTS = {
    "user": Mart("user", "report_user_monthly_metrics", "user_id", "user_mart_candidates", USER_MART_COLUMNS),
    "prosthetic": Mart("prosthetic", "report_prosthetic_monthly_metrics", "prosthetic_id",
                       "prosthetic_mart_candidates", PROSTHETIC_MART_COLUMNS),
}


def utcnow() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def _mart_params(mart: Mart, period: Period) -> dict:
    return {"table": mart.table, "staging": mart.staging, "key": mart.key,
            "partition": period.partition, "report_date": period.month_start}


@task(name="read_computed_days", **DB_TASK)
def read_computed_days(settings: Settings, first_day: date, last_day: date) -> dict[date, tuple[datetime, bool]]:
    """For each computed day in the range: its latest computation time and whether it went stale."""
    params = {"first_day": first_day, "last_day": last_day}
    with clickhouse_client(settings, WORK) as client:
        rows = client.query(read_sql("ch_computed_days"), parameters=params).result_rows
    return {day: (computed_at, bool(stale)) for day, computed_at, stale in rows}


@task(name="mark_stale_days", **DB_TASK)
def mark_stale_days(settings: Settings, days: list[date], now: datetime) -> None:
    """Durably mark days whose inputs changed, so whichever run of their month comes next recomputes them."""
    if days:
        with clickhouse_client(settings, WORK) as client:
            client.insert_df("bionicpro_work.partial_days",
                             pd.DataFrame({"day": days, "computed_at": now, "rows": 0, "stale": 1}))
        get_run_logger().info("marked %d day(s) stale: %s", len(days), ", ".join(map(str, days)))


@task(name="read_arrival_watermark", **DB_TASK)
def read_arrival_watermark(settings: Settings) -> datetime | None:
    with clickhouse_client(settings, WORK) as client:
        found = client.query(read_sql("ch_arrival_watermark")).result_rows[0][0]
    # An empty table answers the type's zero value.
    return found if found and found.year > 1970 else None


@task(name="advance_arrival_watermark", **DB_TASK)
def advance_arrival_watermark(settings: Settings, checked_from: datetime, run_id: str) -> None:
    with clickhouse_client(settings, WORK) as client:
        client.insert_df("bionicpro_work.arrival_checks",
                         pd.DataFrame({"checked_from": [checked_from], "run_id": [run_id]}))


@task(name="read_stale_months", **DB_TASK)
def read_stale_months(settings: Settings) -> list[date]:
    with clickhouse_client(settings, WORK) as client:
        return [row[0] for row in client.query(read_sql("ch_stale_months")).result_rows]


@task(name="read_load_status", **DB_TASK)
def read_load_status(settings: Settings, first_month: date, last_month: date) -> dict[date, tuple[str, datetime | None]]:
    """Per month: the latest attempt's status and the latest successful horizon (None if none)."""
    params = {"first_month": first_month, "last_month": last_month}
    with clickhouse_client(settings) as client:
        rows = client.query(read_sql("ch_load_status"), parameters=params).result_rows
    return {month: (status, horizon if horizon.year > 1970 else None) for month, status, horizon in rows}


@task(name="read_loaded_months", **DB_TASK)
def read_loaded_months(settings: Settings) -> dict[date, datetime]:
    """Months whose both marts loaded successfully, with the latest successful horizon."""
    with clickhouse_client(settings) as client:
        rows = client.query(read_sql("ch_loaded_months")).result_rows
    return {month: horizon for month, horizon in rows}


def stamp_rows(frame: pd.DataFrame, first_loaded: pd.DataFrame, key: str, now: datetime) -> pd.DataFrame:
    """Keep each row's first ``created_at`` across reloads; ``last_updated`` is now."""
    stamped = frame.merge(first_loaded, on=key, how="left") if not first_loaded.empty else frame.assign(created_at=pd.NaT)
    stamped["created_at"] = pd.to_datetime(stamped["created_at"]).fillna(pd.Timestamp(now)).astype("datetime64[s]")
    stamped["last_updated"] = pd.Timestamp(now).floor("s")
    return stamped


class LoadError(RuntimeError):
    """A month's new version is not fit to publish (it stays unpublished)."""


def stage_version(client, mart: Mart, frame: pd.DataFrame, period: Period, load_id: str, now: datetime) -> int:
    """The run's rows of the month in the mart's staging table (and nothing else of the month)."""
    params = _mart_params(mart, period)
    client.command(read_sql("ch_clear_staging"), parameters=params)
    if frame.empty:  # (an empty result has no columns either)
        return 0
    first_loaded = client.query_df(read_sql("ch_first_loaded"), parameters=params)
    rows = stamp_rows(frame[mart.columns], first_loaded, mart.key, now).assign(load_id=load_id)
    client.insert_df(f"reports_db.{mart.staging}", rows)
    return len(rows)


def append_version(client, mart: Mart, period: Period, load_id: str, expected: int) -> None:
    """Add the staged rows to the mart beside the published ones, and check there is one per key."""
    params = _mart_params(mart, period)
    client.command(read_sql("ch_append_version"), parameters=params)
    found, repeated = client.query(read_sql("ch_version_keys"),
                                   parameters={**params, "load_id": load_id}).result_rows[0]
    if repeated or found != expected:
        raise LoadError(f"{mart.table} {period.label}: load {load_id} wrote {found} rows for {expected} keys"
                        + (f" ({mart.key} {repeated} more than once)" if repeated else "")
                        + "; the month stays as it was")


def swap_version(client, mart: Mart, period: Period, rows: int) -> None:
    """Make the partition exactly the staged rows: the older versions' rows go (in one atomic step)."""
    params = _mart_params(mart, period)
    if rows:
        client.command(read_sql(f"swap_{mart.name}_mart"), parameters=params)
        client.command(read_sql("ch_clear_staging"), parameters=params)
    else:  # REPLACE PARTITION refuses an empty source
        client.command(read_sql("ch_drop_partition"), parameters=params)


def publish_month(client, settings: Settings, period: Period, frames: dict[str, pd.DataFrame], run_id: str,
                  now: datetime) -> dict[str, int]:
    """Publish one month: the load_log row is the commit. Readers see the month's previous load
    until it is written and this one's rows after; a run killed (or failing) at any step leaves at
    most unpublished rows, which the next publish of the month swaps away. Each publish has a
    load_id of its own, so that a retried publish never counts an earlier attempt's rows."""
    load_id = uuid.uuid4().hex
    rows = {}
    for name, mart in MARTS.items():
        rows[name] = stage_version(client, mart, frames[name], period, load_id, now)
        failpoint(settings, f"publish:staged:{name}")
    for name, mart in MARTS.items():
        append_version(client, mart, period, load_id, rows[name])
        failpoint(settings, f"publish:appended:{name}")
    client.insert_df("reports_db.load_log", _log_rows(period, rows, "success", "", run_id, now, load_id))  # one block: atomic
    failpoint(settings, "publish:logged")
    for name, mart in MARTS.items():
        swap_version(client, mart, period, rows[name])
        failpoint(settings, f"publish:swapped:{name}")
    return rows


def _log_rows(period: Period, rows: dict[str, int], status: str, message: str, run_id: str, now: datetime,
              load_id: str = "") -> pd.DataFrame:
    return pd.DataFrame([
        {"report_date": period.month_start, "mart": mart, "rows": count, "horizon": period.horizon,
         "status": status, "message": message[:2000], "run_id": run_id, "loaded_at": now, "load_id": load_id}
        for mart, count in rows.items()
    ])


@task(name="publish_months", **DB_TASK)
def publish_months(settings: Settings, run_id: str, periods: list[Period]) -> dict[date, dict[str, int]]:
    """Publish each month's checked candidates (see publish_month).

    The candidates are read from the work warehouse first: on chDB the serving path, which the
    reports API reads, is taken only for publishing.
    """
    with clickhouse_client(settings, WORK) as client:
        candidates = {period: {name: client.query_df(read_sql("read_candidates"), parameters={
                          "table": mart.candidates, "run_id": run_id, "report_date": period.month_start})
                               for name, mart in MARTS.items()}
                      for period in periods}
    failpoint(settings, "publish:read_candidates")
    now = utcnow()
    with clickhouse_client(settings) as client:
        loaded = {period.month_start: publish_month(client, settings, period, candidates[period], run_id, now)
                  for period in periods}
    logger = get_run_logger()
    for month, rows in loaded.items():
        logger.info("loaded %s for %s", ", ".join(f"{n} {c} rows" for n, c in rows.items()), f"{month:%Y-%m}")
    return loaded


@task(name="record_failed_loads", **DB_TASK)
def record_failed_loads(settings: Settings, periods: list[Period], message: str, run_id: str) -> None:
    with clickhouse_client(settings) as client:
        client.insert_df("reports_db.load_log", pd.concat(
            [_log_rows(period, {name: 0 for name in MARTS}, "failed", message, run_id, utcnow()) for period in periods]))
