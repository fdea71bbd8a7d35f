"""The embedded PostgreSQL (pgserver wheel): started on first use, shared by processes, stopped
once no process that joined it is alive, however they ended.

pgserver counts the processes that joined a server in ``<pgdata>/.handle_pids.json`` and the last
one to exit stops it. Two gaps are closed here: a process killed before its atexit ran stays in that
list for ever (so nobody is ever last), and a postmaster killed with SIGKILL leaves a
``postmaster.pid`` that pgserver takes for a live server when the pid is a zombie or reused. A small
reaper process per server (``python -m bionicpro.embedded <pgdata>``) stops it within a second or two
of its last holder's death, even when that holder was killed while starting it.
"""

from __future__ import annotations

import atexit
import logging
import os
import signal
import subprocess
import sys
import time
import warnings
from contextlib import suppress
from pathlib import Path

import psutil
import psycopg2
from psycopg2 import sql

from bionicpro.settings import CRM_DB, TELEMETRY_DB

SOURCE_DATABASES = (CRM_DB, TELEMETRY_DB)
HOLDERS_FILE = ".handle_pids.json"
REAPER_FILE = ".bionicpro_reaper.pid"
REAPER_MODULE = "bionicpro.embedded"
REAP_INTERVAL_S = 1.0
STOP_TIMEOUT_S = 30.0
_servers: dict[Path, object] = {}


def _pgserver():
    with warnings.catch_warnings():
        # pgserver resolves a runtime dir at import; without XDG_RUNTIME_DIR it falls back to
        # /tmp/runtime-<uid>, which is fine, and warns on every command.
        warnings.simplefilter("ignore")
        import pgserver

    logging.getLogger("pgserver").setLevel(logging.WARNING)
    return pgserver


def _lock():
    """pgserver's own inter-process lock: holders, pid files and starts change under it only."""
    return _pgserver().PostgresServer._lock


def _holders(pgdata: Path):
    """pgserver's list of the processes that joined the server at ``pgdata``."""
    _pgserver()
    from pgserver.utils import DiskList

    return DiskList(pgdata / HOLDERS_FILE)


def postgres_server(pgdata: Path):
    """Start (or join) the server at ``pgdata``; it stops when the last process that joined it exits."""
    pgdata = Path(pgdata).resolve()
    if pgdata not in _servers:
        pgserver = _pgserver()
        pgdata.mkdir(parents=True, exist_ok=True)
        with _lock():
            _clear_stale_postmaster(pgdata)
            # A holder before the server starts (pgserver adds it after), so that the reaper stops
            # a server whose starter was killed while starting it. Not in a new directory: initdb
            # wants it empty.
            if (pgdata / "PG_VERSION").exists():
                _holders(pgdata).get_and_add(os.getpid())
                _ensure_reaper(pgdata)
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        # Registered after pgserver's own atexit, so it runs first: dead holders dropped, this
        # process can be the last one and stop the server itself.
        atexit.register(_before_leaving, pgdata)
        with _lock():
            _ensure_reaper(pgdata)
        _ensure_databases(server.get_uri("postgres"))
        _servers[pgdata] = server
    return _servers[pgdata]


def release_postgres(pgdata: Path) -> None:
    """Leave the server now rather than at exit: stopped if this process was its last holder."""
    pgdata = Path(pgdata).resolve()
    server = _servers.pop(pgdata, None)
    if server is not None:
        _before_leaving(pgdata)
        server.cleanup()


def embedded_postgres_url(pgdata: Path, database: str) -> str:
    if database not in SOURCE_DATABASES:
        raise ValueError(f"unknown source database {database!r}; expected one of {SOURCE_DATABASES}")
    return postgres_server(pgdata).get_uri(database)


def _ensure_databases(admin_url: str) -> None:
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for name in SOURCE_DATABASES:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()


def _alive(pid: int) -> psutil.Process | None:
    """The process, unless it is gone or a zombie (a zombie can linger while nobody reaps it)."""
    try:
        process = psutil.Process(pid)
        return None if process.status() == psutil.STATUS_ZOMBIE else process
    except psutil.Error:
        return None


def _runs_in(process: psutil.Process, pgdata: Path, unreadable: bool) -> bool:
    """A postgres process of this data directory (postgres chdirs to it, children inherit it);
    ``unreadable`` is the answer when its cwd cannot be read."""
    try:
        return process.name() == "postgres" and Path(process.cwd()) == pgdata
    except psutil.AccessDenied:
        return unreadable
    except psutil.Error:
        return False


def _server_processes(pgdata: Path) -> list[psutil.Process]:
    """pg_ctl and postgres processes of ``pgdata``, whether or not a pid file names them."""
    found = []
    for process in psutil.process_iter():
        with suppress(psutil.Error):
            if _alive(process.pid) and process.name() in ("pg_ctl", "postgres") \
                    and (str(pgdata) in process.cmdline() or _runs_in(process, pgdata, unreadable=False)):
                found.append(process)
    return found


def _postmaster_pid_lines(pgdata: Path) -> list[str]:
    try:
        return (pgdata / "postmaster.pid").read_text().splitlines()
    except FileNotFoundError:
        return []


def _postmaster(pgdata: Path) -> psutil.Process | None:
    """The live postmaster of ``pgdata``, if any."""
    lines = _postmaster_pid_lines(pgdata)
    if not lines or not lines[0].strip().isdigit():
        return None
    process = _alive(int(lines[0]))
    # An unreadable one is taken for ours: a live server must never be mistaken for a dead one.
    return process if process is not None and _runs_in(process, pgdata, unreadable=True) else None


def _clear_stale_postmaster(pgdata: Path) -> None:
    """Remove the pid file and socket lock of a postmaster that died without removing them."""
    lines = _postmaster_pid_lines(pgdata)
    if not lines or _postmaster(pgdata) is not None:
        return
    # Backends of the dead postmaster still attached to its shared memory must be gone before
    # another postmaster starts on the same files.
    orphans = [p for p in psutil.process_iter() if _alive(p.pid) and _runs_in(p, pgdata, unreadable=False)]
    for orphan in orphans:
        with suppress(psutil.Error):
            orphan.kill()
    _wait_gone(orphans, 5)
    if len(lines) >= 5 and lines[3].strip() and lines[4].strip():
        socket = Path(lines[4].strip()) / f".s.PGSQL.{lines[3].strip()}"
        socket.with_name(socket.name + ".lock").unlink(missing_ok=True)
        socket.unlink(missing_ok=True)
    (pgdata / "postmaster.pid").unlink(missing_ok=True)


def _live_holders(pgdata: Path) -> list[int]:
    """The processes that joined the server and are alive; the dead are dropped from pgserver's list."""
    holders = _holders(pgdata)
    pids = holders.get()
    alive = [pid for pid in pids if _alive(pid)]
    if alive != pids:
        holders.put(alive)
    return alive


def _before_leaving(pgdata: Path) -> None:
    """Drop dead holders; if the postmaster itself died, leave nothing for pgserver to stop (it would
    wait a minute for a zombie to shut down)."""
    with _lock():
        _live_holders(pgdata)
        if _postmaster(pgdata) is None:
            _clear_stale_postmaster(pgdata)
            _holders(pgdata).get_and_remove(os.getpid())


def _wait_gone(processes: list[psutil.Process], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while any(_alive(p.pid) for p in processes):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.1)
    return True


def _is_reaper(pid: int, pgdata: Path) -> bool:
    process = _alive(pid)
    try:
        return process is not None and process.cmdline()[-2:] == [REAPER_MODULE, str(pgdata)]
    except psutil.Error:
        return False


def _recorded_reaper(pgdata: Path) -> int:
    try:
        return int((pgdata / REAPER_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return 0


def _ensure_reaper(pgdata: Path) -> None:
    """One reaper per running server, in its own session so that it outlives whoever started it."""
    pid = _recorded_reaper(pgdata)
    if pid and _is_reaper(pid, pgdata):
        return
    with open(pgdata / "reaper.log", "ab") as log:
        reaper = subprocess.Popen([sys.executable, "-m", REAPER_MODULE, str(pgdata)], stdin=subprocess.DEVNULL,
                                  stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    (pgdata / REAPER_FILE).write_text(str(reaper.pid))


def _stop(postmaster: psutil.Process, pgdata: Path) -> None:
    """Fast shutdown (clients disconnected, a clean checkpoint); SIGKILL if it does not finish."""
    postmaster.send_signal(signal.SIGINT)
    if not _wait_gone([postmaster], STOP_TIMEOUT_S):
        postmaster.kill()
        _wait_gone([postmaster], 5)
        _clear_stale_postmaster(pgdata)


def reap(pgdata: Path) -> None:
    """Stop the server at ``pgdata`` once none of its holders is alive, then return."""
    while True:
        time.sleep(REAP_INTERVAL_S)
        with _lock():
            if _live_holders(pgdata):
                continue
            postmaster = _postmaster(pgdata)
            if postmaster is not None:
                _stop(postmaster, pgdata)
            elif _server_processes(pgdata):
                continue  # starting (pg_ctl, no pid file yet) or winding down: look again
            # Under the lock: whoever starts the next server sees no reaper and starts one.
            if _recorded_reaper(pgdata) == os.getpid():
                (pgdata / REAPER_FILE).unlink(missing_ok=True)
            return


if __name__ == "__main__":
    reap(Path(sys.argv[1]))
