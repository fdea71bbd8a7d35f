"""The daily ETL: one month to date for both marts (and earlier months late rows changed),
checked, swapped in atomically."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from blocks import resolve_settings
from bionicpro.settings import Settings
from flows.months import load_months, note_arrivals, record_outage
from flows.runs import PROJECT_TAG, add_tags, etl_run_name, month_tag
from tasks.common import Period
from tasks.load import read_loaded_months, read_stale_months, utcnow
from tasks.validate import build_data_docs


def today_utc() -> date:
    return datetime.now(timezone.utc).date()


def default_report_date(report_date: date | None, scheduled_start: datetime | None, today: date) -> date:
    """``None`` means the day before the scheduled start (or before today for an ad-hoc run)."""
    if report_date is None:
        anchor = scheduled_start.astimezone(timezone.utc).date() if scheduled_start else today
        report_date = anchor - timedelta(days=1)
    return report_date


def resolve_report_date(report_date: date | None, scheduled_start: datetime | None, today: date) -> date:
    """:func:`default_report_date`, refused if after ``today``."""
    report_date = default_report_date(report_date, scheduled_start, today)
    if report_date > today:
        raise ValueError(f"report_date={report_date.isoformat()} is after today ({today.isoformat()}, UTC): "
                         "its data cannot exist yet")
    return report_date


def name_etl_run() -> str:
    """``etl-2024-01-15`` (``flow_run_name``: called with the validated parameters); a run for a day
    after today is named too, and then refused by the flow."""
    day = default_report_date(flow_run.parameters.get("report_date"), flow_run.scheduled_start_time, today_utc())
    return etl_run_name(day)


def tag_etl_run(flow, run, state) -> None:
    """An ``on_running`` hook: tags ``bionicpro``, ``daily`` and the month, which a scheduled run
    knows only once it starts (its deployment gives the first two)."""
    parameters = flow.validate_parameters(run.parameters)
    day = default_report_date(parameters.get("report_date"), run.expected_start_time, today_utc())
    add_tags(run, [PROJECT_TAG, "daily", month_tag(day)])


def changed_months(settings: Settings, period: Period, run_started: datetime, run_id: str) -> list[Period]:
    """Earlier loaded months that rows arrived since the previous run changed, each to the horizon
    it was loaded to."""
    note_arrivals(settings, run_started, run_id)
    loaded = read_loaded_months(settings)
    periods = []
    for month in read_stale_months(settings):
        if month != period.month_start and month in loaded:
            get_run_logger().info("late rows changed %s: reloading it", f"{month:%Y-%m}")
            periods.append(Period(loaded[month].date() - timedelta(days=1)))
    return periods


def run_month(report_date: date | None, recompute: bool, catch_up: bool, blocks: dict[str, str | None]) -> dict[str, int]:
    """The month containing ``report_date`` (default: yesterday, UTC) to date; with ``catch_up``
    also the earlier loaded months that rows arrived since the previous run changed."""
    run_started = utcnow()
    period = Period(resolve_report_date(report_date, flow_run.scheduled_start_time, today_utc()))
    run_id = str(flow_run.id or f"local-{run_started:%Y%m%d%H%M%S%f}")
    settings = resolve_settings(**blocks)
    logger = get_run_logger()
    logger.info("report_date=%s: month %s, horizon %s", period.report_date, period.label, period.horizon)
    try:
        periods = [period]
        if catch_up:
            try:
                periods += changed_months(settings, period, run_started, run_id)
            except Exception as error:  # an outage before the load: the month's attempt failed all the same
                record_outage(settings, periods, f"{type(error).__name__}: {error}", run_id)
                raise
        return load_months(settings, periods, recompute, run_id)[period.month_start]
    finally:
        if flow_run.parent_flow_run_id is None:
            build_data_docs(settings)


@flow(name="bionicpro_etl_daily", flow_run_name=name_etl_run, on_running=[tag_etl_run])
def bionicpro_etl_daily(
    report_date: date | None = None,
    recompute: bool = False,
    crm_block: str | None = None,
    telemetry_block: str | None = None,
    clickhouse_block: str | None = None,
) -> dict[str, int]:
    """Compute and load the month containing ``report_date`` (default: yesterday, UTC), to date,
    and reload, in the same pass, the earlier loaded months that rows arrived since the previous
    run changed (each to the horizon it was loaded to).

    ``recompute``: recompute every day of the month from the sources, not only new or stale days
    (after source rows were edited in place or inserted with a backdated ``created_at``).
    ``*_block``: Prefect block names of the databases; unset means the environment's settings.
    """
    return run_month(report_date, recompute, True, {"crm_block": crm_block, "telemetry_block": telemetry_block,
                                                    "clickhouse_block": clickhouse_block})


@flow(name="bionicpro_etl_month", flow_run_name=name_etl_run, on_running=[tag_etl_run])
def bionicpro_etl_month(report_date: date, recompute: bool, blocks: dict[str, str | None]) -> dict[str, int]:
    """One month to ``report_date``, without the arrival catch-up: a backfill's subflow. Not
    deployed, so its switches are not parameters an operator can set on a deployment."""
    return run_month(report_date, recompute, False, blocks)
