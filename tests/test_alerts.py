"""Alerts end to end: the stack of `make up` (a real Prefect server, the blocks, the deployments, the
automations, a worker), a daily run that fails on bad data, and the webhook that hears of it."""

from __future__ import annotations

import json
import queue
import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytestmark = pytest.mark.integration

END = date(2024, 2, 1)  # seeded: January 2024; the bad rows are dated on its last day
FAILING_DAY = date(2024, 1, 31)


class Receiver:
    """A webhook on localhost: the body of every POST it gets, in order."""

    def __init__(self):
        posts: queue.Queue[str] = queue.Queue()

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                posts.put(self.rfile.read(int(self.headers.get("Content-Length", 0))).decode())
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.posts = posts
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook?token=not-in-the-logs"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def next_post(self, timeout: float) -> dict:
        return json.loads(self.posts.get(timeout=timeout))

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture(scope="module")
def receiver():
    started = Receiver()
    yield started
    started.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory, receiver):
    """`make up`'s stack on its own data dir and a free port, with January 2024 and its bad rows."""
    from bionicpro.settings import Settings
    from bionicpro.stack import Stack, _free_port
    from schema import apply_all
    from seed import SeedConfig, seed_database
    from tests.conftest import URL_VARIABLES

    root = tmp_path_factory.mktemp("alerts")
    with pytest.MonkeyPatch.context() as env:
        for name in URL_VARIABLES:
            env.delenv(name, raising=False)
        env.setenv("BIONICPRO_DATA_DIR", str(root / "data"))
        env.setenv("PREFECT_HOME", str(root / "prefect"))
        env.setenv("BIONICPRO_ALERT_WEBHOOK_URL", receiver.url)
        # The worker's default is a poll every 10 s: up to that long before the run even starts.
        env.setenv("PREFECT_WORKER_QUERY_SECONDS", "1")
        settings = Settings()
        apply_all(settings)
        seed_database(settings, SeedConfig(users=3, months=1, end_date=END, seed=7, anomalies=True))
        started = Stack(settings, port=_free_port())
        try:
            started.start()
            yield started
        finally:
            started.stop()


def test_a_daily_run_failing_on_bad_data_posts_its_name_month_and_rule(stack, receiver):
    started = time.monotonic()
    run = stack.run(stack_bin("prefect"), "deployment", "run", "bionicpro_etl_daily/daily",
                    "--param", f"report_date={FAILING_DAY}", "--watch", check=False)
    assert run.returncode != 0, run.stdout[-2000:]
    post = receiver.next_post(timeout=60)
    print(f"posted {time.monotonic() - started:.1f} s after the run was asked for:\n{post['text']}")

    assert post["subject"] == "BionicPRO: etl-2024-01-31 Failed"
    body = post["body"]
    assert "Flow run etl-2024-01-31 of bionicpro_etl_daily (deployment daily) is Failed." in body
    assert "report_date=2024-01-31" in body
    assert "Tags: bionicpro, daily, month:2024-01" in body
    # The state message names each failing rule (tests/test_etl_flow.py covers them all).
    assert "telemetry_events.blocking: prosthetic_known failed" in body
    assert "battery_metrics.blocking: charge_level_range failed" in body
    assert receiver.posts.empty(), "one notification per failed run"


def test_the_webhook_url_stays_out_of_the_logs(stack, receiver):
    token = receiver.url.rpartition("=")[2]
    for log in stack.logs.glob("*.log"):
        assert token not in log.read_text(errors="replace"), log.name


def test_make_up_again_updates_the_automations_instead_of_adding_more(stack):
    stack.run(stack_bin("bionicpro"), "automations")
    automations = {a["name"]: a for a in stack_api(stack, "POST", "/automations/filter")}
    assert set(automations) == {"bionicpro-run-failed", "bionicpro-daily-not-completed"}
    proactive = automations["bionicpro-daily-not-completed"]
    assert (proactive["trigger"]["posture"], proactive["trigger"]["within"]) == ("Proactive", 7200.0)
    block = stack_api(stack, "GET", "/block_types/slug/custom-webhook/block_documents/name/bionicpro-alerts")
    for automation in automations.values():
        assert [(a["type"], a["block_document_id"]) for a in automation["actions"]] == [
            ("send-notification", block["id"])]


def stack_bin(name: str) -> str:
    from bionicpro.stack import _bin

    return _bin(name)


def stack_api(stack, method: str, path: str):
    import httpx

    response = httpx.request(method, stack.api_url + path, json={} if method == "POST" else None, timeout=30)
    response.raise_for_status()
    return response.json()
