"""kill -9 of a daily run at every step, from staging to the swaps: every month stays exactly old
or exactly new (both marts and the load log), and the next run succeeds with no cleanup and
leaves every partition exactly right. Each trial first changes the sources (a payment and an
event of March), so old and new differ."""

from __future__ import annotations

import pytest

from tests.faults.harness import (REPORT_DATE, assert_consistent, assert_old_or_new, change_sources, left_behind, run,
                                  seen, snapshot)

pytestmark = pytest.mark.integration

# Every failpoint a daily run reaches (bionicpro/faults.py), in the order it reaches them.
POINTS = [
    *(f"stage:stage_{name}" for name in ("users", "prosthetics", "payments", "subscriptions", "tickets",
                                          "events", "lookback", "battery")),
    "check:sources", "compute:partials", "compute:marked", "build:user", "build:prosthetic", "check:marts",
    "publish:read_candidates", "publish:staged:user", "publish:staged:prosthetic", "publish:appended:user",
    "publish:appended:prosthetic", "publish:logged", "publish:swapped:user", "publish:swapped:prosthetic",
    "drop_run:stage_users", "drop_run:prosthetic_mart_candidates",
]


@pytest.mark.fault("kill -9 of a daily run (each step, each swap)")
@pytest.mark.parametrize("point", POINTS)
def test_a_killed_run_leaves_months_old_or_new(world, point):
    env = world["env"]
    world["trial"] += 1
    change_sources(env, world["trial"])
    old = world.pop("state", None) or snapshot(env)  # (a trial that failed midway left no state)

    killed = run(env, "etl", "--report-date", REPORT_DATE, BIONICPRO_FAILPOINT=point)
    assert killed.returncode == -9, f"{point} not reached:\n{killed.stdout[-2000:]}{killed.stderr[-2000:]}"
    assert left_behind(killed.pid) == []
    after = snapshot(env)
    assert_consistent(after, settled=False)

    finished = run(env, "etl", "--report-date", REPORT_DATE)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    new = snapshot(env)
    assert_consistent(new, settled=True)
    assert seen(new["2024-03-01"]) != seen(old["2024-03-01"]), "the trial's source change did not show"
    assert_old_or_new(old, after, new)
    world["state"] = new
