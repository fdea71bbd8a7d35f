"""The pandas reference of the prosthesis mart (tests only; production is tasks/sql/): per-(prosthetic,
day) partials and their month-to-date roll-up.

The contract is ``/work/shared/spec/marts.md``. Partials are additive over days, so a daily run
computes one day and the month is a SUM in ClickHouse. Time arithmetic is done on int64
microseconds so that lengths are exact and independent of the pandas datetime resolution.
"""

from __future__ import annotations

from datetime import date

import numpy as np
import pandas as pd

from bionicpro.contract import COUNT_MEASURES, EVENT_TYPES, PROSTHETIC_MART_COLUMNS, SEVERITIES
from tests.metrics_reference import as_int32, as_naive_utc, period_end

__all__ = [
    "COUNT_MEASURES",
    "DOWNTIME_CAP",
    "EVENT_TYPES",
    "LOOKBACK",
    "PARTIAL_COLUMNS",
    "PROSTHETIC_MART_COLUMNS",
    "SESSION_CAP",
    "SEVERITIES",
    "STATE_EVENT_TYPES",
    "battery_by_day",
    "covered_us_by_day",
    "daily_partials",
    "dedupe_events",
    "dedupe_samples",
    "downtimes",
    "prosthetic_month",
    "sessions",
    "tally_events",
]

SESSION_CAP = pd.Timedelta(hours=24)
DOWNTIME_CAP = pd.Timedelta(days=7)
# The longest interval that can reach into a window starts this long before it.
LOOKBACK = DOWNTIME_CAP
STATE_EVENT_TYPES: tuple[str, ...] = ("power_on", "power_off", "critical_error")

PARTIAL_COLUMNS: list[str] = [
    "day",
    "prosthetic_id",
    "power_on_count",
    "power_off_count",
    "charge_cycles",
    "warning_count",
    "error_count",
    "critical_error_count",
    "active_us",
    "downtime_us",
    "discharge_active_sum",
    "discharge_active_n",
    "discharge_idle_sum",
    "discharge_idle_n",
    "charge_sum",
    "charge_n",
]
_MEASURES = PARTIAL_COLUMNS[2:]
_BATTERY_MEASURES = PARTIAL_COLUMNS[10:]
_EVENT_KEY = ["prosthetic_id", "event_timestamp", "event_type", "event_value"]
_SAMPLE_KEY = ["prosthetic_id", "metric_timestamp"]
# counts_long -> partial column, selected by event_type or by severity.
_BY_TYPE = {
    "power_on": "power_on_count",
    "power_off": "power_off_count",
    "charging_completed": "charge_cycles",
}
_BY_SEVERITY = {"warning": "warning_count", "error": "error_count", "critical": "critical_error_count"}

_US = pd.Timedelta(microseconds=1)
_US_PER_DAY = 86_400_000_000
_EPOCH = pd.Timestamp(0)
_KEY = ["prosthetic_id", "dayn"]  # internal key: days since the epoch are cheaper than date objects


# --- time helpers -------------------------------------------------------------------------------


def _us(values: pd.Series) -> np.ndarray:
    """Naive timestamps (or dates) as int64 microseconds since the epoch."""
    return pd.to_datetime(values).to_numpy(dtype="datetime64[us]").astype(np.int64)


def _scalar_us(value: object) -> int:
    return int((as_naive_utc(value) - _EPOCH) // _US)


def _midnight_us(value: object, name: str) -> int:
    us = _scalar_us(value)
    if us % _US_PER_DAY:
        raise ValueError(f"{name} must be a midnight, got {value!r}")
    return us


def _dates(dayn: np.ndarray) -> np.ndarray:
    """Days since the epoch as an object array of ``datetime.date``."""
    return np.asarray(dayn, dtype=np.int64).astype("datetime64[D]").astype(object)


def _interval_arrays(intervals: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(prosthetic_id, start, end) of an interval frame, times as int64 microseconds."""
    return intervals["prosthetic_id"].to_numpy(dtype=np.int64), _us(intervals["start"]), _us(intervals["end"])


def _with_dates(out: pd.DataFrame) -> pd.DataFrame:
    """The internal ``dayn`` key as a ``day`` column of dates, after prosthetic_id."""
    out.insert(1, "day", _dates(out.pop("dayn").to_numpy()))
    return out


def _interval_frame(pid: np.ndarray, start: np.ndarray, end: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prosthetic_id": pid.astype(np.int64),
            "start": start.astype("datetime64[us]"),
            "end": end.astype("datetime64[us]"),
        }
    )


# --- de-duplication and counting ----------------------------------------------------------------


def _first_by_id(frame: pd.DataFrame, id_column: str, key: list[str]) -> np.ndarray:
    """Mask of the rows of ``frame`` that are first by ``id_column`` among equal ``key`` (NaN
    equals NaN).

    ``key`` starts with (prosthetic_id, time): repeats share both, so only rows whose mix of the
    two occurs more than once are compared on the whole key (a few percent of a window).
    """
    keep = np.ones(len(frame), dtype=bool)
    if frame.empty:
        return keep
    mix = _us(frame[key[1]]) + frame[key[0]].to_numpy(dtype=np.int64) * 1_000_003
    suspects = np.flatnonzero(pd.Series(mix).duplicated(keep=False).to_numpy())
    if len(suspects):
        some = frame.iloc[suspects]
        order = np.argsort(some[id_column].to_numpy(dtype=np.int64), kind="stable")
        repeated = some.iloc[order].duplicated(subset=key, keep="first").to_numpy()
        keep[suspects[order[repeated]]] = False
    return keep


def _keep_lowest_id(frame: pd.DataFrame, id_column: str, key: list[str]) -> pd.DataFrame:
    return frame.iloc[np.flatnonzero(_first_by_id(frame, id_column, key))].reset_index(drop=True)


def dedupe_events(events: pd.DataFrame) -> pd.DataFrame:
    """Drop device resends: equal (prosthetic_id, event_type, event_timestamp, event_value),
    NULLs equal, keep the lowest event_id. Other columns are kept, input order is kept."""
    return _keep_lowest_id(events, "event_id", _EVENT_KEY)


def dedupe_samples(samples: pd.DataFrame) -> pd.DataFrame:
    """Drop repeated battery samples: equal (prosthetic_id, metric_timestamp), keep the lowest metric_id."""
    return _keep_lowest_id(samples, "metric_id", _SAMPLE_KEY)


def _codes(values: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Integer codes (-1 for NULL) and their labels: grouping on codes, not on strings."""
    labels = values if isinstance(values.dtype, pd.CategoricalDtype) else values.astype("category")
    categories = labels.cat.categories
    codes = labels.cat.codes.to_numpy(dtype=np.int64)
    if not len(categories):
        return codes, categories
    # Codes in the labels' sort order, so that sorting by code sorts by label.
    order = np.argsort(np.asarray(categories, dtype=object), kind="stable")
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order))
    return np.where(codes >= 0, rank[np.maximum(codes, 0)], -1), categories[order]


def _labels(codes: np.ndarray, categories: pd.Index) -> np.ndarray:
    """The labels of ``codes`` (None for -1): the inverse of _codes."""
    out = np.empty(len(codes), dtype=object)
    known = codes >= 0
    out[known] = np.asarray(categories, dtype=object)[codes[known]]
    return out


def tally_events(events: pd.DataFrame) -> pd.DataFrame:
    """Event counts per (prosthetic_id, day, event_type, severity): what the PostgreSQL push-down returns."""
    first = _first_by_id(events, "event_id", _EVENT_KEY)
    kind, kinds = _codes(events["event_type"])
    severity, severities = _codes(events["severity"])
    frame = pd.DataFrame(
        {
            "prosthetic_id": events["prosthetic_id"].to_numpy(dtype=np.int64)[first],
            "dayn": _us(events["event_timestamp"])[first] // _US_PER_DAY,
            "kind": kind[first],
            "sev": severity[first],
        }
    )
    out = frame.groupby(["prosthetic_id", "dayn", "kind", "sev"], sort=True).size().reset_index(name="n")
    return pd.DataFrame(
        {
            "prosthetic_id": out["prosthetic_id"].to_numpy(),
            "day": _dates(out["dayn"].to_numpy()),
            "event_type": _labels(out["kind"].to_numpy(), kinds),
            "severity": _labels(out["sev"].to_numpy(), severities),
            "n": out["n"].to_numpy(dtype=np.int64),
        }
    )


# --- sessions and downtime ----------------------------------------------------------------------


_Ordered = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _ordered_state_events(state_events: pd.DataFrame, horizon_us: int) -> _Ordered:
    """(prosthetic_id, time, is_power_on, is_critical) of the deduplicated state events before
    the horizon, ordered by (prosthetic_id, event_timestamp, event_id)."""
    ev = state_events[state_events["event_type"].isin(STATE_EVENT_TYPES)]
    ev = dedupe_events(ev)
    ts = _us(ev["event_timestamp"])
    # Rows at or after the horizon do not exist for this run.
    known = np.flatnonzero(ts < horizon_us)
    pid = ev["prosthetic_id"].to_numpy(dtype=np.int64)
    eid = ev["event_id"].to_numpy(dtype=np.int64)
    pick = known[np.lexsort((eid[known], ts[known], pid[known]))]
    return (
        pid[pick],
        ts[pick],
        (ev["event_type"] == "power_on").to_numpy(dtype=bool)[pick],
        (ev["event_type"] == "critical_error").to_numpy(dtype=bool)[pick],
    )


def _session_arrays(ordered: _Ordered, horizon_us: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pid, ts, is_on, _ = ordered
    starts = np.flatnonzero(is_on)
    # Only state events are left, so the next row of the same prosthetic is the one that ends it.
    nxt = np.minimum(starts + 1, len(ts) - 1)
    ended = (starts + 1 < len(ts)) & (pid[nxt] == pid[starts])
    end = np.where(ended, ts[nxt], horizon_us)
    end = np.minimum(end, ts[starts] + SESSION_CAP // _US)
    end = np.minimum(end, horizon_us)
    real = end > ts[starts]  # same timestamp, higher id: a zero-length session
    return pid[starts][real], ts[starts][real], end[real]


def _downtime_arrays(ordered: _Ordered, horizon_us: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    pid, ts, is_on, is_crit = ordered
    crits = np.flatnonzero(is_crit)
    ons = np.flatnonzero(is_on)
    end = np.full(len(crits), horizon_us, dtype=np.int64)
    if len(ons):
        # The first power_on after the critical_error in (timestamp, id) order...
        j = np.searchsorted(ons, crits, side="right")
        nxt = ons[np.minimum(j, len(ons) - 1)]
        # ...provided it exists and belongs to the same prosthetic.
        rebooted = (j < len(ons)) & (pid[nxt] == pid[crits])
        end = np.where(rebooted, ts[nxt], end)
    end = np.minimum(end, ts[crits] + DOWNTIME_CAP // _US)
    end = np.minimum(end, horizon_us)
    real = end > ts[crits]
    return pid[crits][real], ts[crits][real], end[real]


def sessions(state_events: pd.DataFrame, horizon: object) -> pd.DataFrame:
    """Usage sessions [start, end): power_on to the first later power_off/power_on/critical_error
    or the horizon, at most SESSION_CAP long; zero-length ones dropped."""
    h = _scalar_us(horizon)
    return _interval_frame(*_session_arrays(_ordered_state_events(state_events, h), h))


def downtimes(state_events: pd.DataFrame, horizon: object) -> pd.DataFrame:
    """Downtime intervals [start, end): critical_error to the next power_on or the horizon,
    at most DOWNTIME_CAP long. They may overlap (several faults before one reboot)."""
    h = _scalar_us(horizon)
    return _interval_frame(*_downtime_arrays(_ordered_state_events(state_events, h), h))


# --- per-day aggregation ------------------------------------------------------------------------


def _union(pid: np.ndarray, start: np.ndarray, end: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per prosthetic, the union of [start, end) as disjoint intervals sorted by (pid, start)."""
    real = end > start
    pid, start, end = pid[real], start[real], end[real]
    if not len(pid):
        return pid, start, end
    order = np.lexsort((start, pid))
    pid, start, end = pid[order], start[order], end[order]
    reach = pd.Series(end).groupby(pid, sort=False).cummax().to_numpy()
    new = np.ones(len(pid), dtype=bool)
    # An interval opens a new block unless it starts within what the previous ones reach.
    new[1:] = (pid[1:] != pid[:-1]) | (start[1:] > reach[:-1])
    first = np.flatnonzero(new)
    return pid[first], start[first], np.maximum.reduceat(end, first)


def _covered(pid: np.ndarray, start: np.ndarray, end: np.ndarray, ws: int, we: int) -> pd.DataFrame:
    """[prosthetic_id, dayn, covered_us] of the union of the intervals within [ws, we)."""
    start = np.maximum(start, ws)
    end = np.minimum(end, we)
    pid, start, end = _union(pid, start, end)
    first = start // _US_PER_DAY
    ndays = (end - 1) // _US_PER_DAY - first + 1
    piece = np.repeat(np.arange(len(pid)), ndays)
    dayn = first[piece] + (np.arange(len(piece)) - np.repeat(np.cumsum(ndays) - ndays, ndays))
    day_start = dayn * _US_PER_DAY
    covered = np.minimum(end[piece], day_start + _US_PER_DAY) - np.maximum(start[piece], day_start)
    frame = pd.DataFrame({"prosthetic_id": pid[piece], "dayn": dayn, "covered_us": covered.astype(np.int64)})
    out = frame.groupby(_KEY, sort=True, as_index=False)["covered_us"].sum()
    return out[out["covered_us"] > 0].reset_index(drop=True)


def covered_us_by_day(intervals: pd.DataFrame, window_start: object, window_end: object) -> pd.DataFrame:
    """Exact microseconds per (prosthetic_id, UTC day) covered by the union of the intervals
    within [window_start, window_end); only days with coverage."""
    return _with_dates(_covered(*_interval_arrays(intervals), _scalar_us(window_start), _scalar_us(window_end)))


def _battery(
    samples: pd.DataFrame, spid: np.ndarray, sstart: np.ndarray, send: np.ndarray, ws: int, we: int
) -> pd.DataFrame:
    """[prosthetic_id, dayn, *battery measures] of the samples in [ws, we)."""
    ts = _us(samples["metric_timestamp"])
    sm = dedupe_samples(samples[(ts >= ws) & (ts < we)])
    pid = sm["prosthetic_id"].to_numpy(dtype=np.int64)
    ts = _us(sm["metric_timestamp"])
    current = sm["current_ma"].to_numpy(dtype=np.int64)
    charging = sm["is_charging"].to_numpy(dtype=bool)

    # Sessions as disjoint intervals: the last one starting at or before a sample decides.
    upid, ustart, uend = _union(spid, sstart, send)
    left = pd.DataFrame({"prosthetic_id": pid, "t": ts, "row": np.arange(len(pid))})
    right = pd.DataFrame({"prosthetic_id": upid, "t": ustart, "until": uend})
    left = left.sort_values("t", kind="stable")
    right = right.sort_values("t", kind="stable")
    hit = pd.merge_asof(left, right, on="t", by="prosthetic_id", direction="backward")
    active = np.zeros(len(pid), dtype=bool)
    # NaN (no session before) compares False: idle. Times are < 2**53 us, exact as float.
    active[hit["row"].to_numpy()] = (hit["until"] > hit["t"]).to_numpy()

    discharging = ~charging & (current < 0)
    d_active, d_idle = discharging & active, discharging & ~active
    frame = pd.DataFrame(
        {
            "prosthetic_id": pid,
            "dayn": ts // _US_PER_DAY,
            "discharge_active_sum": np.where(d_active, -current, 0),
            "discharge_active_n": d_active.astype(np.int64),
            "discharge_idle_sum": np.where(d_idle, -current, 0),
            "discharge_idle_n": d_idle.astype(np.int64),
            "charge_sum": np.where(charging, current, 0),
            "charge_n": charging.astype(np.int64),
        }
    )[discharging | charging]
    return frame.groupby(_KEY, sort=True, as_index=False)[_BATTERY_MEASURES].sum()


def battery_by_day(
    samples: pd.DataFrame, session_intervals: pd.DataFrame, window_start: object, window_end: object
) -> pd.DataFrame:
    """Battery sums and counts per (prosthetic_id, day) of the deduplicated samples in the window;
    a discharge sample is active inside a session [start, end), idle otherwise."""
    return _with_dates(_battery(samples, *_interval_arrays(session_intervals), _scalar_us(window_start),
                                _scalar_us(window_end)))


def _counts(counts_long: pd.DataFrame, ws: int, we: int) -> pd.DataFrame:
    """[prosthetic_id, dayn, *count measures] from the long event counts inside [ws, we)."""
    dayn = _us(counts_long["day"]) // _US_PER_DAY
    inside = (dayn >= ws // _US_PER_DAY) & (dayn < we // _US_PER_DAY)
    cl = counts_long[inside]
    n = cl["n"].to_numpy(dtype=np.int64)
    kind = cl["event_type"].to_numpy(dtype=object)
    severity = cl["severity"].to_numpy(dtype=object)
    columns: dict[str, np.ndarray] = {
        "prosthetic_id": cl["prosthetic_id"].to_numpy(dtype=np.int64),
        "dayn": dayn[inside],
    }
    for value, column in _BY_TYPE.items():
        columns[column] = np.where(kind == value, n, 0)
    for value, column in _BY_SEVERITY.items():
        columns[column] = np.where(severity == value, n, 0)
    return pd.DataFrame(columns).groupby(_KEY, sort=True, as_index=False)[COUNT_MEASURES].sum()


def daily_partials(
    counts_long: pd.DataFrame,
    state_events: pd.DataFrame,
    samples: pd.DataFrame,
    window_start: object,
    window_end: object,
) -> pd.DataFrame:
    """Additive per-(prosthetic, day) partials for the days of [window_start, window_end),
    sorted by (day, prosthetic_id).

    The horizon is ``window_end``; ``state_events`` must reach LOOKBACK before ``window_start``.
    A day's partial depends only on data before its end, so it is final once computed.
    """
    ws = _midnight_us(window_start, "window_start")
    we = _midnight_us(window_end, "window_end")
    if we < ws:
        raise ValueError("window_end is before window_start")
    ordered = _ordered_state_events(state_events, we)
    spid, sstart, send = _session_arrays(ordered, we)
    active = _covered(spid, sstart, send, ws, we).rename(columns={"covered_us": "active_us"})
    downtime = _covered(*_downtime_arrays(ordered, we), ws, we).rename(columns={"covered_us": "downtime_us"})
    parts = [
        _counts(counts_long, ws, we),
        active,
        downtime,
        _battery(samples, spid, sstart, send, ws, we),
    ]
    # Each part has a unique (prosthetic, day) key; stacking then summing is an outer join.
    stacked = pd.concat(
        [p.reindex(columns=[*_KEY, *_MEASURES], fill_value=0) for p in parts], ignore_index=True
    )
    out = stacked.astype(np.int64).groupby(_KEY, sort=True, as_index=False)[_MEASURES].sum()
    out = out[out[_MEASURES].to_numpy().any(axis=1)]
    # Day-major order: consecutive daily runs concatenate to the rows of one longer window.
    out = out.sort_values(["dayn", "prosthetic_id"], kind="stable").reset_index(drop=True)
    out.insert(0, "day", _dates(out.pop("dayn").to_numpy()))
    return out[PARTIAL_COLUMNS]


# --- month roll-up ------------------------------------------------------------------------------


def prosthetic_month(
    sums: pd.DataFrame,
    prosthetics: pd.DataFrame,
    users: pd.DataFrame,
    month_start: date,
    horizon: object,
) -> pd.DataFrame:
    """Mart rows of one month to date from the month's summed partials, one per prosthetic bought
    before the period end (zeros without telemetry), sorted by (user_id, prosthetic_id)."""
    end = period_end(month_start, horizon)
    p = prosthetics[pd.to_datetime(prosthetics["purchase_date"]) < end]
    p = p[["prosthetic_id", "prosthetic_uuid", "user_id", "device_type"]].astype(
        {"prosthetic_id": np.int64, "user_id": np.int64}
    )
    u = users[["user_id", "user_uuid"]].astype({"user_id": np.int64})
    rows = p.merge(u, on="user_id", how="left", validate="many_to_one")
    if rows["user_uuid"].isna().any():
        # A row without its user is bad data; it must not reach the mart silently.
        missing = sorted(rows.loc[rows["user_uuid"].isna(), "user_id"].unique().tolist())
        raise ValueError(f"prostheses reference users not in `users`: {missing[:10]}")

    s = sums.reindex(columns=["prosthetic_id", *_MEASURES]).fillna(0)
    s = s.astype(np.int64).groupby("prosthetic_id", as_index=False)[_MEASURES].sum()
    rows = rows.merge(s, on="prosthetic_id", how="left")
    rows[_MEASURES] = rows[_MEASURES].fillna(0).astype(np.int64)
    rows = rows.sort_values(["user_id", "prosthetic_id"], kind="stable").reset_index(drop=True)

    def mean(total: str, count: str) -> np.ndarray:
        n = rows[count].to_numpy(dtype=np.float64)
        return np.divide(rows[total].to_numpy(dtype=np.float64), n, out=np.zeros(len(rows)), where=n > 0)

    out = pd.DataFrame(
        {
            "report_date": np.full(len(rows), pd.Timestamp(month_start).date(), dtype=object),
            "prosthetic_id": as_int32(rows["prosthetic_id"], "prosthetic_id"),
            "user_id": as_int32(rows["user_id"], "user_id"),
            "user_uuid": rows["user_uuid"].astype(str),
            "prosthetic_uuid": rows["prosthetic_uuid"].astype(str),
            "device_type": rows["device_type"].astype(str),
            "power_on_count": as_int32(rows["power_on_count"], "power_on_count"),
            "power_off_count": as_int32(rows["power_off_count"], "power_off_count"),
            "total_active_hours": rows["active_us"].to_numpy(dtype=np.float64) / 3.6e9,
            "avg_discharge_rate_active": mean("discharge_active_sum", "discharge_active_n"),
            "avg_discharge_rate_idle": mean("discharge_idle_sum", "discharge_idle_n"),
            "avg_charge_rate": mean("charge_sum", "charge_n"),
            "charge_cycles": as_int32(rows["charge_cycles"], "charge_cycles"),
            "warning_count": as_int32(rows["warning_count"], "warning_count"),
            "error_count": as_int32(rows["error_count"], "error_count"),
            "critical_error_count": as_int32(rows["critical_error_count"], "critical_error_count"),
            "downtime_minutes": as_int32(rows["downtime_us"].to_numpy() // 60_000_000, "downtime_minutes"),
        }
    )
    return out[PROSTHETIC_MART_COLUMNS]
