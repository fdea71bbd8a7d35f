"""Turn-taking between processes for one chDB data path.

chDB lets one process at a time open a data path ("Cannot lock file .../status"), while Prefect
runs each flow run in its own process and the API is another. Every process that opens the path
first takes its turn here: an exclusive ``flock`` on ``<path>.lock``. A process waiting for a turn
leaves a marker in ``<path>.waiting/``, so that a long holder (the API) can see it is wanted, close
its client and step aside, then queue again.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


class ChdbGate:
    """One gate per data path and process; re-entrant across threads of the same process."""

    _gates: dict[Path, ChdbGate] = {}
    _gates_lock = threading.Lock()

    def __init__(self, data_path: Path):
        self.data_path = data_path
        self.lock_path = data_path.with_name(data_path.name + ".lock")
        self.waiting_dir = data_path.with_name(data_path.name + ".waiting")
        self._mutex = threading.Lock()
        self._holders = 0
        self._fd: int | None = None

    @classmethod
    def for_path(cls, data_path: Path) -> ChdbGate:
        data_path = Path(data_path).resolve()
        with cls._gates_lock:
            if data_path not in cls._gates:
                cls._gates[data_path] = cls(data_path)
            return cls._gates[data_path]

    @contextmanager
    def turn(self, timeout: float = 600.0) -> Iterator[None]:
        """Hold the path for the body; threads of this process share one turn."""
        self.acquire(timeout)
        try:
            yield
        finally:
            self.release()

    def acquire(self, timeout: float = 600.0) -> None:
        with self._mutex:
            if self._holders == 0:
                self._fd = self._lock_exclusively(timeout)
            self._holders += 1

    def release(self) -> None:
        with self._mutex:
            self._holders -= 1
            if self._holders == 0 and self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None

    def wanted(self) -> bool:
        """Whether another live process is waiting for its turn."""
        try:
            names = os.listdir(self.waiting_dir)
        except FileNotFoundError:
            return False
        for name in names:
            pid = int(name.split("-", 1)[0]) if name.split("-", 1)[0].isdigit() else -1
            if pid != os.getpid() and _alive(pid):
                return True
        return False

    def _lock_exclusively(self, timeout: float) -> int:
        self.data_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            pass
        self.waiting_dir.mkdir(parents=True, exist_ok=True)
        marker = self.waiting_dir / f"{os.getpid()}-{threading.get_ident()}"
        marker.touch()
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return fd
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        os.close(fd)
                        raise TimeoutError(f"chDB at {self.data_path} stayed busy for {timeout:.0f} s "
                                           f"(another process holds {self.lock_path})") from None
                    time.sleep(0.02)
        finally:
            marker.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
