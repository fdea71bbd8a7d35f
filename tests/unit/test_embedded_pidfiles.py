"""The embedded PostgreSQL's bookkeeping: a dead postmaster's files and dead holders are dropped."""

import json
import os
import subprocess
import sys

import pytest

from bionicpro import embedded


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def postmaster_pid(pgdata, pid: int, socket_dir) -> None:
    (pgdata / "postmaster.pid").write_text(
        f"{pid}\n{pgdata}\n1700000000\n5432\n{socket_dir}\n\n  8826964     65536\nready   \n")


@pytest.fixture
def pgdata(tmp_path):
    path = tmp_path / "postgres"
    path.mkdir()
    return path.resolve()


@pytest.mark.parametrize("owner", ["dead", "not postgres"])
def test_the_files_of_a_postmaster_that_is_not_running_are_removed(pgdata, owner):
    pid = dead_pid() if owner == "dead" else os.getpid()  # a reused pid: some other program
    postmaster_pid(pgdata, pid, pgdata)
    (pgdata / ".s.PGSQL.5432.lock").write_text(f"{pid}\n")
    embedded._clear_stale_postmaster(pgdata)
    assert not (pgdata / "postmaster.pid").exists()
    assert not (pgdata / ".s.PGSQL.5432.lock").exists()


def test_without_a_pid_file_there_is_nothing_to_clear(pgdata):
    embedded._clear_stale_postmaster(pgdata)
    assert embedded._postmaster(pgdata) is None


def test_holders_that_died_are_dropped(pgdata):
    (pgdata / embedded.HOLDERS_FILE).write_text(json.dumps([dead_pid(), os.getpid()]))
    assert embedded._live_holders(pgdata) == [os.getpid()]
    assert json.loads((pgdata / embedded.HOLDERS_FILE).read_text()) == [os.getpid()]
