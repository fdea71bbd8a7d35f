"""tasks/sql/compute_partials.sql (and build_prosthetic_mart.sql on its output) on tiny hand-made
rows; the expected figures are worked out by hand in the comments."""

from __future__ import annotations

from datetime import date, datetime

import pytest

from tests.sql.helpers import (
    DAY_US,
    HOUR_US,
    MINUTE_US,
    OTHER_RUN,
    build_prosthetic_mart,
    compute_partials,
    one,
    read_partials,
    stage_events,
    stage_lookback,
    stage_prosthetics,
    stage_samples,
    stage_users,
)

pytestmark = pytest.mark.integration

D = datetime


def by_day(partials, prosthetic_id: int, column: str) -> dict:
    rows = partials[partials["prosthetic_id"] == prosthetic_id]
    return dict(zip(rows["day"], rows[column]))


# --- the contract's worked example --------------------------------------------------------------


WORKED_EVENTS = [
    (1, 7, "power_on", "2024-01-31 22:00"),
    (2, 7, "power_off", "2024-02-01 01:00"),
    (3, 7, "power_on", "2024-02-01 08:00"),
    (4, 7, "critical_error", "2024-02-01 09:15"),
    (5, 7, "power_on", "2024-02-01 09:45"),
    (6, 7, "charging_completed", "2024-02-01 12:45"),
]
WORKED_SAMPLES = [
    (1, 7, "2024-01-31 23:30", -90, False),
    (2, 7, "2024-02-01 03:00", -30, False),
]


def test_worked_example_day_by_day_then_both_months(db):
    # Two daily runs, as the scheduled ETL makes them: each stages its day's rows and the state
    # events before it that can still reach in (the 22:00 power_on reaches 1 February).
    stage_events(db, WORKED_EVENTS[:1], run_id="day-31")
    stage_samples(db, WORKED_SAMPLES[:1], run_id="day-31")
    jan31 = compute_partials(db, D(2024, 1, 31), D(2024, 2, 1), run_id="day-31", computed_at=D(2024, 2, 1, 1))

    stage_events(db, WORKED_EVENTS[1:], run_id="day-01")
    stage_lookback(db, WORKED_EVENTS[:1], run_id="day-01")
    stage_samples(db, WORKED_SAMPLES[1:], run_id="day-01")
    feb01 = compute_partials(db, D(2024, 2, 1), D(2024, 2, 2), run_id="day-01", computed_at=D(2024, 2, 2, 1))

    # 31 Jan: the session 22:00..(01:00 next day) gives 2 h; the 23:30 sample (-90) is inside it.
    assert len(jan31) == 1
    j = one(jan31, prosthetic_id=7)
    assert j["day"] == date(2024, 1, 31)
    assert (j["power_on_count"], j["power_off_count"]) == (1, 0)
    assert j["active_us"] == 2 * HOUR_US
    assert (j["discharge_active_sum"], j["discharge_active_n"]) == (90, 1)
    assert (j["discharge_idle_n"], j["downtime_us"]) == (0, 0)

    # 1 Feb: sessions 00:00..01:00, 08:00..09:15 (ended by the critical_error) and 09:45..24:00 (H):
    # 1 h + 1.25 h + 14.25 h = 16.5 h; downtime 09:15..09:45 = 30 min; the 03:00 sample is idle.
    # The lookback's power_on is not counted again.
    assert len(feb01) == 1
    f = one(feb01, prosthetic_id=7)
    assert (f["power_on_count"], f["power_off_count"], f["critical_error_count"], f["charge_cycles"]) == (2, 1, 1, 1)
    assert f["active_us"] == 16 * HOUR_US + 30 * MINUTE_US
    assert f["downtime_us"] == 30 * MINUTE_US
    assert (f["discharge_idle_sum"], f["discharge_idle_n"], f["discharge_active_n"]) == (30, 1, 0)

    stage_users(db, [(1, "2023-01-01 00:00")], run_id="mart")
    stage_prosthetics(db, [(7, 1, date(2023, 5, 1))], run_id="mart")
    jan = build_prosthetic_mart(db, date(2024, 1, 1), D(2024, 2, 1), run_id="mart")
    feb = build_prosthetic_mart(db, date(2024, 2, 1), D(2024, 2, 2), run_id="mart")

    # January: power_on 1, power_off 0, 2.0 h, active rate 90, downtime 0.
    assert jan.to_dict("records") == [{
        "report_date": date(2024, 1, 1), "prosthetic_id": 7, "user_id": 1, "user_uuid": "u-1",
        "prosthetic_uuid": "p-7", "device_type": "arm", "power_on_count": 1, "power_off_count": 0,
        "total_active_hours": 2.0, "avg_discharge_rate_active": 90.0, "avg_discharge_rate_idle": 0.0,
        "avg_charge_rate": 0.0, "charge_cycles": 0, "warning_count": 0, "error_count": 0,
        "critical_error_count": 0, "downtime_minutes": 0,
    }]
    # February to date: 2 / 1, 16.5 h, active 0, idle 30, downtime 30 min, 1 critical, 1 cycle.
    assert feb.to_dict("records") == [{
        "report_date": date(2024, 2, 1), "prosthetic_id": 7, "user_id": 1, "user_uuid": "u-1",
        "prosthetic_uuid": "p-7", "device_type": "arm", "power_on_count": 2, "power_off_count": 1,
        "total_active_hours": 16.5, "avg_discharge_rate_active": 0.0, "avg_discharge_rate_idle": 30.0,
        "avg_charge_rate": 0.0, "charge_cycles": 1, "warning_count": 0, "error_count": 0,
        "critical_error_count": 1, "downtime_minutes": 30,
    }]


def test_worked_example_in_one_window_gives_the_same_partials(db):
    stage_events(db, WORKED_EVENTS)
    stage_samples(db, WORKED_SAMPLES)
    partials = compute_partials(db, D(2024, 1, 25), D(2024, 2, 2))
    assert by_day(partials, 7, "active_us") == {date(2024, 1, 31): 2 * HOUR_US,
                                                date(2024, 2, 1): 16 * HOUR_US + 30 * MINUTE_US}
    assert by_day(partials, 7, "downtime_us") == {date(2024, 1, 31): 0, date(2024, 2, 1): 30 * MINUTE_US}
    # Only days with a nonzero measure: nothing for 25..30 January.
    assert partials["day"].tolist() == [date(2024, 1, 31), date(2024, 2, 1)]


# --- resends ------------------------------------------------------------------------------------


def test_resends_count_once(db):
    stage_events(db, [
        (1, 1, "power_on", "2024-03-05 08:00"),             # NULL value
        (11, 1, "power_on", "2024-03-05 08:00"),            # its resend (NULLs equal): one power_on
        (2, 1, "warning", "2024-03-05 09:00", 5.0),
        (12, 1, "warning", "2024-03-05 09:00", 5.0),        # resend: one warning
        (3, 1, "warning", "2024-03-05 09:00", 6.0),         # another value: a second warning
        (4, 1, "power_off", "2024-03-05 10:00", 0.0),
        (14, 1, "power_off", "2024-03-05 10:00", -0.0),     # -0.0 equals 0.0: one power_off
        (5, 1, "charging_completed", "2024-03-05 11:00", float("nan")),
        (15, 1, "charging_completed", "2024-03-05 11:00"),  # NaN and NULL are both "no value"
        # A resend group decides by its lowest event_id, whatever the other rows say:
        (20, 1, "battery_low", "2024-03-05 12:00", 1.0, "info"),
        (21, 1, "battery_low", "2024-03-05 12:00", 1.0, "warning"),   # shadowed by id 20: no warning
        (31, 1, "battery_low", "2024-03-05 13:00", 2.0, "info"),
        (30, 1, "battery_low", "2024-03-05 13:00", 2.0, "error"),     # lowest id: one error
        (40, 1, "grip", "2024-03-05 14:00", 3.0),
        (41, 1, "grip", "2024-03-05 14:00", 3.0),
    ])
    stage_samples(db, [
        (1, 1, "2024-03-05 12:00", -40, False),
        (2, 1, "2024-03-05 12:00", -100, False),  # repeated sample: the lowest metric_id (-40) stays
        (4, 1, "2024-03-05 12:30", 300, True),
        (3, 1, "2024-03-05 12:30", 200, True),    # lowest id is 3: charge 200
    ])
    p = one(compute_partials(db, D(2024, 3, 5), D(2024, 3, 6)), prosthetic_id=1)
    assert (p["power_on_count"], p["power_off_count"], p["charge_cycles"]) == (1, 1, 1)
    assert (p["warning_count"], p["error_count"], p["critical_error_count"]) == (2, 1, 0)
    # One session 08:00..10:00 (the resent power_on at 08:00 would end it at once otherwise).
    assert p["active_us"] == 2 * HOUR_US
    assert (p["discharge_idle_sum"], p["discharge_idle_n"]) == (40, 1)
    assert (p["charge_sum"], p["charge_n"]) == (200, 1)


def test_a_resend_after_another_event_at_the_same_instant_starts_nothing(db):
    # In (event_timestamp, event_id) order: power_on 5, power_off 6, power_on 7. Event 7 resends
    # event 5 (-0.0 equals 0.0), so it is dropped and the only session, 5..6, has zero length; kept,
    # it would start a session 08:00..09:00.
    stage_events(db, [
        (5, 1, "power_on", "2024-03-05 08:00", 0.0),
        (6, 1, "power_off", "2024-03-05 08:00"),
        (7, 1, "power_on", "2024-03-05 08:00", -0.0),
        (8, 1, "power_off", "2024-03-05 09:00"),
    ])
    p = one(compute_partials(db, D(2024, 3, 5), D(2024, 3, 6)), prosthetic_id=1)
    assert (p["power_on_count"], p["power_off_count"], p["active_us"]) == (1, 2, 0)


# --- sessions -----------------------------------------------------------------------------------


def test_session_without_power_off_is_capped_at_24_hours(db):
    stage_events(db, [(1, 2, "power_on", "2024-03-10 06:00")])
    stage_samples(db, [
        (1, 2, "2024-03-11 05:59:59.999999", -10, False),  # last microsecond of the session: active
        (2, 2, "2024-03-11 06:00", -20, False),            # 24 h after the start: idle
    ])
    partials = compute_partials(db, D(2024, 3, 10), D(2024, 3, 13))
    # 10 Mar 06:00..24:00 = 18 h, 11 Mar 00:00..06:00 = 6 h, nothing on 12 Mar (not a row at all).
    assert by_day(partials, 2, "active_us") == {date(2024, 3, 10): 18 * HOUR_US, date(2024, 3, 11): 6 * HOUR_US}
    p = one(partials, day=date(2024, 3, 11))
    assert (p["discharge_active_sum"], p["discharge_idle_sum"]) == (10, 20)


def test_session_crossing_midnight_and_months(db):
    stage_events(db, [(1, 3, "power_on", "2024-02-29 23:00"), (2, 3, "power_off", "2024-03-01 01:30")])
    partials = compute_partials(db, D(2024, 2, 28), D(2024, 3, 2))
    # 29 Feb 23:00..24:00 = 1 h (leap day), 1 Mar 00:00..01:30 = 1.5 h.
    assert by_day(partials, 3, "active_us") == {date(2024, 2, 29): HOUR_US, date(2024, 3, 1): 90 * MINUTE_US}

    stage_users(db, [(1, "2024-01-01 00:00")])
    stage_prosthetics(db, [(3, 1, date(2024, 1, 2))])
    feb = one(build_prosthetic_mart(db, date(2024, 2, 1), D(2024, 3, 1)), prosthetic_id=3)
    mar = one(build_prosthetic_mart(db, date(2024, 3, 1), D(2024, 3, 2)), prosthetic_id=3)
    assert (feb["power_on_count"], feb["power_off_count"], feb["total_active_hours"]) == (1, 0, 1.0)
    assert (mar["power_on_count"], mar["power_off_count"], mar["total_active_hours"]) == (0, 1, 1.5)


def test_session_before_the_window_comes_from_the_lookback(db):
    # The lookback's power_on (23:00 the day before) and power_off... none: the window's power_off at
    # 01:00 ends it. The lookback rows only shape sessions: they are never counted.
    stage_lookback(db, [(1, 4, "power_on", "2024-05-09 23:00"), (2, 4, "power_off", "2024-05-09 20:00")])
    stage_events(db, [(3, 4, "power_off", "2024-05-10 01:00")])
    p = one(compute_partials(db, D(2024, 5, 10), D(2024, 5, 11)), prosthetic_id=4)
    assert (p["power_on_count"], p["power_off_count"]) == (0, 1)
    assert p["active_us"] == HOUR_US  # 00:00..01:00 of the 23:00..01:00 session


def test_zero_length_session_same_timestamp_higher_id(db):
    # Order is (event_timestamp, event_id): staged out of order on purpose.
    stage_events(db, [
        # prosthetic 5: power_on id 10 then power_off id 11 at the same instant: a zero-length session.
        (11, 5, "power_off", "2024-06-01 12:00"),
        (10, 5, "power_on", "2024-06-01 12:00"),
        # prosthetic 6: power_off id 20 then power_on id 21 at 12:00: the session runs 12:00..13:00.
        (21, 6, "power_on", "2024-06-01 12:00"),
        (20, 6, "power_off", "2024-06-01 12:00"),
        (22, 6, "power_off", "2024-06-01 13:00"),
    ])
    stage_samples(db, [(1, 5, "2024-06-01 12:00", -10, False), (2, 6, "2024-06-01 12:00", -20, False)])
    partials = compute_partials(db, D(2024, 6, 1), D(2024, 6, 2))
    p5, p6 = one(partials, prosthetic_id=5), one(partials, prosthetic_id=6)
    assert (p5["power_on_count"], p5["power_off_count"], p5["active_us"]) == (1, 1, 0)
    assert (p5["discharge_idle_n"], p5["discharge_active_n"]) == (1, 0)  # in no session
    assert (p6["power_on_count"], p6["power_off_count"], p6["active_us"]) == (1, 2, HOUR_US)
    assert (p6["discharge_active_sum"], p6["discharge_idle_n"]) == (20, 0)  # at the session's start


def test_samples_at_a_session_start_and_end_half_open(db):
    stage_events(db, [(1, 8, "power_on", "2024-07-01 08:00"), (2, 8, "power_off", "2024-07-01 10:00")])
    stage_samples(db, [
        (1, 8, "2024-07-01 07:59:59.999999", -1, False),  # before: idle
        (2, 8, "2024-07-01 08:00", -10, False),           # at the start: active
        (3, 8, "2024-07-01 09:59:59.999999", -100, False),  # last microsecond: active
        (4, 8, "2024-07-01 10:00", -1000, False),         # at the end: idle
        (5, 8, "2024-07-01 09:00", 500, True),            # charging: a charge sample
        (6, 8, "2024-07-01 09:30", 0, False),             # 0 mA, not charging: counts nowhere
    ])
    p = one(compute_partials(db, D(2024, 7, 1), D(2024, 7, 2)), prosthetic_id=8)
    assert (p["discharge_active_sum"], p["discharge_active_n"]) == (110, 2)
    assert (p["discharge_idle_sum"], p["discharge_idle_n"]) == (1001, 2)
    assert (p["charge_sum"], p["charge_n"]) == (500, 1)


# --- downtime -----------------------------------------------------------------------------------


def test_overlapping_downtimes_are_a_union(db):
    stage_events(db, [
        (1, 9, "power_on", "2024-08-01 09:00"),
        (2, 9, "critical_error", "2024-08-01 10:00"),  # ends the session: 09:00..10:00
        (3, 9, "critical_error", "2024-08-01 10:20"),  # a second fault before the reboot
        (4, 9, "power_on", "2024-08-01 11:00"),        # the reboot ends both downtimes
        (5, 9, "power_off", "2024-08-01 12:00"),
    ])
    p = one(compute_partials(db, D(2024, 8, 1), D(2024, 8, 2)), prosthetic_id=9)
    # 10:00..11:00 and 10:20..11:00: 60 minutes, not 100.
    assert p["downtime_us"] == 60 * MINUTE_US
    assert p["critical_error_count"] == 2
    # 09:00..10:00, then 10:20 (critical_error; no session) and 11:00..12:00.
    assert p["active_us"] == 2 * HOUR_US


def test_downtime_is_capped_at_7_days(db):
    stage_events(db, [(1, 10, "critical_error", "2024-04-01 12:00")])
    partials = compute_partials(db, D(2024, 4, 1), D(2024, 4, 10))
    # 1 Apr 12:00..8 Apr 12:00: 12 h, six whole days, 12 h; nothing on 9 Apr.
    expected = {date(2024, 4, 1): 12 * HOUR_US, date(2024, 4, 8): 12 * HOUR_US}
    expected.update({date(2024, 4, d): DAY_US for d in range(2, 8)})
    assert by_day(partials, 10, "downtime_us") == expected

    stage_users(db, [(1, "2024-01-01 00:00")])
    stage_prosthetics(db, [(10, 1, date(2024, 1, 2))])
    apr = one(build_prosthetic_mart(db, date(2024, 4, 1), D(2024, 4, 10)), prosthetic_id=10)
    assert apr["downtime_minutes"] == 7 * 24 * 60


def test_downtime_from_the_lookback_and_floor_of_minutes(db):
    # A fault at 27 Mar 23:59:30 (before the window: a lookback row), never rebooted: capped at
    # 7 days, it ends 3 Apr 23:59:30, 30 s before the end of 3 April.
    stage_lookback(db, [(1, 11, "critical_error", "2024-03-27 23:59:30")])
    partials = compute_partials(db, D(2024, 4, 1), D(2024, 4, 5))
    assert by_day(partials, 11, "downtime_us") == {
        date(2024, 4, 1): DAY_US, date(2024, 4, 2): DAY_US, date(2024, 4, 3): DAY_US - 30_000_000}
    stage_users(db, [(1, "2024-01-01 00:00")])
    stage_prosthetics(db, [(11, 1, date(2024, 1, 2))])
    apr = one(build_prosthetic_mart(db, date(2024, 4, 1), D(2024, 4, 5)), prosthetic_id=11)
    # 3 days less 30 s: 4319.5 minutes, floored.
    assert apr["downtime_minutes"] == 3 * 24 * 60 - 1
    assert apr["critical_error_count"] == 0  # lookback rows are never counted


# --- runs, days and recomputation ---------------------------------------------------------------


def test_rows_of_another_run_are_ignored(db):
    stage_events(db, [(1, 12, "power_on", "2024-09-01 08:00"), (2, 12, "power_off", "2024-09-01 09:00")])
    stage_samples(db, [(1, 12, "2024-09-01 08:30", -10, False)])
    # Another run's rows: the same prosthesis, other events in the same window.
    stage_events(db, [(3, 12, "power_off", "2024-09-01 08:15"), (4, 12, "warning", "2024-09-01 08:20"),
                      (5, 13, "power_on", "2024-09-01 08:00")], run_id=OTHER_RUN)
    stage_lookback(db, [(6, 12, "power_on", "2024-08-31 23:00")], run_id=OTHER_RUN)
    stage_samples(db, [(2, 12, "2024-09-01 08:30", -99, False), (3, 13, "2024-09-01 08:30", -5, False)],
                  run_id=OTHER_RUN)
    partials = compute_partials(db, D(2024, 9, 1), D(2024, 9, 2))
    assert partials["prosthetic_id"].tolist() == [12]
    p = one(partials, prosthetic_id=12)
    assert (p["power_on_count"], p["power_off_count"], p["warning_count"]) == (1, 1, 0)
    assert p["active_us"] == HOUR_US
    assert (p["discharge_active_sum"], p["discharge_active_n"]) == (10, 1)


def test_only_the_requested_days_are_inserted(db):
    stage_events(db, [(1, 14, "power_on", "2024-10-01 22:00"), (2, 14, "power_off", "2024-10-03 01:00"),
                      (3, 14, "warning", "2024-10-02 05:00")])
    partials = compute_partials(db, D(2024, 10, 1), D(2024, 10, 4), days=[date(2024, 10, 2)])
    # The session (capped: 1 Oct 22:00..2 Oct 22:00) still starts the day before.
    assert partials.to_dict("records") == [{
        "day": date(2024, 10, 2), "prosthetic_id": 14, "power_on_count": 0, "power_off_count": 0,
        "charge_cycles": 0, "warning_count": 1, "error_count": 0, "critical_error_count": 0,
        "active_us": 22 * HOUR_US, "downtime_us": 0, "discharge_active_sum": 0, "discharge_active_n": 0,
        "discharge_idle_sum": 0, "discharge_idle_n": 0, "charge_sum": 0, "charge_n": 0,
    }]


def test_a_recomputed_day_counts_only_its_latest_computation(db):
    first, second = D(2024, 11, 3, 1), D(2024, 11, 4, 1)
    stage_events(db, [(1, 15, "power_on", "2024-11-02 10:00"), (2, 15, "power_off", "2024-11-02 11:00"),
                      (3, 16, "warning", "2024-11-02 12:00")], run_id="first")
    compute_partials(db, D(2024, 11, 2), D(2024, 11, 3), run_id="first", computed_at=first)
    # Late rows arrive: the day is computed again by a later run (prosthesis 16's warning was a
    # misread and is gone from the source; prosthesis 15 has a second session).
    stage_events(db, [(1, 15, "power_on", "2024-11-02 10:00"), (2, 15, "power_off", "2024-11-02 11:00"),
                      (4, 15, "power_on", "2024-11-02 20:00"), (5, 15, "power_off", "2024-11-02 20:30")],
                 run_id="second")
    compute_partials(db, D(2024, 11, 2), D(2024, 11, 3), run_id="second", computed_at=second)
    # Both computations' rows may still be stored (ReplacingMergeTree merges whenever it likes).
    assert len(read_partials(db, first)) in (0, 1, 2)
    assert len(read_partials(db, second)) == 1

    stage_users(db, [(1, "2024-01-01 00:00")], run_id="mart")
    stage_prosthetics(db, [(15, 1, date(2024, 1, 2)), (16, 1, date(2024, 1, 2))], run_id="mart")
    nov = build_prosthetic_mart(db, date(2024, 11, 1), D(2024, 11, 3), run_id="mart")
    p15, p16 = one(nov, prosthetic_id=15), one(nov, prosthetic_id=16)
    assert (p15["power_on_count"], p15["total_active_hours"]) == (2, 1.5)  # not 3 / 2.5
    assert p16["warning_count"] == 0


def test_a_stale_mark_hides_the_day_until_it_is_recomputed(db):
    # The same rule as tasks/sql/ch_month_partial_sums.sql: the day's latest mark decides.
    stage_events(db, [(1, 17, "power_on", "2024-11-02 10:00")])
    compute_partials(db, D(2024, 11, 2), D(2024, 11, 3), computed_at=D(2024, 11, 3, 1))
    db.insert("bionicpro_work.partial_days", [[date(2024, 11, 2), D(2024, 11, 3, 2), 0, 1]],
              column_names=["day", "computed_at", "rows", "stale"])
    stage_users(db, [(1, "2024-01-01 00:00")])
    stage_prosthetics(db, [(17, 1, date(2024, 1, 2))])
    p = one(build_prosthetic_mart(db, date(2024, 11, 1), D(2024, 11, 3)), prosthetic_id=17)
    assert (p["power_on_count"], p["total_active_hours"]) == (0, 0.0)
