"""The local stack for `make demo` and `make up`: a Prefect server, the work pool, the deployments,
a worker (and the API when asked), started as child processes and stopped on exit; and the
temporary Prefect server of a flow run in process (`bionicpro etl`, `bionicpro backfill`)."""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager, suppress
from pathlib import Path

import psutil
from rich.console import Console

from bionicpro.settings import Settings

PROJECT_DIR = Path(__file__).resolve().parents[1]
WORK_POOL = "bionicpro"
STOP_TIMEOUT_S = 15.0
PR_SET_PDEATHSIG = 1
console = Console()


class StackError(RuntimeError):
    """A service of the stack could not start: its port is taken, it exited or it never answered."""


def _bin(name: str) -> str:
    found = Path(sys.executable).with_name(name)
    return str(found) if found.exists() else (shutil.which(name) or name)


def die_with_parent(sig: int):
    """A ``preexec_fn``: the child gets ``sig`` when this process dies, even by SIGKILL (Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    # Looked up before the fork: loading a library in the child of a threaded parent can deadlock.
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()

    def preexec() -> None:
        prctl(PR_SET_PDEATHSIG, sig)
        if os.getppid() != parent:  # the parent died before prctl took effect
            os._exit(1)

    return preexec


def _alive(process: psutil.Process) -> bool:
    """Running and not a zombie (a dead child of init's can stay a zombie for seconds here)."""
    try:
        return process.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _listener(port: int) -> str:
    with suppress(psutil.Error):
        for conn in psutil.net_connections("tcp"):
            if conn.status == psutil.CONN_LISTEN and conn.laddr.port == port and conn.pid:
                return f"pid {conn.pid}: {' '.join(psutil.Process(conn.pid).cmdline())[:120]}"
    return "another process"


def ensure_port_free(host: str, port: int, variable: str) -> None:
    """Refuse a taken port: a health check there would pass against someone else's service."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        # As servers bind: a port held only by closed connections (TIME_WAIT) is free.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError:
            raise StackError(f"{host}:{port} is taken by {_listener(port)}; "
                               f"set {variable} to a free port") from None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _wait_healthy(url: str, what: str, children: list[tuple[str, subprocess.Popen]], logs: str,
                  timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, process in children:
            if process.poll() is not None:
                raise StackError(f"{name} exited with {process.returncode}; see {logs}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise StackError(f"{what} did not answer at {url} within {timeout:.0f} s; see {logs}")


def stop_processes(processes: list[subprocess.Popen], timeout: float = STOP_TIMEOUT_S) -> None:
    """SIGTERM to each process group and every descendant (Prefect starts flow runs in sessions of
    their own), SIGKILL to whatever is left after ``timeout``."""
    # Only children not yet reaped: the pid of a reaped one may already be someone else's.
    processes = [process for process in processes if process.poll() is None]
    tree: list[psutil.Process] = []
    for process in processes:
        with suppress(psutil.Error):
            parent = psutil.Process(process.pid)
            tree += [parent, *parent.children(recursive=True)]
    for process in processes:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGTERM)
    for member in tree:
        with suppress(psutil.Error):
            member.terminate()
    deadline = time.monotonic() + timeout
    while any(_alive(member) for member in tree) and time.monotonic() < deadline:
        time.sleep(0.2)
    for member in tree:
        with suppress(psutil.Error):
            if _alive(member):
                member.kill()
    for process in processes:
        # Unreaped until here, so the group id cannot have been reused.
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


@contextmanager
def signals_held():
    """Ctrl-C and SIGTERM ignored while stopping, so that a second one cannot cut the cleanup short."""
    held = (signal.SIGINT, signal.SIGTERM)
    previous = [signal.signal(sig, signal.SIG_IGN) for sig in held]
    try:
        yield
    finally:
        for sig, handler in zip(held, previous):
            signal.signal(sig, handler)


class Stack:
    def __init__(self, settings: Settings, port: int | None = None):
        self.settings = settings
        self.port = port or settings.prefect_port
        self.api_url = f"http://127.0.0.1:{self.port}/api"
        self.ui_url = f"http://127.0.0.1:{self.port}"
        self.reports_url: str | None = None
        self.logs = settings.data_path / "logs"
        self.children: list[tuple[str, subprocess.Popen]] = []
        self.env = {
            **os.environ,
            "PREFECT_HOME": os.environ.get("PREFECT_HOME", str(settings.data_path / "prefect")),
            "PREFECT_API_URL": self.api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "BIONICPRO_PROJECT_DIR": str(PROJECT_DIR),
            "BIONICPRO_DATA_DIR": str(settings.data_path),
        }

    def run(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """A command with the stack's environment, its output kept in the logs unless it fails."""
        result = subprocess.run(args, env=self.env, cwd=PROJECT_DIR, capture_output=True, text=True)
        if check and result.returncode != 0:
            raise StackError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
        return result

    def spawn(self, name: str, *args: str) -> subprocess.Popen:
        """A service in its own process group (a terminal's Ctrl-C reaches only the stack, which stops
        it in order), sent SIGTERM by the kernel if the stack dies without stopping it."""
        self.logs.mkdir(parents=True, exist_ok=True)
        with open(self.logs / f"{name}.log", "ab") as log:
            process = subprocess.Popen(args, env=self.env, cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT,
                                       start_new_session=True, preexec_fn=die_with_parent(signal.SIGTERM))
        self.children.append((name, process))
        return process

    def wait_healthy(self, url: str, what: str, timeout: float = 120) -> None:
        _wait_healthy(url, what, self.children, str(self.logs), timeout)

    def start(self, with_api: bool = False) -> None:
        ensure_port_free("127.0.0.1", self.port, "BIONICPRO_PREFECT_PORT")
        console.print(f"starting the Prefect server on {self.ui_url} (state in {self.env['PREFECT_HOME']})")
        self.spawn("prefect-server", _bin("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(self.port))
        self.wait_healthy(f"{self.api_url}/health", "the Prefect server")
        console.print("registering blocks, the work pool, the deployments and the automations")
        self.run(_bin("bionicpro"), "blocks")
        self.run(_bin("prefect"), "work-pool", "create", WORK_POOL, "--type", "process", "--overwrite")
        self.run(_bin("prefect"), "--no-prompt", "deploy", "--all")
        console.print(self.run(_bin("bionicpro"), "automations").stdout.rstrip(), markup=False, highlight=False)
        self.spawn("prefect-worker", _bin("prefect"), "worker", "start", "--pool", WORK_POOL)
        if with_api and shutil.which(_bin("bionicpro-api")):
            self.start_api()

    def start_api(self) -> None:
        from api.config import get_api_settings

        api = get_api_settings()
        ensure_port_free(api.host, api.port, "BIONICPRO_API_PORT")
        reachable = "127.0.0.1" if api.host in ("0.0.0.0", "") else api.host
        self.reports_url = f"http://{reachable}:{api.port}"
        console.print(f"starting the reports API on {self.reports_url}")
        self.spawn("api", _bin("bionicpro-api"), "serve", "--host", api.host, "--port", str(api.port))
        self.wait_healthy(f"{self.reports_url}/health", "the reports API")

    def stop(self) -> None:
        stop_processes([process for _, process in self.children])
        self.children.clear()


@contextmanager
def local_stack(settings: Settings, with_api: bool = False):
    stack = Stack(settings)
    try:
        stack.start(with_api)
        yield stack
    finally:
        with signals_held():
            stack.stop()


@contextmanager
def prefect_api():
    """The Prefect API for flows run in this process: ``PREFECT_API_URL`` if set, else a temporary
    server like Prefect's own, except that it dies with this process even on SIGKILL."""
    import prefect
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogWorker
    from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings

    if PREFECT_API_URL.value():
        yield
        return
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, **get_current_settings().to_environment_variables(exclude_unset=True),
           "PREFECT_UI_ENABLED": "0", "PREFECT__SERVER_EPHEMERAL": "1", "PREFECT__SERVER_FINAL": "1"}
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--app-dir", str(Path(prefect.__file__).parents[1]),
         "--factory", "prefect.server.api.server:create_app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "error", "--lifespan", "on"],
        env=env, preexec_fn=die_with_parent(signal.SIGKILL))
    try:
        console.print(f"temporary Prefect server on {url} (stops with this command)", style="dim")
        _wait_healthy(f"{url}/api/health", "the temporary Prefect server", [("prefect-server", server)],
                      "its output above")
        with temporary_settings(updates={PREFECT_API_URL: f"{url}/api"}):
            try:
                yield
            finally:
                # Logs and events still queued would otherwise be sent at exit, to a stopped server.
                APILogWorker.drain_all(timeout=10)
                EventsWorker.drain_all(timeout=10)
    finally:
        with signals_held():
            stop_processes([server], timeout=10)
