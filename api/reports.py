"""A user's monthly report from the marts: the query (one round trip), the status rules, the JSON.

Status rules (docs/api.md):

device
  ``repair``     critical_errors >= 1, or downtime_minutes >= REPAIR_DOWNTIME_MINUTES
  ``attention``  errors >= ATTENTION_ERRORS, or warnings >= ATTENTION_WARNINGS
  ``healthy``    otherwise
report (first rule that holds)
  ``payment_issue``  failed_payments_count > 0 and successful_payments < monthly_cost
  ``repair``         any device is ``repair``
  ``attention``      any device is ``attention``
  ``healthy``        otherwise
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal
from functools import cache
from importlib.resources import files
from string import Template

from api.store import Rows

REPAIR_DOWNTIME_MINUTES = 60
ATTENTION_ERRORS = 3
ATTENTION_WARNINGS = 15

FIRST_MONTH = date(1970, 1, 1)    # ClickHouse Date range
LAST_MONTH = date(2149, 5, 1)
MONTH_PATTERN = re.compile(r"[0-9]{4}-[0-9]{2}")  # ASCII digits only (\d would take any script's)

USER_FIELDS = ("user_id", "user_uuid", "total_payments", "successful_payments", "failed_payments_count",
               "active_subscriptions_count", "subscription_cost_total", "support_tickets_opened",
               "support_tickets_resolved")
DEVICE_FIELDS = ("prosthetic_id", "prosthetic_uuid", "device_type", "total_active_hours", "power_on_count",
                 "avg_discharge_rate_active", "avg_discharge_rate_idle", "avg_charge_rate", "charge_cycles",
                 "warning_count", "error_count", "critical_error_count", "downtime_minutes")


@cache
def sql(name: str) -> str:
    return files("api").joinpath("sql", f"{name}.sql").read_text(encoding="utf-8")


# The only conditions placed into report_of_user.sql; their values are bound parameters.
USER_MATCH = {"user_id": "user_id = {user_id:Int32}", "user_uuid": "user_uuid = {user_uuid:String}"}


@cache
def user_query(key: str) -> str:
    return Template(sql("report_of_user")).substitute(match=USER_MATCH[key])


def parse_month(value: str) -> date:
    """``YYYY-MM`` to the month's first day; ValueError with the reason otherwise."""
    if not MONTH_PATTERN.fullmatch(value):
        raise ValueError(f"month must be YYYY-MM (e.g. 2024-01), got {value[:32]!r}")
    year, month = int(value[:4]), int(value[5:])
    if not 1 <= month <= 12:
        raise ValueError(f"month must be 01..12, got {value[5:]!r}")
    first = date(year, month, 1) if year >= 1 else None
    if first is None or not FIRST_MONTH <= first <= LAST_MONTH:
        raise ValueError(f"month must be between {FIRST_MONTH:%Y-%m} and {LAST_MONTH:%Y-%m}, got {value!r}")
    return first


def next_month(month: date) -> date:
    return (month + timedelta(days=32)).replace(day=1)


@dataclass(frozen=True)
class MonthFetch:
    """What the marts hold about one (user, month)."""

    month: date
    loaded: bool                 # both marts have a successful load of the month
    horizon: datetime | None     # the latest successful load's horizon (the older of the two marts')
    user: dict | None
    devices: list[dict]

    @classmethod
    def from_rows(cls, month: date, rows: Rows) -> MonthFetch:
        """From report_of_user.sql."""
        row = rows.first()
        loaded, horizon = _load_state(row["load"])
        users = [dict(zip(USER_FIELDS, values, strict=True)) for values in row["users"]]
        devices = sorted((dict(zip(DEVICE_FIELDS, values, strict=True)) for values in row["devices"]),
                         key=lambda device: device["prosthetic_id"])
        return cls(month=month, loaded=loaded, horizon=horizon, user=users[0] if users else None, devices=devices)


def _load_state(load) -> tuple[bool, datetime | None]:
    loaded, horizon = (load["1"], load["2"]) if isinstance(load, dict) else load
    return bool(loaded), datetime.fromtimestamp(horizon, timezone.utc) if loaded else None


@dataclass(frozen=True)
class MonthSnapshot:
    """A whole month of both marts (report_month.sql), indexed by user."""

    month: date
    loaded: bool
    horizon: datetime | None
    users: dict[int, tuple]          # user_id -> USER_FIELDS values
    user_ids: dict[str, int]         # user_uuid -> user_id
    devices: dict[int, list[tuple]]  # user_id -> DEVICE_FIELDS values, by prosthetic_id

    @property
    def size(self) -> int:
        """Rows held (what the store's memory budget counts)."""
        return len(self.users) + sum(len(devices) for devices in self.devices.values()) + 1

    @classmethod
    def from_rows(cls, month: date, rows: Rows) -> MonthSnapshot:
        row = rows.first()
        loaded, horizon = _load_state(row["load"])
        if not loaded:  # never served: keep nothing
            return cls(month, False, None, {}, {}, {})
        users = {values[0]: tuple(values) for values in row["users"]}
        devices: dict[int, list[tuple]] = {}
        for values in sorted(row["devices"], key=lambda values: values[1]):
            devices.setdefault(values[0], []).append(tuple(values[1:]))
        return cls(month, True, horizon, users, {values[1]: user_id for user_id, values in users.items()}, devices)

    def fetch(self, user_id: int | None) -> MonthFetch:
        values = self.users.get(user_id)
        return MonthFetch(month=self.month, loaded=self.loaded, horizon=self.horizon,
                          user=dict(zip(USER_FIELDS, values, strict=True)) if values else None,
                          devices=[dict(zip(DEVICE_FIELDS, device, strict=True))
                                   for device in self.devices.get(user_id, [])])


def _snapshot(store, month: date) -> MonthSnapshot:
    return store.remember(("month", month), sql("report_month"), {"month": month},
                          lambda rows: MonthSnapshot.from_rows(month, rows), scope=f"{month:%Y%m}")


def read_ahead(store, stop=None) -> int:
    """On chDB, read the loaded months, newest first, into half the store's budget; returns how many.

    Run in the background at start, one month per turn of the store's lock, so that requests are
    served in between and the first request of a month does not pay for reading it.
    """
    if not store.remembers:
        return 0
    months = [row[0] for row in store.query(sql("loaded_months"), {}).rows]
    done = 0
    for month in months:
        if (stop is not None and stop.is_set()) or store.cached_rows >= store.cache_rows // 2:
            break
        _snapshot(store, month)
        done += 1
    return done


def fetch_by_user_id(store, user_id: int, month: date) -> MonthFetch:
    """One round trip: the user's rows (a server), or the whole month once per turn (chDB)."""
    if store.remembers:
        return _snapshot(store, month).fetch(user_id)
    rows = store.query(user_query("user_id"), {"user_id": user_id, "month": month})
    return MonthFetch.from_rows(month, rows)


def fetch_by_user_uuid(store, user_uuid: str, month: date) -> MonthFetch:
    if store.remembers:
        snapshot = _snapshot(store, month)
        return snapshot.fetch(snapshot.user_ids.get(user_uuid))
    rows = store.query(user_query("user_uuid"), {"user_uuid": user_uuid, "month": month})
    return MonthFetch.from_rows(month, rows)


def newest_loaded(store) -> tuple[date, datetime] | None:
    row = store.query(sql("health"), {}).first()
    if not row["newest_month"]:
        return None
    return (datetime.fromtimestamp(row["newest_month"], timezone.utc).date(),
            datetime.fromtimestamp(row["horizon"], timezone.utc))


def money(value: Decimal) -> str:
    return f"{Decimal(value):.2f}"


def minutes_to_date(month: date, horizon: datetime) -> float:
    start = datetime.combine(month, datetime.min.time(), timezone.utc)
    end = min(datetime.combine(next_month(month), datetime.min.time(), timezone.utc), horizon)
    return max((end - start).total_seconds() / 60, 0.0)


def reliability_pct(downtime_minutes: int, minutes: float) -> float:
    """100 * (1 - downtime / minutes of the month to date), 2 decimals, within 0..100."""
    if minutes <= 0:
        return 100.0
    return round(min(100.0, max(0.0, 100.0 * (1 - downtime_minutes / minutes))), 2)


def device_status(device: dict) -> tuple[str, list[str]]:
    reasons = []
    if device["critical_error_count"] >= 1:
        reasons.append(f"{device['critical_error_count']} critical error(s)")
    if device["downtime_minutes"] >= REPAIR_DOWNTIME_MINUTES:
        reasons.append(f"{device['downtime_minutes']} min of downtime")
    if reasons:
        return "repair", reasons
    if device["error_count"] >= ATTENTION_ERRORS:
        reasons.append(f"{device['error_count']} errors")
    if device["warning_count"] >= ATTENTION_WARNINGS:
        reasons.append(f"{device['warning_count']} warnings")
    return ("attention", reasons) if reasons else ("healthy", [])


def build_report(fetch: MonthFetch) -> dict:
    """The report of a loaded month with a user row (the caller checked both)."""
    user, month, horizon = fetch.user, fetch.month, fetch.horizon
    minutes = minutes_to_date(month, horizon)
    devices, reasons = [], []
    for row in fetch.devices:
        status, why = device_status(row)
        reasons += [f"prosthesis {row['prosthetic_id']}: {reason}" for reason in why]
        devices.append({
            "prosthetic_id": row["prosthetic_id"],
            "prosthetic_uuid": row["prosthetic_uuid"],
            "device_type": row["device_type"],
            "usage_hours": row["total_active_hours"],
            "power_on_count": row["power_on_count"],
            "battery": {
                "discharge_active": row["avg_discharge_rate_active"],
                "discharge_idle": row["avg_discharge_rate_idle"],
                "charge_rate": row["avg_charge_rate"],
                "charge_cycles": row["charge_cycles"],
            },
            "warnings": row["warning_count"],
            "errors": row["error_count"],
            "critical_errors": row["critical_error_count"],
            "downtime_minutes": row["downtime_minutes"],
            "reliability_pct": reliability_pct(row["downtime_minutes"], minutes),
            "status": status,
        })
    payment_issue = (user["failed_payments_count"] > 0
                     and user["successful_payments"] < user["subscription_cost_total"])
    if payment_issue:
        status = "payment_issue"
        reasons.insert(0, f"{user['failed_payments_count']} failed payment(s); paid "
                          f"{money(user['successful_payments'])} of {money(user['subscription_cost_total'])}")
    else:
        statuses = {device["status"] for device in devices}
        status = "repair" if "repair" in statuses else "attention" if "attention" in statuses else "healthy"
    complete = horizon >= datetime.combine(next_month(month), datetime.min.time(), timezone.utc)
    return {
        "period": f"{month:%Y-%m}",
        "user_id": user["user_id"],
        "user_uuid": user["user_uuid"],
        "financial": {
            "total_payments": money(user["total_payments"]),
            "successful_payments": money(user["successful_payments"]),
            "failed_payments_count": user["failed_payments_count"],
            "active_subscriptions": user["active_subscriptions_count"],
            "monthly_cost": money(user["subscription_cost_total"]),
            "support_tickets_opened": user["support_tickets_opened"],
            "support_tickets_resolved": user["support_tickets_resolved"],
        },
        "devices": devices,
        "status": status,
        "status_reasons": reasons,
        "data_complete_through": horizon.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "complete": complete,
    }
