"""Turn-taking on one chDB path between real processes."""

import multiprocessing as mp
import time

import pytest

from bionicpro.chdb_gate import ChdbGate


def _take_turn(path, started, done):
    gate = ChdbGate.for_path(path)
    started.set()
    with gate.turn(timeout=20):
        done.set()


@pytest.fixture
def spawn():
    context = mp.get_context("spawn")
    processes = []

    def start(*args):
        process = context.Process(target=_take_turn, args=args)
        process.start()
        processes.append(process)
        return process

    yield context, start
    for process in processes:
        process.join(10)
        assert process.exitcode == 0


def test_a_waiting_process_is_seen_and_gets_the_turn_when_released(tmp_path, spawn):
    context, start = spawn
    gate = ChdbGate.for_path(tmp_path / "clickhouse")
    started, done = context.Event(), context.Event()
    gate.acquire()
    try:
        assert not gate.wanted()
        start(tmp_path / "clickhouse", started, done)
        assert started.wait(20)
        deadline = time.monotonic() + 20
        while not gate.wanted():
            assert time.monotonic() < deadline, "the waiting process never showed up"
            time.sleep(0.01)
        assert not done.is_set(), "the other process got in while the turn was held"
    finally:
        gate.release()
    assert done.wait(20)
    assert not gate.wanted()


def test_threads_of_one_process_share_a_turn(tmp_path):
    gate = ChdbGate.for_path(tmp_path / "clickhouse")
    with gate.turn():
        with gate.turn(timeout=1):
            pass
    with gate.turn(timeout=1):
        pass


def test_a_busy_path_times_out_with_a_clear_error(tmp_path):
    import fcntl
    import os

    gate = ChdbGate.for_path(tmp_path / "clickhouse")
    gate.data_path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(gate.lock_path, os.O_RDWR | os.O_CREAT)
    other = os.open(gate.lock_path, os.O_RDWR)  # a second open file description: flock treats it as another holder
    fcntl.flock(other, fcntl.LOCK_EX)
    try:
        with pytest.raises(TimeoutError, match="stayed busy"):
            gate.acquire(timeout=0.2)
    finally:
        fcntl.flock(other, fcntl.LOCK_UN)
        os.close(other)
        os.close(fd)


class FakeClient:
    opened = 0

    def __init__(self):
        FakeClient.opened += 1
        self.closed = False

    def close(self):
        self.closed = True


def _wait_until(condition, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def test_a_client_given_back_is_reused_and_the_turn_lingers_until_idle(tmp_path, monkeypatch):
    import bionicpro.chdb_gate as chdb_gate

    monkeypatch.setattr(chdb_gate, "LINGER", 0.3)
    gate = ChdbGate.for_path(tmp_path / "clickhouse")
    with gate.client(FakeClient) as first:
        pass
    with gate.client(FakeClient) as second:
        assert second is first and not first.closed
    assert gate._fd is not None, "the turn ended although nobody waited"
    _wait_until(lambda: first.closed)
    assert gate._fd is None


def test_a_lingering_turn_ends_as_soon_as_another_process_waits(tmp_path, spawn, monkeypatch):
    import bionicpro.chdb_gate as chdb_gate

    monkeypatch.setattr(chdb_gate, "LINGER", 120.0)  # only the waiting process can end it in time
    context, start = spawn
    gate = ChdbGate.for_path(tmp_path / "clickhouse")
    with gate.client(FakeClient) as client:
        pass
    started, done = context.Event(), context.Event()
    start(tmp_path / "clickhouse", started, done)
    assert done.wait(60)
    assert client.closed


def test_a_client_whose_work_failed_is_closed_not_reused(tmp_path):
    gate = ChdbGate.for_path(tmp_path / "clickhouse")
    with pytest.raises(RuntimeError):
        with gate.client(FakeClient) as broken:
            raise RuntimeError("query failed")
    assert broken.closed
    with gate.client(FakeClient) as fresh:
        assert fresh is not broken
    gate.close()
    assert fresh.closed and gate._fd is None


def test_opening_another_path_first_ends_the_lingering_turn_on_the_previous_one(tmp_path):
    # chDB runs one engine per process: it cannot open a second path while clients of the first live.
    old = ChdbGate.for_path(tmp_path / "old")
    with old.client(FakeClient) as lingering:
        pass
    with ChdbGate.for_path(tmp_path / "new").client(FakeClient):
        assert lingering.closed and old._fd is None
