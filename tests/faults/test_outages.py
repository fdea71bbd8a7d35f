"""Sources that refuse, hang or drop mid-copy, the warehouse failing mid-load, and two runs at
once: a failed run names what failed, leaves every month exactly as it was and says so in the
load log; the next run succeeds with no cleanup.

Not covered, and not detected: a source that stalls mid-copy while keeping its connection open
(chDB's postgresql() reader blocks in the read; max_execution_time does not interrupt it). See
docs/etl.md, "Faults"."""

from __future__ import annotations

import time

import psycopg2.extensions
import pytest

from tests.faults.harness import (REPORT_DATE, FaultySource, assert_consistent, change_sources, left_behind, run,
                                  seen, snapshot)

pytestmark = pytest.mark.integration


def socket_path(env: dict[str, str]) -> str:
    from bionicpro.settings import TELEMETRY_DB, Settings

    dsn = psycopg2.extensions.parse_dsn(Settings(BIONICPRO_DATA_DIR=env["BIONICPRO_DATA_DIR"]).postgres_url(TELEMETRY_DB))
    return f"{dsn['host']}/.s.PGSQL.{dsn.get('port') or 5432}"


def fails_and_keeps_months(world, named: str, failing_env: dict[str, str], within_s: float) -> str:
    """The run with ``failing_env`` fails within ``within_s`` naming what failed (``named``), every
    month reads as before and March's latest attempt is logged as failed; then a normal run
    succeeds and leaves nothing of the failed one."""
    env = world["env"]
    world["trial"] += 1
    change_sources(env, world["trial"])
    old = world.pop("state", None) or snapshot(env)  # (a trial that failed midway left no state)
    started = time.monotonic()
    failed = run({**env, **failing_env}, "etl", "--report-date", REPORT_DATE)
    took = time.monotonic() - started
    output = failed.stdout + failed.stderr
    assert failed.returncode not in (0, -9), output[-3000:]
    assert took < within_s, f"failed only after {took:.0f} s"
    print(f"{named}: the run failed after {took:.0f} s")
    assert named in output, output[-3000:]
    assert left_behind(failed.pid) == []
    after = snapshot(env)
    assert {m: seen(s) for m, s in after.items()} == {m: seen(s) for m, s in old.items()}
    assert after["2024-03-01"]["last_status"] == "failed" and named in after["2024-03-01"]["last_message"]

    finished = run(env, "etl", "--report-date", REPORT_DATE)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    world["state"] = snapshot(env)
    assert_consistent(world["state"], settled=True)
    assert seen(world["state"]["2024-03-01"]) != seen(old["2024-03-01"])
    return output


@pytest.mark.fault("a source refuses connections")
def test_a_refusing_source_fails_the_run_naming_it(world):
    source = FaultySource(socket_path(world["env"]), "refuse")
    fails_and_keeps_months(world, "crm_db", {"CRM_DATABASE_URL": source.url("crm_db")}, within_s=180)


@pytest.mark.fault("a source accepts but never answers")
def test_a_hanging_source_fails_within_its_timeout(world):
    source = FaultySource(socket_path(world["env"]), "hang")
    try:
        fails_and_keeps_months(world, "telemetry_db", {"TELEMETRY_DATABASE_URL": source.url("telemetry_db")},
                               within_s=240)
    finally:
        source.close()


@pytest.mark.fault("a source drops the connection mid-copy")
def test_a_source_dropping_mid_copy_fails_the_run(world):
    source = FaultySource(socket_path(world["env"]), "drop", drop_after=64 * 1024)
    try:
        fails_and_keeps_months(world, "telemetry_db", {"TELEMETRY_DATABASE_URL": source.url("telemetry_db")},
                               within_s=240)
    finally:
        source.close()


@pytest.mark.fault("the warehouse fails mid-load")
@pytest.mark.parametrize("step", ["publish:staged:prosthetic", "publish:appended:user", "publish:appended:prosthetic"])
def test_a_warehouse_failure_mid_load_keeps_the_month(world, step):
    fails_and_keeps_months(world, f"failpoint {step}", {"BIONICPRO_FAILPOINT": f"error@{step}"}, within_s=240)


@pytest.mark.fault("two runs at once")
def test_two_runs_at_once_both_finish_and_agree(world):
    import subprocess

    from tests.faults.harness import BIN, ROOT

    env = world["env"]
    world["trial"] += 1
    change_sources(env, world["trial"])
    old = world.pop("state", None) or snapshot(env)  # (a trial that failed midway left no state)
    runs = [subprocess.Popen([str(BIN / "bionicpro"), "etl", "--report-date", REPORT_DATE], env=env, cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
            for _ in range(2)]
    outputs = [process.communicate(timeout=600)[0] for process in runs]
    assert [process.returncode for process in runs] == [0, 0], "\n".join(output[-2000:] for output in outputs)
    assert all(left_behind(process.pid) == [] for process in runs)
    world["state"] = snapshot(env)
    assert_consistent(world["state"], settled=True)
    assert seen(world["state"]["2024-03-01"]) != seen(old["2024-03-01"])


@pytest.mark.fault("kill -9 of the embedded PostgreSQL mid-run")
def test_postgres_killed_mid_run_then_the_next_run_succeeds(world):
    """The postmaster dies right after the run staged the CRM; the run may fail, but every month
    stays old or new, and the very next run (which starts a new server) succeeds."""
    import os
    import signal
    import subprocess
    from pathlib import Path

    from tests.faults.harness import BIN, ROOT, assert_old_or_new

    env = world["env"]
    world["trial"] += 1
    change_sources(env, world["trial"])
    old = world.pop("state", None) or snapshot(env)  # (a trial that failed midway left no state)
    pid_file = Path(env["BIONICPRO_DATA_DIR"]) / "postgres" / "postmaster.pid"
    with subprocess.Popen([str(BIN / "bionicpro"), "etl", "--report-date", REPORT_DATE], env=env, cwd=ROOT, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True) as process:
        killed = None
        for line in process.stdout:
            if killed is None and "stage_crm" in line and "Finished" in line:
                killed = int(pid_file.read_text().split()[0])
                os.kill(killed, signal.SIGKILL)
        process.wait(timeout=600)
    assert killed is not None, "the run never staged the CRM"
    assert left_behind(process.pid) == []
    after = snapshot(env)
    assert_consistent(after, settled=False)

    finished = run(env, "etl", "--report-date", REPORT_DATE)
    assert finished.returncode == 0, finished.stdout[-3000:] + finished.stderr[-3000:]
    world["state"] = snapshot(env)
    assert_consistent(world["state"], settled=True)
    assert_old_or_new(old, after, world["state"])
