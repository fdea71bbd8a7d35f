"""Validation frames: the extracted rows plus the derived columns every rule needs.

Each function returns a *copy* that is only used for validation, so that every contract rule of
``shared/spec/marts.md`` ("Bad data") is one plain Great Expectations expectation on one column
(or one pair of columns). The marts never see these frames: the ETL keeps its own exact values
(``decimal.Decimal`` money stays decimal there; here it becomes ``float``).

All functions are pure (no I/O, no configuration). Timestamps are normalised to naive UTC
(``timestamp without time zone`` in the sources is UTC); a tz-aware input is converted to UTC first.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

import numpy as np
import pandas as pd

__all__ = [
    "EVENT_COLUMNS",
    "BATTERY_COLUMNS",
    "MAX_AHEAD_OF_ARRIVAL_S",
    "LATE_ARRIVAL_S",
    "telemetry_events_frame",
    "battery_metrics_frame",
    "users_frame",
    "prosthetics_frame",
    "payments_frame",
    "subscriptions_frame",
    "tickets_frame",
    "user_mart_frame",
    "prosthetic_mart_frame",
    "decimals_to_float",
]

EVENT_COLUMNS = (
    "event_id",
    "prosthetic_id",
    "user_id",
    "event_type",
    "severity",
    "event_timestamp",
    "created_at",
)
BATTERY_COLUMNS = (
    "metric_id",
    "prosthetic_id",
    "metric_timestamp",
    "charge_level",
    "current_ma",
    "is_charging",
    "created_at",
)

#: An event/sample time may be at most this many seconds later than ``created_at`` (server arrival).
MAX_AHEAD_OF_ARRIVAL_S = 300.0
#: A row that reached the server more than this many seconds after its own time is "late" (warning).
LATE_ARRIVAL_S = 3600.0


# --------------------------------------------------------------------------------------- helpers


def _require(df: pd.DataFrame, columns: Iterable[str], what: str) -> None:
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise KeyError(f"{what} frame lacks column(s) {missing}; has {list(df.columns)}")


def _naive_utc(values: pd.Series) -> pd.Series:
    """Datetime series in naive UTC (tz-aware input is converted, naive input is taken as UTC)."""
    out = pd.to_datetime(values)
    if getattr(out.dt, "tz", None) is not None:
        out = out.dt.tz_convert("UTC").dt.tz_localize(None)
    return out


def _to_float(values: pd.Series) -> pd.Series:
    """Decimal / int / str numbers -> float64 (None -> NaN)."""
    return pd.to_numeric(values).astype("float64")


def _id_array(ids: Iterable) -> np.ndarray | pd.Series | pd.Index:
    if isinstance(ids, (pd.Series, pd.Index, np.ndarray)):
        return ids
    return np.asarray(list(ids), dtype=object)


def decimals_to_float(df: pd.DataFrame) -> pd.DataFrame:
    """Copy of ``df`` whose object columns holding ``Decimal`` values are float64.

    Used as a safety net by the runner; the named frame functions convert explicitly.
    """
    out = df.copy(deep=False)
    for column in out.columns:
        series = out[column]
        if series.dtype != object:
            continue
        first = series.first_valid_index()
        if first is not None and isinstance(series.at[first], Decimal):
            out[column] = _to_float(series)
    return out


def _device_lookup(prosthetics: pd.DataFrame) -> pd.DataFrame:
    _require(prosthetics, ("prosthetic_id", "user_id", "purchase_date"), "prosthetics")
    devices = prosthetics[["prosthetic_id", "user_id", "purchase_date"]].drop_duplicates(
        "prosthetic_id"
    )
    devices = devices.set_index("prosthetic_id")
    devices["purchase_ts"] = _naive_utc(devices["purchase_date"])
    return devices


def _join_devices(frame: pd.DataFrame, prosthetics: pd.DataFrame) -> pd.DataFrame:
    """Add prosthetic_known, owner_user_id, purchase_date, purchase_ts (by prosthetic_id)."""
    devices = _device_lookup(prosthetics)
    key = frame["prosthetic_id"]
    # reindex, not Series.map: map through an empty datetime Series fails in pandas 3
    labels = pd.Index(key)
    frame["prosthetic_known"] = key.isin(devices.index).to_numpy(dtype=bool)
    frame["owner_user_id"] = devices["user_id"].reindex(labels).to_numpy()
    frame["purchase_date"] = devices["purchase_date"].reindex(labels).to_numpy()
    frame["purchase_ts"] = _naive_utc(
        pd.Series(devices["purchase_ts"].reindex(labels).to_numpy(), index=frame.index)
    )
    return frame


# ------------------------------------------------------------------------------------ telemetry


def telemetry_events_frame(
    events: pd.DataFrame, prosthetics: pd.DataFrame, known_user_ids: Iterable
) -> pd.DataFrame:
    """Events joined with their device, plus the flags the ``telemetry_events`` suites check.

    ``events``: at least ``EVENT_COLUMNS``; ``prosthetics``: ``crm_prosthetics`` rows with
    ``prosthetic_id``, ``user_id`` (owner), ``purchase_date``; ``known_user_ids``: every
    ``crm_users.user_id`` (set, list, Series...).

    Added columns: ``prosthetic_known`` (bool), ``user_known`` (bool: the event's ``user_id`` is a
    CRM user), ``owner_user_id``, ``purchase_date``, ``purchase_ts`` (NaT when the device is
    unknown), ``ahead_of_arrival_s`` (``event_timestamp - created_at`` in seconds; > 300 is bad) and
    ``arrival_delay_s`` (``created_at - event_timestamp``; large values are late rows, a warning).
    """
    _require(events, EVENT_COLUMNS, "telemetry_events")
    frame = events.loc[:, list(EVENT_COLUMNS)].copy()
    frame["event_timestamp"] = _naive_utc(frame["event_timestamp"])
    frame["created_at"] = _naive_utc(frame["created_at"])
    _join_devices(frame, prosthetics)
    frame["user_known"] = frame["user_id"].isin(_id_array(known_user_ids)).to_numpy(dtype=bool)
    ahead = (frame["event_timestamp"] - frame["created_at"]).dt.total_seconds()
    frame["ahead_of_arrival_s"] = ahead.astype("float64")
    frame["arrival_delay_s"] = (-ahead).astype("float64")
    return frame


def battery_metrics_frame(samples: pd.DataFrame, prosthetics: pd.DataFrame) -> pd.DataFrame:
    """Battery samples joined with their device, plus the flags the ``battery_metrics`` suites use.

    Added columns: ``prosthetic_known``, ``owner_user_id``, ``purchase_date``, ``purchase_ts``,
    ``sign_ok`` (``is_charging`` requires ``current_ma > 0``; not charging requires
    ``current_ma <= 0``; a missing value is not ok), ``ahead_of_arrival_s`` and
    ``arrival_delay_s``. ``charge_level`` (numeric(5,2), a Decimal) becomes float.
    """
    _require(samples, BATTERY_COLUMNS, "battery_metrics")
    frame = samples.loc[:, list(BATTERY_COLUMNS)].copy()
    frame["metric_timestamp"] = _naive_utc(frame["metric_timestamp"])
    frame["created_at"] = _naive_utc(frame["created_at"])
    frame["charge_level"] = _to_float(frame["charge_level"])
    current = _to_float(frame["current_ma"])
    charging = frame["is_charging"].astype("boolean")
    sign_ok = (charging & (current > 0)) | (~charging & (current <= 0))
    frame["sign_ok"] = sign_ok.fillna(False).to_numpy(dtype=bool)
    _join_devices(frame, prosthetics)
    ahead = (frame["metric_timestamp"] - frame["created_at"]).dt.total_seconds()
    frame["ahead_of_arrival_s"] = ahead.astype("float64")
    frame["arrival_delay_s"] = (-ahead).astype("float64")
    return frame


# ------------------------------------------------------------------------------------------ CRM


def users_frame(users: pd.DataFrame) -> pd.DataFrame:
    """``crm_users`` as extracted (a copy; ``user_uuid`` as text)."""
    _require(users, ("user_id", "user_uuid"), "crm_users")
    frame = users.copy()
    frame["user_uuid"] = frame["user_uuid"].map(lambda v: None if pd.isna(v) else str(v))
    return frame


def prosthetics_frame(prosthetics: pd.DataFrame) -> pd.DataFrame:
    """``crm_prosthetics`` as extracted (a copy)."""
    _require(prosthetics, ("prosthetic_id", "user_id", "device_type"), "crm_prosthetics")
    return prosthetics.copy()


def payments_frame(payments: pd.DataFrame, known_user_ids: Iterable) -> pd.DataFrame:
    """``crm_payments`` with ``amount`` as float and ``user_known`` (bool) added."""
    _require(payments, ("payment_id", "user_id", "amount", "status"), "crm_payments")
    frame = payments.copy()
    frame["amount"] = _to_float(frame["amount"])
    frame["user_known"] = frame["user_id"].isin(_id_array(known_user_ids)).to_numpy(dtype=bool)
    return frame


def subscriptions_frame(subscriptions: pd.DataFrame) -> pd.DataFrame:
    """``crm_subscriptions`` with ``monthly_cost`` as float and the dates as datetimes."""
    _require(
        subscriptions,
        ("subscription_id", "monthly_cost", "start_date", "end_date"),
        "crm_subscriptions",
    )
    frame = subscriptions.copy()
    frame["monthly_cost"] = _to_float(frame["monthly_cost"])
    frame["start_date"] = _naive_utc(frame["start_date"])
    frame["end_date"] = _naive_utc(frame["end_date"])
    return frame


def tickets_frame(tickets: pd.DataFrame) -> pd.DataFrame:
    """``crm_support_tickets`` with ``created_at`` / ``resolved_at`` as naive-UTC datetimes."""
    _require(tickets, ("ticket_id", "created_at", "resolved_at"), "crm_support_tickets")
    frame = tickets.copy()
    frame["created_at"] = _naive_utc(frame["created_at"])
    frame["resolved_at"] = _naive_utc(frame["resolved_at"])
    return frame


# ---------------------------------------------------------------------------------------- marts

USER_MART_MONEY = ("total_payments", "successful_payments", "subscription_cost_total")
PROSTHETIC_MART_FLOATS = (
    "total_active_hours",
    "avg_discharge_rate_active",
    "avg_discharge_rate_idle",
    "avg_charge_rate",
)


def _with_floats(rows: pd.DataFrame, columns: Iterable[str]) -> pd.DataFrame:
    frame = rows.copy()
    for column in columns:
        if column in frame.columns:
            frame[column] = _to_float(frame[column])
    return frame


def user_mart_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """``report_user_monthly_metrics`` rows with the Decimal money columns as float."""
    return _with_floats(rows, USER_MART_MONEY)


def prosthetic_mart_frame(rows: pd.DataFrame) -> pd.DataFrame:
    """``report_prosthetic_monthly_metrics`` rows with the measures as float."""
    return _with_floats(rows, PROSTHETIC_MART_FLOATS)
