"""The API's chDB turn-taking with real processes on a private chDB path (not the session's)."""

from __future__ import annotations

import multiprocessing as mp
import time
from datetime import date

import pytest

pytestmark = pytest.mark.integration


def _other_process(data_dir: str, hold: float, events: dict, timings, write: bool) -> None:
    """What an ETL task does: wait for the turn through clickhouse_client, work, close."""
    from bionicpro.db import clickhouse_client
    from bionicpro.settings import Settings

    settings = Settings(BIONICPRO_DATA_DIR=data_dir)
    events["asking"].set()
    asked = time.monotonic()
    with clickhouse_client(settings) as client:
        timings["wait"] = time.monotonic() - asked
        if write:
            client.command("INSERT INTO reports_db.load_log (report_date, mart, status) "
                           "VALUES ('2030-01-01', 'x', 'y')")
        else:
            client.query("SELECT count() FROM reports_db.load_log")
        events["inside"].set()
        time.sleep(hold)
    events["done"].set()


def _rude_process(data_dir: str, hold: float, inside) -> None:
    """A process that opens the path without taking a turn (what the gate exists to prevent)."""
    import clickhouse_connect

    from bionicpro.settings import Settings

    client = clickhouse_connect.get_client(dsn=Settings(BIONICPRO_DATA_DIR=data_dir).clickhouse_dsn())
    inside.set()
    time.sleep(hold)
    client.close()


@pytest.fixture
def chdb(tmp_path):
    from api.config import ApiSettings
    from bionicpro.db import clickhouse_client, end_clickhouse_turn
    from bionicpro.settings import Settings
    from schema import apply_clickhouse

    settings = Settings(BIONICPRO_DATA_DIR=str(tmp_path))
    with clickhouse_client(settings) as client:
        apply_clickhouse(client)
    end_clickhouse_turn(settings)  # the path starts free, even for a process outside the gate
    return settings, lambda **kw: ApiSettings(**{"audit_log": tmp_path / "audit.jsonl", **kw})


@pytest.fixture
def other(chdb):
    context = mp.get_context("spawn")
    manager = context.Manager()
    started = []

    def start(hold: float, write: bool = True):
        events = {name: manager.Event() for name in ("asking", "inside", "done")}
        timings = manager.dict()
        process = context.Process(target=_other_process, args=(str(chdb[0].data_dir), hold, events, timings, write))
        process.start()
        started.append(process)
        return process, events, timings

    yield start
    for process in started:
        process.join(30)
        assert process.exitcode == 0, "the other process failed (a lock error would end it so)"
    manager.shutdown()


def _store(chdb, **overrides):
    from api.store import ChdbTurnStore

    settings, api = chdb
    store = ChdbTurnStore(settings, api(**overrides))
    store.start()
    return store


def test_the_client_is_opened_once_and_kept(chdb):
    store = _store(chdb)
    try:
        for _ in range(30):
            assert store.query("SELECT 1 AS one", {}).rows == [(1,)]
        assert store.stats.opens == 1 and store.holding
    finally:
        store.close()
    assert not store.holding


def test_an_idle_api_steps_aside_for_a_waiting_process_and_comes_back(chdb, other):
    store = _store(chdb)
    try:
        store.query("SELECT 1", {})
        process, events, timings = other(hold=0.2)
        assert events["done"].wait(60)
        # The watcher saw the waiting process within its 50 ms tick: the turn came in well under a second.
        assert timings["wait"] < 1.0, timings["wait"]
        assert store.stats.steps_aside >= 1
        deadline = time.monotonic() + 5
        while not store.holding:  # and took the turn back by itself
            assert time.monotonic() < deadline
            time.sleep(0.01)
        rows = store.query("SELECT count() FROM reports_db.load_log WHERE report_date = '2030-01-01'", {}).rows
        assert rows == [(1,)], "the other process's write is visible after the turn came back"
        assert store.stats.opens >= 2
    finally:
        store.close()


def test_a_request_during_another_turn_waits_and_answers(chdb, other):
    store = _store(chdb)
    try:
        store.query("SELECT 1", {})
        process, events, timings = other(hold=1.0)
        assert events["inside"].wait(60)
        started = time.monotonic()
        assert store.query("SELECT 2", {}).rows == [(2,)]
        waited = time.monotonic() - started
        assert events["done"].is_set() and 0.3 < waited < 5, waited
        assert store.stats.busy == 0
    finally:
        store.close()


def test_a_turn_not_handed_back_in_time_is_a_clear_503(chdb, other):
    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.store import ChdbTurnStore, StoreUnavailable

    settings, api = chdb
    store = ChdbTurnStore(settings, api(chdb_wait_seconds=0.5))
    with TestClient(create_app(settings, api(chdb_wait_seconds=0.5), store)) as client:
        assert client.get("/health").status_code == 200
        process, events, timings = other(hold=3.0)
        assert events["inside"].wait(60)
        with pytest.raises(StoreUnavailable, match="busy: another process .* holds the embedded chDB data path"):
            store.query("SELECT 1", {})
        response = client.get("/health")
        assert response.status_code == 503 and int(response.headers["retry-after"]) >= 1
        assert "retry shortly" in response.json()["detail"]
        assert events["done"].wait(30)
        deadline = time.monotonic() + 10
        while client.get("/health").status_code != 200:
            assert time.monotonic() < deadline, "the API never got its turn back"
            time.sleep(0.05)


def test_what_is_remembered_is_dropped_only_where_another_process_wrote(chdb, other):
    from api.reports import sql

    settings, api = chdb
    from api.store import ChdbTurnStore

    store = ChdbTurnStore(settings, api(), stamps_sql=sql("month_stamps"))
    store.start()
    query = "SELECT count() FROM reports_db.load_log WHERE report_date = {month:Date}"
    reads = []

    def count(month):
        def build(rows):
            reads.append(month)
            return rows.rows[0][0]
        return store.remember(("count", month), query, {"month": month}, build, scope=f"{month:%Y%m}")

    written, untouched = date(2030, 1, 1), date(2030, 2, 1)
    try:
        assert (count(written), count(untouched), count(written)) == (0, 0, 0) and reads == [written, untouched]
        process, events, timings = other(hold=0.1, write=False)  # a reader (the CLI, a report) takes a turn
        assert events["done"].wait(60)
        assert (count(written), count(untouched)) == (0, 0) and len(reads) == 2, "a reader changes nothing"
        process, events, timings = other(hold=0.1, write=True)  # a load_log row for 2030-01
        assert events["done"].wait(60)
        assert count(written) == 1, "the other process's write to 2030-01 is seen"
        assert count(untouched) == 0 and reads == [written, untouched, written], "2030-02 was kept"
        assert store.stats.steps_aside >= 2
    finally:
        store.close()


def test_without_stamps_nothing_outlives_the_turn(chdb, other):
    store = _store(chdb)
    try:
        assert store.remember(("one",), "SELECT 1", {}, lambda rows: object(), scope="x") is \
            store.remember(("one",), "SELECT 1", {}, lambda rows: object(), scope="x")
        first = store.remember(("one",), "SELECT 1", {}, lambda rows: object(), scope="x")
        process, events, timings = other(hold=0.1, write=False)
        assert events["done"].wait(60)
        assert store.remember(("one",), "SELECT 1", {}, lambda rows: object(), scope="x") is not first
    finally:
        store.close()


def test_a_path_held_outside_the_gate_is_a_503_not_a_crash(chdb):
    from api.store import ChdbTurnStore, StoreUnavailable

    settings, api = chdb
    store = ChdbTurnStore(settings, api(chdb_wait_seconds=2))  # no watcher: it would take the turn back
    context = mp.get_context("spawn")
    inside = context.Event()
    try:
        store.query("SELECT 1", {})
        with store._lock:  # step aside by hand, as if a waiter had come and gone
            store._step_aside()
        rude = context.Process(target=_rude_process, args=(str(chdb[0].data_dir), 3.0, inside))
        rude.start()
        assert inside.wait(60), "the other process could not open the path"
        with pytest.raises(StoreUnavailable, match="cannot be opened now"):
            store.query("SELECT 1", {})
        rude.join(30)
        assert store.query("SELECT 1", {}).rows == [(1,)]
    finally:
        store.close()
