"""Alerts end to end: the stack of `make up` (a real Prefect server, the blocks, the deployments, the
automations, a worker), a daily run that fails on bad data, a nightly run no worker takes, and the
webhook that hears of both."""

from __future__ import annotations

import json
import threading
import time
from datetime import date, datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytestmark = pytest.mark.integration

END = date(2024, 2, 1)  # seeded: January 2024; the bad rows are dated on its last day
FAILING_DAY = date(2024, 1, 31)
# The proactive automation's window, cut from 2 h so that the test sees it close.
SHORT_WINDOW_S = 10


class Receiver:
    """A webhook on localhost that keeps the JSON body of every POST it gets."""

    def __init__(self):
        self.posts: list[dict] = []
        self.arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                with receiver.arrived:
                    receiver.posts.append(body)
                    receiver.arrived.notify_all()
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook?token=not-for-the-logs"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def wait_for(self, subject_part: str, timeout: float) -> dict:
        with self.arrived:
            found = self.arrived.wait_for(lambda: self.about(subject_part), timeout)
        assert found, f"no POST about {subject_part!r} within {timeout:.0f} s; got {self.posts}"
        return found[0]

    def about(self, subject_part: str) -> list[dict]:
        return [post for post in self.posts if subject_part in post["subject"]]

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


@pytest.fixture(scope="module")
def nightly_run_not_taken(stack):
    """A run of `daily` as the scheduler makes them (tagged ``auto-scheduled``), due now, in a paused
    work queue of the pool, watched by the proactive automation of automations.yaml with a short
    window. Made before the other tests, so that its window closes while they run."""
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings
    from prefect.states import Scheduled

    from bionicpro.automations import AUTOMATIONS_FILE, _saved_block_id, load_automations

    with temporary_settings(updates={PREFECT_API_URL: stack.api_url}), get_client(sync_client=True) as client:
        text = AUTOMATIONS_FILE.read_text().replace("within: 7200", f"within: {SHORT_WINDOW_S}")
        (proactive,) = [a for a in load_automations(text, _saved_block_id(client))
                        if a.name == "bionicpro-daily-not-completed"]
        client.create_automation(proactive.model_copy(update={"name": "short-window-copy"}))
        client.create_work_queue("paused", is_paused=True, work_pool_name="bionicpro")
        deployment = client.read_deployment_by_name("bionicpro_etl_daily/daily")
        run = client.create_flow_run_from_deployment(
            deployment.id, state=Scheduled(scheduled_time=datetime.now(timezone.utc)),
            tags=[*deployment.tags, "auto-scheduled"], work_queue_name="paused")
    return run, time.monotonic()


def test_a_daily_run_failing_on_bad_data_posts_its_name_month_and_rules(stack, receiver, nightly_run_not_taken):
    started = time.monotonic()
    run = stack.run(stack_bin("prefect"), "deployment", "run", "bionicpro_etl_daily/daily",
                    "--param", f"report_date={FAILING_DAY}", "--watch", check=False)
    assert run.returncode != 0, run.stdout[-2000:]
    post = receiver.wait_for("etl-2024-01-31", timeout=60)
    print(f"posted {time.monotonic() - started:.1f} s after the run was asked for:\n{post['text']}")

    assert post["subject"] == "BionicPRO: etl-2024-01-31 Failed"
    body = post["body"]
    assert "Flow run etl-2024-01-31 of bionicpro_etl_daily (deployment daily) is Failed." in body
    assert "report_date=2024-01-31" in body
    assert "Tags: bionicpro, daily, month:2024-01" in body
    assert f"Run page: {stack.ui_url}/runs/flow-run/" in body
    # The state message names each failing rule (tests/test_etl_flow.py covers them all).
    assert "telemetry_events.blocking: prosthetic_known failed" in body
    assert "battery_metrics.blocking: charge_level_range failed" in body


def test_a_nightly_run_no_worker_takes_posts_that_it_did_not_complete(receiver, nightly_run_not_taken):
    run, created = nightly_run_not_taken
    # Late 15 s after its time, then the window, then the next proactive evaluation (every 5 s).
    post = receiver.wait_for("has not completed", timeout=60)
    print(f"posted {time.monotonic() - created:.1f} s after the run was due:\n{post['text']}")
    assert post["subject"].startswith("BionicPRO: the daily run due at ")
    assert f"The daily run {run.name}, due at " in post["body"]
    assert "It was Late at " in post["body"]


def test_one_notification_per_run(receiver):
    assert len(receiver.about("etl-2024-01-31")) == 1
    assert len(receiver.about("has not completed")) == 1
    assert len(receiver.posts) == 2, receiver.posts


def test_make_up_again_updates_the_automations_instead_of_adding_more(stack):
    stack.run(stack_bin("bionicpro"), "automations")
    automations = {a["name"]: a for a in stack_api(stack, "POST", "/automations/filter")}
    assert set(automations) == {"bionicpro-run-failed", "bionicpro-daily-not-completed", "short-window-copy"}
    proactive = automations["bionicpro-daily-not-completed"]
    assert (proactive["trigger"]["posture"], proactive["trigger"]["within"]) == ("Proactive", 7200.0)
    block = stack_api(stack, "GET", "/block_types/slug/custom-webhook/block_documents/name/bionicpro-alerts")
    for automation in automations.values():
        assert [(a["type"], a["block_document_id"]) for a in automation["actions"]] == [
            ("send-notification", block["id"])]


def test_the_webhook_url_stays_out_of_the_logs(stack, receiver):
    token = receiver.url.rpartition("=")[2]
    for log in stack.logs.glob("*.log"):
        assert token not in log.read_text(errors="replace"), log.name


def stack_bin(name: str) -> str:
    from bionicpro.stack import _bin

    return _bin(name)


def stack_api(stack, method: str, path: str):
    import httpx

    response = httpx.request(method, stack.api_url + path, json={} if method == "POST" else None, timeout=30)
    response.raise_for_status()
    return response.json()
