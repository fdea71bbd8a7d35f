"""The local stack's ports, and children that die with the process that started them."""

import os
import signal
import socket
import subprocess
import sys
import time

import psutil
import pytest

from bionicpro import cli
from bionicpro.settings import Settings
from bionicpro.stack import Stack, StackError, die_with_parent, ensure_port_free


@pytest.fixture
def settings(monkeypatch, tmp_path):
    monkeypatch.setenv("BIONICPRO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("BIONICPRO_PREFECT_PORT", "4355")
    monkeypatch.setenv("BIONICPRO_API_PORT", "8355")
    return Settings()


def test_the_prefect_port_comes_from_the_environment(settings):
    stack = Stack(settings)
    assert (stack.port, stack.api_url, stack.env["PREFECT_API_URL"]) == (4355, "http://127.0.0.1:4355/api",
                                                                         "http://127.0.0.1:4355/api")
    assert Stack(settings, 4233).port == 4233  # bench/etl_scale.py picks its own


def test_the_prefect_port_defaults_to_4200(monkeypatch, tmp_path):
    monkeypatch.delenv("BIONICPRO_PREFECT_PORT", raising=False)
    monkeypatch.setenv("BIONICPRO_DATA_DIR", str(tmp_path))
    assert Settings().prefect_port == 4200


def test_the_api_is_served_and_checked_on_its_configured_port(settings, monkeypatch):
    spawned, checked = [], []
    monkeypatch.setattr(Stack, "spawn", lambda self, name, *args: spawned.append(args))
    monkeypatch.setattr(Stack, "wait_healthy", lambda self, url, what, timeout=120: checked.append(url))
    monkeypatch.setattr("bionicpro.stack.ensure_port_free", lambda host, port, variable: None)
    stack = Stack(settings)
    stack.start_api()
    assert spawned[0][-4:] == ("--host", "127.0.0.1", "--port", "8355")
    assert checked == ["http://127.0.0.1:8355/health"]
    assert stack.reports_url == "http://127.0.0.1:8355"


def test_the_closing_hint_names_the_configured_prefect_port(settings, capsys):
    cli._where_to_look(settings, None)
    assert "http://127.0.0.1:4355" in capsys.readouterr().out


def test_a_taken_port_is_refused_with_the_variable_to_change():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(StackError, match=f"127.0.0.1:{port} is taken by .*set BIONICPRO_API_PORT"):
            ensure_port_free("127.0.0.1", port, "BIONICPRO_API_PORT")
    ensure_port_free("127.0.0.1", port, "BIONICPRO_API_PORT")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux's")
def test_a_guarded_child_dies_with_its_parent_even_on_sigkill():
    # A parent that starts a guarded `sleep` and prints its pid; SIGKILL of the parent must take it along.
    parent = subprocess.Popen(
        [sys.executable, "-c", "import signal, subprocess, sys, time\n"
         "from bionicpro.stack import die_with_parent\n"
         "child = subprocess.Popen(['sleep', '60'], preexec_fn=die_with_parent(signal.SIGKILL))\n"
         "print(child.pid, flush=True)\n"
         "time.sleep(60)\n"],
        stdout=subprocess.PIPE, text=True)
    child = psutil.Process(int(parent.stdout.readline()))
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            if child.status() == psutil.STATUS_ZOMBIE:
                break
        except psutil.NoSuchProcess:
            break
        time.sleep(0.05)
    else:
        child.kill()
        pytest.fail("the guarded child outlived its parent")
    assert die_with_parent(signal.SIGTERM) is not None
