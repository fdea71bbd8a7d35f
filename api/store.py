"""Reading reports_db for the API: one long-lived client, and on chDB, turns on the data path.

chDB lets one process at a time open a data path. The ETL (Prefect task processes, the CLI) works
on a path of its own and opens this one to publish, through ``bionicpro.db.clickhouse_client``,
which waits for its turn on ``ChdbGate``. The API holds a turn and an open client while nobody else wants the path (so a
request costs a query, ~1 ms, not a reopen, ~30 ms), and steps aside as soon as another process
waits: before each request, and from a watcher thread every ``chdb_idle_check_seconds`` while idle.
Stepping aside closes the client (which releases chDB's own lock) and releases the gate; the turn
is then taken back, blocking but bounded, once the waiting process has had it. A request that
arrives meanwhile waits for the turn at most ``chdb_wait_seconds``, then gets a clear 503.

With a ClickHouse server none of this applies: a small pool of clients, no gate.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from api.config import ApiSettings
from bionicpro.settings import Settings

log = logging.getLogger("bionicpro.api.store")
T = TypeVar("T")

# After stepping aside, how long to let the waiting process take the path before queueing again
# (it polls every 20 ms; a waiter that died must not hold us up).
HANDOVER_GRACE_SECONDS = 0.5


class StoreUnavailable(Exception):
    """The marts cannot be read right now: answered 503 with Retry-After."""

    def __init__(self, message: str, retry_after: int = 5):
        super().__init__(message)
        self.retry_after = retry_after


@dataclass
class Rows:
    column_names: tuple[str, ...]
    rows: list[tuple]

    def first(self) -> dict:
        return dict(zip(self.column_names, self.rows[0], strict=True))


@dataclass
class TurnStats:
    opens: int = 0
    cache_hits: int = 0
    dropped: int = 0
    steps_aside: int = 0
    busy: int = 0


class ChdbTurnStore:
    """One chDB client, held during this process's turn on the path; thread-safe.

    While this process holds its turn, no other process can open the path, so nothing can change
    ``reports_db`` (the API itself never writes): what ``remember`` read stays true for the rest
    of the turn. When the turn comes back, ``stamps_sql`` (one read: each month's active parts and
    load_log rows) tells which months another process wrote meanwhile; only those are dropped
    (without stamps, everything is). At most ``turn_cache_rows`` rows are kept (a value's
    ``size``, else 1), least recently used first out. A read costs ~2-3 ms of CPU per table on
    chDB whatever its size, so the API reads a whole month at once (api/reports.py) rather than
    three tables per request.
    """

    backend = "chdb"

    @property
    def remembers(self) -> bool:
        return self.cache_rows > 0

    def __init__(self, settings: Settings, api: ApiSettings, stamps_sql: str | None = None):
        from bionicpro.chdb_gate import ChdbGate

        self.settings = settings
        self.wait_seconds = api.chdb_wait_seconds
        self.idle_check = api.chdb_idle_check_seconds
        self.gate = ChdbGate.for_path(settings.chdb_dir)
        self.stats = TurnStats()
        self._lock = threading.Lock()  # serializes the client and every change of turn
        self._client = None
        self._holding = False
        self._cache: OrderedDict[tuple, tuple[str, tuple | None, object]] = OrderedDict()
        self._cached_rows = 0
        self.cache_rows = api.turn_cache_rows
        self.stamps_sql = stamps_sql
        self._stamps: dict[str, tuple] | None = None  # each month's stamps during this turn
        self._validated = False
        self._stepped_aside_at: float | None = None
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # -- life cycle -------------------------------------------------------------------------
    def start(self) -> None:
        self.settings.chdb_dir.mkdir(parents=True, exist_ok=True)
        self._stop.clear()
        self._watcher = threading.Thread(target=self._watch, name="chdb-turn-watcher", daemon=True)
        self._watcher.start()

    def close(self) -> None:
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5 + self.wait_seconds)
            self._watcher = None
        with self._lock:
            self._step_aside(counted=False)

    @property
    def holding(self) -> bool:
        return self._holding

    @property
    def cached_rows(self) -> int:
        return self._cached_rows

    # -- queries ----------------------------------------------------------------------------
    def query(self, sql: str, parameters: dict) -> Rows:
        """Run one read during this process's turn (waiting for it, bounded)."""
        with self._turn():
            result = self._client.query(sql, parameters=parameters)
            return Rows(tuple(result.column_names), result.result_rows)

    def remember(self, key: tuple, sql: str, parameters: dict, build: Callable[[Rows], T], scope: str) -> T:
        """``build(rows of the read)``, kept under ``key`` while ``scope``'s stamps stay the same."""
        with self._turn():
            if key in self._cache:
                self._cache.move_to_end(key)
                self.stats.cache_hits += 1
                return self._cache[key][2]
            result = self._client.query(sql, parameters=parameters)
            value = build(Rows(tuple(result.column_names), result.result_rows))
            size = getattr(value, "size", 1)
            if self._stamps is not None and size <= self.cache_rows:
                self._cache[key] = (scope, self._stamps.get(scope), value)
                self._cached_rows += size
                while self._cached_rows > self.cache_rows:
                    self._cached_rows -= getattr(self._cache.popitem(last=False)[1][2], "size", 1)
            return value

    @contextmanager
    def _turn(self) -> Iterator[None]:
        """Hold the lock with an open client: step aside first if wanted, then take the turn."""
        deadline = time.monotonic() + self.wait_seconds
        if not self._lock.acquire(timeout=self.wait_seconds):
            self.stats.busy += 1
            raise self._busy()
        try:
            if self._client is not None and self.gate.wanted():
                self._step_aside()
            try:
                self._take_turn(deadline)
            except StoreUnavailable:
                self.stats.busy += 1
                raise
            yield
        finally:
            self._lock.release()

    # -- turns (all under self._lock) -------------------------------------------------------
    def _busy(self) -> StoreUnavailable:
        return StoreUnavailable(
            f"reports_db is busy: another process (an ETL load) holds the embedded chDB data path "
            f"{self.settings.chdb_dir} and did not hand it back within {self.wait_seconds:g} s; retry shortly",
            retry_after=max(1, round(self.wait_seconds / 2)))

    def _step_aside(self, counted: bool = True) -> None:
        self._validated = False  # whoever takes the path next may write: check when back
        if self._client is not None:
            try:
                self._client.close()
            except Exception:  # a failing close must not keep the path locked
                log.exception("closing the chDB client failed")
            self._client = None
        if self._holding:
            self.gate.release()
            self._holding = False
            if counted:
                self.stats.steps_aside += 1
                self._stepped_aside_at = time.monotonic()
                log.info("stepped aside on %s for a waiting process", self.settings.chdb_dir)

    def _take_turn(self, deadline: float) -> None:
        if self._client is not None:
            return
        if not self._holding:
            self._let_waiter_in(deadline)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._busy()
            try:
                self.gate.acquire(timeout=remaining)
            except TimeoutError:
                raise self._busy() from None
            self._holding = True
        import clickhouse_connect

        try:
            self._client = clickhouse_connect.get_client(dsn=self.settings.clickhouse_dsn())
        except Exception as error:  # e.g. a process that does not take turns holds the path
            self._step_aside(counted=False)
            log.warning("cannot open chDB at %s: %s", self.settings.chdb_dir, error)
            raise StoreUnavailable(f"the embedded chDB data path {self.settings.chdb_dir} cannot be opened now "
                                   f"(held by a process that does not take turns?); retry shortly") from None
        try:
            if not self._validated:
                self._revalidate()
        except Exception:
            self._step_aside(counted=False)
            raise
        self.stats.opens += 1

    def _revalidate(self) -> None:
        """Keep what is unchanged since it was read, drop the rest (all of it without stamps)."""
        self._validated = True
        self._stamps = None
        if self.stamps_sql is None:  # no way to tell what changed: keep nothing from before
            self.stats.dropped += len(self._cache)
            self._cache.clear()
            self._cached_rows = 0
            self._stamps = {}
            return
        try:
            rows = self._client.query(self.stamps_sql).result_rows
        except Exception as error:  # e.g. no schema yet: keep nothing this turn
            log.warning("cannot read the month stamps (%s): nothing is kept this turn", error)
        else:
            found: dict[str, list] = {}
            for scope, stamp in rows:
                found.setdefault(str(scope), []).append(stamp)
            self._stamps = {scope: tuple(sorted(values)) for scope, values in found.items()}
        for key, (scope, stamp, _) in list(self._cache.items()):
            if self._stamps is None or self._stamps.get(scope) != stamp:
                self._cached_rows -= getattr(self._cache.pop(key)[2], "size", 1)
                self.stats.dropped += 1

    def _let_waiter_in(self, deadline: float) -> None:
        """Right after stepping aside, wait until the waiting process took the path (its marker goes)."""
        if self._stepped_aside_at is None:
            return
        until = min(deadline, self._stepped_aside_at + HANDOVER_GRACE_SECONDS)
        while time.monotonic() < until and self.gate.wanted():
            time.sleep(0.005)
        self._stepped_aside_at = None

    def _watch(self) -> None:
        """While idle: step aside when wanted, and take the turn back so requests find a client."""
        while not self._stop.wait(self.idle_check):
            try:
                if self._client is not None:
                    if self.gate.wanted() and self._lock.acquire(timeout=self.idle_check):
                        try:
                            if self._client is not None and self.gate.wanted():
                                self._step_aside()
                        finally:
                            self._lock.release()
                elif self._lock.acquire(timeout=self.idle_check):
                    try:
                        if self._client is None and not self._stop.is_set():
                            # Bounded, so that close() and requests get the lock back soon.
                            self._take_turn(time.monotonic() + 1.0)
                    except StoreUnavailable:
                        pass  # still someone else's turn: the next tick queues again
                    finally:
                        self._lock.release()
            except Exception:
                log.exception("chDB turn watcher")
                time.sleep(1.0)


class ServerStore:
    """A few clients for a real ClickHouse server, borrowed one per query."""

    backend = "server"
    remembers = False

    def __init__(self, settings: Settings, api: ApiSettings):
        self.settings = settings
        self.size = api.server_pool_size
        self.wait_seconds = api.chdb_wait_seconds
        self._idle: queue.LifoQueue = queue.LifoQueue()
        self._created = 0
        self._lock = threading.Lock()

    def start(self) -> None:
        pass

    def close(self) -> None:
        while True:
            try:
                self._idle.get_nowait().close()
            except queue.Empty:
                return

    def _borrow(self):
        import clickhouse_connect

        try:
            return self._idle.get_nowait()
        except queue.Empty:
            pass
        with self._lock:
            create = self._created < self.size
            if create:
                self._created += 1
        if create:
            try:
                return clickhouse_connect.get_client(dsn=self.settings.clickhouse_dsn(), database="default")
            except Exception as error:
                with self._lock:
                    self._created -= 1
                raise StoreUnavailable(f"ClickHouse is not reachable: {type(error).__name__}") from None
        try:
            return self._idle.get(timeout=self.wait_seconds)
        except queue.Empty:
            raise StoreUnavailable("every ClickHouse connection stayed busy; retry shortly") from None

    def remember(self, key: tuple, sql: str, parameters: dict, build: Callable[[Rows], T], scope: str) -> T:
        """Nothing is kept: others may write to a server at any time."""
        return build(self.query(sql, parameters))

    def query(self, sql: str, parameters: dict) -> Rows:
        from clickhouse_connect.driver.exceptions import OperationalError

        client = self._borrow()
        try:
            result = client.query(sql, parameters=parameters)
        except OperationalError as error:
            client.close()
            with self._lock:
                self._created -= 1
            raise StoreUnavailable(f"ClickHouse is not reachable: {type(error).__name__}") from None
        except BaseException:
            self._idle.put(client)
            raise
        self._idle.put(client)
        return Rows(tuple(result.column_names), result.result_rows)


def open_store(settings: Settings, api: ApiSettings, stamps_sql: str | None = None) -> ChdbTurnStore | ServerStore:
    return ChdbTurnStore(settings, api, stamps_sql) if settings.uses_chdb else ServerStore(settings, api)
