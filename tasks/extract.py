"""Extract tasks: one SQL file each, values bound, results read with COPY."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from decimal import Decimal

import pandas as pd
from prefect import get_run_logger, task

from bionicpro.db import pg_connection
from bionicpro.metrics.prosthetic import LOOKBACK, SESSION_CAP
from bionicpro.pgio import copy_arrow, copy_frame, fetch_rows
from bionicpro.settings import CRM_DB, TELEMETRY_DB, Settings
from tasks.common import DB_TASK, Period


def _telemetry_types() -> dict[str, dict]:
    """Column types of the telemetry extracts. Event types and severities are dictionary-encoded from
    the data itself (not a fixed list), so an unknown value still reaches its expectation."""
    import pyarrow as pa

    ts, small_id, labels = pa.timestamp("us"), pa.int32(), pa.dictionary(pa.int32(), pa.string())
    events = {"event_id": pa.int64(), "prosthetic_id": small_id, "user_id": small_id, "event_type": labels,
              "severity": labels, "event_timestamp": ts, "event_value": pa.float64(), "created_at": ts}
    return {
        "events": events,
        "lookback": {k: events[k] for k in ("event_id", "prosthetic_id", "event_type", "event_timestamp", "event_value")},
        "samples": {"metric_id": pa.int64(), "prosthetic_id": small_id, "metric_timestamp": ts,
                    "charge_level": pa.float64(), "current_ma": pa.int64(), "is_charging": pa.bool_(), "created_at": ts},
    }


def _date_or_none(value: str) -> date | None:
    return date.fromisoformat(value) if value else None


@dataclass
class CrmExtract:
    users: pd.DataFrame
    prosthetics: pd.DataFrame
    payments: pd.DataFrame
    subscriptions: pd.DataFrame
    tickets: pd.DataFrame

    def counts(self) -> dict[str, int]:
        return {name: len(frame) for name, frame in vars(self).items()}


@dataclass
class TelemetryExtract:
    window_start: datetime
    window_end: datetime
    events: pd.DataFrame
    lookback: pd.DataFrame
    samples: pd.DataFrame


@dataclass(frozen=True)
class TelemetryWindow:
    """A reference to a window's extract on disk: Prefect keeps every task result of a run in
    memory, so the frames travel between tasks as files, not as results. Uncompressed Arrow IPC,
    memory-mapped on load: a million-event window writes and reads in tens of milliseconds."""

    window_start: datetime
    window_end: datetime
    directory: Path

    PARTS = ("events", "lookback", "samples")

    def load(self) -> TelemetryExtract:
        from pyarrow import feather

        frames = {part: feather.read_table(self.directory / f"{part}.arrow", memory_map=True).to_pandas()
                  for part in self.PARTS}
        return TelemetryExtract(self.window_start, self.window_end, **frames)

    def discard(self) -> None:
        shutil.rmtree(self.directory, ignore_errors=True)


@task(name="extract_crm", **DB_TASK)
def extract_crm(settings: Settings, period: Period) -> CrmExtract:
    params = {"month_start": period.month_start, "period_end": period.period_end}
    with pg_connection(settings, CRM_DB) as conn:
        extract = CrmExtract(
            users=copy_frame(conn, "extract_users", params, parse_dates=("created_at",)),
            prosthetics=copy_frame(conn, "extract_prosthetics", params,
                                   converters={"purchase_date": date.fromisoformat}),
            payments=copy_frame(conn, "extract_payments", params, parse_dates=("payment_date",),
                                converters={"amount": Decimal}),
            subscriptions=copy_frame(conn, "extract_subscriptions", params,
                                     converters={"monthly_cost": Decimal, "start_date": date.fromisoformat,
                                                 "end_date": _date_or_none}),
            tickets=copy_frame(conn, "extract_tickets", params, parse_dates=("created_at", "resolved_at")),
        )
    get_run_logger().info("extracted CRM for %s: %s", period.label, extract.counts())
    return extract


@task(name="extract_telemetry", **DB_TASK)
def extract_telemetry(settings: Settings, window_start: datetime, window_end: datetime, scratch: Path) -> TelemetryWindow:
    """Events and battery samples of ``[window_start, window_end)``, plus the state look-back,
    written under ``scratch``."""
    params = {
        "window_start": window_start,
        "window_end": window_end,
        "session_from": window_start - SESSION_CAP.to_pytimedelta(),
        "downtime_from": window_start - LOOKBACK.to_pytimedelta(),
    }
    from pyarrow import feather

    types = _telemetry_types()
    window = TelemetryWindow(window_start, window_end, scratch / f"{window_start:%Y%m%d}-{window_end:%Y%m%d}")
    window.directory.mkdir(parents=True, exist_ok=True)
    counts = {}
    with pg_connection(settings, TELEMETRY_DB) as conn:
        for part, sql_name in zip(TelemetryWindow.PARTS, ("extract_events", "extract_state_lookback", "extract_battery")):
            table = copy_arrow(conn, sql_name, params, types[part])
            feather.write_feather(table, window.directory / f"{part}.arrow", compression="uncompressed")
            counts[part] = table.num_rows
            del table
    get_run_logger().info("extracted telemetry [%s, %s): %s", window_start, window_end, counts)
    return window


@task(name="estimate_event_rows", **DB_TASK)
def estimate_event_rows(settings: Settings, window_start: datetime, window_end: datetime) -> int:
    with pg_connection(settings, TELEMETRY_DB) as conn:
        plan = fetch_rows(conn, "estimate_event_rows", {"window_start": window_start, "window_end": window_end})[0][0]
    return int(plan[0]["Plan"]["Plan Rows"])


@task(name="find_arrivals", **DB_TASK)
def find_arrivals(settings: Settings, since: datetime) -> pd.DataFrame:
    """Spans of days touched by rows that arrived at or after ``since`` (see find_arrivals.sql)."""
    with pg_connection(settings, TELEMETRY_DB) as conn:
        frame = copy_frame(conn, "find_arrivals", {"since": since},
                           parse_dates=("last_arrival",), converters={"day": date.fromisoformat})
    get_run_logger().info("rows that arrived since %s touch %d day span(s)", since, len(frame))
    return frame
