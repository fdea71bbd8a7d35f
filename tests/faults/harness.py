"""What every fault trial needs: the CLI in a process of its own, a snapshot of what readers see,
the processes a run left, and the checks that every month is exactly old or exactly new."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
REPORT_DATE = "2024-03-31"  # every trial runs the daily flow for March 2024
URL_VARIABLES = ("CRM_DATABASE_URL", "TELEMETRY_DATABASE_URL", "CLICKHOUSE_URL", "CLICKHOUSE_WORK_URL")


def trial_env(data_dir: Path, prefect_api_url: str) -> dict[str, str]:
    env = {name: value for name, value in os.environ.items() if name not in URL_VARIABLES}
    return {**env, "BIONICPRO_DATA_DIR": str(data_dir), "PREFECT_API_URL": prefect_api_url,
            "PREFECT_HOME": str(data_dir / "prefect"), "PREFECT_SERVER_ANALYTICS_ENABLED": "false"}


def run(env: dict[str, str], *args: str, timeout: float = 300, **extra: str) -> subprocess.CompletedProcess:
    """``bionicpro <args>`` in a session of its own (its id is the result's ``pid``), so that what it
    leaves behind can be found."""
    with subprocess.Popen([str(BIN / "bionicpro"), *args], env={**env, **extra}, cwd=ROOT, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True) as process:
        stdout, stderr = process.communicate(timeout=timeout)
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    done.pid = process.pid
    return done


def snapshot(env: dict[str, str]) -> dict[str, dict]:
    done = subprocess.run([sys.executable, str(ROOT / "tests" / "faults" / "snapshot.py")], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def left_behind(session_id: int) -> list[str]:
    """Processes still alive in a finished command's session."""
    found = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            if os.getsid(process.pid) == session_id and process.status() != psutil.STATUS_ZOMBIE:
                found.append(f"{process.pid}: {' '.join(process.info['cmdline'] or [])[:120]}")
        except (ProcessLookupError, psutil.Error):
            continue
    return found


def seen(month: dict) -> tuple:
    """A month as readers see it: both marts' published rows and the logged counts (not who wrote them)."""
    return month.get("user", []), month.get("prosthetic", []), month.get("logged")


def assert_consistent(state: dict[str, dict], settled: bool) -> None:
    """Each published month: the log's counts are the marts' rows and no key appears twice; once a
    run completed (``settled``), nothing but the published load is left in the partitions."""
    for month, found in state.items():
        if found["load_id"] is None:  # never published: readers see nothing of it
            assert not settled or not (found.get("user_raw") or found.get("prosthetic_raw")), f"{month}: rows left"
            continue
        for mart in ("user", "prosthetic"):
            keys = [row[f"{mart}_id"] for row in found.get(mart, [])]
            assert len(keys) == len(set(keys)), f"{month} {mart}: a key twice"
            assert f"('{mart}',{len(keys)})" in (found["logged"] or ""), f"{month}: log {found['logged']} vs {mart} {len(keys)}"
            if settled:
                assert {load for _, load in found.get(f"{mart}_raw", [])} <= {found["load_id"]}, f"{month} {mart}: old rows left"


def assert_old_or_new(old: dict[str, dict], after: dict[str, dict], new: dict[str, dict]) -> None:
    for month in sorted(set(old) | set(after) | set(new)):
        state = seen(after.get(month, {}))
        assert state in (seen(old.get(month, {})), seen(new.get(month, {}))), f"{month} is neither old nor new"


class FaultySource:
    """A TCP front for the embedded PostgreSQL's Unix socket that misbehaves on purpose:
    ``refuse`` (nothing listens), ``hang`` (accepts, never answers) or ``drop`` (relays, then cuts
    every connection that has sent ``drop_after`` bytes to the client)."""

    def __init__(self, socket_path: str, mode: str, drop_after: int = 256 * 1024):
        import socket
        import threading

        self.socket_path, self.mode, self.drop_after = socket_path, mode, drop_after
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.held: list = []
        if mode == "refuse":
            self.listener.close()  # the port stays free: connections are refused
            return
        self.listener.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def _accept(self) -> None:
        import socket
        import threading

        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.held.append(client)
            if self.mode == "drop":
                server = socket.socket(socket.AF_UNIX)
                server.connect(self.socket_path)
                self.held.append(server)
                threading.Thread(target=self._relay, args=(client, server, None), daemon=True).start()
                threading.Thread(target=self._relay, args=(server, client, self.drop_after), daemon=True).start()

    @staticmethod
    def _relay(source, target, budget: int | None) -> None:
        sent = 0
        try:
            while chunk := source.recv(65536):
                target.sendall(chunk)
                sent += len(chunk)
                if budget is not None and sent >= budget:
                    break
        except OSError:
            pass
        for end in (source, target):  # shutdown sends the FIN at once (close waits for the other thread)
            try:
                end.shutdown(2)
                end.close()
            except OSError:
                pass

    def close(self) -> None:
        for held in [self.listener, *self.held]:
            try:
                held.shutdown(2)
            except OSError:
                pass
            try:
                held.close()
            except OSError:
                pass


def change_sources(env: dict[str, str], trial: int) -> None:
    """A new successful payment and a new power_on in March, arriving now."""
    from bionicpro.db import pg_connection
    from bionicpro.settings import CRM_DB, TELEMETRY_DB, Settings

    settings = Settings(BIONICPRO_DATA_DIR=env["BIONICPRO_DATA_DIR"])
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with pg_connection(settings, CRM_DB) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO crm_payments SELECT 900000 + %(t)s, user_id, subscription_id, 10 + %(t)s, 'RUB', "
                    "'2024-03-10 12:00', 'success', 'card', %(now)s FROM crm_subscriptions "
                    "ORDER BY subscription_id LIMIT 1", {"t": trial, "now": now})
    with pg_connection(settings, TELEMETRY_DB) as conn, conn.cursor() as cur:
        cur.execute("INSERT INTO telemetry_events SELECT 900000000 + %(t)s, prosthetic_id, user_id, 'power_on', "
                    "'info', %(at)s, NULL, %(now)s FROM telemetry_events ORDER BY event_id LIMIT 1",
                    {"t": trial, "at": datetime(2024, 3, 12, 8) + timedelta(minutes=7 * trial), "now": now})
