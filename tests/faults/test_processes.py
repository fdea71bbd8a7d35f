"""Processes left behind (issue 13): what a stopped or killed command may leave running.

A process "of the data dir" is one whose environment names the trial's BIONICPRO_DATA_DIR (the CLI,
everything the stack or a flow run starts, the temporary Prefect server) or that runs in it (the
embedded postmaster and its backends, the reaper). Zombies count as gone: they hold no memory or
port, and this machine's init reaps them late.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
UNSET = ("CRM_DATABASE_URL", "TELEMETRY_DATABASE_URL", "CLICKHOUSE_URL", "CLICKHOUSE_WORK_URL", "PREFECT_API_URL",
         "BIONICPRO_FAILPOINT", "BIONICPRO_API_HOST")
TRIALS = 3

pytestmark = pytest.mark.integration


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def data(tmp_path):
    """The trial's data dir; whatever of it is still running at the end is killed (and reported)."""
    path = tmp_path / "data"
    yield path
    for process in of_data_dir(path):
        process.kill()


@pytest.fixture
def env(data):
    base = {name: value for name, value in os.environ.items() if name not in UNSET}
    return {**base, "BIONICPRO_DATA_DIR": str(data), "PREFECT_HOME": str(data / "prefect"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "BIONICPRO_PREFECT_PORT": str(_free_port()), "BIONICPRO_API_PORT": str(_free_port())}


def _alive(process: psutil.Process) -> bool:
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def of_data_dir(data: Path) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter():
        try:
            if process.pid == os.getpid() or not _alive(process):
                continue
            if process.environ().get("BIONICPRO_DATA_DIR") == str(data) or Path(process.cwd()).is_relative_to(data) \
                    or str(data) in " ".join(process.cmdline()):
                found.append(process)
        except psutil.Error:
            pass
    return found


def describe(processes: list[psutil.Process]) -> str:
    lines = []
    for process in processes:
        with_name = process.as_dict(["pid", "cmdline"])
        lines.append(f"{with_name['pid']}: {' '.join(with_name['cmdline'] or [])[:150]}")
    return "\n".join(lines)


def listening(port: int) -> bool:
    return any(conn.status == psutil.CONN_LISTEN and conn.laddr.port == port for conn in psutil.net_connections("tcp"))


def wait_until(condition, timeout: float) -> float | None:
    """Seconds until ``condition()`` held, or None after ``timeout``."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.2)
    return None


def bionicpro(env: dict, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "bionicpro"), *args], env=env, cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout)


def start(env: dict, log: Path, *args: str) -> subprocess.Popen:
    """A command in a session of its own, its output in ``log``."""
    with open(log, "w") as out:
        return subprocess.Popen(list(args), env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)


def wait_for_line(process: subprocess.Popen, log: Path, text: str, timeout: float) -> None:
    if wait_until(lambda: text in log.read_text() or process.poll() is not None, timeout) is None \
            or process.poll() is not None:
        pytest.fail(f"no {text!r} within {timeout:.0f} s (exit {process.poll()}):\n{log.read_text()[-3000:]}")


def postmaster_pid(data: Path) -> int:
    return int((data / "postgres" / "postmaster.pid").read_text().splitlines()[0])


@pytest.mark.fault("SIGTERM to bionicpro up")
def test_sigterm_to_up_stops_the_whole_stack(data, env, tmp_path):
    """`bionicpro up` on the trial's ports: both are health-checked and printed; SIGTERM then leaves
    no process of the data dir and no listener on either port (30 s allowed)."""
    prefect_port, api_port = int(env["BIONICPRO_PREFECT_PORT"]), int(env["BIONICPRO_API_PORT"])
    log = tmp_path / "up.log"
    up = start(env, log, str(BIN / "bionicpro"), "up")
    wait_for_line(up, log, "stops everything", 150)
    output = log.read_text()
    assert f"Prefect UI: http://127.0.0.1:{prefect_port}" in output
    assert f"Reports API: http://127.0.0.1:{api_port}" in output
    assert listening(prefect_port) and listening(api_port)
    running = of_data_dir(data)
    names = " ".join(" ".join(p.cmdline()) for p in running)
    for service in ("prefect server start", "prefect worker start", "bionicpro-api serve", "postgres -D"):
        assert service in names, describe(running)

    up.send_signal(signal.SIGTERM)
    seconds = wait_until(lambda: not of_data_dir(data) and not listening(prefect_port) and not listening(api_port),
                         30)
    assert seconds is not None, f"30 s after SIGTERM:\n{describe(of_data_dir(data))}"
    assert up.wait(5) == 0, log.read_text()[-3000:]
    print(f"stack of {len(running)} processes gone {seconds:.1f} s after SIGTERM")


@pytest.mark.parametrize("trial", range(TRIALS))
@pytest.mark.fault("kill -9 of the embedded postmaster")
def test_the_next_command_after_a_killed_postmaster_succeeds(data, env, tmp_path, trial):
    """A process holds the embedded server; its postmaster is killed with SIGKILL; the very next
    command starts a new one (its stale postmaster.pid is recognised) and succeeds."""
    assert bionicpro(env, "init").returncode == 0
    log = tmp_path / "holder.log"
    holder = start(env, log, sys.executable, "-c",
                   "from bionicpro.settings import get_settings\n"
                   "get_settings().postgres_url('crm_db')\n"
                   "print('holding', flush=True)\n"
                   "import time; time.sleep(120)\n")
    wait_for_line(holder, log, "holding", 60)
    killed = postmaster_pid(data)
    os.kill(killed, signal.SIGKILL)

    started = time.monotonic()
    counts = bionicpro(env, "counts")
    assert counts.returncode == 0, counts.stdout[-2000:] + counts.stderr[-3000:]
    assert "crm_users" in counts.stdout
    assert postmaster_pid(data) != killed
    print(f"counts after the kill: {time.monotonic() - started:.1f} s")

    holder.kill()
    holder.wait()
    # The holder died without its atexit: the reaper stops the server it leaves.
    assert wait_until(lambda: not of_data_dir(data), 15) is not None, describe(of_data_dir(data))


def command_lines(data: Path) -> str:
    lines = []
    for process in of_data_dir(data):
        try:
            lines.append(" ".join(process.cmdline()))
        except psutil.Error:
            pass
    return "\n".join(lines)


@pytest.fixture
def seeded(data, env):
    assert bionicpro(env, "init").returncode == 0
    assert bionicpro(env, "seed", "--users", "2", "--months", "1").returncode == 0
    return env


@pytest.mark.parametrize("trial", range(TRIALS))
@pytest.mark.fault("kill -9 of bionicpro etl mid-run")
def test_a_killed_etl_leaves_no_prefect_server_or_postgres(data, seeded, tmp_path, trial):
    """SIGKILL of an in-process `bionicpro etl` while its flow runs: its temporary Prefect server dies
    with it (PR_SET_PDEATHSIG) and the embedded PostgreSQL, which it was the only one to hold, is
    stopped by the reaper; nothing of the data dir runs 10 s later."""
    log = tmp_path / "etl.log"
    etl = start(seeded, log, str(BIN / "bionicpro"), "etl")
    wait_for_line(etl, log, "Beginning flow run", 90)
    if wait_until(lambda: "postgres -D" in command_lines(data), 30) is None:
        pytest.fail(f"no postmaster:\n{command_lines(data)}\n{log.read_text()[-3000:]}")
    running = of_data_dir(data)
    assert "prefect.server.api.server:create_app" in command_lines(data), describe(running)
    assert etl.poll() is None, log.read_text()[-3000:]

    etl.kill()
    etl.wait()
    seconds = wait_until(lambda: not of_data_dir(data), 10)
    assert seconds is not None, f"10 s after the kill:\n{describe(of_data_dir(data))}"
    print(f"{len(running)} processes gone {seconds:.1f} s after the kill")


@pytest.mark.parametrize("trial", range(TRIALS))
@pytest.mark.fault("kill -9 of bionicpro etl starting PostgreSQL")
def test_an_etl_killed_while_starting_postgres_leaves_nothing(data, seeded, tmp_path, trial):
    """SIGKILL of `bionicpro etl` while its `pg_ctl start` runs, before pgserver counts it as a holder:
    the server it was starting is stopped anyway; nothing of the data dir runs 10 s later."""
    log = tmp_path / "etl.log"
    etl = start(seeded, log, str(BIN / "bionicpro"), "etl")
    deadline = time.monotonic() + 90
    while "pg_ctl" not in command_lines(data):
        if time.monotonic() > deadline or etl.poll() is not None:
            pytest.fail(f"no pg_ctl seen (exit {etl.poll()}):\n{log.read_text()[-3000:]}")
        time.sleep(0.01)
    etl.kill()
    etl.wait()
    seconds = wait_until(lambda: not of_data_dir(data), 10)
    assert seconds is not None, f"10 s after the kill:\n{describe(of_data_dir(data))}"
    print(f"gone {seconds:.1f} s after the kill")
