"""Randomized equivalence: the SQL of tasks/sql against the pandas reference of tests.metrics_reference
(daily_partials/tally_events, prosthetic_month, user_month) on the same random rows."""

from __future__ import annotations

import random
from datetime import date, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest

from tests.metrics_reference import period_end
from tests.metrics_reference.prosthetic import (
    PARTIAL_COLUMNS,
    PROSTHETIC_MART_COLUMNS,
    STATE_EVENT_TYPES,
    daily_partials,
    prosthetic_month,
    tally_events,
)
from tests.metrics_reference.user import USER_MART_COLUMNS, user_month
from tests.sql.helpers import (
    OTHER_RUN,
    build_prosthetic_mart,
    build_user_mart,
    compute_partials,
    stage_events,
    stage_lookback,
    stage_payments,
    stage_prosthetics,
    stage_samples,
    stage_subscriptions,
    stage_tickets,
    stage_users,
)

pytestmark = pytest.mark.integration

WINDOW_START = datetime(2024, 1, 27)
WINDOW_END = datetime(2024, 2, 6)  # also the horizon: 10 days across a month boundary
MONTHS = (date(2024, 1, 1), date(2024, 2, 1))
SEVERITY = {"critical_error": "critical", "warning": "warning", "error": "error"}
TYPES = ["power_on"] * 20 + ["power_off"] * 12 + ["critical_error"] * 5 + ["charging_completed"] * 5 + \
    ["warning"] * 5 + ["error"] * 4 + ["battery_low"] * 4 + ["grip"] * 15 + ["release"] * 15 + ["sensor_reading"] * 15
PROSTHESES = [1, 2, 3, 4, 5]


class Ids:
    """Unique ids in random order, so that id order is not time order."""

    def __init__(self, rng: random.Random, n: int = 100_000):
        self.pool = rng.sample(range(1, n), n - 1)

    def __call__(self) -> int:
        return self.pool.pop()


def random_time(rng: random.Random, start: datetime, end: datetime, grid: list[datetime]) -> datetime:
    roll = rng.random()
    if roll < 0.25 and grid:
        return rng.choice(grid)  # ties: the same instant as an earlier row
    at = start + timedelta(microseconds=rng.randrange(int((end - start) / timedelta(microseconds=1))))
    if roll < 0.55:
        at = at.replace(minute=0, second=0, microsecond=0)  # whole hours tie often
    return at


def random_value(rng: random.Random):
    roll = rng.random()
    if roll < 0.3:
        return None
    if roll < 0.35:
        return rng.choice([0.0, -0.0, float("nan")])
    return round(rng.uniform(0, 100), 1)


def random_telemetry(rng: random.Random):
    ids = Ids(rng)
    grid: list[datetime] = []
    events, lookback = [], []
    for _ in range(320):
        kind = rng.choice(TYPES)
        at = random_time(rng, WINDOW_START, WINDOW_END, grid)
        grid.append(at)
        severity = SEVERITY.get(kind, "info") if rng.random() > 0.05 else rng.choice(["info", "warning", "error", "critical"])
        row = (ids(), rng.choice(PROSTHESES + [6]), kind, at, random_value(rng), severity)
        events.append(row)
        if rng.random() < 0.12:  # a resend: same key, new id (lower or higher)
            resend_severity = severity if rng.random() > 0.2 else rng.choice(["info", "warning"])
            events.append((ids(),) + row[1:5] + (resend_severity,))
    # State events before the window, some too early to matter (over 7 days before).
    for _ in range(40):
        kind = rng.choice(["power_on", "power_on", "power_off", "critical_error"])
        at = random_time(rng, WINDOW_START - timedelta(days=9), WINDOW_START, [])
        row = (ids(), rng.choice(PROSTHESES), kind, at, random_value(rng))
        lookback.append(row)
        if rng.random() < 0.1:
            lookback.append((ids(),) + row[1:])
    samples = []
    metric_ids = Ids(rng)
    for _ in range(320):
        roll = rng.random()
        at = random_time(rng, WINDOW_START, WINDOW_END, grid if roll < 0.6 else [])  # at state events often
        charging = rng.random() < 0.3
        current = rng.randint(1, 1500) if charging else rng.choice([0, -rng.randint(1, 400)])
        samples.append((metric_ids(), rng.choice(PROSTHESES), at, current, charging))
        if rng.random() < 0.08:  # a repeat at the same instant, other values
            samples.append((metric_ids(), samples[-1][1], at, -rng.randint(1, 400), False))
    return events, lookback, samples


def event_frame(rows) -> pd.DataFrame:
    return pd.DataFrame({
        "event_id": np.array([r[0] for r in rows], dtype=np.int64),
        "prosthetic_id": np.array([r[1] for r in rows], dtype=np.int64),
        "event_type": [r[2] for r in rows],
        "severity": [r[5] if len(r) > 5 else "info" for r in rows],
        "event_timestamp": pd.to_datetime([r[3] for r in rows]).astype("datetime64[us]"),
        "event_value": np.array([np.nan if r[4] is None else r[4] for r in rows], dtype=np.float64),
    })


def sample_frame(rows) -> pd.DataFrame:
    return pd.DataFrame({
        "metric_id": np.array([r[0] for r in rows], dtype=np.int64),
        "prosthetic_id": np.array([r[1] for r in rows], dtype=np.int64),
        "metric_timestamp": pd.to_datetime([r[2] for r in rows]).astype("datetime64[us]"),
        "current_ma": np.array([r[3] for r in rows], dtype=np.int64),
        "is_charging": np.array([r[4] for r in rows], dtype=bool),
    })


def records(frame: pd.DataFrame, columns: list[str]) -> list[tuple]:
    return [tuple(r) for r in frame[columns].itertuples(index=False)]


def assert_same_rows(actual: pd.DataFrame, expected: pd.DataFrame, columns: list[str]) -> None:
    assert len(actual) == len(expected)
    for got, want in zip(records(actual, columns), records(expected, columns)):
        # Same divisions of the same integers: exact equality, floats included.
        assert got == want


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_partials_and_prosthesis_mart_match_the_pandas_reference(db, seed):
    rng = random.Random(seed)
    events, lookback, samples = random_telemetry(rng)
    stage_events(db, events)
    stage_lookback(db, lookback)
    stage_samples(db, samples)
    # Another run's rows in the same window must change nothing.
    other_events, other_lookback, other_samples = random_telemetry(random.Random(seed + 1000))
    stage_events(db, other_events, run_id=OTHER_RUN)
    stage_lookback(db, other_lookback, run_id=OTHER_RUN)
    stage_samples(db, other_samples, run_id=OTHER_RUN)

    ev = event_frame(events)
    state = pd.concat([event_frame(lookback), ev[ev["event_type"].isin(STATE_EVENT_TYPES)]], ignore_index=True)
    expected = daily_partials(tally_events(ev), state, sample_frame(samples), WINDOW_START, WINDOW_END)
    assert len(expected) > 20  # the data is not trivially empty
    assert (expected["downtime_us"] > 0).any() and (expected["discharge_active_n"] > 0).any()

    actual = compute_partials(db, WINDOW_START, WINDOW_END, computed_at=datetime(2024, 2, 6, 1))
    assert_same_rows(actual, expected, PARTIAL_COLUMNS)

    # A few of the window's days again, later: only those days' rows, the same figures.
    days = sorted(rng.sample([(WINDOW_START + timedelta(days=i)).date() for i in range(10)], 3))
    again = compute_partials(db, WINDOW_START, WINDOW_END, days=days, computed_at=datetime(2024, 2, 6, 2))
    assert_same_rows(again, expected[expected["day"].isin(days)].reset_index(drop=True), PARTIAL_COLUMNS)

    # Both months from the stored partials (each day's latest computation).
    users = pd.DataFrame({"user_id": [1, 2, 3], "user_uuid": ["u-1", "u-2", "u-3"]})
    prosthetics = pd.DataFrame({
        "prosthetic_id": PROSTHESES,  # 6 has telemetry but is unknown to the CRM: in no mart
        "prosthetic_uuid": [f"p-{p}" for p in PROSTHESES],
        "user_id": [1, 1, 2, 3, 3],
        "device_type": ["arm"] * 5,
        "purchase_date": [date(2023, 1, 1), date(2024, 1, 31), date(2024, 2, 1), date(2024, 2, 5),
                          date(2024, 2, 6)],
    })
    stage_users(db, [(u, "2020-01-01 00:00") for u in users["user_id"]])
    stage_prosthetics(db, [(r.prosthetic_id, r.user_id, r.purchase_date) for r in prosthetics.itertuples()])
    for month in MONTHS:
        end = period_end(month, WINDOW_END)
        inside = (pd.to_datetime(expected["day"]) >= pd.Timestamp(month)) & (pd.to_datetime(expected["day"]) < end)
        sums = expected[inside].drop(columns="day").groupby("prosthetic_id", as_index=False).sum()
        want = prosthetic_month(sums, prosthetics, users, month, WINDOW_END)
        got = build_prosthetic_mart(db, month, end.to_pydatetime())
        assert len(want) >= 2
        assert_same_rows(got, want, PROSTHETIC_MART_COLUMNS)


def random_money(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(0, 99_999)).scaleb(-2) if rng.random() > 0.1 else Decimal(rng.choice(["0.10", "0.20"]))


@pytest.mark.parametrize("seed", [1, 2])
def test_user_mart_matches_the_pandas_reference(db, seed):
    rng = random.Random(seed)
    start, stop = datetime(2023, 12, 1), datetime(2024, 2, 20)

    def when() -> datetime:
        at = start + timedelta(seconds=rng.randrange(int((stop - start).total_seconds())))
        return at.replace(hour=0, minute=0, second=0) if rng.random() < 0.2 else at

    users = [(u, when()) for u in range(1, 13)]
    payments = [(i, rng.randint(1, 13), random_money(rng), rng.choice(["success", "failed", "pending"]), when())
                for i in range(1, 121)]
    subscriptions = []
    for i in range(1, 31):
        first = when().date()
        last = None if rng.random() < 0.4 else first + timedelta(days=rng.randint(0, 60))
        subscriptions.append((i, rng.randint(1, 12), random_money(rng), first, last))
    tickets = []
    for i in range(1, 61):
        opened = when()
        tickets.append((i, rng.randint(1, 12), opened,
                        None if rng.random() < 0.3 else opened + timedelta(hours=rng.randint(0, 24 * 40))))
    stage_users(db, users)
    stage_payments(db, [(p[0], p[1], str(p[2]), p[3], p[4]) for p in payments])
    stage_subscriptions(db, [(s[0], s[1], str(s[2]), s[3], s[4]) for s in subscriptions])
    stage_tickets(db, tickets)
    stage_payments(db, [(1, 1, "1000.00", "success", datetime(2024, 1, 10))], run_id=OTHER_RUN)

    frames = dict(
        users=pd.DataFrame({"user_id": [u[0] for u in users], "user_uuid": [f"u-{u[0]}" for u in users],
                            "created_at": pd.to_datetime([u[1] for u in users])}),
        payments=pd.DataFrame({"user_id": [p[1] for p in payments], "amount": [p[2] for p in payments],
                               "status": [p[3] for p in payments],
                               "payment_date": pd.to_datetime([p[4] for p in payments])}),
        subscriptions=pd.DataFrame({"user_id": [s[1] for s in subscriptions],
                                    "monthly_cost": [s[2] for s in subscriptions],
                                    "start_date": [s[3] for s in subscriptions],
                                    "end_date": [s[4] for s in subscriptions]}),
        tickets=pd.DataFrame({"user_id": [t[1] for t in tickets], "created_at": pd.to_datetime([t[2] for t in tickets]),
                              "resolved_at": pd.to_datetime([t[3] for t in tickets])}),
    )
    horizon = datetime(2024, 2, 11)
    for month in (date(2023, 12, 1), date(2024, 1, 1), date(2024, 2, 1)):
        want = user_month(**frames, month_start=month, horizon=horizon)
        got = build_user_mart(db, month, period_end(month, horizon).to_pydatetime())
        assert len(want) >= 1
        assert_same_rows(got, want, USER_MART_COLUMNS)
