"""Prosthesis mart metrics on small hand-made frames; expected values worked out in comments."""

from __future__ import annotations

import uuid
from datetime import date

import numpy as np
import pandas as pd
import pytest

from tests.metrics_reference import next_month_start
from tests.metrics_reference.prosthetic import (
    LOOKBACK,
    PARTIAL_COLUMNS,
    PROSTHETIC_MART_COLUMNS,
    battery_by_day,
    covered_us_by_day,
    daily_partials,
    dedupe_events,
    downtimes,
    prosthetic_month,
    sessions,
    tally_events,
)

T = pd.Timestamp
HOUR_US = 3_600_000_000
MINUTE_US = 60_000_000
DAY_US = 24 * HOUR_US
SEVERITY = {"critical_error": "critical", "warning": "warning", "error": "error"}


def events(*rows: tuple) -> pd.DataFrame:
    """Rows (event_id, prosthetic_id, event_type, timestamp[, event_value])."""
    return pd.DataFrame(
        {
            "event_id": [r[0] for r in rows],
            "prosthetic_id": [r[1] for r in rows],
            "event_type": [r[2] for r in rows],
            "severity": [SEVERITY.get(r[2], "info") for r in rows],
            "event_timestamp": pd.to_datetime([r[3] for r in rows], format="ISO8601"),
            "event_value": pd.Series([r[4] if len(r) > 4 else None for r in rows], dtype=object),
        }
    )


def samples(*rows: tuple) -> pd.DataFrame:
    """Rows (metric_id, prosthetic_id, timestamp, current_ma, is_charging)."""
    return pd.DataFrame(
        {
            "metric_id": [r[0] for r in rows],
            "prosthetic_id": [r[1] for r in rows],
            "metric_timestamp": pd.to_datetime([r[2] for r in rows], format="ISO8601"),
            "current_ma": np.array([r[3] for r in rows], dtype=np.int32),
            "is_charging": np.array([r[4] for r in rows], dtype=bool),
        }
    )


def intervals(*rows: tuple) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prosthetic_id": np.array([r[0] for r in rows], dtype=np.int64),
            "start": pd.to_datetime([r[1] for r in rows], format="ISO8601"),
            "end": pd.to_datetime([r[2] for r in rows], format="ISO8601"),
        }
    )


def as_tuples(frame: pd.DataFrame) -> list[tuple]:
    return [tuple(r) for r in frame.itertuples(index=False)]


def month_sums(partials: pd.DataFrame, month_start: date) -> pd.DataFrame:
    """What the ClickHouse SUM over the month's partials returns."""
    days = pd.to_datetime(partials["day"])
    inside = (days >= T(month_start)) & (days < T(next_month_start(month_start)))
    return partials[inside].drop(columns="day").groupby("prosthetic_id", as_index=False).sum()


def dims(*rows: tuple) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows (prosthetic_id, user_id, purchase_date) -> (prosthetics, users)."""
    prosthetics = pd.DataFrame(
        {
            "prosthetic_id": [r[0] for r in rows],
            "prosthetic_uuid": [f"p-{r[0]}" for r in rows],
            "user_id": [r[1] for r in rows],
            "device_type": ["arm"] * len(rows),
            "purchase_date": [r[2] for r in rows],
        }
    )
    user_ids = sorted({r[1] for r in rows})
    users = pd.DataFrame({"user_id": user_ids, "user_uuid": [f"u-{u}" for u in user_ids]})
    return prosthetics, users


# The contract's worked example: prosthetic 7, horizon 2024-02-02 00:00.
WORKED_EVENTS = events(
    (1, 7, "power_on", "2024-01-31 22:00"),
    (2, 7, "power_off", "2024-02-01 01:00"),
    (3, 7, "power_on", "2024-02-01 08:00"),
    (4, 7, "critical_error", "2024-02-01 09:15"),
    (5, 7, "power_on", "2024-02-01 09:45"),
    (6, 7, "charging_completed", "2024-02-01 12:45"),
)
WORKED_SAMPLES = samples(
    (1, 7, "2024-01-31 23:30", -90, False),
    (2, 7, "2024-02-01 03:00", -30, False),
)
WORKED_HORIZON = T("2024-02-02")


def test_contract_worked_example_end_to_end():
    partials = daily_partials(
        tally_events(WORKED_EVENTS), WORKED_EVENTS, WORKED_SAMPLES, T("2024-01-25"), WORKED_HORIZON
    )
    prosthetics, users = dims((7, 1, date(2023, 5, 1)))

    jan_sums = month_sums(partials, date(2024, 1, 1))
    jan = prosthetic_month(jan_sums, prosthetics, users, date(2024, 1, 1), WORKED_HORIZON)
    assert len(jan) == 1
    j = jan.iloc[0]
    assert j["report_date"] == date(2024, 1, 1)
    assert j["power_on_count"] == 1
    assert j["power_off_count"] == 0
    assert j["total_active_hours"] == 2.0  # 22:00..24:00 of the 22:00..01:00 session
    assert j["avg_discharge_rate_active"] == 90.0  # the 23:30 sample is inside that session
    assert j["avg_discharge_rate_idle"] == 0.0
    assert j["downtime_minutes"] == 0
    assert (j["critical_error_count"], j["charge_cycles"]) == (0, 0)

    feb_sums = month_sums(partials, date(2024, 2, 1))
    feb = prosthetic_month(feb_sums, prosthetics, users, date(2024, 2, 1), WORKED_HORIZON)
    assert len(feb) == 1
    f = feb.iloc[0]
    assert f["report_date"] == date(2024, 2, 1)
    assert f["power_on_count"] == 2
    assert f["power_off_count"] == 1
    # 00:00..01:00 + 08:00..09:15 + 09:45..H(24:00) = 1 + 1.25 + 14.25
    assert f["total_active_hours"] == 16.5
    assert f["avg_discharge_rate_active"] == 0.0
    assert f["avg_discharge_rate_idle"] == 30.0  # 03:00 is between sessions
    assert f["downtime_minutes"] == 30  # 09:15..09:45
    assert f["critical_error_count"] == 1
    assert f["charge_cycles"] == 1
    assert (f["warning_count"], f["error_count"], f["avg_charge_rate"]) == (0, 0, 0.0)


def test_daily_runs_give_the_partials_of_one_long_window():
    # The worked example plus prosthetic 8: a lost power_off (session capped at 24 h, crossing
    # two midnights) and a fault left unrebooted for days (downtime crossing midnights).
    state = pd.concat(
        [
            WORKED_EVENTS,
            events(
                (10, 8, "power_on", "2024-01-26 18:00"),
                (11, 8, "critical_error", "2024-01-28 06:00"),
                (12, 8, "critical_error", "2024-01-29 06:00"),
                (13, 8, "power_on", "2024-01-30 12:00"),
                (14, 8, "warning", "2024-01-30 13:00"),
            ),
        ],
        ignore_index=True,
    )
    battery = pd.concat(
        [WORKED_SAMPLES, samples((10, 8, "2024-01-27 17:59", -50, False), (11, 8, "2024-01-27 18:00", -70, False))],
        ignore_index=True,
    )
    whole = daily_partials(tally_events(state), state, battery, T("2024-01-26"), WORKED_HORIZON)

    days = []
    for day in pd.date_range("2024-01-26", "2024-02-01", freq="D"):
        nxt = day + pd.Timedelta(days=1)
        ts = state["event_timestamp"]
        # What the daily extract sends: the day's counts, state events since the look-back, the day's samples.
        counts = tally_events(state[(ts >= day) & (ts < nxt)])
        known = state[(ts >= day - LOOKBACK) & (ts < nxt)]
        days.append(daily_partials(counts, known, battery, day, nxt))
    daily = pd.concat(days, ignore_index=True)

    pd.testing.assert_frame_equal(daily, whole)
    # Non-trivial on purpose: prosthetic 8's first session is capped 26th 18:00..27th 18:00, so the
    # 17:59 sample is active and the 18:00 one idle; the downtime union runs 28th 06:00..30th 12:00.
    p8 = whole[whole["prosthetic_id"] == 8].set_index("day")
    assert p8["active_us"].to_dict() == {
        date(2024, 1, 26): 6 * HOUR_US,
        date(2024, 1, 27): 18 * HOUR_US,
        date(2024, 1, 28): 0,
        date(2024, 1, 29): 0,
        date(2024, 1, 30): 12 * HOUR_US,  # the 12:00 power_on, never ended: capped at 31st 12:00
        date(2024, 1, 31): 12 * HOUR_US,
    }
    assert p8.loc[date(2024, 1, 27), ["discharge_active_sum", "discharge_idle_sum"]].tolist() == [50, 70]
    assert p8["downtime_us"].to_dict() == {
        date(2024, 1, 26): 0,
        date(2024, 1, 27): 0,
        date(2024, 1, 28): 18 * HOUR_US,
        date(2024, 1, 29): 24 * HOUR_US,
        date(2024, 1, 30): 12 * HOUR_US,
        date(2024, 1, 31): 0,
    }  # no row for 02-01: prosthetic 8 has nothing that day


def test_session_crossing_month_boundary_splits_between_months():
    ev = events((1, 3, "power_on", "2024-01-31 23:00"), (2, 3, "power_off", "2024-02-01 01:00"))
    s = sessions(ev, T("2024-03-01"))
    assert as_tuples(s) == [(3, T("2024-01-31 23:00"), T("2024-02-01 01:00"))]
    covered = covered_us_by_day(s, T("2024-01-01"), T("2024-03-01"))
    assert as_tuples(covered) == [(3, date(2024, 1, 31), HOUR_US), (3, date(2024, 2, 1), HOUR_US)]


def test_lost_power_off_caps_session_at_24_hours_and_at_horizon():
    ev = events(
        (1, 4, "power_on", "2024-03-01 10:00"),
        (2, 4, "power_off", "2024-03-03 09:00"),  # 47 h later: the real power_off was lost
        (3, 4, "power_on", "2024-03-05 12:00"),  # still open at H = 03-06 06:00
    )
    s = sessions(ev, T("2024-03-06 06:00"))
    assert as_tuples(s) == [
        (4, T("2024-03-01 10:00"), T("2024-03-02 10:00")),
        (4, T("2024-03-05 12:00"), T("2024-03-06 06:00")),
    ]
    covered = covered_us_by_day(s, T("2024-03-01"), T("2024-03-07"))
    assert as_tuples(covered) == [
        (4, date(2024, 3, 1), 14 * HOUR_US),
        (4, date(2024, 3, 2), 10 * HOUR_US),
        (4, date(2024, 3, 5), 12 * HOUR_US),
        (4, date(2024, 3, 6), 6 * HOUR_US),
    ]


def test_critical_error_ends_session_and_downtime_ends_at_reboot():
    ev = events(
        (1, 5, "power_on", "2024-03-01 10:00"),
        (2, 5, "grip", "2024-03-01 11:00"),  # activity events neither end nor start anything
        (3, 5, "critical_error", "2024-03-01 11:30"),
        (4, 5, "power_off", "2024-03-01 12:00"),  # does not end the downtime: only a power_on does
        (5, 5, "power_on", "2024-03-01 13:00"),
    )
    horizon = T("2024-03-02")
    assert as_tuples(sessions(ev, horizon)) == [
        (5, T("2024-03-01 10:00"), T("2024-03-01 11:30")),
        (5, T("2024-03-01 13:00"), T("2024-03-02 00:00")),
    ]
    assert as_tuples(downtimes(ev, horizon)) == [(5, T("2024-03-01 11:30"), T("2024-03-01 13:00"))]


def test_overlapping_downtimes_count_once_and_are_capped_at_7_days():
    ev = events(
        # Two faults before one reboot: [10:00, 11:00) and [10:20, 11:00) -> 60 minutes, not 100.
        (1, 6, "critical_error", "2024-03-01 10:00"),
        (2, 6, "critical_error", "2024-03-01 10:20"),
        (3, 6, "power_on", "2024-03-01 11:00"),
        # A: 03-10 00:00 -> capped at 03-17 00:00; B: 03-14 -> reboot 03-19. Union 03-10..03-19 = 9 days.
        (4, 6, "critical_error", "2024-03-10 00:00"),
        (5, 6, "critical_error", "2024-03-14 00:00"),
        (6, 6, "power_on", "2024-03-19 00:00"),
    )
    horizon = T("2024-04-01")
    assert as_tuples(downtimes(ev, horizon)) == [
        (6, T("2024-03-01 10:00"), T("2024-03-01 11:00")),
        (6, T("2024-03-01 10:20"), T("2024-03-01 11:00")),
        (6, T("2024-03-10 00:00"), T("2024-03-17 00:00")),
        (6, T("2024-03-14 00:00"), T("2024-03-19 00:00")),
    ]
    partials = daily_partials(tally_events(ev), ev, samples(), T("2024-03-01"), horizon)
    by_day = partials.set_index("day")["downtime_us"]
    assert by_day[date(2024, 3, 1)] == 60 * MINUTE_US
    assert by_day[date(2024, 3, 18)] == DAY_US  # only B covers it
    prosthetics, users = dims((6, 1, date(2024, 1, 1)))
    march = month_sums(partials, date(2024, 3, 1))
    row = prosthetic_month(march, prosthetics, users, date(2024, 3, 1), horizon).iloc[0]
    assert row["downtime_minutes"] == 60 + 9 * 24 * 60  # 13020; summing intervals would give 100 + 12 days
    assert row["critical_error_count"] == 4


def test_unrebooted_fault_runs_to_horizon():
    ev = events((1, 6, "critical_error", "2024-03-31 22:00"))
    assert as_tuples(downtimes(ev, T("2024-04-01 01:30"))) == [(6, T("2024-03-31 22:00"), T("2024-04-01 01:30"))]


def test_event_id_breaks_timestamp_ties():
    horizon = T("2024-03-02")
    # power_off (id 1) before power_on (id 2) at the same instant: the session starts then.
    off_then_on = events((1, 1, "power_off", "2024-03-01 10:00"), (2, 1, "power_on", "2024-03-01 10:00"))
    assert as_tuples(sessions(off_then_on, horizon)) == [(1, T("2024-03-01 10:00"), T("2024-03-02 00:00"))]
    # power_on (id 1) then power_off (id 2): a zero-length session, dropped.
    on_then_off = events((1, 1, "power_on", "2024-03-01 10:00"), (2, 1, "power_off", "2024-03-01 10:00"))
    assert sessions(on_then_off, horizon).empty
    # A reboot logged in the same instant but before the fault does not end that fault's downtime.
    on_then_crit = events((1, 1, "power_on", "2024-03-01 10:00"), (2, 1, "critical_error", "2024-03-01 10:00"))
    assert as_tuples(downtimes(on_then_crit, horizon)) == [(1, T("2024-03-01 10:00"), T("2024-03-02 00:00"))]


def test_resent_events_count_once_including_null_values():
    ev = events(
        (11, 1, "power_on", "2024-03-01 10:00"),  # listed first, but the resend of id 10
        (10, 1, "power_on", "2024-03-01 10:00"),
        (20, 1, "warning", "2024-03-01 11:00", None),
        (21, 1, "warning", "2024-03-01 11:00", None),  # NULL == NULL: a resend
        (22, 1, "warning", "2024-03-01 11:00", 3.5),  # another value: another event
        (23, 1, "warning", "2024-03-01 11:00", 3.5),  # resend of 22
        (30, 2, "power_on", "2024-03-01 10:00"),  # another prosthetic: not a resend of 10
    )
    ev.loc[ev["event_id"] == 21, "event_value"] = np.nan  # NULL may arrive as None or NaN
    assert sorted(dedupe_events(ev)["event_id"]) == [10, 20, 22, 30]
    assert as_tuples(tally_events(ev)) == [
        (1, date(2024, 3, 1), "power_on", "info", 1),
        (1, date(2024, 3, 1), "warning", "warning", 2),
        (2, date(2024, 3, 1), "power_on", "info", 1),
    ]


def test_resent_power_on_does_not_split_session():
    ev = events(
        (1, 1, "power_on", "2024-03-01 10:00", 1.0),
        (2, 1, "power_on", "2024-03-01 10:00", 1.0),  # resend
        (3, 1, "power_off", "2024-03-01 12:00", 1.0),
    )
    assert as_tuples(sessions(ev, T("2024-03-02"))) == [(1, T("2024-03-01 10:00"), T("2024-03-01 12:00"))]
    partials = daily_partials(tally_events(ev), ev, samples(), T("2024-03-01"), T("2024-03-02"))
    assert partials[["power_on_count", "power_off_count", "active_us"]].values.tolist() == [[1, 1, 2 * HOUR_US]]


def test_battery_sample_at_session_start_is_active_and_at_end_idle():
    ev = events((1, 1, "power_on", "2024-03-01 10:00"), (2, 1, "power_off", "2024-03-01 12:00"))
    battery = samples(
        (5, 1, "2024-03-01 10:00", -999, False),  # resend of id 1 (higher metric_id): dropped
        (1, 1, "2024-03-01 10:00", -100, False),  # at the session start: active
        (2, 1, "2024-03-01 12:00", -40, False),  # at the session end: idle
        (3, 1, "2024-03-01 11:00", 500, True),  # charging
        (4, 1, "2024-03-01 11:30", 0, False),  # neither discharging nor charging: ignored
        (6, 1, "2024-03-01 09:00", -60, False),  # before the session: idle
        (7, 1, "2024-03-02 00:00", -80, False),  # at window_end: outside the window
        (8, 2, "2024-03-01 11:00", -20, False),  # prosthetic 2 has no session: idle
    )
    s = sessions(ev, T("2024-03-02"))
    out = battery_by_day(battery, s, T("2024-03-01"), T("2024-03-02"))
    assert list(out.columns) == [
        "prosthetic_id", "day", "discharge_active_sum", "discharge_active_n", "discharge_idle_sum",
        "discharge_idle_n", "charge_sum", "charge_n",
    ]
    assert as_tuples(out) == [
        (1, date(2024, 3, 1), 100, 1, 40 + 60, 2, 500, 1),
        (2, date(2024, 3, 1), 0, 0, 20, 1, 0, 0),
    ]
    assert all(out[c].dtype == np.int64 for c in out.columns if c != "day")


def test_covered_us_is_union_and_exact():
    iv = intervals(
        (1, "2024-03-01 10:00:00", "2024-03-01 10:00:00.000001"),  # 1 microsecond
        (1, "2024-03-01 09:00", "2024-03-01 09:30"),
        (1, "2024-03-01 09:15", "2024-03-01 09:45"),  # overlaps the previous: union 45 min
        (1, "2024-03-01 09:45", "2024-03-01 10:00"),  # touches it: union 60 min
        (2, "2024-02-29 20:00", "2024-03-01 02:00"),  # clipped at window_start
        # Nested: the third starts after the second ends but inside the first -> 3 h in all.
        (3, "2024-03-01 09:00", "2024-03-01 12:00"),
        (3, "2024-03-01 09:30", "2024-03-01 10:00"),
        (3, "2024-03-01 11:00", "2024-03-01 11:30"),
    )
    assert as_tuples(covered_us_by_day(iv, T("2024-03-01"), T("2024-03-02"))) == [
        (1, date(2024, 3, 1), 60 * MINUTE_US + 1),
        (2, date(2024, 3, 1), 2 * HOUR_US),
        (3, date(2024, 3, 1), 3 * HOUR_US),
    ]


def test_daily_partials_shape_and_types():
    ev = events(
        (1, 1, "power_on", "2024-03-01 10:00"),
        (2, 1, "error", "2024-03-01 10:30"),
        (3, 2, "grip", "2024-03-01 10:30"),  # counted nowhere: prosthetic 2 gets no row
        (4, 1, "power_on", "2024-03-03 10:00"),  # after the window: does not exist for this run
    )
    partials = daily_partials(tally_events(ev), ev, samples(), T("2024-03-01"), T("2024-03-02"))
    assert list(partials.columns) == PARTIAL_COLUMNS
    assert partials["day"].tolist() == [date(2024, 3, 1)]
    assert partials["prosthetic_id"].tolist() == [1]
    assert partials[["power_on_count", "error_count", "active_us"]].values.tolist() == [[1, 1, 14 * HOUR_US]]
    assert all(partials[c].dtype == np.int64 for c in PARTIAL_COLUMNS[1:])
    with pytest.raises(ValueError, match="midnight"):
        daily_partials(tally_events(ev), ev, samples(), T("2024-03-01 06:00"), T("2024-03-02"))


def test_month_without_telemetry_is_a_row_of_zeros():
    prosthetics, users = dims((1, 1, date(2024, 1, 1)), (2, 1, date(2024, 1, 1)))
    sums = pd.DataFrame({"prosthetic_id": [2], **{c: [1] for c in PARTIAL_COLUMNS[2:]}})
    for given in (sums, pd.DataFrame()):  # the month's SUM may lack a prosthetic, or be empty
        out = prosthetic_month(given, prosthetics, users, date(2024, 3, 1), T("2024-04-01"))
        row = out[out["prosthetic_id"] == 1].iloc[0]
        assert row[PROSTHETIC_MART_COLUMNS[6:]].tolist() == [0] * 11
        assert len(out) == 2


def test_prosthetic_bought_on_or_after_period_end_is_absent():
    prosthetics, users = dims(
        (1, 1, date(2024, 1, 31)),
        (2, 1, date(2024, 2, 1)),
        (3, 1, date(2024, 2, 14)),
        (4, 1, date(2024, 2, 15)),  # = period end of February with H = 02-15 00:00
    )
    horizon = T("2024-02-15")
    jan = prosthetic_month(pd.DataFrame(), prosthetics, users, date(2024, 1, 1), horizon)
    feb = prosthetic_month(pd.DataFrame(), prosthetics, users, date(2024, 2, 1), horizon)
    assert jan["prosthetic_id"].tolist() == [1]
    assert feb["prosthetic_id"].tolist() == [1, 2, 3]


def test_prosthetic_month_columns_types_order_and_rounding():
    u1, u2 = uuid.UUID(int=1), uuid.UUID(int=2)
    prosthetics = pd.DataFrame(
        {
            "prosthetic_id": [1, 3, 2],
            "prosthetic_uuid": [uuid.UUID(int=11), uuid.UUID(int=13), uuid.UUID(int=12)],
            "user_id": [2, 1, 1],
            "device_type": ["leg", "hand", "arm"],
            "purchase_date": [date(2024, 1, 1)] * 3,
        }
    )
    users = pd.DataFrame({"user_id": [1, 2], "user_uuid": [u1, u2]})
    sums = pd.DataFrame({c: [0] for c in ["prosthetic_id", *PARTIAL_COLUMNS[2:]]})
    sums.loc[0, ["prosthetic_id", "downtime_us", "active_us"]] = [2, 30 * MINUTE_US + 59_999_999, 5_400_000_000]
    sums.loc[0, ["discharge_idle_sum", "discharge_idle_n", "charge_sum", "charge_n"]] = [7, 2, 1000, 3]
    out = prosthetic_month(sums, prosthetics, users, date(2024, 3, 1), T("2024-03-10"))

    assert list(out.columns) == PROSTHETIC_MART_COLUMNS
    assert list(zip(out["user_id"], out["prosthetic_id"])) == [(1, 2), (1, 3), (2, 1)]
    first = out.iloc[0]
    assert first["downtime_minutes"] == 30  # 30 min 59.999999 s, floored
    assert first["total_active_hours"] == 1.5
    assert first["avg_discharge_rate_idle"] == 3.5
    assert first["avg_charge_rate"] == pytest.approx(1000 / 3)
    assert first["user_uuid"] == str(u1) and first["prosthetic_uuid"] == str(uuid.UUID(int=12))
    assert isinstance(first["user_uuid"], str)
    assert out["report_date"].tolist() == [date(2024, 3, 1)] * 3
    for c in ["prosthetic_id", "user_id", "power_on_count", "charge_cycles", "downtime_minutes"]:
        assert out[c].dtype == np.int32, c
    for c in ["total_active_hours", "avg_discharge_rate_active", "avg_charge_rate"]:
        assert out[c].dtype == np.float64, c


def test_prosthetic_of_unknown_user_is_refused():
    prosthetics, _ = dims((1, 99, date(2024, 1, 1)))
    users = pd.DataFrame({"user_id": [1], "user_uuid": ["u-1"]})
    with pytest.raises(ValueError, match="99"):
        prosthetic_month(pd.DataFrame(), prosthetics, users, date(2024, 3, 1), T("2024-04-01"))
