"""The data contract's rules (``shared/spec/marts.md``, "Bad data") as Great Expectations suites.

Each dataset is one staged table of ``bionicpro_work`` and has a suite ``"<dataset>.blocking"``
(a failure stops the load of the month) and, when it has warning rules, ``"<dataset>.warning"``
(only reported). Every expectation carries ``meta = {"rule": <stable name>, "severity": ...}``
and a ``description`` (shown in the Data Docs).

The suites run on GX's SQL path over the rows of one ``run_id`` (a batch of the table, see
``expectations.checks``): built-in column expectations where they work on ClickHouse, and
``UnexpectedRowsExpectation`` for a rule that is a query of bad rows. In those queries ``{batch}``
is the run's rows of the dataset's table; ``RUN`` is that run's id, so a join with another staged
table (``stage_prosthetics``, ``stage_users``, ``stage_lookback``) reads the same run's rows only. A
query selects the dataset's key columns first (they name the failing rows in reports), orders by
them and stops at ``BAD_ROWS_CAP`` rows (the bad-row count of a rule is exact up to that many).

Which rows are blocking bad data, which only warnings, and why: docs/etl.md, "Readings of the
contract".

Rules that staging makes impossible are not declared: every ``*_not_null`` rule of the pandas
suites was on a column that PostgreSQL declares NOT NULL and ``schema/work.sql`` stages into a
non-Nullable column, so it could never fail. Primary-key uniqueness is kept (a stage step that
ran twice into one run's partition would duplicate rows), except on the two telemetry tables, where
it would be the most expensive check of the checkpoint for rows PostgreSQL already keys uniquely
(``event_id_unique``, ``metric_id_unique``).
"""

from __future__ import annotations

from dataclasses import dataclass

from great_expectations import expectations as gxe

from bionicpro.contract import COUNT_MEASURES, EVENT_TYPES, SEVERITIES

BLOCKING = "blocking"
WARNING = "warning"

DEVICE_TYPES = ("arm", "hand", "leg", "foot")
PAYMENT_STATUSES = ("success", "failed", "pending")

#: An event/sample time may be at most this many seconds later than ``created_at`` (arrival).
MAX_AHEAD_OF_ARRIVAL_S = 300
#: A row that reached the server more than this many seconds after its own time is late.
LATE_ARRIVAL_S = 3600
LATE_ROWS_MOSTLY = 0.95
#: Volume warning: a staged day with fewer rows than this share of the run's mean day.
MIN_DAY_VOLUME_FRACTION = 0.5
#: What a battery's sensors can read: one Li-ion cell (the devices read 3.3 to 4.3 V) is never
#: negative nor above 5 V; a battery temperature sensor measures -40 to 125 °C (999.9, the largest
#: value of the source's numeric(4,1), is a sensor's fault code, not a temperature).
VOLTAGE_RANGE_V = (0, 5)
TEMPERATURE_RANGE_C = (-40, 125)
#: The marts' money type is Decimal(12, 2): a value must stay below 10^10 in magnitude.
MONEY_LIMIT = 10**10
#: Bad rows counted and returned per UnexpectedRowsExpectation at most.
BAD_ROWS_CAP = 100_000

DB = "bionicpro_work"
#: The run's id, inside a bad-rows query (the batch holds that run's rows only).
RUN = "(SELECT run_id FROM {batch} LIMIT 1)"

USER_MART_MONEY = ("total_payments", "successful_payments", "subscription_cost_total")
USER_MART_COUNTS = (
    "failed_payments_count",
    "active_subscriptions_count",
    "support_tickets_opened",
    "support_tickets_resolved",
)
PROSTHETIC_MART_RATES = ("avg_discharge_rate_active", "avg_discharge_rate_idle", "avg_charge_rate")
PROSTHETIC_MART_COUNTS = tuple(COUNT_MEASURES)


@dataclass(frozen=True)
class Dataset:
    """One dataset: the staged table it is checked on, its key and its rules by severity."""

    name: str
    table: str
    keys: tuple[str, ...]
    blocking: tuple[tuple[str, gxe.Expectation], ...]
    warning: tuple[tuple[str, gxe.Expectation], ...] = ()

    def rules(self) -> dict[str, tuple[tuple[str, gxe.Expectation], ...]]:
        return {s: r for s, r in ((BLOCKING, self.blocking), (WARNING, self.warning)) if r}


# --------------------------------------------------------------------------- expectation makers


def in_set(column: str, values, description: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeInSet(column=column, value_set=list(values), description=description)


def between(column: str, description: str, min_value=None, max_value=None) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeBetween(
        column=column, min_value=min_value, max_value=max_value, description=description
    )


def non_negative(column: str, description: str) -> gxe.Expectation:
    return between(column, description, min_value=0)


def unique(column: str, what: str) -> gxe.Expectation:
    return gxe.ExpectColumnValuesToBeUnique(
        column=column, description=f"{what}: `{column}` identifies one row (no duplicates)."
    )


def not_before(column_a: str, column_b: str, description: str) -> gxe.Expectation:
    """``column_a >= column_b`` where both are set."""
    return gxe.ExpectColumnPairValuesAToBeGreaterThanB(
        column_A=column_a,
        column_B=column_b,
        or_equal=True,
        ignore_row_if="either_value_is_missing",
        description=description,
    )


def bad_rows(keys: tuple[str, ...], query: str, description: str) -> gxe.Expectation:
    """The rows ``query`` returns are bad; ``query`` selects ``keys`` first."""
    order = ", ".join(keys)
    return gxe.UnexpectedRowsExpectation(
        unexpected_rows_query=f"{query.strip()}\nORDER BY {order}\nLIMIT {BAD_ROWS_CAP}",
        description=description,
    )


# ------------------------------------------------------------------------------------ telemetry


def _micros(column: str) -> str:
    """Exact integer microseconds of a DateTime64 column (cheaper than interval arithmetic)."""
    return f"toUnixTimestamp64Micro({column})"


def prosthetic_known(keys: tuple[str, ...], what: str) -> gxe.Expectation:
    return bad_rows(
        keys,
        f"SELECT {keys[0]}, prosthetic_id FROM {{batch}} WHERE prosthetic_id NOT IN "
        f"(SELECT prosthetic_id FROM {DB}.stage_prosthetics WHERE run_id = {RUN})",
        f"Bad data: the {what}'s `prosthetic_id` is a device of crm_prosthetics "
        "(telemetry_db has no foreign key to the CRM).",
    )


def user_known(keys: tuple[str, ...], what: str) -> gxe.Expectation:
    return bad_rows(
        keys,
        f"SELECT {keys[0]}, user_id FROM {{batch}} WHERE user_id NOT IN "
        f"(SELECT user_id FROM {DB}.stage_users WHERE run_id = {RUN})",
        f"Bad data: the {what}'s `user_id` is a user of crm_users.",
    )


def not_before_purchase(keys: tuple[str, ...], time_column: str) -> gxe.Expectation:
    # A lookup of the run's purchase dates (one aggregate, so ids and dates stay aligned) instead
    # of a join: ClickHouse evaluates it as a filter in one pass over the run's rows.
    return bad_rows(
        keys,
        f"WITH (SELECT (groupArray(prosthetic_id), groupArray(purchase_date)) "
        f"FROM {DB}.stage_prosthetics WHERE run_id = {RUN}) AS devices "
        f"SELECT {keys[0]}, prosthetic_id, {time_column}, "
        "transform(prosthetic_id, devices.1, devices.2, toDate32('1900-01-01')) AS purchase_date "
        f"FROM {{batch}} WHERE toDate32({time_column}) < purchase_date",
        "Bad data: no telemetry before the device's purchase date "
        f"(`{time_column} >= purchase_date 00:00`).",
    )


def not_ahead_of_arrival(keys: tuple[str, ...], time_column: str, what: str) -> gxe.Expectation:
    return bad_rows(
        keys,
        f"SELECT {keys[0]}, {time_column}, created_at FROM {{batch}} "
        f"WHERE {_micros(time_column)} - {_micros('created_at')} > {MAX_AHEAD_OF_ARRIVAL_S * 10**6}",
        f"Bad data: the {what} time is at most 5 minutes ({MAX_AHEAD_OF_ARRIVAL_S} s) later "
        "than the time the row reached the server "
        f"(`{time_column} - created_at <= {MAX_AHEAD_OF_ARRIVAL_S} s`).",
    )


def event_value_finite() -> gxe.Expectation:
    # As text: a NaN or an infinity has no JSON form in GX's stored results.
    return bad_rows(
        EVENT_KEYS,
        "SELECT event_id, toString(event_value) AS value FROM {batch} "
        "WHERE event_value IS NOT NULL AND NOT isFinite(assumeNotNull(event_value))",
        "Device fault: an event's `event_value`, when set, is a finite number (not NaN, not "
        "+/-Infinity). No mart figure reads the value (the resend rule reads NaN as NULL), so the "
        "rows are reported, not blocked.",
    )


def user_is_owner() -> gxe.Expectation:
    # Events of unknown devices keep their own user as the owner: prosthetic_known blocks them.
    return bad_rows(
        EVENT_KEYS,
        f"WITH (SELECT (groupArray(prosthetic_id), groupArray(user_id)) "
        f"FROM {DB}.stage_prosthetics WHERE run_id = {RUN}) AS owners "
        "SELECT event_id, prosthetic_id, user_id, "
        "transform(prosthetic_id, owners.1, owners.2, user_id) AS owner_id "
        "FROM {batch} WHERE user_id != owner_id",
        "Owner: an event's `user_id` is the owner of its prosthesis (crm_prosthetics.user_id). "
        "The marts count events per prosthesis and take the user from the CRM, which keeps only the "
        "current owner (a device that changed hands has older events of another user), so the rows "
        "are reported, not blocked.",
    )


def arrived_dated_ahead() -> gxe.Expectation:
    return bad_rows(
        EVENT_KEYS,
        f"SELECT event_id, prosthetic_id, event_timestamp, created_at FROM {DB}.stage_lookback "
        f"WHERE run_id = {RUN} AND created_at IS NOT NULL "
        f"AND {_micros('event_timestamp')} - {_micros('created_at')} > {MAX_AHEAD_OF_ARRIVAL_S * 10**6}",
        "Dated ahead: an event that reached the server during the days the run computes "
        f"(`created_at`) is dated after them and more than 5 minutes ({MAX_AHEAD_OF_ARRIVAL_S} s) "
        "after its arrival. It breaks not_ahead_of_arrival, which will block the month of its date; "
        "no window stages it before that date and no day of this run counts it, so the run that "
        "saw it arrive reports it.",
    )


def _volume(dataset: str, time_column: str) -> gxe.Expectation:
    return bad_rows(
        ("day",),
        # One pass over the rows: the mean day is a window over the days (a CTE named twice would
        # be computed twice).
        f"SELECT day, n FROM (SELECT day, n, avg(n) OVER () AS mean_n FROM "
        f"(SELECT toDate({time_column}) AS day, count() AS n FROM {{batch}} GROUP BY day)) "
        f"WHERE n < {MIN_DAY_VOLUME_FRACTION} * mean_n",
        f"Volume: every day of the {dataset} rows staged by the run has at least "
        f"{MIN_DAY_VOLUME_FRACTION:.0%} of the rows of the run's mean day (a sudden drop means "
        "a broken source or extract); the failing days are listed with their row counts.",
    )


def _late_rows(dataset: str, key: str, time_column: str) -> gxe.Expectation:
    late = f"{_micros('created_at')} - {_micros(time_column)} > {LATE_ARRIVAL_S * 10**6}"
    return bad_rows(
        (key,),
        f"SELECT {key}, {time_column}, created_at FROM {{batch}} WHERE {late} "
        f"AND (SELECT count() FROM {{batch}} WHERE {late}) > {1 - LATE_ROWS_MOSTLY:.2f} * (SELECT count() FROM {{batch}})",
        f"Late rows: at least {LATE_ROWS_MOSTLY:.0%} of the {dataset} rows reach the server "
        f"within 1 hour of `{time_column}` (`created_at - {time_column} <= {LATE_ARRIVAL_S} s`; "
        f"GX `mostly={LATE_ROWS_MOSTLY}`): when more are late, the late rows are listed; they "
        "may be missing from months already loaded.",
    )


EVENT_KEYS = ("event_id",)
SAMPLE_KEYS = ("metric_id",)

TELEMETRY_EVENTS = Dataset(
    "telemetry_events",
    "stage_events",
    EVENT_KEYS,
    blocking=(
        ("prosthetic_known", prosthetic_known(EVENT_KEYS, "event")),
        ("user_known", user_known(EVENT_KEYS, "event")),
        (
            "event_type_known",
            in_set("event_type", EVENT_TYPES, "Bad data: `event_type` is one of the known event types."),
        ),
        (
            "severity_known",
            in_set("severity", SEVERITIES, "Bad data: `severity` is one of info, warning, error, critical."),
        ),
        ("not_before_purchase", not_before_purchase(EVENT_KEYS, "event_timestamp")),
        ("not_ahead_of_arrival", not_ahead_of_arrival(EVENT_KEYS, "event_timestamp", "event")),
    ),
    warning=(
        ("late_rows_share", _late_rows("telemetry_events", "event_id", "event_timestamp")),
        ("volume", _volume("telemetry_events", "event_timestamp")),
        ("event_value_finite", event_value_finite()),
        ("user_is_owner", user_is_owner()),
        ("arrived_dated_ahead", arrived_dated_ahead()),
    ),
)

BATTERY_METRICS = Dataset(
    "battery_metrics",
    "stage_battery",
    SAMPLE_KEYS,
    blocking=(
        ("prosthetic_known", prosthetic_known(SAMPLE_KEYS, "sample")),
        (
            "charge_level_range",
            between(
                "charge_level",
                "Bad data: `charge_level` is a percentage between 0 and 100.",
                min_value=0,
                max_value=100,
            ),
        ),
        (
            "current_sign",
            bad_rows(
                SAMPLE_KEYS,
                "SELECT metric_id, is_charging, current_ma FROM {batch} "
                "WHERE (is_charging AND current_ma <= 0) OR (NOT is_charging AND current_ma > 0)",
                "Bad data: the sign of `current_ma` agrees with `is_charging` (charging requires "
                "`current_ma > 0`, not charging requires `current_ma <= 0`).",
            ),
        ),
        (
            "voltage_range",
            between(
                "voltage",
                f"Bad data: `voltage` is a cell's voltage, {VOLTAGE_RANGE_V[0]} to {VOLTAGE_RANGE_V[1]} V; "
                "a sample whose sensors read what cannot be is not a measurement (its `current_ma` "
                "would enter the discharge and charge rates).",
                min_value=VOLTAGE_RANGE_V[0],
                max_value=VOLTAGE_RANGE_V[1],
            ),
        ),
        (
            "temperature_range",
            between(
                "temperature_c",
                f"Bad data: `temperature_c` is within what a battery temperature sensor measures, "
                f"{TEMPERATURE_RANGE_C[0]} to {TEMPERATURE_RANGE_C[1]} °C (999.9 is a fault code); a "
                "sample whose sensors read what cannot be is not a measurement (its `current_ma` "
                "would enter the discharge and charge rates).",
                min_value=TEMPERATURE_RANGE_C[0],
                max_value=TEMPERATURE_RANGE_C[1],
            ),
        ),
        ("not_before_purchase", not_before_purchase(SAMPLE_KEYS, "metric_timestamp")),
        ("not_ahead_of_arrival", not_ahead_of_arrival(SAMPLE_KEYS, "metric_timestamp", "sample")),
    ),
    warning=(("volume", _volume("battery_metrics", "metric_timestamp")),),
)

# ------------------------------------------------------------------------------------------ CRM

CRM_USERS = Dataset(
    "crm_users",
    "stage_users",
    ("user_id",),
    blocking=(
        ("user_id_unique", unique("user_id", "crm_users")),
        ("user_uuid_unique", unique("user_uuid", "crm_users")),
    ),
)

CRM_PROSTHETICS = Dataset(
    "crm_prosthetics",
    "stage_prosthetics",
    ("prosthetic_id",),
    blocking=(
        ("prosthetic_id_unique", unique("prosthetic_id", "crm_prosthetics")),
        (
            "device_type_known",
            in_set("device_type", DEVICE_TYPES, "`device_type` is one of arm, hand, leg, foot."),
        ),
    ),
)

CRM_PAYMENTS = Dataset(
    "crm_payments",
    "stage_payments",
    ("payment_id",),
    blocking=(
        ("payment_id_unique", unique("payment_id", "crm_payments")),
        ("amount_non_negative", non_negative("amount", "Bad data: a payment `amount` is never negative.")),
        (
            "status_known",
            in_set("status", PAYMENT_STATUSES, "Payment `status` is one of success, failed, pending."),
        ),
        ("user_known", user_known(("payment_id",), "payment")),
    ),
)

CRM_SUBSCRIPTIONS = Dataset(
    "crm_subscriptions",
    "stage_subscriptions",
    ("subscription_id",),
    blocking=(
        (
            "monthly_cost_non_negative",
            non_negative("monthly_cost", "A subscription's `monthly_cost` is never negative."),
        ),
        (
            "end_not_before_start",
            not_before(
                "end_date",
                "start_date",
                "A subscription's `end_date`, when set, is not before its `start_date`.",
            ),
        ),
    ),
)

CRM_SUPPORT_TICKETS = Dataset(
    "crm_support_tickets",
    "stage_tickets",
    ("ticket_id",),
    blocking=(
        (
            "resolved_not_before_created",
            not_before(
                "resolved_at",
                "created_at",
                "A ticket's `resolved_at`, when set, is not before its `created_at`.",
            ),
        ),
    ),
)

# ---------------------------------------------------------------------------------------- marts


def _each_non_negative(columns, kind: str, unit: str = ""):
    return tuple(
        (f"{c}_non_negative", non_negative(c, f"{kind} `{c}`{unit} is never negative."))
        for c in columns
    )


USER_KEYS = ("report_date", "user_id")
PROSTHETIC_KEYS = ("report_date", "prosthetic_id")
_PERIOD_US = "dateDiff('microsecond', toDateTime64(report_date, 6, 'UTC'), period_end)"

USER_MART = Dataset(
    "report_user_monthly_metrics",
    "user_mart_candidates",
    USER_KEYS,
    blocking=(
        (
            "one_row_per_user_month",
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=list(USER_KEYS), description="One row per (report_date, user_id)."
            ),
        ),
        (
            "money_fits_column",
            bad_rows(
                USER_KEYS,
                "SELECT report_date, user_id, " + ", ".join(USER_MART_MONEY) + " FROM {batch} WHERE "
                + " OR ".join(f"abs({c}) >= {MONEY_LIMIT}" for c in USER_MART_MONEY),
                "Money is exact or the month's load fails naming the user and month: "
                "`total_payments`, `successful_payments` and `subscription_cost_total` fit the "
                "mart's Decimal(12,2) (absolute value below 10^10).",
            ),
        ),
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
        *_each_non_negative(USER_MART_MONEY, "Money"),
        *_each_non_negative(USER_MART_COUNTS, "Count"),
    ),
)

PROSTHETIC_MART = Dataset(
    "report_prosthetic_monthly_metrics",
    "prosthetic_mart_candidates",
    PROSTHETIC_KEYS,
    blocking=(
        (
            "one_row_per_prosthetic_month",
            gxe.ExpectCompoundColumnsToBeUnique(
                column_list=list(PROSTHETIC_KEYS),
                description="One row per (report_date, prosthetic_id).",
            ),
        ),
        (
            "active_hours_range",
            bad_rows(
                PROSTHETIC_KEYS,
                "SELECT report_date, prosthetic_id, total_active_hours, period_end FROM {batch} "
                f"WHERE NOT (total_active_hours >= 0 AND total_active_hours <= {_PERIOD_US} / 3600e6 + 1e-9)",
                "`total_active_hours` is between 0 and the hours of the row's month to date "
                "(`report_date` 00:00 to `period_end`; sessions are a union of intervals inside it).",
            ),
        ),
        (
            "downtime_range",
            bad_rows(
                PROSTHETIC_KEYS,
                "SELECT report_date, prosthetic_id, downtime_minutes, period_end FROM {batch} "
                f"WHERE downtime_minutes < 0 OR downtime_minutes * 60e6 > {_PERIOD_US}",
                "`downtime_minutes` is between 0 and the minutes of the row's month to date "
                "(`report_date` 00:00 to `period_end`; downtime is a union of intervals inside it).",
            ),
        ),
        *_each_non_negative(PROSTHETIC_MART_RATES, "Rate", " (mAh/h)"),
        *_each_non_negative(PROSTHETIC_MART_COUNTS, "Count"),
    ),
)

DATASETS: dict[str, Dataset] = {
    d.name: d
    for d in (
        TELEMETRY_EVENTS,
        BATTERY_METRICS,
        CRM_USERS,
        CRM_PROSTHETICS,
        CRM_PAYMENTS,
        CRM_SUBSCRIPTIONS,
        CRM_SUPPORT_TICKETS,
        USER_MART,
        PROSTHETIC_MART,
    )
}
