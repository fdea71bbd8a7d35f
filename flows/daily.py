"""The daily ETL: one month to date for both marts, checked, swapped in atomically."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from bionicpro.freshness import days_to_compute, reached_days, stale_days
from bionicpro.settings import Settings
from blocks import resolve_settings
from expectations.runner import DataQualityError
from tasks.common import Period
from tasks.extract import estimate_event_rows, extract_crm, extract_telemetry, find_arrivals
from tasks.load import (advance_arrival_watermark, load_marts, load_partials, mark_stale_days, read_arrival_watermark,
                        read_computed_days, read_loaded_months, read_month_sums, read_stale_months,
                        record_failed_load, utcnow)
from tasks.transform import compute_day_partials, transform_prosthetic_mart, transform_user_mart
from tasks.validate import build_data_docs, validate_crm, validate_marts, validate_telemetry

# Events extracted at once, at most (unless one day has more): bounds memory on a month's backfill.
WINDOW_EVENTS = 1_000_000


def today_utc() -> date:
    return datetime.now(timezone.utc).date()


def resolve_report_date(report_date: date | None, scheduled_start: datetime | None, today: date) -> date:
    """``None`` means the day before the scheduled start (or before today for an ad-hoc run)."""
    if report_date is None:
        anchor = scheduled_start.astimezone(timezone.utc).date() if scheduled_start else today
        report_date = anchor - timedelta(days=1)
    if report_date > today:
        raise ValueError(f"report_date={report_date.isoformat()} is after today ({today.isoformat()}, UTC): "
                         "its data cannot exist yet")
    return report_date


def window_days(estimated_events: int, days: int, budget: int = WINDOW_EVENTS, max_days: int = 31) -> int:
    """How many days one window may hold, from an estimate of the range's events."""
    per_day = max(1, estimated_events // max(1, days))
    return max(1, min(max_days, budget // per_day))


def windows(days: list[date], max_days: int) -> list[list[date]]:
    """Split sorted days into runs of consecutive days, each at most ``max_days`` long."""
    runs: list[list[date]] = []
    for day in days:
        if runs and day - runs[-1][-1] == timedelta(days=1) and len(runs[-1]) < max_days:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def _midnight(day: date) -> datetime:
    return datetime.combine(day, datetime.min.time())


def note_arrivals(settings: Settings, run_started: datetime, run_id: str) -> None:
    """Mark computed days reached by rows that arrived since the last check."""
    since = read_arrival_watermark(settings)
    if since is not None:
        reached = reached_days(find_arrivals(settings, since))
        if reached:
            computed = read_computed_days(settings, min(reached), max(reached))
            stale = stale_days({day: at for day, (at, _) in computed.items()}, reached)
            mark_stale_days(settings, stale, utcnow())
    advance_arrival_watermark(settings, run_started, run_id)


def compute_days(settings: Settings, days: list[date], crm, run_id: str, reports: list,
                 stop_on_bad_data: bool = True) -> list[date]:
    """Compute and load the per-day partials of ``days``, window by window, adding each window's
    validation report to ``reports``.

    A window whose telemetry fails a blocking rule loads nothing: with ``stop_on_bad_data`` its
    DataQualityError is raised, else the next windows go on and its days are returned.
    """
    failed: list[date] = []
    if not days:
        return failed
    span = (days[-1] - days[0]).days + 1
    size = window_days(estimate_event_rows(settings, _midnight(days[0]), _midnight(days[-1] + timedelta(days=1))),
                       span, max_days=span)
    scratch = settings.data_path / "runs" / run_id
    plan = windows(days, size)

    def extract(window: list[date]):
        # A day's computation time is taken before its rows are read: a row that arrives while
        # they are read is later than it, and marks the day stale on the next run.
        return utcnow(), extract_telemetry.submit(settings, _midnight(window[0]),
                                                  _midnight(window[-1] + timedelta(days=1)), scratch)

    # The next window is extracted while this one is checked and computed: PostgreSQL produces
    # the COPY on one core while Python works on the other.
    upcoming = extract(plan[0])
    try:
        for number, window in enumerate(plan):
            started, extracting = upcoming
            current = extracting.result()
            upcoming = extract(plan[number + 1]) if number + 1 < len(plan) else None
            try:
                reports.append(validate_telemetry(settings, current, crm))
                load_partials(settings, compute_day_partials(current), window, started)
            except DataQualityError as error:
                if stop_on_bad_data:
                    raise
                reports.append(error.report)
                failed += window
            finally:
                current.discard()
    finally:
        if upcoming is not None:
            extracting = upcoming[1]
            extracting.wait()
            if extracting.state.is_completed():
                extracting.result().discard()
    if scratch.exists():
        scratch.rmdir()
    return failed


def load_month(settings: Settings, period: Period, recompute: bool, run_id: str,
               crm_checked: bool = False) -> dict[str, int]:
    """Compute the month's missing or stale days, then build, check and swap in both marts."""
    logger = get_run_logger()
    reports = []
    try:
        crm = extract_crm(settings, period)
        if not crm_checked:
            reports.append(validate_crm(settings, crm, period))
        days = period.days if recompute else days_to_compute(
            period.days, read_computed_days(settings, period.days[0], period.days[-1]))
        logger.info("%s: computing %d of %d day(s)", period.label, len(days), len(period.days))
        compute_days(settings, days, crm, run_id, reports)
        user_mart = transform_user_mart(crm, period)
        prosthetic_mart = transform_prosthetic_mart(read_month_sums(settings, period), crm, period)
        reports.append(validate_marts(settings, user_mart, prosthetic_mart, period))
        rows = load_marts(settings, {"user": user_mart, "prosthetic": prosthetic_mart}, period, run_id)
    except DataQualityError as error:
        record_failed_load(settings, period, str(error), run_id)
        publish_report(period, None, reports + [error.report], str(error))
        raise
    publish_report(period, rows, reports, None)
    return rows


@flow(name="bionicpro_etl_daily")
def bionicpro_etl_daily(
    report_date: date | None = None,
    recompute: bool = False,
    catch_up: bool = True,
    crm_checked: bool = False,
    crm_block: str | None = None,
    telemetry_block: str | None = None,
    clickhouse_block: str | None = None,
) -> dict[str, int]:
    """Compute and load the month containing ``report_date`` (default: yesterday, UTC), to date.

    ``recompute``: recompute every day of the month from the sources, not only new or stale days
    (after source rows were edited in place or inserted with a backdated ``created_at``).
    ``catch_up``: look at the rows that arrived since the previous run, and reload earlier loaded
    months they changed; a parent flow that did this already (a backfill) passes False.
    ``crm_checked``: the CRM rows were validated by the parent flow (a backfill validates those of
    its whole range once; each month's rows are a subset of them).
    ``*_block``: Prefect block names of the databases; unset means the environment's settings.
    """
    run_started = utcnow()
    period = Period(resolve_report_date(report_date, flow_run.scheduled_start_time, today_utc()))
    run_id = str(flow_run.id or "local")
    settings = resolve_settings(crm_block, telemetry_block, clickhouse_block)
    get_run_logger().info("report_date=%s: month %s, horizon %s", period.report_date, period.label, period.horizon)
    try:
        if catch_up:
            note_arrivals(settings, run_started, run_id)
        rows = load_month(settings, period, recompute, run_id, crm_checked)
        if catch_up:
            loaded = read_loaded_months(settings)
            for month in read_stale_months(settings):
                if month != period.month_start and month in loaded:
                    get_run_logger().info("late rows changed %s: reloading it", f"{month:%Y-%m}")
                    bionicpro_etl_daily(report_date=loaded[month].date() - timedelta(days=1), catch_up=False,
                                        crm_block=crm_block, telemetry_block=telemetry_block,
                                        clickhouse_block=clickhouse_block)
    finally:
        if flow_run.parent_flow_run_id is None:
            build_data_docs(settings)
    return rows


def publish_report(period: Period, rows: dict[str, int] | None, reports: list, failure: str | None) -> None:
    lines = [f"# BionicPRO ETL: {period.label} (report date {period.report_date}, horizon {period.horizon} UTC)", ""]
    if rows is None:
        lines += ["**Load stopped: blocking data-quality failure. The month's previous mart rows are untouched.**",
                  "", "```", failure or "", "```", ""]
    else:
        lines += ["| mart | rows loaded |", "|---|---|"] + [f"| {name} | {count} |" for name, count in rows.items()] + [""]
    for report in reports:
        lines += [report.to_markdown(), ""]
    if reports:
        lines.append(f"Data Docs: `{reports[-1].docs_index}`")
    create_markdown_artifact(key="bionicpro-etl-report", markdown="\n".join(lines),
                             description=f"ETL run for {period.label}")
