"""Deterministic, coherent seed data for ``crm_db`` and ``telemetry_db`` (pure generation, no database).

Everything is a function of ``SeedConfig`` (seed, users, months, end_date): the same config gives
the same rows, ids and UUIDs. The period is ``[start, end)`` with ``end`` exclusive.

The CRM
-------
- ``crm_users``: ids 1..N in sign-up order. Most users already exist when the period starts (sign-up
  uniform over the two years before it and the first 40% of it): master data may predate the
  period, but every dated activity (telemetry, payments, tickets) lies inside it.
- ``crm_prosthetics``: one per user, a second one for exactly ``users // 2`` of them (12 users ->
  18 prostheses, 10,000 -> 15,000). ``purchase_date >= created_at::date`` of the owner; the first
  one 0..21 days after sign-up, the second 30..900 days after the first (never after the last day).
  A device sends telemetry from the day after its purchase (so never before the purchase date nor
  before the user's ``created_at``).
- ``crm_subscriptions``: one per prosthesis, starting on its purchase date. Some change plan (the old
  one ends the day before the new one starts) or are cancelled (``end_date`` set, no successor).
  ``is_active`` describes the last day of the period.
- ``crm_payments``: one billing a month on the subscription's day of month, inside the period and
  inside ``[start_date, end_date]``. A failed attempt is retried 2..5 days later (at most twice, and
  only while the subscription runs); payments dated in the last 5 days are ``pending``. About 85% of
  the payment rows are ``success``. ``amount = monthly_cost`` (never negative).
- ``crm_support_tickets``: ~0.2 a user-month; most are resolved/closed within hours to days, those
  still unresolved at the end are ``open``/``in_progress`` with ``resolved_at`` NULL.

Telemetry: a day of a device
----------------------------
Vectorised per device-day (numpy arrays over every worn device-day of a chunk of days; no loop per
event). A device is not worn on ~5% of its days. A worn day is:

    power_on (05:30-10:00) ... activity ... power_off (19:00-23:30)
    [30%: a midday break: power_off ... power_on in the middle of the day]
    charging_started (2-30 min after the last power_off) ... charging_completed (level 100)

Event types (``severity``; ``event_value``):

===================  =========  ===================================================================
event_type           severity   event_value
===================  =========  ===================================================================
power_on             info       battery level (%) at that moment
power_off            info       battery level (%)
battery_low          warning    battery level (%) when it crosses 20% (in a session)
charging_started     info       battery level (%)
charging_completed   info       100
calibration          info       NULL (a few minutes after the first power_on, ~8% of days)
warning              warning    fault code 100..199 (in a session, ~0.25 a day)
error                error      fault code 200..299 (in a session, ~0.04 a day)
critical_error       critical   fault code 900..999 (in a session, ~0.4% of days): the device
                                stops; nothing is sent until a power_on 5 min..3 h later, which
                                continues the session (no power_off for the stopped session)
grip                 info       grip force (N)
release              info       NULL
gesture_change       info       gesture number 1..12
sensor_reading       info       EMG amplitude (uV)
===================  =========  ===================================================================

Activity events (grip, release, gesture_change, sensor_reading) make the volume: ~29 a worn day,
times a per-device intensity (log-normal, mean 1), strictly inside the sessions. Warnings, errors,
battery_low and activity all fall strictly between a power_on and the session's end.

Battery (``battery_metrics``): the level follows one piecewise-linear curve a day: it falls from
90..98% at power_on to 8..45% at the last power_off (slowly during the break), keeps falling slowly
until charging starts, rises linearly to 100% at charging_completed, then falls slowly again.
~3.5 samples a worn day, one always taken while charging. ``is_charging`` is true exactly between
charging_started and charging_completed, with ``current_ma > 0`` (and a rising level); otherwise
``current_ma < 0`` (-150..-450 mA in a session, -10..-45 mA outside) and the level falls.
Nothing is sampled while a device is stopped by a critical error.

The mess (small, deliberate, counted in ``stats``)
--------------------------------------------------
- late events (~2%): ``created_at`` 1 h .. 3 days after ``event_timestamp``; otherwise
  ``created_at = event_timestamp + 0..30 s``. ``created_at`` is capped at the end of the period
  (the tables are a snapshot taken at ``end 00:00``). ``event_timestamp <= created_at`` always.
- lost power_off (~1% of sessions): the power_off row is missing, so the device's next state event
  is a power_on (``stats['lost_power_offs']``). The charging events of that evening still arrive.
- device resends (~0.5% of events): the same prosthetic_id, event_type, event_timestamp,
  event_value and severity again, with a new event_id and a created_at 1..600 s later.
- battery samples: ~1% late (like events) and ~0.2% resent (same prosthetic_id, metric_timestamp
  and values, new metric_id, later created_at).
- no other bad data: the rows that break the marts' contract are added only by
  ``seed.anomalies.insert_anomalies`` (``--anomalies``).

Ids are sequential: CRM ids in time order, telemetry ids in (timestamp, prosthetic) order within a
chunk of days and increasing from chunk to chunk. UUIDs are version-4 UUIDs drawn from the seed.
Times are naive UTC. CRM times are whole seconds; telemetry times have microseconds (state and
charging events fall on whole seconds, activity, faults and samples anywhere), so two distinct events
of a device practically never share a timestamp (which the contract would take for a resend).
Inside this module CRM times are int64 seconds and telemetry times int64 microseconds since 1970.
"""

from __future__ import annotations

import re
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from seed import config as cfg
from seed.config import DAY, SeedConfig, epoch_seconds

EVENT_TYPES = (
    "power_on", "power_off", "battery_low", "charging_started", "charging_completed", "calibration",
    "warning", "error", "critical_error", "grip", "release", "gesture_change", "sensor_reading",
)
(POWER_ON, POWER_OFF, BATTERY_LOW, CHARGING_STARTED, CHARGING_COMPLETED, CALIBRATION,
 WARNING, ERROR, CRITICAL_ERROR, GRIP, RELEASE, GESTURE_CHANGE, SENSOR_READING) = range(len(EVENT_TYPES))
SEVERITIES = ("info", "warning", "error", "critical")
EVENT_SEVERITY = {
    "battery_low": "warning", "warning": "warning", "error": "error", "critical_error": "critical",
}
SEVERITY_OF_CODE = np.array([SEVERITIES.index(EVENT_SEVERITY.get(t, "info")) for t in EVENT_TYPES], np.int8)
NULL_VALUE_TYPES = frozenset({"release", "calibration"})
ACTIVITY_TYPES = (GRIP, RELEASE, GESTURE_CHANGE, SENSOR_READING)
ACTIVITY_WEIGHTS = (0.35, 0.30, 0.10, 0.25)

DEVICE_TYPES = ("arm", "hand", "leg", "foot")
DEVICE_WEIGHTS = (0.30, 0.35, 0.20, 0.15)
MODELS = {
    "arm": ("BionicArm Pro 2", "BionicArm Lite"),
    "hand": ("BionicHand X3", "BionicHand Grip"),
    "leg": ("BionicLeg Flex", "BionicLeg Pro"),
    "foot": ("BionicFoot Step", "BionicFoot Run"),
}
PLANS = tuple(cfg.PLAN_COSTS)
PLAN_WEIGHTS = (0.40, 0.40, 0.20)
PAYMENT_METHODS = ("card", "bank_transfer", "insurance")
PAYMENT_METHOD_WEIGHTS = (0.70, 0.20, 0.10)
COUNTRIES = ("Russia", "Kazakhstan", "Belarus", "Armenia", "Uzbekistan", "Georgia")
COUNTRY_WEIGHTS = (0.70, 0.10, 0.08, 0.05, 0.04, 0.03)
TICKET_CATEGORIES = ("technical", "billing", "fitting", "other")
TICKET_CATEGORY_WEIGHTS = (0.45, 0.20, 0.20, 0.15)
TICKET_PRIORITIES = ("low", "medium", "high")
TICKET_PRIORITY_WEIGHTS = (0.40, 0.45, 0.15)
TICKET_SUBJECTS = {
    "technical": ("Grip weakens during the day", "Device does not power on", "Battery drains fast",
                  "Sensor readings unstable", "Firmware update failed", "Unexpected shutdown"),
    "billing": ("Payment failed", "Charged twice", "Change of plan", "Invoice request"),
    "fitting": ("Socket discomfort", "Need refitting", "Strap replacement", "Skin irritation"),
    "other": ("Question about warranty", "Travel with the device", "Feedback", "Change of address"),
}

IDLE_DRAIN = 0.3 / 3600          # % per second outside sessions
BREAK_WEIGHT = 0.05              # the midday break drains 5% as fast as a session
BATTERY_MAH_PER_PERCENT = 30     # a 3,000 mAh battery
US = 1_000_000                   # telemetry times are microseconds


# --------------------------------------------------------------------------------------------
# CRM
# --------------------------------------------------------------------------------------------


@dataclass
class CrmFrames:
    users: pd.DataFrame
    prosthetics: pd.DataFrame
    subscriptions: pd.DataFrame
    payments: pd.DataFrame
    tickets: pd.DataFrame

    def tables(self) -> dict[str, pd.DataFrame]:
        return {
            "crm_users": self.users,
            "crm_prosthetics": self.prosthetics,
            "crm_subscriptions": self.subscriptions,
            "crm_payments": self.payments,
            "crm_support_tickets": self.tickets,
        }


def _uuids(rng: np.random.Generator, n: int) -> list[str]:
    raw = rng.bytes(16 * n)
    return [str(uuid.UUID(bytes=raw[i * 16:(i + 1) * 16], version=4)) for i in range(n)]


def _choice(rng: np.random.Generator, options, weights, n: int) -> np.ndarray:
    return rng.choice(len(options), size=n, p=np.asarray(weights) / np.sum(weights))


def _ts(seconds: np.ndarray) -> np.ndarray:
    return np.asarray(seconds, dtype=np.int64).astype("datetime64[s]")


def _ts_us(microseconds: np.ndarray) -> np.ndarray:
    return np.asarray(microseconds, dtype=np.int64).astype("datetime64[us]")


def _day(days_since_epoch: np.ndarray) -> np.ndarray:
    return np.asarray(days_since_epoch, dtype=np.int64).astype("datetime64[D]")


def _ascii(text: str) -> str:
    return re.sub(r"[^a-z]", "", text.lower()) or "user"


def generate_crm(config: SeedConfig) -> CrmFrames:
    """The five CRM tables of ``config`` (DataFrames, columns as in schema/crm.sql)."""
    from faker import Faker

    config = config.resolved()
    rng = np.random.default_rng([config.seed, 0])
    start_s, end_s = epoch_seconds(config.start), epoch_seconds(config.end)
    start_day = start_s // DAY
    period = config.period_days
    last = period - 1  # day index of the last day

    # ---- users: stratified sign-up times over [start - history, start + fraction * period]
    n_users = config.users
    lo = -float(cfg.USER_HISTORY_DAYS)
    hi = min(cfg.USER_JOIN_FRACTION * period, last - 1.0)
    quantiles = (rng.permutation(n_users) + rng.random(n_users)) / n_users
    signup = np.sort(lo + quantiles * (hi - lo))  # days since start (float), sorted: ids in time order
    user_created = start_s + np.round(signup * DAY).astype(np.int64)
    user_created_day = np.floor_divide(user_created, DAY) - start_day  # day index (may be < 0)
    updated = user_created + np.round(rng.random(n_users) * (end_s - 1 - user_created)).astype(np.int64)

    fake = Faker("en_US")
    fake.seed_instance(config.seed)
    first = [fake.first_name() for _ in range(n_users)]
    last_names = [fake.last_name() for _ in range(n_users)]
    user_ids = np.arange(1, n_users + 1, dtype=np.int32)
    phones = rng.integers(0, 10**9, n_users)
    no_phone = rng.random(n_users) < 0.08
    users = pd.DataFrame({
        "user_id": user_ids,
        "user_uuid": _uuids(rng, n_users),
        "email": [f"{_ascii(f)}.{_ascii(l)}.{i}@example.com" for f, l, i in zip(first, last_names, user_ids)],
        "full_name": [f"{f} {l}" for f, l in zip(first, last_names)],
        "phone": [None if skip else f"+7 9{p // 10**7 % 100:02d} {p // 10**4 % 1000:03d}-{p // 100 % 100:02d}-{p % 100:02d}"
                  for p, skip in zip(phones, no_phone)],
        "country": np.array(COUNTRIES, dtype=object)[_choice(rng, COUNTRIES, COUNTRY_WEIGHTS, n_users)],
        "created_at": _ts(user_created),
        "updated_at": _ts(updated),
    })

    # ---- prostheses: one each, a second one for users // 2 of them
    first_purchase = np.minimum(user_created_day + rng.integers(0, cfg.FIRST_PURCHASE_MAX_DAYS + 1, n_users), last)
    # stratified (volumes vary little from seed to seed): one user of each pair of consecutive
    # sign-ups gets a second prosthesis, bought at stratified delays after the first
    pairs = n_users // 2
    second_owner = 2 * np.arange(pairs) + rng.integers(0, 2, pairs)
    lo2 = first_purchase[second_owner] + cfg.SECOND_PURCHASE_MIN_DAYS
    delay_q = (rng.permutation(pairs) + rng.random(pairs)) / max(pairs, 1)
    second = lo2 + np.floor(delay_q * (cfg.SECOND_PURCHASE_MAX_DAYS - cfg.SECOND_PURCHASE_MIN_DAYS + 1)).astype(np.int64)
    redraw = lo2 + np.floor(rng.random(lo2.size) * np.maximum(last - lo2 + 1, 0)).astype(np.int64)
    second = np.where(second <= last, second, np.where(lo2 <= last, redraw, last))
    owner = np.concatenate([np.arange(n_users), second_owner])
    purchase = np.concatenate([first_purchase, second])
    order = np.lexsort((owner, purchase))
    owner, purchase = owner[order], purchase[order]
    n_dev = owner.size
    dev_ids = np.arange(1, n_dev + 1, dtype=np.int32)
    dev_type = _choice(rng, DEVICE_TYPES, DEVICE_WEIGHTS, n_dev)
    model_pick = rng.integers(0, 2, n_dev)
    purchase_abs = start_day + purchase
    dev_created = np.maximum((purchase_abs * DAY) + rng.integers(9 * 3600, 19 * 3600, n_dev),
                             user_created[owner] + 600)
    years = _day(purchase_abs).astype("datetime64[Y]").astype(int) + 1970
    type_names = np.array(DEVICE_TYPES, dtype=object)[dev_type]
    prosthetics = pd.DataFrame({
        "prosthetic_id": dev_ids,
        "prosthetic_uuid": _uuids(rng, n_dev),
        "user_id": user_ids[owner],
        "device_type": type_names,
        "model": [MODELS[t][m] for t, m in zip(type_names, model_pick)],
        "serial_number": [f"BP{t[0].upper()}-{y}-{i:07d}" for t, y, i in zip(type_names, years, dev_ids)],
        "firmware_version": [f"4.{a}.{b}" for a, b in zip(rng.integers(0, 6, n_dev), rng.integers(0, 10, n_dev))],
        "purchase_date": _day(purchase_abs),
        "warranty_until": _day(purchase_abs + 730),
        "status": "active",
        "created_at": _ts(dev_created),
    })

    subscriptions, methods = _subscriptions(rng, config, prosthetics, owner, purchase, dev_created)
    payments = _payments(rng, config, subscriptions, methods)
    tickets = _tickets(rng, config, users, user_created, owner, purchase, dev_ids)
    return CrmFrames(users, prosthetics, subscriptions, payments, tickets)


def _subscriptions(rng, config: SeedConfig, prosthetics: pd.DataFrame, owner, purchase,
                   dev_created) -> tuple[pd.DataFrame, np.ndarray]:
    """The subscriptions, and the payment method of each (it belongs to the payments)."""
    start_day = epoch_seconds(config.start) // DAY
    last = config.period_days - 1
    n = len(prosthetics)
    plan = _choice(rng, PLANS, PLAN_WEIGHTS, n)
    method = _choice(rng, PAYMENT_METHODS, PAYMENT_METHOD_WEIGHTS, n)
    # a change (new plan or cancellation) at a uniform day of [max(start + 60, period start), last day]
    window_lo = np.maximum(purchase + 60, 0)
    window = last - window_lo
    p_change = np.where(window > 0, 1 - np.exp(-cfg.PLAN_CHANGE_PER_YEAR * np.maximum(window, 0) / 365), 0)
    changes = rng.random(n) < p_change
    change_day = window_lo + np.floor(rng.random(n) * np.maximum(window, 1)).astype(np.int64)
    cancel = changes & (rng.random(n) < 0.35)
    switch = changes & ~cancel
    new_plan = (plan + rng.integers(1, len(PLANS), n)) % len(PLANS)

    NONE = np.iinfo(np.int64).max
    first_end = np.where(cancel, change_day, np.where(switch, change_day - 1, NONE))
    rows_dev = np.concatenate([np.arange(n), np.flatnonzero(switch)])
    rows_start = np.concatenate([purchase, change_day[switch]])
    rows_end = np.concatenate([first_end, np.full(int(switch.sum()), NONE)])
    rows_plan = np.concatenate([plan, new_plan[switch]])
    rows_method = np.concatenate([method, method[switch]])
    order = np.lexsort((rows_dev, rows_start))
    rows_dev, rows_start, rows_end = rows_dev[order], rows_start[order], rows_end[order]
    rows_plan, rows_method = rows_plan[order], rows_method[order]
    m = rows_dev.size
    created = np.maximum((start_day + rows_start) * DAY + rng.integers(8 * 3600, 20 * 3600, m),
                         dev_created[rows_dev] + 60)
    has_end = rows_end != NONE
    end_abs = np.where(has_end, start_day + np.where(has_end, rows_end, 0), 0)
    active = (rows_start <= last) & (~has_end | (rows_end >= last))
    plan_names = np.array(PLANS, dtype=object)[rows_plan]
    frame = pd.DataFrame({
        "subscription_id": np.arange(1, m + 1, dtype=np.int32),
        "user_id": prosthetics["user_id"].to_numpy()[rows_dev],
        "prosthetic_id": prosthetics["prosthetic_id"].to_numpy()[rows_dev],
        "plan": plan_names,
        "monthly_cost": np.array([cfg.PLAN_COSTS[p] for p in plan_names], dtype=np.float64),
        "start_date": _day(start_day + rows_start),
        "end_date": pd.Series(_day(end_abs)).where(has_end),
        "is_active": active,
        "created_at": _ts(created),
    })
    return frame, np.array(PAYMENT_METHODS, dtype=object)[rows_method]


def _payments(rng, config: SeedConfig, subs: pd.DataFrame, methods: np.ndarray) -> pd.DataFrame:
    start_s, end_s = epoch_seconds(config.start), epoch_seconds(config.end)
    start_d = np.datetime64(config.start, "D")
    last_d = np.datetime64(config.last_day, "D")
    sub_start = subs["start_date"].to_numpy().astype("datetime64[D]")
    has_end = subs["end_date"].notna().to_numpy()
    sub_end = np.where(has_end, subs["end_date"].to_numpy().astype("datetime64[D]"), last_d)
    sub_last = np.minimum(sub_end, last_d)  # last day a payment may be dated

    # billing dates: start_date + k months (day of month clamped), k from the month before the period
    sm = sub_start.astype("datetime64[M]")
    dom = (sub_start - sm.astype("datetime64[D]")).astype(np.int64)
    k0 = np.maximum((start_d.astype("datetime64[M]") - sm).astype(np.int64) - 1, 0)
    k1 = (sub_last.astype("datetime64[M]") - sm).astype(np.int64)
    counts = np.maximum(k1 - k0 + 1, 0)
    rep = np.repeat(np.arange(len(subs)), counts)
    k = k0[rep] + (np.arange(rep.size) - np.repeat(np.cumsum(counts) - counts, counts))
    month = sm[rep] + k.astype("timedelta64[M]")
    month_first = month.astype("datetime64[D]")
    month_days = ((month + np.timedelta64(1, "M")).astype("datetime64[D]") - month_first).astype(np.int64)
    bill = month_first + np.minimum(dom[rep], month_days - 1).astype("timedelta64[D]")
    keep = (bill >= start_d) & (bill >= sub_start[rep]) & (bill <= sub_last[rep])
    rep, bill = rep[keep], bill[keep]

    at = bill.astype(np.int64) * DAY + rng.integers(6 * 3600, 22 * 3600, rep.size)
    sub_rows, times, statuses = [], [], []
    pending_from = end_s - cfg.PENDING_DAYS * DAY
    for p_success in cfg.PAYMENT_SUCCESS:
        ok = rng.random(rep.size) < p_success
        status = np.where(at >= pending_from, "pending", np.where(ok, "success", "failed"))
        sub_rows.append(rep), times.append(at), statuses.append(status)
        retry = status == "failed"
        rep = rep[retry]
        at = (at[retry] // DAY + rng.integers(2, 6, rep.size)) * DAY + rng.integers(6 * 3600, 22 * 3600, rep.size)
        inside = (at < end_s) & (at // DAY <= sub_end[rep].astype(np.int64))
        rep, at = rep[inside], at[inside]
    rep = np.concatenate(sub_rows)
    at = np.concatenate(times)
    status = np.concatenate(statuses)
    order = np.lexsort((rep, at))
    rep, at, status = rep[order], at[order], status[order]
    assert (at >= start_s).all() and (at < end_s).all()
    n = rep.size
    return pd.DataFrame({
        "payment_id": np.arange(1, n + 1, dtype=np.int64),
        "user_id": subs["user_id"].to_numpy()[rep],
        "subscription_id": subs["subscription_id"].to_numpy()[rep],
        "amount": subs["monthly_cost"].to_numpy()[rep],
        "currency": "RUB",
        "payment_date": _ts(at),
        "status": status.astype(object),
        "payment_method": methods[rep],
        "created_at": _ts(np.minimum(at + rng.integers(0, 6, n), end_s)),
    })


def _tickets(rng, config: SeedConfig, users, user_created, owner, purchase, dev_ids) -> pd.DataFrame:
    start_s, end_s = epoch_seconds(config.start), epoch_seconds(config.end)
    start_day = start_s // DAY
    n_users = len(users)
    from_s = np.maximum(user_created, start_s)
    exposure_months = (end_s - from_s) / (30.44 * DAY)
    counts = rng.poisson(cfg.TICKETS_PER_USER_MONTH * exposure_months)
    user = np.repeat(np.arange(n_users), counts)
    n = user.size
    created = from_s[user] + np.floor(rng.random(n) * (end_s - from_s[user])).astype(np.int64)
    order = np.lexsort((user, created))
    user, created = user[order], created[order]
    category = _choice(rng, TICKET_CATEGORIES, TICKET_CATEGORY_WEIGHTS, n)
    priority = _choice(rng, TICKET_PRIORITIES, TICKET_PRIORITY_WEIGHTS, n)
    # the device a technical/fitting ticket is about: one the user had bought by then
    by_owner = np.lexsort((purchase, owner))  # devices grouped by owner, earliest purchase first
    starts = np.flatnonzero(np.r_[True, np.diff(owner[by_owner]) != 0])
    first_dev = np.full(n_users, -1)
    second_dev = np.full(n_users, -1)
    first_dev[owner[by_owner[starts]]] = by_owner[starts]
    has_second = starts + 1 < by_owner.size
    has_second[has_second] = owner[by_owner[starts[has_second] + 1]] == owner[by_owner[starts[has_second]]]
    second_dev[owner[by_owner[starts[has_second]]]] = by_owner[starts[has_second] + 1]
    created_day = created // DAY - start_day
    def owned(dev):
        d = dev[user]
        return np.where(d >= 0, np.where(purchase[np.maximum(d, 0)] <= created_day, d, -1), -1)
    a, b = owned(first_dev), owned(second_dev)
    device = np.where((b >= 0) & (rng.random(n) < 0.5), b, a)
    about_device = np.isin(category, [0, 2]) & (device >= 0)
    prosthetic = pd.array(np.where(about_device, dev_ids[np.maximum(device, 0)], 0), dtype="Int32")
    prosthetic[~about_device] = pd.NA
    resolve_after = np.round(np.exp(rng.normal(np.log(20 * 3600), 1.0, n))).astype(np.int64) + 1800
    resolved_at = created + resolve_after
    resolved = (resolved_at < end_s) & (rng.random(n) >= 0.05)
    status = np.where(resolved, np.where(rng.random(n) < 0.6, "resolved", "closed"),
                      np.where(rng.random(n) < 0.5, "open", "in_progress"))
    subject_pick = rng.random(n)
    subjects = [TICKET_SUBJECTS[TICKET_CATEGORIES[c]][int(s * len(TICKET_SUBJECTS[TICKET_CATEGORIES[c]]))]
                for c, s in zip(category, subject_pick)]
    return pd.DataFrame({
        "ticket_id": np.arange(1, n + 1, dtype=np.int32),
        "user_id": users["user_id"].to_numpy()[user],
        "prosthetic_id": prosthetic,
        "category": np.array(TICKET_CATEGORIES, dtype=object)[category],
        "priority": np.array(TICKET_PRIORITIES, dtype=object)[priority],
        "status": status.astype(object),
        "subject": subjects,
        "created_at": _ts(created),
        "resolved_at": pd.Series(_ts(np.where(resolved, resolved_at, 0))).where(resolved),
    })


# --------------------------------------------------------------------------------------------
# Telemetry
# --------------------------------------------------------------------------------------------

EVENT_COLUMNS = ("event_id", "prosthetic_id", "user_id", "event_type", "severity", "event_timestamp",
                 "event_value", "created_at")
BATTERY_COLUMNS = ("metric_id", "prosthetic_id", "metric_timestamp", "charge_level", "voltage",
                   "current_ma", "temperature_c", "is_charging", "created_at")


@dataclass
class DevicePlan:
    """Per-device traits, in prosthetic_id order."""

    prosthetic_id: np.ndarray
    user_id: np.ndarray
    active_from: np.ndarray  # first day index (from the period start) with telemetry
    wake: np.ndarray         # usual power_on, seconds after midnight
    sleep: np.ndarray        # usual last power_off
    intensity: np.ndarray    # activity multiplier, mean 1

    @property
    def size(self) -> int:
        return self.prosthetic_id.size


@dataclass
class TelemetryChunk:
    """The telemetry of days ``[first_day, first_day + days)`` (day indexes from the period start).

    ``events`` and ``battery`` hold numpy arrays: times are int64 microseconds since 1970-01-01,
    ``event_type``/``severity`` are codes into EVENT_TYPES/SEVERITIES, NaN event_value is NULL.
    """

    first_day: int
    days: int
    events: dict[str, np.ndarray]
    battery: dict[str, np.ndarray]
    stats: Counter = field(default_factory=Counter)

    def events_frame(self) -> pd.DataFrame:
        return events_frame(self.events)

    def battery_frame(self) -> pd.DataFrame:
        return battery_frame(self.battery)


def events_frame(events: dict[str, np.ndarray]) -> pd.DataFrame:
    return pd.DataFrame({
        "event_id": events["event_id"],
        "prosthetic_id": events["prosthetic_id"],
        "user_id": events["user_id"],
        "event_type": np.array(EVENT_TYPES, dtype=object)[events["event_type"]],
        "severity": np.array(SEVERITIES, dtype=object)[events["severity"]],
        "event_timestamp": _ts_us(events["event_timestamp"]),
        "event_value": events["event_value"],
        "created_at": _ts_us(events["created_at"]),
    })


def battery_frame(battery: dict[str, np.ndarray]) -> pd.DataFrame:
    frame = pd.DataFrame({name: battery[name] for name in BATTERY_COLUMNS})
    frame["metric_timestamp"] = _ts_us(battery["metric_timestamp"])
    frame["created_at"] = _ts_us(battery["created_at"])
    return frame


def device_plan(config: SeedConfig, prosthetics: pd.DataFrame) -> DevicePlan:
    config = config.resolved()
    rng = np.random.default_rng([config.seed, 2])
    n = len(prosthetics)
    purchase = prosthetics["purchase_date"].to_numpy().astype("datetime64[D]")
    active_from = (purchase - np.datetime64(config.start, "D")).astype(np.int64) + 1
    intensity = rng.lognormal(0.0, 0.35, n)
    # mean 1 weighted by the days each device has in the period (volumes vary little by seed)
    days_in_period = np.clip(config.period_days - active_from, 0, None).astype(np.float64)
    weights = days_in_period if days_in_period.sum() > 0 else np.ones(n)
    intensity /= np.average(intensity, weights=weights)
    return DevicePlan(
        prosthetic_id=prosthetics["prosthetic_id"].to_numpy().astype(np.int32),
        user_id=prosthetics["user_id"].to_numpy().astype(np.int32),
        active_from=active_from,
        wake=np.clip(rng.normal(7.0, 0.6, n), 5.8, 9.0) * 3600,
        sleep=np.clip(rng.normal(22.0, 0.6, n), 20.0, 23.0) * 3600,
        intensity=intensity,
    )


def expected_events_per_day(plan: DevicePlan) -> float:
    return plan.size * (1 - cfg.DAY_OFF_PROBABILITY) * (cfg.ACTIVITY_PER_DAY + 6.5)


def chunk_days(config: SeedConfig, plan: DevicePlan) -> int:
    per_day = max(expected_events_per_day(plan), 1.0)
    return int(np.clip(cfg.CHUNK_EVENTS // per_day, 1, 28))


def telemetry_chunks(config: SeedConfig, prosthetics: pd.DataFrame) -> Iterator[TelemetryChunk]:
    """The period's telemetry, a chunk of days at a time, with final sequential ids."""
    config = config.resolved()
    plan = device_plan(config, prosthetics)
    step = chunk_days(config, plan)
    start_s, end_s = epoch_seconds(config.start), epoch_seconds(config.end)
    next_event, next_metric = 1, 1
    for d0 in range(0, config.period_days, step):
        d1 = min(d0 + step, config.period_days)
        rng = np.random.default_rng([config.seed, 3, d0])
        events, battery, stats = simulate_days(plan, d0, d1, start_s, end_s, rng)
        events["event_id"] = np.arange(next_event, next_event + events["prosthetic_id"].size, dtype=np.int64)
        battery["metric_id"] = np.arange(next_metric, next_metric + battery["prosthetic_id"].size, dtype=np.int64)
        next_event += events["event_id"].size
        next_metric += battery["metric_id"].size
        chunk = TelemetryChunk(d0, d1 - d0, events, battery, stats)
        del events, battery
        yield chunk
        del chunk  # the consumer holds the only reference while the next chunk is generated


def simulate_days(plan: DevicePlan, d0: int, d1: int, start_s: int, end_s: int,
                  rng: np.random.Generator) -> tuple[dict, dict, Counter]:
    """Events and battery samples of every device on days ``[d0, d1)``, sorted, without ids."""
    stats: Counter = Counter()
    days = np.arange(d0, d1)
    worn = (days[None, :] >= plan.active_from[:, None]) & (rng.random((plan.size, days.size)) >= cfg.DAY_OFF_PROBABILITY)
    day_index, dev = np.nonzero(worn.T)  # day-major
    K = dev.size
    base = start_s + days[day_index].astype(np.int64) * DAY
    stats["device_days"] = K

    # ---- the day's schedule, seconds after the day's midnight (integers held in float64)
    on1 = np.round(np.clip(plan.wake[dev] + rng.normal(0, 1800, K), 5.5 * 3600, 10 * 3600))
    off2 = np.round(np.clip(plan.sleep[dev] + rng.normal(0, 2160, K), 19 * 3600, 23.5 * 3600))
    two = rng.random(K) < cfg.TWO_SESSION_PROBABILITY
    pause_at = np.round(on1 + (off2 - on1) * rng.uniform(0.35, 0.6, K))
    pause_len = np.round(rng.uniform(1800, 7200, K))
    off1 = np.where(two, pause_at, off2)
    on2 = np.where(two, pause_at + pause_len, off2)
    len1, pause, len2 = off1 - on1, on2 - off1, off2 - on2
    active_len = len1 + len2

    # ---- battery curve
    level0 = rng.uniform(90, 98, K)
    level_end = rng.uniform(8, 45, K)
    weighted_total = len1 + BREAK_WEIGHT * pause + len2
    charge_start = off2 + np.round(rng.uniform(120, 1800, K))
    level_cs = level_end - IDLE_DRAIN * (charge_start - off2)
    charge_rate = rng.uniform(35, 50, K) / 3600  # % per second
    charge_end = charge_start + np.round((100 - level_cs) / charge_rate)

    def level_at(i: np.ndarray, t: np.ndarray) -> np.ndarray:
        weighted = (np.clip(t - on1[i], 0, len1[i]) + BREAK_WEIGHT * np.clip(t - off1[i], 0, pause[i])
                    + np.clip(t - on2[i], 0, len2[i]))
        in_day = level0[i] - (level0[i] - level_end[i]) * weighted / weighted_total[i]
        charging = level_cs[i] + (100 - level_cs[i]) * (t - charge_start[i]) / (charge_end[i] - charge_start[i])
        return np.select(
            [t < on1[i], t < off2[i], t < charge_start[i], t < charge_end[i]],
            [level0[i] + IDLE_DRAIN * (on1[i] - t), in_day, level_end[i] - IDLE_DRAIN * (t - off2[i]), charging],
            100 - IDLE_DRAIN * (t - charge_end[i]),
        )

    def in_sessions(i: np.ndarray) -> np.ndarray:
        """Uniform times strictly inside the day's sessions (1 s from their ends)."""
        first = rng.random(i.size) * active_len[i] < len1[i]
        begin = np.where(first, on1[i], on2[i])
        length = np.where(first, len1[i], len2[i])
        return begin + 1 + rng.random(i.size) * (length - 2)

    pieces: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # (device-day, code, t, value)
    in_session: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []  # dropped while stopped

    def add(target, i, code, t, value):
        target.append((i, np.broadcast_to(np.int8(code), i.shape), t, np.broadcast_to(value, i.shape).astype(np.float64)))

    all_days = np.arange(K)
    # power: on1 .. off1 [.. on2 .. off2]; a session's power_off is lost with LOST_POWER_OFF_FRACTION
    add(pieces, all_days, POWER_ON, on1, np.round(level0, 2))
    i2 = np.flatnonzero(two)
    for i, t in ((i2, off1[i2]), (all_days, off2)):
        kept = rng.random(i.size) >= cfg.LOST_POWER_OFF_FRACTION
        stats["lost_power_offs"] += int((~kept).sum())
        add(pieces, i[kept], POWER_OFF, t[kept], np.round(level_at(i[kept], t[kept]), 2))
    add(pieces, i2, POWER_ON, on2[i2], np.round(level_at(i2, on2[i2]), 2))
    add(pieces, all_days, CHARGING_STARTED, charge_start, np.round(level_cs, 2))
    add(pieces, all_days, CHARGING_COMPLETED, charge_end, 100.0)

    # battery_low when the level crosses 20% (moved to the start of session 2 if it is in the break)
    low = np.flatnonzero(level_end < 20)
    target = (level0[low] - 20) / (level0[low] - level_end[low]) * weighted_total[low]
    in_first = target <= len1[low]
    in_pause = ~in_first & (target <= len1[low] + BREAK_WEIGHT * pause[low])
    t_low = np.where(in_first, on1[low] + target,
                     np.where(in_pause, on2[low] + 60, on2[low] + target - len1[low] - BREAK_WEIGHT * pause[low]))
    t_low = np.round(np.where(in_first, np.clip(t_low, on1[low] + 1, off1[low] - 1),
                              np.clip(t_low, on2[low] + 1, off2[low] - 1)))
    add(in_session, low, BATTERY_LOW, t_low, np.round(level_at(low, t_low), 2))

    calibrate = np.flatnonzero(rng.random(K) < cfg.CALIBRATION_PER_DAY)
    add(in_session, calibrate, CALIBRATION, on1[calibrate] + rng.integers(30, 301, calibrate.size), np.nan)
    for code, rate, lo, hi in ((WARNING, cfg.WARNINGS_PER_DAY, 100, 200), (ERROR, cfg.ERRORS_PER_DAY, 200, 300)):
        i = np.repeat(all_days, rng.poisson(rate, K))
        add(in_session, i, code, in_sessions(i), rng.integers(lo, hi, i.size).astype(np.float64))

    # activity
    i = np.repeat(all_days, rng.poisson(cfg.ACTIVITY_PER_DAY * plan.intensity[dev]))
    kind = np.array(ACTIVITY_TYPES, dtype=np.int8)[_choice(rng, ACTIVITY_TYPES, ACTIVITY_WEIGHTS, i.size)]
    value = np.select(
        [kind == GRIP, kind == GESTURE_CHANGE, kind == SENSOR_READING],
        [np.round(rng.uniform(5, 80, i.size), 1), rng.integers(1, 13, i.size).astype(np.float64),
         np.round(rng.lognormal(np.log(120), 0.4, i.size), 1)],
        np.nan,
    )
    in_session.append((i, kind, in_sessions(i), value))

    # critical errors: in session 1, the device is stopped [t, t + down] then powered on again
    crit = np.flatnonzero(rng.random(K) < cfg.CRITICAL_PER_DAY)
    down = np.round(np.minimum(rng.uniform(300, 3 * 3600, crit.size), len1[crit] - 2400))
    room = len1[crit] - down - 2400
    t_crit = on1[crit] + 600 + np.floor(rng.random(crit.size) * room)
    stop_from = np.full(K, np.inf)
    stop_until = np.full(K, -np.inf)
    stop_from[crit], stop_until[crit] = t_crit, t_crit + down
    add(pieces, crit, CRITICAL_ERROR, t_crit, rng.integers(900, 1000, crit.size).astype(np.float64))
    add(pieces, crit, POWER_ON, t_crit + down, np.round(level_at(crit, t_crit + down), 2))
    stats["critical_stops"] += crit.size
    for i, code, t, value in in_session:
        running = (t < stop_from[i]) | (t > stop_until[i])
        pieces.append((i[running], code[running], t[running], value[running]))

    i = np.concatenate([p[0] for p in pieces])
    events = {
        "prosthetic_id": plan.prosthetic_id[dev[i]],
        "user_id": plan.user_id[dev[i]],
        "event_type": np.concatenate([p[1] for p in pieces]),
        "event_timestamp": _micro(base[i], np.concatenate([p[2] for p in pieces])),
        "event_value": np.concatenate([p[3] for p in pieces]),
    }
    events = _arrive(events, "event_timestamp", end_s * US, rng, cfg.LATE_EVENT_FRACTION,
                     cfg.DUPLICATE_EVENT_FRACTION, stats, "events")
    events["severity"] = SEVERITY_OF_CODE[events["event_type"]]

    # ---- battery samples: one while charging, the others over [on1 - 1 h, charge_end + 1 h]
    extra = np.repeat(all_days, rng.poisson(cfg.SAMPLES_PER_DAY - 1, K))
    t_extra = on1[extra] - 3600 + rng.random(extra.size) * (charge_end[extra] - on1[extra] + 7200)
    t_charge = charge_start + rng.uniform(0.2, 0.8, K) * (charge_end - charge_start)
    i = np.concatenate([all_days, extra])
    t = np.concatenate([t_charge, t_extra])
    running = (t < stop_from[i]) | (t > stop_until[i])
    i, t = i[running], t[running]
    n = i.size
    charging = (t >= charge_start[i]) & (t < charge_end[i])
    active = ~charging & (((t >= on1[i]) & (t < off1[i])) | ((t >= on2[i]) & (t < off2[i])))
    level = np.round(level_at(i, t), 2)
    current = np.where(
        charging, np.round(charge_rate[i] * 3600 * BATTERY_MAH_PER_PERCENT + rng.normal(0, 30, n)),
        np.where(active, -np.round(rng.uniform(150, 450, n)), -np.round(rng.uniform(10, 45, n))),
    ).astype(np.int32)
    battery = {
        "prosthetic_id": plan.prosthetic_id[dev[i]],
        "metric_timestamp": _micro(base[i], t),
        "charge_level": level,
        "voltage": np.round(3.30 + 0.009 * level + 0.06 * charging - 0.04 * active + rng.normal(0, 0.004, n), 3),
        "current_ma": current,
        "temperature_c": np.round(24 + 9 * active + 11 * charging + rng.normal(0, 1.0, n), 1),
        "is_charging": charging,
    }
    battery = _arrive(battery, "metric_timestamp", end_s * US, rng, cfg.LATE_SAMPLE_FRACTION,
                      cfg.DUPLICATE_SAMPLE_FRACTION, stats, "samples")
    return events, battery, stats


def _micro(base_s: np.ndarray, offset_s: np.ndarray) -> np.ndarray:
    """Microseconds since 1970 of ``base_s`` (whole seconds) + ``offset_s`` (float seconds)."""
    return base_s * US + np.round(offset_s * US).astype(np.int64)


def _arrive(rows: dict[str, np.ndarray], time_column: str, end_us: int, rng: np.random.Generator,
            late_fraction: float, duplicate_fraction: float, stats: Counter, name: str) -> dict[str, np.ndarray]:
    """Drop what happens at/after the end, set created_at (late arrivals), add resends, sort.

    Times are microseconds here.
    """
    inside = rows[time_column] < end_us
    rows = {key: value[inside] for key, value in rows.items()}
    t = rows[time_column]
    n = t.size
    created = t + rng.integers(0, 30 * US + 1, n)
    late = rng.random(n) < late_fraction
    created[late] = t[late] + rng.integers(3600 * US, 3 * DAY * US, int(late.sum()))
    created = np.minimum(created, end_us)
    stats[f"late_{name}"] += int(late.sum())
    resend = np.flatnonzero((rng.random(n) < duplicate_fraction) & (created + 600 * US <= end_us))
    stats[f"duplicate_{name}"] += resend.size
    rows = {key: np.concatenate([value, value[resend]]) for key, value in rows.items()}
    rows["created_at"] = np.concatenate([created, created[resend] + rng.integers(1 * US, 600 * US + 1, resend.size)])
    order = np.lexsort((rows["prosthetic_id"], rows[time_column]))  # stable: a resend after its original
    return {key: value[order] for key, value in rows.items()}


# --------------------------------------------------------------------------------------------
# Everything in memory (small profiles: tests)
# --------------------------------------------------------------------------------------------


@dataclass
class SeedFrames:
    crm: CrmFrames
    events: pd.DataFrame
    battery: pd.DataFrame
    stats: Counter


def generate_frames(config: SeedConfig) -> SeedFrames:
    """All seven tables as DataFrames (keeps everything in memory: for small profiles)."""
    config = config.resolved()
    crm = generate_crm(config)
    events, battery, stats = [], [], Counter()
    for chunk in telemetry_chunks(config, crm.prosthetics):
        events.append(chunk.events_frame())
        battery.append(chunk.battery_frame())
        stats.update(chunk.stats)
    return SeedFrames(crm, pd.concat(events, ignore_index=True), pd.concat(battery, ignore_index=True), stats)
