"""Backfill: every month a date range touches, by policy, in one pass.

The chosen months' rows are staged, checked and computed together (one extraction, one
checkpoint), and each month is swapped in whole. If the pass stops on bad data, each month runs
on its own (a daily-flow subflow run), so that one month's bad rows fail only that month, with
its own report, as a month-by-month backfill would.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_table_artifact
from prefect.futures import PrefectFuture, as_completed
from prefect.runtime import flow_run

from blocks import resolve_settings
from expectations import DataQualityError
from flows.daily import bionicpro_etl_month, today_utc
from flows.months import load_months, note_arrivals
from flows.runs import name_backfill_run, tag_backfill_run
from tasks.common import PURE_TASK, Period
from tasks.load import read_load_status, utcnow
from tasks.validate import build_data_docs

Mode = Literal["missing", "failed", "all"]


def month_targets(start_date: date, end_date: date) -> list[date]:
    """The report date of each month touched by the range: its last day, or ``end_date``."""
    targets, month = [], start_date.replace(day=1)
    while month <= end_date:
        following = (month + timedelta(days=32)).replace(day=1)
        targets.append(min(following - timedelta(days=1), end_date))
        month = following
    return targets


def select_months(targets: list[date], status: dict[date, tuple[str, datetime | None]], mode: Mode) -> list[date]:
    """``missing``: no successful load up to the target; ``failed``: the last attempt failed; ``all``."""
    chosen = []
    for target in targets:
        last_status, success_horizon = status.get(target.replace(day=1), (None, None))
        wanted_horizon = datetime.combine(target + timedelta(days=1), datetime.min.time())
        if (mode == "all"
                or (mode == "failed" and last_status == "failed")
                or (mode == "missing" and (success_horizon is None or success_horizon < wanted_horizon))):
            chosen.append(target)
    return chosen


def check_range(start_date: date, end_date: date, today: date) -> None:
    if start_date > end_date:
        raise ValueError(f"start_date={start_date} is after end_date={end_date}")
    if end_date > today:
        raise ValueError(f"end_date={end_date} is after today ({today}, UTC): its data cannot exist yet")


@task(name="backfill_month", **PURE_TASK)
def backfill_month(report_date: date, recompute: bool, blocks: dict[str, str | None]) -> dict:
    """One month as a subflow run; a failure is reported, not raised."""
    started = time.perf_counter()
    row = {"month": f"{report_date:%Y-%m}", "report_date": report_date.isoformat()}
    try:
        rows = bionicpro_etl_month(report_date=report_date, recompute=recompute, blocks=blocks)
        row.update(user_rows=rows["user"], prosthetic_rows=rows["prosthetic"], status="loaded")
    except Exception as error:  # noqa: BLE001 - the other months go on; the run fails at the end
        get_run_logger().error("%s failed: %s", row["month"], error)
        row.update(user_rows=0, prosthetic_rows=0, status=f"failed: {type(error).__name__}")
    row["seconds"] = round(time.perf_counter() - started, 2)
    return row


def run_each(chosen: list[date], recompute: bool, max_concurrency: int, blocks: dict) -> list[dict]:
    """Each month as its own flow run, ``max_concurrency`` at a time."""
    results: list[dict] = []
    running: list[PrefectFuture] = []
    for report_date in chosen:
        if len(running) >= max_concurrency:
            finished = next(as_completed(running))
            results.append(finished.result())
            running.remove(finished)
        running.append(backfill_month.submit(report_date, recompute, blocks))
    return results + [future.result() for future in running]


@flow(name="bionicpro_backfill", flow_run_name=name_backfill_run, on_running=[tag_backfill_run])
def bionicpro_backfill(
    start_date: date,
    end_date: date,
    mode: Mode = "missing",
    max_concurrency: int = 2,
    crm_block: str | None = None,
    telemetry_block: str | None = None,
    clickhouse_block: str | None = None,
) -> list[dict]:
    """Load every month touched by ``[start_date, end_date]``: ``missing`` months (no successful load
    up to the range's end), ``failed`` ones (last attempt failed), or ``all``. Safe to interrupt and
    rerun: each month is swapped in whole, and ``missing`` skips the months already done.

    ``max_concurrency``: months run at once when the range has bad data and each month runs on
    its own.
    """
    check_range(start_date, end_date, today_utc())
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency={max_concurrency} must be at least 1")
    blocks = {"crm_block": crm_block, "telemetry_block": telemetry_block, "clickhouse_block": clickhouse_block}
    settings = resolve_settings(**blocks)
    run_id = str(flow_run.id or f"local-{utcnow():%Y%m%d%H%M%S%f}")
    note_arrivals(settings, utcnow(), run_id)
    targets = month_targets(start_date, end_date)
    status = read_load_status(settings, targets[0].replace(day=1), targets[-1].replace(day=1))
    chosen = select_months(targets, status, mode)
    logger = get_run_logger()
    logger.info("%d month(s) in range, %d to load (mode=%s)", len(targets), len(chosen), mode)

    results: list[dict] = []
    if chosen:
        started = time.perf_counter()
        try:
            loaded = load_months(settings, [Period(target) for target in chosen], mode != "missing", run_id,
                                 log_failure=False)
            seconds = round((time.perf_counter() - started) / len(chosen), 2)
            results = [{"month": f"{t:%Y-%m}", "report_date": t.isoformat(), "user_rows": loaded[t.replace(day=1)]["user"],
                        "prosthetic_rows": loaded[t.replace(day=1)]["prosthetic"], "status": "loaded",
                        "seconds": seconds} for t in chosen]
        except DataQualityError:
            logger.warning("the pass over the range stopped on bad data: each month runs on its own")
            results = run_each(chosen, mode != "missing", max_concurrency, blocks)
    results.sort(key=lambda r: r["month"])
    skipped = [{"month": f"{t:%Y-%m}", "report_date": t.isoformat(), "user_rows": None, "prosthetic_rows": None,
                "status": "skipped (already loaded)", "seconds": 0.0} for t in targets if t not in chosen]
    table = sorted(results + skipped, key=lambda r: r["month"])
    create_table_artifact(key="bionicpro-backfill", table=table,
                          description=f"Backfill {start_date}..{end_date}, mode={mode}")
    build_data_docs(settings)
    failed = [r["month"] for r in results if r["status"] != "loaded"]
    if failed:
        raise RuntimeError(f"{len(failed)} month(s) failed: {', '.join(failed)}; rerun with mode='failed'")
    return table
