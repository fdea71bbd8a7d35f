"""Expectation suites of the data contract (``shared/spec/marts.md``), declared in code.

Blocking vs warning
-------------------
Every dataset has a suite ``"<dataset>.blocking"`` and, when it has warning rules, a suite
``"<dataset>.warning"``. A failed expectation of a ``.blocking`` suite stops the load of the month
(:func:`expectations.runner.raise_for_blocking`); a failed ``.warning`` expectation is only
reported. The severity is also written on every expectation as ``meta["severity"]``
(``"blocking"`` / ``"warning"``) together with a stable ``meta["rule"]`` id, and every expectation
carries a human ``description`` of the contract rule it enforces (GX 1.x
``Expectation.description``, shown in the Data Docs).

Run-time bounds
---------------
Bounds that change from run to run are GX suite parameters (``{"$PARAMETER": name}``), so that
the stored suites never change between runs or processes; :func:`suite_parameters` computes their
values from the ``params`` given to :func:`expectations.runner.validate`:

- ``max_hours`` (float, default 744 = 31 days): hours of the month to date; bound of
  ``total_active_hours`` (and ``max_hours * 60`` of ``downtime_minutes``) in the prosthetic mart.
- ``expected_rows`` (``{dataset: rows}``) and ``min_volume_fraction`` (default 0.5): the volume
  warning requires ``row count >= ceil(fraction * expected_rows[dataset])``; without a baseline for
  the dataset the minimum is ``None`` (the check passes: skipped).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import great_expectations as gx
from great_expectations import expectations as gxe

from expectations.frames import LATE_ARRIVAL_S, MAX_AHEAD_OF_ARRIVAL_S

from bionicpro.metrics.prosthetic import COUNT_MEASURES, EVENT_TYPES, SEVERITIES

__all__ = [
    "BLOCKING",
    "WARNING",
    "EVENT_TYPES",
    "SEVERITIES",
    "DEVICE_TYPES",
    "PAYMENT_STATUSES",
    "DATASETS",
    "DatasetSpec",
    "DEFAULT_MAX_HOURS",
    "DEFAULT_MIN_VOLUME_FRACTION",
    "suite_name",
    "build_suites",
    "suite_parameters",
]

BLOCKING = "blocking"
WARNING = "warning"

DEVICE_TYPES = ("arm", "hand", "leg", "foot")
PAYMENT_STATUSES = ("success", "failed", "pending")

DEFAULT_MAX_HOURS = 31 * 24.0
DEFAULT_MIN_VOLUME_FRACTION = 0.5

LATE_ROWS_MOSTLY = 0.95

P_MAX_HOURS = "max_hours"
P_MAX_DOWNTIME_MINUTES = "max_downtime_minutes"
P_MIN_ROWS = "min_rows"

Expectation = gxe.Expectation


def _tag(expectation: Expectation, rule: str, severity: str) -> Expectation:
    expectation.meta = {**(expectation.meta or {}), "rule": rule, "severity": severity}
    return expectation


def _param(name: str) -> dict[str, str]:
    return {"$PARAMETER": name}


# ------------------------------------------------------------------------- reusable expectations


def _not_null(column: str, what: str) -> Expectation:
    return gxe.ExpectColumnValuesToNotBeNull(
        column=column, description=f"{what}: `{column}` is never NULL."
    )


def _unique(column: str, what: str) -> Expectation:
    return gxe.ExpectColumnValuesToBeUnique(
        column=column, description=f"{what}: `{column}` identifies one row (no duplicates)."
    )


def _all_true(column: str, description: str) -> Expectation:
    return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=[True], description=description)


def _non_negative(column: str, description: str | None = None) -> Expectation:
    return gxe.ExpectColumnValuesToBeBetween(
        column=column, min_value=0, description=description or f"`{column}` is never negative."
    )


def _volume(dataset: str) -> Expectation:
    return gxe.ExpectTableRowCountToBeBetween(
        min_value=_param(P_MIN_ROWS),
        description=(
            f"Volume: the {dataset} extract has at least `min_volume_fraction` of the expected "
            "rows (a sudden drop means a broken source or extract); skipped without a baseline."
        ),
    )


# ------------------------------------------------------------------------------------ telemetry


def _telemetry_events_blocking() -> list[tuple[str, Expectation]]:
    what = "telemetry_events"
    return [
        ("event_id_not_null", _not_null("event_id", what)),
        ("event_id_unique", _unique("event_id", what)),
        (
            "prosthetic_known",
            _all_true(
                "prosthetic_known",
                "Bad data: the event's `prosthetic_id` is a device of crm_prosthetics "
                "(telemetry_db has no foreign key to the CRM).",
            ),
        ),
        (
            "user_known",
            _all_true("user_known", "Bad data: the event's `user_id` is a user of crm_users."),
        ),
        ("event_type_not_null", _not_null("event_type", what)),
        (
            "event_type_known",
            gxe.ExpectColumnValuesToBeInSet(
                column="event_type",
                value_set=list(EVENT_TYPES),
                description="Bad data: `event_type` is one of the known event types.",
            ),
        ),
        ("severity_not_null", _not_null("severity", what)),
        (
            "severity_known",
            gxe.ExpectColumnValuesToBeInSet(
                column="severity",
                value_set=list(SEVERITIES),
                description="Bad data: `severity` is one of info, warning, error, critical.",
            ),
        ),
        ("event_timestamp_not_null", _not_null("event_timestamp", what)),
        ("created_at_not_null", _not_null("created_at", what)),
        (
            "not_before_purchase",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="event_timestamp",
                column_B="purchase_ts",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                description=(
                    "Bad data: no telemetry before the device's purchase date "
                    "(`event_timestamp >= purchase_date 00:00`)."
                ),
            ),
        ),
        (
            "not_ahead_of_arrival",
            gxe.ExpectColumnValuesToBeBetween(
                column="ahead_of_arrival_s",
                max_value=MAX_AHEAD_OF_ARRIVAL_S,
                description=(
                    "Bad data: the event time is at most 5 minutes (300 s) later than the time "
                    "the row reached the server (`event_timestamp - created_at <= 300 s`)."
                ),
            ),
        ),
    ]


def _late_rows(dataset: str, time_column: str) -> Expectation:
    return gxe.ExpectColumnValuesToBeBetween(
        column="arrival_delay_s",
        max_value=LATE_ARRIVAL_S,
        mostly=LATE_ROWS_MOSTLY,
        description=(
            f"Late rows: at least {LATE_ROWS_MOSTLY:.0%} of the {dataset} rows reach the server "
            f"within 1 hour of `{time_column}` (`created_at - {time_column} <= 3600 s`); late rows "
            "may be missing from months already loaded."
        ),
    )


def _telemetry_events_warning() -> list[tuple[str, Expectation]]:
    return [
        ("late_rows_share", _late_rows("telemetry_events", "event_timestamp")),
        ("volume", _volume("telemetry_events")),
    ]


def _battery_metrics_blocking() -> list[tuple[str, Expectation]]:
    what = "battery_metrics"
    return [
        ("metric_id_not_null", _not_null("metric_id", what)),
        ("metric_id_unique", _unique("metric_id", what)),
        (
            "prosthetic_known",
            _all_true(
                "prosthetic_known",
                "Bad data: the sample's `prosthetic_id` is a device of crm_prosthetics "
                "(telemetry_db has no foreign key to the CRM).",
            ),
        ),
        ("charge_level_not_null", _not_null("charge_level", what)),
        (
            "charge_level_range",
            gxe.ExpectColumnValuesToBeBetween(
                column="charge_level",
                min_value=0,
                max_value=100,
                description="Bad data: `charge_level` is a percentage between 0 and 100.",
            ),
        ),
        (
            "current_sign",
            _all_true(
                "sign_ok",
                "Bad data: the sign of `current_ma` agrees with `is_charging` (charging requires "
                "`current_ma > 0`, not charging requires `current_ma <= 0`).",
            ),
        ),
        ("metric_timestamp_not_null", _not_null("metric_timestamp", what)),
        ("created_at_not_null", _not_null("created_at", what)),
        (
            "not_before_purchase",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="metric_timestamp",
                column_B="purchase_ts",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                description=(
                    "Bad data: no telemetry before the device's purchase date "
                    "(`metric_timestamp >= purchase_date 00:00`)."
                ),
            ),
        ),
        (
            "not_ahead_of_arrival",
            gxe.ExpectColumnValuesToBeBetween(
                column="ahead_of_arrival_s",
                max_value=MAX_AHEAD_OF_ARRIVAL_S,
                description=(
                    "Bad data: the sample time is at most 5 minutes (300 s) later than the time "
                    "the row reached the server (`metric_timestamp - created_at <= 300 s`)."
                ),
            ),
        ),
    ]


def _battery_metrics_warning() -> list[tuple[str, Expectation]]:
    return [("volume", _volume("battery_metrics"))]


# ------------------------------------------------------------------------------------------ CRM


def _crm_users_blocking() -> list[tuple[str, Expectation]]:
    what = "crm_users"
    return [
        ("user_id_not_null", _not_null("user_id", what)),
        ("user_id_unique", _unique("user_id", what)),
        ("user_uuid_not_null", _not_null("user_uuid", what)),
        ("user_uuid_unique", _unique("user_uuid", what)),
    ]


def _crm_prosthetics_blocking() -> list[tuple[str, Expectation]]:
    what = "crm_prosthetics"
    return [
        ("prosthetic_id_not_null", _not_null("prosthetic_id", what)),
        ("prosthetic_id_unique", _unique("prosthetic_id", what)),
        (
            "device_type_known",
            gxe.ExpectColumnValuesToBeInSet(
                column="device_type",
                value_set=list(DEVICE_TYPES),
                description="`device_type` is one of arm, hand, leg, foot.",
            ),
        ),
        (
            "user_id_not_null",
            gxe.ExpectColumnValuesToNotBeNull(
                column="user_id", description="Every prosthetic has an owner (`user_id`)."
            ),
        ),
    ]


def _crm_payments_blocking() -> list[tuple[str, Expectation]]:
    return [
        ("payment_id_unique", _unique("payment_id", "crm_payments")),
        (
            "amount_non_negative",
            _non_negative("amount", "Bad data: a payment `amount` is never negative."),
        ),
        (
            "status_known",
            gxe.ExpectColumnValuesToBeInSet(
                column="status",
                value_set=list(PAYMENT_STATUSES),
                description="Payment `status` is one of success, failed, pending.",
            ),
        ),
        (
            "user_known",
            _all_true("user_known", "Bad data: the payment's `user_id` is a user of crm_users."),
        ),
    ]


def _crm_subscriptions_blocking() -> list[tuple[str, Expectation]]:
    return [
        (
            "monthly_cost_non_negative",
            _non_negative("monthly_cost", "A subscription's `monthly_cost` is never negative."),
        ),
        (
            "end_not_before_start",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="end_date",
                column_B="start_date",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                description=(
                    "A subscription's `end_date`, when set, is not before its `start_date`."
                ),
            ),
        ),
    ]


def _crm_support_tickets_blocking() -> list[tuple[str, Expectation]]:
    return [
        (
            "resolved_not_before_created",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="resolved_at",
                column_B="created_at",
                or_equal=True,
                ignore_row_if="either_value_is_missing",
                description="A ticket's `resolved_at`, when set, is not before its `created_at`.",
            ),
        ),
    ]


# ---------------------------------------------------------------------------------------- marts

USER_MART_MONEY = ("total_payments", "successful_payments", "subscription_cost_total")
USER_MART_COUNTS = (
    "failed_payments_count",
    "active_subscriptions_count",
    "support_tickets_opened",
    "support_tickets_resolved",
)
PROSTHETIC_MART_RATES = ("avg_discharge_rate_active", "avg_discharge_rate_idle", "avg_charge_rate")
PROSTHETIC_MART_COUNTS = tuple(COUNT_MEASURES)


def _each_non_negative(columns, kind: str, unit: str = "") -> list[tuple[str, Expectation]]:
    return [(f"{c}_non_negative", _non_negative(c, f"{kind} `{c}`{unit} is never negative.")) for c in columns]


def _user_mart_blocking() -> list[tuple[str, Expectation]]:
    rules: list[tuple[str, Expectation]] = [
        (
            "one_row_per_user_month",
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=["report_date", "user_id"],
                description="One row per (report_date, user_id).",
            ),
        ),
        ("user_id_not_null", _not_null("user_id", "report_user_monthly_metrics")),
        (
            "successful_within_total",
            gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                column_A="total_payments",
                column_B="successful_payments",
                or_equal=True,
                description=(
                    "`successful_payments` (status success) is part of `total_payments` "
                    "(any status): successful_payments <= total_payments."
                ),
            ),
        ),
    ]
    return rules + _each_non_negative(USER_MART_MONEY, "Money") + _each_non_negative(USER_MART_COUNTS, "Count")


def _prosthetic_mart_blocking() -> list[tuple[str, Expectation]]:
    rules: list[tuple[str, Expectation]] = [
        (
            "one_row_per_prosthetic_month",
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=["report_date", "prosthetic_id"],
                description="One row per (report_date, prosthetic_id).",
            ),
        ),
        (
            "active_hours_range",
            gxe.ExpectColumnValuesToBeBetween(
                column="total_active_hours",
                min_value=0,
                max_value=_param(P_MAX_HOURS),
                description=(
                    "`total_active_hours` is between 0 and the hours of the month to date "
                    "(sessions are a union of intervals inside the month)."
                ),
            ),
        ),
        (
            "downtime_range",
            gxe.ExpectColumnValuesToBeBetween(
                column="downtime_minutes",
                min_value=0,
                max_value=_param(P_MAX_DOWNTIME_MINUTES),
                description=(
                    "`downtime_minutes` is between 0 and the minutes of the month to date "
                    "(downtime is a union of intervals inside the month)."
                ),
            ),
        ),
    ]
    return (rules + _each_non_negative(PROSTHETIC_MART_RATES, "Rate", " (mAh/h)")
            + _each_non_negative(PROSTHETIC_MART_COUNTS, "Count"))


# ------------------------------------------------------------------------------------- registry


@dataclass(frozen=True)
class DatasetSpec:
    """What is validated for one dataset.

    ``key_columns`` name a row in failure examples (GX ``unexpected_index_column_names``).
    """

    name: str
    key_columns: tuple[str, ...]
    blocking: Callable[[], list[tuple[str, Expectation]]]
    warning: Callable[[], list[tuple[str, Expectation]]] | None = None

    def suites(self) -> dict[str, Callable[[], list[tuple[str, Expectation]]]]:
        out = {BLOCKING: self.blocking}
        if self.warning is not None:
            out[WARNING] = self.warning
        return out


DATASETS: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            "telemetry_events", ("event_id",), _telemetry_events_blocking, _telemetry_events_warning
        ),
        DatasetSpec(
            "battery_metrics", ("metric_id",), _battery_metrics_blocking, _battery_metrics_warning
        ),
        DatasetSpec("crm_users", ("user_id",), _crm_users_blocking),
        DatasetSpec("crm_prosthetics", ("prosthetic_id",), _crm_prosthetics_blocking),
        DatasetSpec("crm_payments", ("payment_id",), _crm_payments_blocking),
        DatasetSpec("crm_subscriptions", ("subscription_id",), _crm_subscriptions_blocking),
        DatasetSpec("crm_support_tickets", ("ticket_id",), _crm_support_tickets_blocking),
        DatasetSpec(
            "report_user_monthly_metrics", ("report_date", "user_id"), _user_mart_blocking
        ),
        DatasetSpec(
            "report_prosthetic_monthly_metrics",
            ("report_date", "prosthetic_id"),
            _prosthetic_mart_blocking,
        ),
    )
}


def suite_name(dataset: str, severity: str) -> str:
    """``"<dataset>.blocking"`` or ``"<dataset>.warning"``."""
    return f"{dataset}.{severity}"


def build_suites(dataset: str) -> dict[str, gx.ExpectationSuite]:
    """Fresh (unsaved) suites of ``dataset``: ``{"blocking": suite[, "warning": suite]}``."""
    spec = DATASETS[dataset]
    suites: dict[str, gx.ExpectationSuite] = {}
    for severity, rules in spec.suites().items():
        # Expectations go through the constructor: ``suite.add_expectation`` would write to a
        # stored suite of the same name in the current GX context as a side effect.
        suites[severity] = gx.ExpectationSuite(
            name=suite_name(dataset, severity),
            expectations=[_tag(expectation, rule, severity) for rule, expectation in rules()],
            meta={"dataset": dataset, "severity": severity, "source": "expectations/suites.py"},
        )
    return suites


def required_columns(dataset: str) -> set[str]:
    """Columns the suites of ``dataset`` and its key refer to."""
    spec = DATASETS[dataset]
    columns: set[str] = set(spec.key_columns)
    for rules in spec.suites().values():
        for _, expectation in rules():
            for attribute in ("column", "column_A", "column_B"):
                value = getattr(expectation, attribute, None)
                if isinstance(value, str):
                    columns.add(value)
            columns.update(getattr(expectation, "column_list", None) or [])
    return columns


def suite_parameters(dataset: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Values of the ``$PARAMETER`` bounds for one run of ``dataset``'s suites (see module doc)."""
    params = dict(params or {})
    max_hours = params.get("max_hours")
    max_hours = DEFAULT_MAX_HOURS if max_hours is None else float(max_hours)
    fraction = float(params.get("min_volume_fraction", DEFAULT_MIN_VOLUME_FRACTION))
    expected = (params.get("expected_rows") or {}).get(dataset)
    min_rows = None if not expected else int(math.ceil(fraction * float(expected)))
    return {
        P_MAX_HOURS: max_hours,
        P_MAX_DOWNTIME_MINUTES: max_hours * 60.0,
        P_MIN_ROWS: min_rows,
    }
