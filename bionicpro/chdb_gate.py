"""Turn-taking between processes for one chDB data path.

chDB lets one process at a time open a data path ("Cannot lock file .../status"), while Prefect
runs each flow run in its own process and the API is another. Every process that opens the path
first takes its turn here: an exclusive ``flock`` on ``<path>.lock``. A process waiting for a turn
leaves a marker in ``<path>.waiting/``, so that a long holder (the API) can see it is wanted, close
its client and step aside, then queue again. Clients of the ETL's short tasks linger the same way
(see ``ChdbGate.client``): the next task reuses them instead of starting the engine again.
"""

from __future__ import annotations

import atexit
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


# How long idle clients keep the turn, and how often the lingering turn looks for a waiting process.
LINGER = 2.0
LINGER_POLL = 0.02


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
        self._idle: list = []
        self._last_used = 0.0
        self._lingering: threading.Thread | None = None

    @classmethod
    def for_path(cls, data_path: Path) -> ChdbGate:
        data_path = Path(data_path).resolve()
        with cls._gates_lock:
            if data_path not in cls._gates:
                cls._gates[data_path] = gate = cls(data_path)
                atexit.register(gate.close)
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
            if self._holders == 0 and self._fd is None:
                self._fd = self._lock_exclusively(timeout)
            self._holders += 1

    @contextmanager
    def client(self, open_client: Callable[[], object], timeout: float = 600.0) -> Iterator[object]:
        """A client on the path during a turn: an idle one of this process if there is one.

        Clients given back stay open, and the turn with them, until another process waits for
        the path (checked every LINGER_POLL s) or nobody has used them for LINGER s: a run's
        consecutive tasks do not start the engine again. A client whose body raised is closed
        rather than reused.
        """
        self._enter_engine()
        try:
            with self.turn(timeout):
                with self._mutex:
                    client = self._idle.pop() if self._idle else None
                if client is None:
                    client = open_client()
                try:
                    yield client
                except BaseException:
                    client.close()
                    raise
                with self._mutex:
                    self._idle.append(client)
        finally:
            self._leave_engine()

    # chDB runs one engine per process, on one path at a time, while a run alternates between its
    # work path and the serving path: a thread waits until no other thread uses another path, then
    # closes that path's idle clients. The engine is taken before the turn, so that two threads
    # never hold turns on two paths while each waits for the other's engine.
    _engine = threading.Condition()
    _engine_path: Path | None = None
    _engine_users = 0

    def _enter_engine(self) -> None:
        cls = ChdbGate
        with cls._engine:
            while cls._engine_users and cls._engine_path != self.data_path:
                cls._engine.wait()
            if cls._engine_path not in (None, self.data_path):
                cls._gates[cls._engine_path].close()
            cls._engine_path = self.data_path
            cls._engine_users += 1

    def _leave_engine(self) -> None:
        cls = ChdbGate
        with cls._engine:
            cls._engine_users -= 1
            cls._engine.notify_all()

    def release(self) -> None:
        with self._mutex:
            self._holders -= 1
            self._last_used = time.monotonic()
            if self._holders > 0:
                return
            if self._idle and not self.wanted():
                if self._lingering is None:
                    self._lingering = threading.Thread(target=self._linger, name="chdb-gate-linger", daemon=True)
                    self._lingering.start()
                return
            self._end_turn()

    def _end_turn(self) -> None:
        """Close the idle clients and let other processes in (the mutex is held)."""
        for client in self._idle:
            client.close()
        self._idle.clear()
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def _linger(self) -> None:
        """Watch an idle turn; a turn in use needs no watching (release() starts this again)."""
        while True:
            time.sleep(LINGER_POLL)
            with self._mutex:
                if self._holders > 0:
                    self._lingering = None
                    return
                if self.wanted() or time.monotonic() - self._last_used > LINGER or not self._idle:
                    self._end_turn()
                    self._lingering = None
                    return

    def close(self) -> None:
        """End a lingering turn now (at exit, or before handing the path to a child process)."""
        with self._mutex:
            if self._holders == 0:
                self._end_turn()

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
