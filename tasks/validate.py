"""Validation tasks: Great Expectations suites over the extracts and the marts. Never retried."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger, task

from bionicpro.settings import Settings
from expectations.frames import battery_metrics_frame, payments_frame, telemetry_events_frame
from expectations.runner import ValidationReport, build_docs, raise_for_blocking, validate
from tasks.common import PURE_TASK, Period
from tasks.extract import CrmExtract, TelemetryWindow


def _run(settings: Settings, frames: dict[str, pd.DataFrame], run_name: str, params: dict | None = None) -> ValidationReport:
    report = validate(frames, settings.gx_dir, run_name, params)
    logger = get_run_logger()
    for suite in report.suites:
        logger.info("%s %s: %d expectations, %d failed, %d bad rows", suite.dataset, suite.severity,
                    suite.evaluated, len(suite.failed), suite.bad_rows)
    raise_for_blocking(report)
    return report


@task(name="validate_crm", **PURE_TASK)
def validate_crm(settings: Settings, crm: CrmExtract, period: Period) -> ValidationReport:
    frames = {
        "crm_users": crm.users,
        "crm_prosthetics": crm.prosthetics,
        "crm_payments": payments_frame(crm.payments, crm.users["user_id"]),
        "crm_subscriptions": crm.subscriptions,
        "crm_support_tickets": crm.tickets,
    }
    return _run(settings, frames, f"crm-{period.label}")


@task(name="validate_telemetry", **PURE_TASK)
def validate_telemetry(settings: Settings, window: TelemetryWindow, crm: CrmExtract) -> ValidationReport:
    telemetry = window.load()
    frames = {
        "telemetry_events": telemetry_events_frame(telemetry.events, crm.prosthetics, crm.users["user_id"]),
        "battery_metrics": battery_metrics_frame(telemetry.samples, crm.prosthetics),
    }
    return _run(settings, frames, f"telemetry-{telemetry.window_start:%Y-%m-%d}")


@task(name="validate_marts", **PURE_TASK)
def validate_marts(settings: Settings, user_mart: pd.DataFrame, prosthetic_mart: pd.DataFrame, period: Period) -> ValidationReport:
    frames = {"report_user_monthly_metrics": user_mart, "report_prosthetic_monthly_metrics": prosthetic_mart}
    return _run(settings, frames, f"marts-{period.label}", {"max_hours": period.hours_to_date})


@task(name="build_data_docs", **PURE_TASK)
def build_data_docs(settings: Settings) -> str:
    """Rebuild the Data Docs once per top-level run (subflows leave it to their parent).

    It runs in the flow's ``finally``: a broken docs site is logged, never allowed to hide the
    run's own outcome.
    """
    logger = get_run_logger()
    try:
        index = build_docs(settings.gx_dir)
    except Exception as error:  # noqa: BLE001 - see docstring
        logger.error("Data Docs were not rebuilt: %s", error)
        return ""
    logger.info("Data Docs: file://%s", index)
    return str(index)
