"""Backfill: every month a date range touches, one daily-flow run per month, by policy.

Before the months, one pass validates the range's CRM rows and computes the telemetry days of all
the chosen months in windows that cross months; each month's run then only builds, checks and
swaps its marts. The pass saves the fixed cost of checking and extracting month by month (the
default profile has 52 small months), and changes no result: whatever it leaves undone, the
month's own run does, with its own report.
"""

from __future__ import annotations

import time
from datetime import date, datetime, timedelta
from typing import Literal

from prefect import flow, get_run_logger, task
from prefect.artifacts import create_markdown_artifact, create_table_artifact
from prefect.futures import PrefectFuture, as_completed
from prefect.runtime import flow_run
from prefect.settings import PREFECT_FLOWS_HEARTBEAT_FREQUENCY, temporary_settings

from bionicpro.freshness import days_to_compute
from bionicpro.settings import Settings
from blocks import resolve_settings
from expectations.runner import DataQualityError
from flows.daily import bionicpro_etl_daily, compute_days, note_arrivals, today_utc
from tasks.common import PURE_TASK, Period, Span
from tasks.extract import extract_crm
from tasks.load import read_computed_days, read_load_status, utcnow
from tasks.validate import build_data_docs, validate_crm

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


def prepare_range(settings: Settings, chosen: list[date], recompute: bool, run_id: str) -> tuple[bool, set[date]]:
    """One pass over the whole range before its months, so that each month's own run is short.

    The CRM rows of the range are validated once (each month's are a subset: if they pass, every
    month's do), and the telemetry days of every chosen month are computed in windows that cross
    months. Returns whether the CRM rows passed, and the months whose days were not all computed
    (a window with bad rows, or any failure): their own runs compute them, and report their own
    bad rows, as without this pass.
    """
    logger = get_run_logger()
    span = Span(Period(chosen[0]), Period(chosen[-1]))
    reports: list = []
    crm_checked = False
    try:
        crm = extract_crm(settings, span)
        try:
            reports.append(validate_crm(settings, crm, span))
        except DataQualityError:
            logger.warning("the CRM rows of %s fail a blocking rule: each month checks its own", span.label)
            return False, set(chosen)
        crm_checked = True
        days = [day for target in chosen for day in Period(target).days]
        if not recompute:
            days = days_to_compute(days, read_computed_days(settings, days[0], days[-1]))
        logger.info("%s: computing %d day(s) in windows across months", span.label, len(days))
        failed = compute_days(settings, days, crm, run_id, reports, stop_on_bad_data=False)
    except Exception as error:  # noqa: BLE001 - the months' own runs redo the work and report it
        logger.warning("the pass over %s stopped (%s): each month computes its own days", span.label, error)
        return crm_checked, set(chosen)
    finally:
        if reports:
            create_markdown_artifact(key="bionicpro-backfill-checks", description=f"Checks of {span.label}",
                                     markdown="\n\n".join([f"# Checks of {span.label}"]
                                                           + [report.to_markdown() for report in reports]))
    months = {day.replace(day=1) for day in failed}
    return True, {target for target in chosen if target.replace(day=1) in months}


@task(name="backfill_month", **PURE_TASK)
def backfill_month(report_date: date, recompute: bool, crm_checked: bool, blocks: dict[str, str | None]) -> dict:
    """One month through the daily flow (a subflow run); a failure is reported, not raised."""
    started = time.perf_counter()
    row = {"month": f"{report_date:%Y-%m}", "report_date": report_date.isoformat()}
    try:
        # The subflow runs in this process, whose flow run already sends heartbeats. Its own
        # heartbeat thread sleeps in 1 s steps and Prefect joins it when the subflow ends: half a
        # second a month, on average, for nothing.
        with temporary_settings(updates={PREFECT_FLOWS_HEARTBEAT_FREQUENCY: None}):
            rows = bionicpro_etl_daily(report_date=report_date, recompute=recompute, catch_up=False,
                                       crm_checked=crm_checked, **blocks)
        row.update(user_rows=rows["user"], prosthetic_rows=rows["prosthetic"], status="loaded")
    except Exception as error:  # noqa: BLE001 - the other months go on; the run fails at the end
        get_run_logger().error("%s failed: %s", row["month"], error)
        row.update(user_rows=0, prosthetic_rows=0, status=f"failed: {type(error).__name__}")
    row["seconds"] = round(time.perf_counter() - started, 2)
    return row


@flow(name="bionicpro_backfill")
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

    ``max_concurrency``: months run at once. Their work is mostly Python in this one process, so
    more than the default 2 only adds contention (52 months of the default profile: 33 s with 1
    or 2, 41 s with 3, 48 s with 4).
    """
    check_range(start_date, end_date, today_utc())
    if max_concurrency < 1:
        raise ValueError(f"max_concurrency={max_concurrency} must be at least 1")
    blocks = {"crm_block": crm_block, "telemetry_block": telemetry_block, "clickhouse_block": clickhouse_block}
    settings = resolve_settings(**blocks)
    run_id = str(flow_run.id or "local")
    note_arrivals(settings, utcnow(), run_id)
    targets = month_targets(start_date, end_date)
    status = read_load_status(settings, targets[0].replace(day=1), targets[-1].replace(day=1))
    chosen = select_months(targets, status, mode)
    logger = get_run_logger()
    logger.info("%d month(s) in range, %d to load (mode=%s)", len(targets), len(chosen), mode)

    results: list[dict] = []
    running: list[PrefectFuture] = []
    crm_checked, unprepared = prepare_range(settings, chosen, mode != "missing", run_id) if chosen else (False, set())
    for report_date in chosen:
        if len(running) >= max_concurrency:
            # Woken by a done callback: polling future.state asks the API server every time.
            finished = next(as_completed(running))
            results.append(finished.result())
            running.remove(finished)
        # A prepared month's days are computed: its run only builds, checks and swaps the marts.
        recompute = mode != "missing" and report_date in unprepared
        running.append(backfill_month.submit(report_date, recompute, crm_checked, blocks))
    results += [future.result() for future in running]
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
