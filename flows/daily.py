"""The daily ETL: one month to date for both marts, checked, swapped in atomically."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pandas as pd
from prefect import flow, get_run_logger
from prefect.artifacts import create_markdown_artifact
from prefect.runtime import flow_run

from expectations.runner import DataQualityError
from tasks.common import Period
from tasks.extract import days_to_recompute, extract_crm, extract_telemetry, find_late_days
from tasks.load import load_mart, load_partials, read_computed_days, read_month_sums, record_load, utcnow
from tasks.transform import compute_day_partials, transform_prosthetic_mart, transform_user_mart
from tasks.validate import validate_crm, validate_marts, validate_telemetry

# Longest run of days extracted at once: bounds memory on a backfill of a whole month.
MAX_WINDOW_DAYS = 7


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


def windows(days: list[date], max_days: int = MAX_WINDOW_DAYS) -> list[list[date]]:
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


def refresh_partials(period: Period, recompute: bool) -> list[date]:
    """The month's days to compute: all of them, or those missing or whose source rows arrived since."""
    if recompute:
        return period.days
    computed = read_computed_days(period)
    arrivals = find_late_days(min(computed.values()), period.horizon) if computed else pd.DataFrame(
        columns=["day", "reach", "last_arrival"])
    days = days_to_recompute(period.days, computed, arrivals)
    get_run_logger().info("%s: %d day(s) to compute of %d", period.label, len(days), len(period.days))
    return days


@flow(name="bionicpro_etl_daily")
def bionicpro_etl_daily(report_date: date | None = None, recompute: bool = False) -> dict[str, int]:
    """Compute and load the month containing ``report_date`` (default: yesterday, UTC), to date.

    ``recompute=True`` recomputes every day of the month from the sources instead of only the days
    that are new or reached by rows that arrived since (use it after source rows were edited in
    place or inserted with a backdated ``created_at``).
    """
    period = Period(resolve_report_date(report_date, flow_run.scheduled_start_time, today_utc()))
    run_id = str(flow_run.id or "local")
    logger = get_run_logger()
    logger.info("report_date=%s: month %s, horizon %s", period.report_date, period.label, period.horizon)
    reports = []
    try:
        crm = extract_crm(period)
        reports.append(validate_crm(crm, period))
        days = refresh_partials(period, recompute)
        for window in windows(days):
            started = utcnow()
            telemetry = extract_telemetry(_midnight(window[0]), _midnight(window[-1] + timedelta(days=1)))
            reports.append(validate_telemetry(telemetry, crm))
            load_partials(compute_day_partials(telemetry), window, started)
        user_mart = transform_user_mart(crm, period)
        prosthetic_mart = transform_prosthetic_mart(read_month_sums(period), crm, period)
        reports.append(validate_marts(user_mart, prosthetic_mart, period))
        rows = {"user": load_mart("user", user_mart, period),
                "prosthetic": load_mart("prosthetic", prosthetic_mart, period)}
    except DataQualityError as error:
        record_load(period, {"user": 0, "prosthetic": 0}, "failed", str(error), run_id)
        publish_report(period, None, reports + [error.report], str(error))
        raise
    record_load(period, rows, "success", "", run_id)
    publish_report(period, rows, reports, None)
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
