"""Transform tasks: thin wrappers over the pure metric functions."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger, task

from bionicpro.metrics.prosthetic import STATE_EVENT_TYPES, daily_partials, prosthetic_month, tally_events
from bionicpro.metrics.user import user_month
from tasks.common import PURE_TASK, Period
from tasks.extract import CrmExtract, TelemetryWindow

STATE_COLUMNS = ["event_id", "prosthetic_id", "event_type", "event_timestamp", "event_value"]


@task(name="compute_day_partials", **PURE_TASK)
def compute_day_partials(window: TelemetryWindow) -> pd.DataFrame:
    telemetry = window.load()
    events = telemetry.events
    state = pd.concat(
        [telemetry.lookback[STATE_COLUMNS], events.loc[events["event_type"].isin(STATE_EVENT_TYPES), STATE_COLUMNS]],
        ignore_index=True,
    )
    partials = daily_partials(tally_events(events), state, telemetry.samples,
                              telemetry.window_start, telemetry.window_end)
    get_run_logger().info("computed %d (prosthesis, day) partials", len(partials))
    return partials


@task(name="transform_user_mart", **PURE_TASK)
def transform_user_mart(crm: CrmExtract, period: Period) -> pd.DataFrame:
    mart = user_month(crm.users, crm.payments, crm.subscriptions, crm.tickets,
                      period.month_start, pd.Timestamp(period.horizon))
    get_run_logger().info("user mart %s: %d rows", period.label, len(mart))
    return mart


@task(name="transform_prosthetic_mart", **PURE_TASK)
def transform_prosthetic_mart(sums: pd.DataFrame, crm: CrmExtract, period: Period) -> pd.DataFrame:
    mart = prosthetic_month(sums, crm.prosthetics, crm.users[["user_id", "user_uuid"]],
                            period.month_start, pd.Timestamp(period.horizon))
    get_run_logger().info("prosthesis mart %s: %d rows", period.label, len(mart))
    return mart
