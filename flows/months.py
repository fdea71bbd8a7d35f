"""The steps every flow composes to load months: stage, check, compute, build, check, publish."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from prefect import get_run_logger
from prefect.artifacts import create_markdown_artifact

from bionicpro.freshness import days_to_compute, reached_days, stale_days
from bionicpro.settings import Settings
from expectations import DataQualityError
from tasks.common import Period, Span, midnight
from tasks.compute import build_marts, compute_partials
from tasks.load import (advance_arrival_watermark, mark_stale_days, publish_months, read_arrival_watermark,
                        read_computed_days, record_failed_loads, utcnow)
from tasks.stage import drop_run, find_arrivals, stage_crm, stage_telemetry
from tasks.validate import check_marts, check_sources


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


def days_needed(settings: Settings, periods: list[Period], recompute: bool) -> list[date]:
    """The days of the months to date that were never computed or went stale (all with ``recompute``)."""
    days = sorted({day for period in periods for day in period.days})
    if recompute:
        return days
    return days_to_compute(days, read_computed_days(settings, days[0], days[-1]))


def load_months(settings: Settings, periods: list[Period], recompute: bool, run_id: str,
                log_failure: bool = True) -> dict[date, dict[str, int]]:
    """Load ``periods`` (months to date) in one pass: their rows are staged, checked and computed
    together, and each month is swapped in whole. A blocking failure loads none of them, and is
    written to the load log unless the caller retries the months one by one (``log_failure``)."""
    periods = sorted(periods, key=lambda period: period.month_start)
    span = Span(periods[0], periods[-1])
    logger = get_run_logger()
    reports = []
    try:
        # A day's computation time is taken before its rows are read: a row that arrives while
        # they are staged is later than it, and marks the day stale on the next run.
        computed_at = utcnow()
        days = days_needed(settings, periods, recompute)
        logger.info("%s: %d month(s), computing %d day(s)", span.label, len(periods), len(days))
        stage_crm(settings, run_id, midnight(span.month_start), span.period_end)
        if days:
            stage_telemetry(settings, run_id, midnight(days[0]), midnight(days[-1] + timedelta(days=1)))
        reports.append(check_sources(settings, run_id, span.label))
        if days:
            compute_partials(settings, run_id, days, computed_at)
        build_marts(settings, run_id, periods)
        reports.append(check_marts(settings, run_id, span.label))
        loaded = publish_months(settings, run_id, periods)
    except DataQualityError as error:
        if log_failure:
            record_failed_loads(settings, periods, str(error), run_id)
        publish_report(span.label, periods, None, reports + [error.report], str(error))
        raise
    except Exception as error:  # an outage: logged too, so `backfill --mode failed` finds the months
        record_outage(settings, periods, f"{type(error).__name__}: {error}", run_id)
        raise
    finally:
        drop_run(settings, run_id)
    publish_report(span.label, periods, loaded, reports, None)
    return loaded


def record_outage(settings: Settings, periods: list[Period], message: str, run_id: str) -> None:
    """Log the months as failed; when the warehouse itself is what failed, say so and go on to
    raise the original error (the months then simply have no record of this attempt)."""
    try:
        record_failed_loads.with_options(retries=0)(settings, periods, message, run_id)
    except Exception as error:  # noqa: BLE001 - the run's own error is the one to raise
        get_run_logger().warning("could not write the failure to load_log: %s: %s", type(error).__name__, error)


def publish_report(label: str, periods: list[Period], loaded: dict | None, reports: list, failure: str | None) -> None:
    horizons = ", ".join(f"{p.label} to {p.horizon:%Y-%m-%d %H:%M}" for p in periods)
    lines = [f"# BionicPRO ETL: {label}", "", f"Months (horizon, UTC): {horizons}", ""]
    if loaded is None:
        lines += ["**Load stopped: blocking data-quality failure. The months' previous mart rows are untouched.**",
                  "", "```", failure or "", "```", ""]
    else:
        lines += ["| month | user rows | prosthesis rows |", "|---|---|---|"]
        lines += [f"| {month:%Y-%m} | {rows['user']} | {rows['prosthetic']} |" for month, rows in loaded.items()]
        lines.append("")
    for report in reports:
        lines += [report.to_markdown(), ""]
    if reports:
        lines.append(f"Data Docs: `{reports[-1].docs_index}`")
    create_markdown_artifact(key="bionicpro-etl-report", markdown="\n".join(lines), description=f"ETL run for {label}")
