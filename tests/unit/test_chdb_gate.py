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
