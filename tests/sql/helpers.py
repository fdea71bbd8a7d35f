"""Staging rows, running the SQL files and reading results back, for tests/sql."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from bionicpro.contract import PROSTHETIC_MART_COLUMNS, USER_MART_COLUMNS
from tests.metrics_reference.prosthetic import PARTIAL_COLUMNS

RUN = "run-a"
OTHER_RUN = "run-b"
COMPUTED_AT = datetime(2030, 1, 1, 12, 0, 0)
SEVERITY = {"critical_error": "critical", "warning": "warning", "error": "error"}

SQL_DIR = Path(__file__).resolve().parents[2] / "tasks" / "sql"

HOUR_US = 3_600_000_000
MINUTE_US = 60_000_000
DAY_US = 24 * HOUR_US


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text)


def read_sql(name: str) -> str:
    """The text of tasks/sql/<name>.sql, as the ETL sends it."""
    return (SQL_DIR / f"{name}.sql").read_text(encoding="utf-8")


# --- staging ------------------------------------------------------------------------------------


def stage_events(client, rows, run_id: str = RUN) -> None:
    """Rows (event_id, prosthetic_id, event_type, timestamp[, event_value[, severity]])."""
    data = []
    for r in rows:
        at = ts(r[3]) if isinstance(r[3], str) else r[3]
        value = r[4] if len(r) > 4 else None
        severity = r[5] if len(r) > 5 else SEVERITY.get(r[2], "info")
        data.append([run_id, r[0], r[1], 1, r[2], severity, at, value, at])
    client.insert("bionicpro_work.stage_events", data,
                  column_names=["run_id", "event_id", "prosthetic_id", "user_id", "event_type", "severity",
                                "event_timestamp", "event_value", "created_at"])


def stage_lookback(client, rows, run_id: str = RUN) -> None:
    """Rows (event_id, prosthetic_id, event_type, timestamp[, event_value])."""
    data = [[run_id, r[0], r[1], r[2], ts(r[3]) if isinstance(r[3], str) else r[3], r[4] if len(r) > 4 else None]
            for r in rows]
    client.insert("bionicpro_work.stage_lookback", data,
                  column_names=["run_id", "event_id", "prosthetic_id", "event_type", "event_timestamp", "event_value"])


def stage_samples(client, rows, run_id: str = RUN) -> None:
    """Rows (metric_id, prosthetic_id, timestamp, current_ma, is_charging)."""
    data = []
    for r in rows:
        at = ts(r[2]) if isinstance(r[2], str) else r[2]
        data.append([run_id, r[0], r[1], at, 50.0, r[3], r[4], at])
    client.insert("bionicpro_work.stage_battery", data,
                  column_names=["run_id", "metric_id", "prosthetic_id", "metric_timestamp", "charge_level",
                                "current_ma", "is_charging", "created_at"])


def stage_users(client, rows, run_id: str = RUN) -> None:
    """Rows (user_id, created_at); user_uuid is u-<id>."""
    data = [[run_id, r[0], f"u-{r[0]}", ts(r[1]) if isinstance(r[1], str) else r[1]] for r in rows]
    client.insert("bionicpro_work.stage_users", data, column_names=["run_id", "user_id", "user_uuid", "created_at"])


def stage_prosthetics(client, rows, run_id: str = RUN) -> None:
    """Rows (prosthetic_id, user_id, purchase_date); prosthetic_uuid is p-<id>, device_type arm."""
    data = [[run_id, r[0], f"p-{r[0]}", r[1], "arm", r[2]] for r in rows]
    client.insert("bionicpro_work.stage_prosthetics", data,
                  column_names=["run_id", "prosthetic_id", "prosthetic_uuid", "user_id", "device_type",
                                "purchase_date"])


def stage_payments(client, rows, run_id: str = RUN) -> None:
    """Rows (payment_id, user_id, amount, status, payment_date)."""
    data = [[run_id, r[0], r[1], 1, Decimal(r[2]), r[3], ts(r[4]) if isinstance(r[4], str) else r[4]] for r in rows]
    client.insert("bionicpro_work.stage_payments", data,
                  column_names=["run_id", "payment_id", "user_id", "subscription_id", "amount", "status",
                                "payment_date"])


def stage_subscriptions(client, rows, run_id: str = RUN) -> None:
    """Rows (subscription_id, user_id, monthly_cost, start_date, end_date or None)."""
    data = [[run_id, r[0], r[1], Decimal(r[2]), r[3], r[4]] for r in rows]
    client.insert("bionicpro_work.stage_subscriptions", data,
                  column_names=["run_id", "subscription_id", "user_id", "monthly_cost", "start_date", "end_date"])


def stage_tickets(client, rows, run_id: str = RUN) -> None:
    """Rows (ticket_id, user_id, created_at, resolved_at or None)."""
    data = [[run_id, r[0], r[1], ts(r[2]) if isinstance(r[2], str) else r[2],
             (ts(r[3]) if isinstance(r[3], str) else r[3])] for r in rows]
    client.insert("bionicpro_work.stage_tickets", data,
                  column_names=["run_id", "ticket_id", "user_id", "created_at", "resolved_at"])


# --- running the SQL ----------------------------------------------------------------------------


def compute_partials(client, window_start: datetime, window_end: datetime, days: list[date] | None = None,
                     run_id: str = RUN, computed_at: datetime = COMPUTED_AT, mark: bool = True) -> pd.DataFrame:
    """Run compute_partials.sql (all days of the window by default), mark the days computed as the
    ETL does, and return the rows of this computation sorted by (day, prosthetic_id)."""
    if days is None:
        days = [(window_start + timedelta(days=i)).date() for i in range((window_end - window_start).days)]
    client.command(read_sql("compute_partials"), parameters={
        "run_id": run_id, "window_start": window_start, "window_end": window_end, "days": days,
        "computed_at": computed_at,
    })
    if mark:
        client.insert("bionicpro_work.partial_days", [[d, computed_at, 0, 0] for d in days],
                      column_names=["day", "computed_at", "rows", "stale"])
    return read_partials(client, computed_at)


def read_partials(client, computed_at: datetime = COMPUTED_AT) -> pd.DataFrame:
    cols = ", ".join(PARTIAL_COLUMNS)
    rows = client.query(
        f"SELECT {cols} FROM bionicpro_work.prosthetic_daily_partials WHERE computed_at = {{c:DateTime64(6)}} "
        "ORDER BY day, prosthetic_id", parameters={"c": computed_at}).result_rows
    frame = pd.DataFrame(rows, columns=PARTIAL_COLUMNS)
    frame[PARTIAL_COLUMNS[1:]] = frame[PARTIAL_COLUMNS[1:]].astype(np.int64)
    return frame


def _build(client, mart: str, columns: list[str], order: str, month_start: date, period_end: datetime,
           run_id: str) -> pd.DataFrame:
    """Run build_<mart>_mart.sql, then read back the month's candidate rows in ``order``."""
    client.command(read_sql(f"build_{mart}_mart"), parameters={
        "run_id": run_id, "month_start": month_start, "period_end": period_end})
    rows = client.query(
        f"SELECT {', '.join(columns)} FROM bionicpro_work.{mart}_mart_candidates "
        f"WHERE run_id = {{r:String}} AND report_date = {{m:Date}} ORDER BY {order}",
        parameters={"r": run_id, "m": month_start}).result_rows
    return pd.DataFrame(rows, columns=columns)


def build_user_mart(client, month_start: date, period_end: datetime, run_id: str = RUN) -> pd.DataFrame:
    return _build(client, "user", USER_MART_COLUMNS, "user_id", month_start, period_end, run_id)


def build_prosthetic_mart(client, month_start: date, period_end: datetime, run_id: str = RUN) -> pd.DataFrame:
    return _build(client, "prosthetic", PROSTHETIC_MART_COLUMNS, "user_id, prosthetic_id", month_start,
                  period_end, run_id)


def one(frame: pd.DataFrame, **where) -> dict:
    """The only row of ``frame`` matching ``where``, as a dict."""
    mask = np.ones(len(frame), dtype=bool)
    for column, value in where.items():
        mask &= (frame[column] == value).to_numpy()
    rows = frame[mask]
    assert len(rows) == 1, rows
    return rows.iloc[0].to_dict()
