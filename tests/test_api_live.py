"""Item 4 of the reports API issue: the API (a real `bionicpro-api serve` process on chDB) keeps
answering while a load runs in another process, and serves the new month afterwards, with no lock
error anywhere. Users 9101+ and months 2022-09/2022-10 are this module's own."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import date, datetime

import pytest

from tests.test_api import device_row, insert, log_rows, user_row, uuid_of

pytestmark = pytest.mark.integration

SEPTEMBER, OCTOBER = date(2022, 9, 1), date(2022, 10, 1)

# The load, in another process: several turns on the path like an ETL's tasks (each waits for its
# turn through clickhouse_client and holds it a while), the new month swapped in, then load_log.
LOADER = r"""
import json, sys, time
from datetime import date, datetime
from decimal import Decimal
from bionicpro.db import clickhouse_client
from bionicpro.settings import get_settings
from tests.test_api import device_row, insert, log_rows, user_row, USER_COLUMNS

settings = get_settings()
october = date(2022, 10, 1)
turns = []
started = time.time()
for step in range(6):
    asked = time.time()
    with clickhouse_client(settings) as client:
        entered = time.time()
        client.query("SELECT count() FROM reports_db.report_user_monthly_metrics")
        if step == 3:
            client.insert("reports_db.report_user_monthly_metrics",
                          [user_row(october, 9101, "4990.00", "4990.00", 0, 1, "4990.00", 1, 1)],
                          column_names=USER_COLUMNS)
        time.sleep(0.4)  # the task's work
    turns.append({"asked": asked, "entered": entered, "left": time.time()})
    time.sleep(0.25)     # Prefect between tasks: the API gets the path back meanwhile
insert(settings, [], [device_row(october, 91011, 9101, "hand", on=30, hours=300.5, active=100.0, idle=10.0,
                                 charge=900.0, cycles=29, warnings=1, errors=0, critical=0, downtime=0)],
       log_rows(october, datetime(2022, 11, 1), "success", datetime(2022, 11, 1, 3, 0)))
print(json.dumps({"started": started, "finished": time.time(), "turns": turns}))
"""


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _environment(settings) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIONICPRO_API_") and k != "CLICKHOUSE_URL"}
    env["BIONICPRO_DATA_DIR"] = str(settings.data_dir)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [os.getcwd(), env.get("PYTHONPATH")]))
    return env


@pytest.fixture(scope="module")
def server(settings, tmp_path_factory):
    """September loaded for 9101 and 9102; then `python -m api serve` on a free loopback port."""
    insert(settings,
           [user_row(SEPTEMBER, 9101, "4990.00", "4990.00", 0, 1, "4990.00"),
            user_row(SEPTEMBER, 9102, "1490.00", "1490.00", 0, 1, "1490.00")],
           [device_row(SEPTEMBER, 91011, 9101, "hand", on=25, hours=200.0, active=100.0, idle=10.0, charge=900.0,
                       cycles=24, warnings=0, errors=0, critical=0, downtime=0)],
           log_rows(SEPTEMBER, datetime(2022, 10, 1), "success", datetime(2022, 10, 1, 3, 0)))
    port = _free_port()
    log_path = tmp_path_factory.mktemp("api") / "serve.log"
    log = open(log_path, "w")
    process = subprocess.Popen([sys.executable, "-m", "api", "serve", "--port", str(port), "--no-access-log"],
                               env=_environment(settings), stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    import httpx

    deadline = time.monotonic() + 60
    while True:
        assert process.poll() is None, log_path.read_text()
        try:
            if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the API did not come up: " + log_path.read_text()
        time.sleep(0.2)
    yield base, log_path
    process.terminate()  # uvicorn shuts down gracefully (then re-raises SIGTERM): the store closes
    try:
        assert process.wait(30) in (0, -signal.SIGTERM), log_path.read_text()
        assert "Application shutdown complete" in log_path.read_text()
    finally:
        if process.poll() is None:
            process.kill()
        log.close()


def _mint(settings, *args: str) -> str:
    result = subprocess.run([sys.executable, "-m", "api", "mint-token", *args], env=_environment(settings),
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_mint_token_gets_its_turn_from_the_running_api(server, settings):
    """`bionicpro-api mint-token --user-id` reads the user mart: a second process on the path."""
    import httpx
    import jwt

    base, _ = server
    token = _mint(settings, "--user-id", "9101")
    assert jwt.decode(token, options={"verify_signature": False})["sub"] == uuid_of(9101)
    response = httpx.get(f"{base}/reports/me", params={"month": "2022-09"},
                         headers={"Authorization": f"Bearer {token}"}, timeout=15)
    assert response.status_code == 200 and response.json()["user_id"] == 9101
    unknown = subprocess.run([sys.executable, "-m", "api", "mint-token", "--user-id", "987654"],
                             env=_environment(settings), capture_output=True, text=True, timeout=120)
    assert unknown.returncode == 1 and "load a month first" in unknown.stderr


def test_the_api_answers_during_a_load_in_another_process(server, settings):
    import httpx

    base, log_path = server
    own = {"Authorization": f"Bearer {_mint(settings, '--user-id', '9101')}"}
    staff = {"Authorization": f"Bearer {_mint(settings, '--subject', 'staff-7', '--role', 'support')}"}
    calls = [("/reports/user/9102", {"month": "2022-09"}, staff), ("/reports/me", {"month": "2022-09"}, own),
             ("/reports/me", {"month": "2022-10"}, own)]
    results: list[tuple[float, float, str, int | str]] = []
    stop = threading.Event()

    def drive():
        with httpx.Client(base_url=base, timeout=30) as client:
            index = 0
            while not stop.is_set():
                path, params, headers = calls[index % len(calls)]
                index += 1
                sent = time.time()
                try:
                    status: int | str = client.get(path, params=params, headers=headers).status_code
                except httpx.HTTPError as error:
                    status = f"{type(error).__name__}: {error}"
                results.append((sent, time.time(), f"{path}?month={params['month']}", status))
                time.sleep(0.01)

    driver = threading.Thread(target=drive, daemon=True)
    driver.start()
    time.sleep(0.5)
    loader = subprocess.run([sys.executable, "-c", LOADER], env=_environment(settings), capture_output=True,
                            text=True, timeout=300)
    time.sleep(0.5)
    stop.set()
    driver.join(60)

    assert loader.returncode == 0, loader.stderr
    assert "Cannot lock" not in loader.stderr
    load = json.loads(loader.stdout.strip().splitlines()[-1])
    errors = [r for r in results if not isinstance(r[3], int) or r[3] >= 500]
    assert errors == [], errors[:5]
    assert {r[3] for r in results if "9102" in r[2] or "2022-09" in r[2]} == {200}
    # The load's turns each came quickly: the API stepped aside whenever a turn was wanted.
    waits = [turn["entered"] - turn["asked"] for turn in load["turns"]]
    assert max(waits) < 2.0, waits
    # The API answered during the load (between its turns), not only before and after it.
    during = [r for r in results if load["started"] < r[0] and r[1] < load["finished"] and r[3] == 200]
    assert len(during) >= 5, (len(during), len(results))
    # October: not loaded before the load, served from the new rows afterwards.
    october = [r for r in results if r[2].endswith("2022-10")]
    assert october[0][3] == 404 and october[-1][3] == 200
    assert all(status in (200, 404) for *_, status in october)
    after = httpx.get(f"{base}/reports/me", params={"month": "2022-10"}, headers=own, timeout=15).json()
    assert after["financial"]["total_payments"] == "4990.00" and after["complete"] is True
    assert [d["usage_hours"] for d in after["devices"]] == [300.5]
    assert "stepped aside" in log_path.read_text()
    latencies = sorted(r[1] - r[0] for r in results)
    print(f"\n{len(results)} requests during the test, {len(during)} answered during the load; "
          f"load turn waits {[round(w, 3) for w in waits]} s; "
          f"latency p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
          f"max {latencies[-1] * 1000:.1f} ms")
