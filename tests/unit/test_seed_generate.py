"""Seed generation without a database: determinism and the coherence of the generated frames."""

from __future__ import annotations

import struct
from datetime import date, timedelta

import numpy as np
import pandas as pd
import pytest

from seed.config import SeedConfig, subtract_months, today_utc
from seed.generate import EVENT_SEVERITY, EVENT_TYPES, NULL_VALUE_TYPES, generate_crm, generate_frames
from seed.pgcopy import PG_EPOCH_MICROSECONDS, encode_block

SMALL = SeedConfig(users=2, months=2, end_date=date(2024, 3, 1), seed=7)
# big enough to contain critical errors, lost power_offs and resends, still well under a second
MEDIUM = SeedConfig(users=20, months=3, end_date=date(2024, 7, 1), seed=42)
STATE_TYPES = ("power_on", "power_off", "critical_error")
ACTIVITY = ("grip", "release", "gesture_change", "sensor_reading")


@pytest.fixture(scope="module")
def small():
    return generate_frames(SMALL)


@pytest.fixture(scope="module")
def medium():
    return generate_frames(MEDIUM)


def all_frames(frames) -> dict[str, pd.DataFrame]:
    return {**frames.crm.tables(), "telemetry_events": frames.events, "battery_metrics": frames.battery}


def dedupe_events(events: pd.DataFrame) -> pd.DataFrame:
    """One row per resent event (the contract: same prosthetic, type, timestamp and value)."""
    ordered = events.sort_values(["prosthetic_id", "event_timestamp", "event_id"])
    key = ordered[["prosthetic_id", "event_type", "event_timestamp"]].assign(
        value=ordered["event_value"].fillna(-1e300))
    return ordered[~key.duplicated()]


def with_last_state(events: pd.DataFrame) -> pd.DataFrame:
    """Each event with the type of the latest state event (power_on/off, critical_error) before it."""
    ordered = dedupe_events(events).copy()
    state = ordered["event_type"].where(ordered["event_type"].isin(STATE_TYPES))
    ordered["last_state"] = state.groupby(ordered["prosthetic_id"]).transform(lambda s: s.ffill().shift())
    return ordered


# --- configuration --------------------------------------------------------------------------


def test_period_is_end_exclusive_calendar_months():
    january = SeedConfig(months=1, end_date=date(2024, 2, 1))
    assert (january.start, january.last_day, january.period_days) == (date(2024, 1, 1), date(2024, 1, 31), 31)
    default = SeedConfig(end_date=date(2024, 7, 1))
    assert default.start == date(2022, 1, 1)
    assert subtract_months(date(2024, 3, 31), 1) == date(2024, 2, 29)
    assert SeedConfig().end == today_utc()
    assert SeedConfig().resolved().end_date == today_utc()


@pytest.mark.parametrize("kwargs", [{"users": 0}, {"months": 0}, {"end_date": "2024-01-01"}])
def test_bad_configs_are_rejected(kwargs):
    with pytest.raises((ValueError, TypeError)):
        SeedConfig(**kwargs)


# --- determinism ----------------------------------------------------------------------------


def test_same_seed_same_frames(small):
    again = generate_frames(SMALL)
    for name, frame in all_frames(small).items():
        pd.testing.assert_frame_equal(frame, all_frames(again)[name], obj=name)
    assert small.stats == again.stats


def test_other_seed_other_frames(small):
    other = generate_frames(SeedConfig(users=2, months=2, end_date=date(2024, 3, 1), seed=8))
    assert not small.crm.users["user_uuid"].equals(other.crm.users["user_uuid"])
    assert len(small.events) != len(other.events) or not small.events.equals(other.events)


def test_january_is_exactly_january():
    frames = generate_frames(SeedConfig(users=3, months=1, end_date=date(2024, 2, 1)))
    for frame, column in ((frames.events, "event_timestamp"), (frames.battery, "metric_timestamp"),
                          (frames.events, "created_at"), (frames.crm.payments, "payment_date"),
                          (frames.crm.tickets, "created_at")):
        if frame.empty:
            continue
        assert frame[column].min() >= pd.Timestamp("2024-01-01"), column
        assert frame[column].max() <= pd.Timestamp("2024-02-01"), column
    assert frames.events["event_timestamp"].max() < pd.Timestamp("2024-02-01")
    assert frames.events["event_timestamp"].max() >= pd.Timestamp("2024-01-31")


# --- CRM ------------------------------------------------------------------------------------


def test_crm_shapes_and_ids(medium):
    crm = medium.crm
    assert len(crm.users) == 20 and len(crm.prosthetics) == 30
    for frame, column in ((crm.users, "user_id"), (crm.prosthetics, "prosthetic_id"),
                          (crm.subscriptions, "subscription_id"), (crm.payments, "payment_id"),
                          (crm.tickets, "ticket_id"), (medium.events, "event_id"), (medium.battery, "metric_id")):
        assert (frame[column].to_numpy() == np.arange(1, len(frame) + 1)).all(), column
    assert crm.users["user_uuid"].is_unique and crm.users["email"].is_unique
    assert crm.prosthetics["prosthetic_uuid"].is_unique and crm.prosthetics["serial_number"].is_unique
    assert crm.users["user_uuid"].map(lambda u: u[14]).eq("4").all()  # version 4
    assert (crm.users["updated_at"] >= crm.users["created_at"]).all()
    assert crm.prosthetics.groupby("user_id").size().between(1, 2).all()


def test_purchases_follow_sign_up(medium):
    p = medium.crm.prosthetics.merge(medium.crm.users[["user_id", "created_at"]], on="user_id", suffixes=("", "_user"))
    assert (p["purchase_date"] >= p["created_at_user"].dt.normalize()).all()
    assert (p["purchase_date"] <= pd.Timestamp(MEDIUM.last_day)).all()
    assert (p["warranty_until"] >= p["purchase_date"]).all()


def test_payments_inside_subscriptions(medium):
    crm = medium.crm
    pay = crm.payments.merge(crm.subscriptions, on=["subscription_id", "user_id"])
    assert len(pay) == len(crm.payments)
    assert (pay["payment_date"] >= pay["start_date"]).all()
    ended = pay["end_date"].notna()
    assert (pay.loc[ended, "payment_date"] < pay.loc[ended, "end_date"] + pd.Timedelta(days=1)).all()
    assert (pay["amount"] == pay["monthly_cost"]).all() and (pay["amount"] >= 0).all()
    assert pay["payment_date"].between(pd.Timestamp(MEDIUM.start), pd.Timestamp(MEDIUM.end)).all()
    assert set(crm.payments["status"]) <= {"success", "failed", "pending"}
    pending = crm.payments[crm.payments["status"] == "pending"]
    assert (pending["payment_date"] >= pd.Timestamp(MEDIUM.end) - pd.Timedelta(days=5)).all()
    share = (crm.payments["status"] == "success").mean()
    assert 0.75 < share < 0.95


def test_failed_payments_are_retried_days_later(medium):
    pay = medium.crm.payments.sort_values(["subscription_id", "payment_date"])
    nxt = pay.groupby("subscription_id")["payment_date"].shift(-1)
    failed = pay["status"].eq("failed") & nxt.notna()
    gaps = (nxt[failed] - pay.loc[failed, "payment_date"]).dt.days
    assert len(gaps) > 0 and (gaps >= 1).all()
    assert (gaps.between(1, 6)).mean() > 0.8  # mostly a retry; otherwise the next month's billing


def test_subscriptions_are_coherent(medium):
    subs = medium.crm.subscriptions
    ended = subs["end_date"].notna()
    assert (subs.loc[ended, "end_date"] >= subs.loc[ended, "start_date"]).all()
    last = pd.Timestamp(MEDIUM.last_day)
    expected_active = (subs["start_date"] <= last) & (~ended | (subs["end_date"] >= last))
    assert (subs["is_active"] == expected_active).all()
    assert set(subs["plan"]) <= {"basic", "standard", "premium"}


def test_tickets_are_coherent(medium):
    t = medium.crm.tickets
    resolved = t["status"].isin(["resolved", "closed"])
    assert (resolved == t["resolved_at"].notna()).all()
    assert (t.loc[resolved, "resolved_at"] >= t.loc[resolved, "created_at"]).all()
    assert (t["resolved_at"].dropna() < pd.Timestamp(MEDIUM.end)).all()
    users = medium.crm.users.set_index("user_id")["created_at"]
    assert (t["created_at"] >= t["user_id"].map(users)).all()


# --- telemetry ------------------------------------------------------------------------------


def test_event_types_severities_and_values(medium):
    e = medium.events
    assert set(e["event_type"]) == set(EVENT_TYPES)
    expected = e["event_type"].map(lambda t: EVENT_SEVERITY.get(t, "info"))
    assert (e["severity"] == expected).all()
    null = e["event_type"].isin(NULL_VALUE_TYPES)
    assert e.loc[null, "event_value"].isna().all() and e.loc[~null, "event_value"].notna().all()
    low = e[e["event_type"] == "battery_low"]["event_value"]
    assert low.between(0, 20.5).all()


def test_times_and_arrival(medium):
    e, b = medium.events, medium.battery
    start, end = pd.Timestamp(MEDIUM.start), pd.Timestamp(MEDIUM.end)
    for frame, column in ((e, "event_timestamp"), (b, "metric_timestamp")):
        assert frame[column].between(start, end, inclusive="left").all()
        assert (frame["created_at"] >= frame[column]).all()  # never more than 5 min after created_at
        assert (frame["created_at"] <= end).all()
    delay = (e["created_at"] - e["event_timestamp"]).dt.total_seconds()
    late = (delay > 3600).mean()
    assert 0.01 < late < 0.03
    assert (e["event_id"].diff().dropna() == 1).all()


def test_resends_repeat_an_event(medium):
    e = medium.events
    key = ["prosthetic_id", "event_type", "event_timestamp", "event_value", "severity"]
    dup = e[e.fillna({"event_value": -1}).duplicated(key, keep="first")]
    assert len(dup) == medium.stats["duplicate_events"] > 0
    first = e.fillna({"event_value": -1}).drop_duplicates(key).set_index(key)["created_at"]
    later = dup.fillna({"event_value": -1}).set_index(key)["created_at"]
    assert (later.to_numpy() > first.loc[later.index].to_numpy()).all()
    assert medium.battery.duplicated(["prosthetic_id", "metric_timestamp"]).sum() == medium.stats["duplicate_samples"]


def test_nothing_before_purchase_and_owner_is_user(medium):
    p = medium.crm.prosthetics.merge(medium.crm.users[["user_id", "created_at"]], on="user_id", suffixes=("", "_user"))
    p = p.set_index("prosthetic_id")
    for frame, column in ((medium.events, "event_timestamp"), (medium.battery, "metric_timestamp")):
        first = frame.groupby("prosthetic_id")[column].min()
        assert (first > p.loc[first.index, "purchase_date"]).all()
        assert (first > p.loc[first.index, "created_at_user"]).all()
    owner = medium.events["prosthetic_id"].map(p["user_id"])
    assert (medium.events["user_id"] == owner).all()


def test_power_sessions_alternate(medium):
    s = dedupe_events(medium.events)
    s = s[s["event_type"].isin(STATE_TYPES)]
    prev = s.groupby("prosthetic_id")["event_type"].shift()
    pairs = pd.crosstab(prev, s["event_type"])
    get = lambda a, b: int(pairs.loc[a, b]) if a in pairs.index and b in pairs.columns else 0  # noqa: E731
    assert get("power_off", "power_off") == 0
    assert get("power_off", "critical_error") == get("critical_error", "critical_error") == 0
    assert get("critical_error", "power_off") == 0
    crit = int((s["event_type"] == "critical_error").sum())
    assert crit == medium.stats["critical_stops"] > 0
    assert get("critical_error", "power_on") == crit  # every stop ends with a power_on
    lost = medium.stats["lost_power_offs"]
    n_devices = len(medium.crm.prosthetics)
    assert lost - n_devices <= get("power_on", "power_on") <= lost


def test_critical_error_stops_until_power_on(medium):
    e = dedupe_events(medium.events)
    nxt_type = e.groupby("prosthetic_id")["event_type"].shift(-1)
    nxt_time = e.groupby("prosthetic_id")["event_timestamp"].shift(-1)
    crit = e["event_type"] == "critical_error"
    assert (nxt_type[crit] == "power_on").all()
    gap = (nxt_time[crit] - e.loc[crit, "event_timestamp"]).dt.total_seconds()
    assert gap.between(60, 4 * 3600).all()


def test_warnings_errors_and_activity_inside_sessions(medium):
    e = with_last_state(medium.events)
    inside = e["severity"].isin(["warning", "error"]) | e["event_type"].isin(ACTIVITY + ("calibration",))
    assert inside.sum() > 0
    assert (e.loc[inside, "last_state"] == "power_on").all()


def test_battery_current_charging_and_level(medium):
    b = medium.battery.drop_duplicates(["prosthetic_id", "metric_timestamp"]).sort_values(
        ["prosthetic_id", "metric_timestamp"])
    assert ((b["current_ma"] > 0) == b["is_charging"]).all()
    assert b["charge_level"].between(0, 100).all()
    g = b.groupby("prosthetic_id")
    prev_level, prev_charging = g["charge_level"].shift(), g["is_charging"].shift()
    prev_time = g["metric_timestamp"].shift()
    both_discharging = (~b["is_charging"]) & (prev_charging == False)  # noqa: E712
    assert (b.loc[both_discharging, "charge_level"] <= prev_level[both_discharging]).all()
    same_charge = b["is_charging"] & (prev_charging == True) & (b["metric_timestamp"] - prev_time < pd.Timedelta(hours=6))  # noqa: E712
    assert same_charge.sum() > 0
    assert (b.loc[same_charge, "charge_level"] >= prev_level[same_charge]).all()


def test_charging_events_bracket_charging_samples(medium):
    e = dedupe_events(medium.events)
    started = e[e["event_type"] == "charging_started"][["prosthetic_id", "event_timestamp"]]
    charging = medium.battery[medium.battery["is_charging"]].sort_values("metric_timestamp")
    joined = pd.merge_asof(charging, started.sort_values("event_timestamp"), left_on="metric_timestamp",
                           right_on="event_timestamp", by="prosthetic_id")
    assert ((joined["metric_timestamp"] - joined["event_timestamp"]) < pd.Timedelta(hours=4)).all()


def test_volume_per_device_day(medium):
    per_day = len(medium.events) / medium.stats["device_days"]
    assert 32 < per_day < 42
    samples = len(medium.battery) / len(medium.events)
    assert 0.08 < samples < 0.12


def test_crm_alone_is_cheap_and_deterministic():
    a, b = generate_crm(SMALL), generate_crm(SMALL)
    pd.testing.assert_frame_equal(a.payments, b.payments)


# --- binary COPY encoding -------------------------------------------------------------------


def test_binary_copy_layout():
    rows = encode_block(1, [("int8", np.array([7])), ("text", b"grip"), ("null", None),
                            ("timestamp", np.array([PG_EPOCH_MICROSECONDS + 90_000_000])), ("numeric:2", np.array([87.45])),
                            ("bool", np.array([True]))])
    data = rows.tobytes()
    expected = (struct.pack(">h", 6) + struct.pack(">iq", 8, 7) + struct.pack(">i", 4) + b"grip"
                + struct.pack(">i", -1) + struct.pack(">iq", 8, 90_000_000)
                + struct.pack(">ihhHhhh", 12, 2, 0, 0, 2, 87, 4500) + struct.pack(">iB", 1, 1))
    assert data == expected
    negative = encode_block(1, [("numeric:1", np.array([-5.0]))]).tobytes()
    assert negative == struct.pack(">h", 1) + struct.pack(">ihhHhhh", 12, 2, 0, 0x4000, 1, 5, 0)
