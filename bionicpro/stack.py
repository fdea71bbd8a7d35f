"""The local stack for `make demo` and `make up`: a Prefect server, the work pool, the deployments,
a worker (and the API when asked), started as child processes and stopped on exit."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from bionicpro.settings import Settings

PROJECT_DIR = Path(__file__).resolve().parents[1]
WORK_POOL = "bionicpro"
console = Console()


def _bin(name: str) -> str:
    found = Path(sys.executable).with_name(name)
    return str(found) if found.exists() else (shutil.which(name) or name)


class Stack:
    def __init__(self, settings: Settings, port: int = 4200):
        self.settings = settings
        self.api_url = f"http://127.0.0.1:{port}/api"
        self.ui_url = f"http://127.0.0.1:{port}"
        self.port = port
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
            raise RuntimeError(f"{' '.join(args)} exited {result.returncode}:\n{result.stdout[-3000:]}{result.stderr[-3000:]}")
        return result

    def spawn(self, name: str, *args: str) -> subprocess.Popen:
        self.logs.mkdir(parents=True, exist_ok=True)
        log = open(self.logs / f"{name}.log", "ab")
        process = subprocess.Popen(args, env=self.env, cwd=PROJECT_DIR, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.children.append((name, process))
        return process

    def wait_healthy(self, url: str, what: str, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for name, process in self.children:
                if process.poll() is not None:
                    raise RuntimeError(f"{name} exited with {process.returncode}; see {self.logs / (name + '.log')}")
            try:
                with urllib.request.urlopen(url, timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            time.sleep(0.5)
        raise TimeoutError(f"{what} did not answer at {url} within {timeout:.0f} s; see {self.logs}")

    def start(self, with_api: bool = False) -> None:
        console.print(f"starting the Prefect server on {self.ui_url} (state in {self.env['PREFECT_HOME']})")
        self.spawn("prefect-server", _bin("prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(self.port))
        self.wait_healthy(f"{self.api_url}/health", "the Prefect server")
        console.print("registering blocks, the work pool and the deployments")
        self.run(_bin("bionicpro"), "blocks")
        self.run(_bin("prefect"), "work-pool", "create", WORK_POOL, "--type", "process", "--overwrite")
        self.run(_bin("prefect"), "--no-prompt", "deploy", "--all")
        self.spawn("prefect-worker", _bin("prefect"), "worker", "start", "--pool", WORK_POOL)
        if with_api and shutil.which(_bin("bionicpro-api")):
            self.spawn("api", _bin("bionicpro-api"), "serve")
            self.wait_healthy("http://127.0.0.1:8000/health", "the reports API")
            console.print("reports API on http://127.0.0.1:8000 (docs at /docs)")

    def stop(self) -> None:
        for name, process in reversed(self.children):
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(20)
                except subprocess.TimeoutExpired:
                    process.kill()
        self.children.clear()


@contextmanager
def local_stack(settings: Settings, with_api: bool = False):
    stack = Stack(settings, int(os.environ.get("BIONICPRO_PREFECT_PORT", "4200")))
    try:
        stack.start(with_api)
        yield stack
    finally:
        stack.stop()
