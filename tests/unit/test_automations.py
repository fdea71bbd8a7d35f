"""automations.yaml: valid for the Prefect server, aimed at the deployments of prefect.yaml, and its
messages render (the failure's end to end in tests/test_alerts.py)."""

from datetime import datetime, timedelta, timezone
from uuid import uuid4

import pytest
import yaml

from bionicpro.automations import AUTOMATIONS_FILE, load_automations
from tests.unit.test_deployments import ROOT, _flow

BLOCK_ID = uuid4()


@pytest.fixture(scope="module")
def automations():
    loaded = load_automations(AUTOMATIONS_FILE.read_text(),
                              lambda slug, name: BLOCK_ID if (slug, name) == ("custom-webhook", "bionicpro-alerts") else None)
    return {automation.name: automation for automation in loaded}


@pytest.fixture(scope="module")
def deployments():
    return {d["name"]: d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]}


def _related(trigger, role: str) -> list[str]:
    for spec in trigger.match_related:
        if spec.root.get("prefect.resource.role") == role:
            names = spec.root.get("prefect.resource.name", spec.root.get("prefect.resource.id"))
            return [names] if isinstance(names, str) else names
    raise AssertionError(f"no {role} in match_related")


def test_each_automation_notifies_through_the_alert_block(automations):
    assert set(automations) == {"bionicpro-run-failed", "bionicpro-daily-not-completed"}
    for automation in automations.values():
        assert [(action.type, action.block_document_id) for action in automation.actions] == [
            ("send-notification", BLOCK_ID)]


def test_without_the_block_the_automations_still_fire_but_notify_nobody():
    loaded = load_automations(AUTOMATIONS_FILE.read_text(), lambda slug, name: None)
    assert [(automation.name, automation.actions) for automation in loaded] == [
        ("bionicpro-run-failed", []), ("bionicpro-daily-not-completed", [])]


def test_a_failed_or_crashed_run_of_either_deployment_fires(automations, deployments):
    trigger = automations["bionicpro-run-failed"].trigger
    assert (trigger.posture, trigger.expect) == ("Reactive", {"prefect.flow-run.Failed", "prefect.flow-run.Crashed"})
    assert sorted(_related(trigger, "deployment")) == sorted(deployments)
    assert sorted(_related(trigger, "flow")) == sorted(_flow(d["entrypoint"]).name for d in deployments.values())
    assert trigger.for_each == {"prefect.resource.id"}


def test_a_nightly_run_not_completed_by_four_fires(automations, deployments):
    trigger = automations["bionicpro-daily-not-completed"].trigger
    assert deployments["daily"]["schedules"][0]["cron"] == "0 2 * * *"
    assert (trigger.posture, trigger.expect, trigger.threshold) == ("Proactive", {"prefect.flow-run.Completed"}, 1)
    assert timedelta(hours=2) + trigger.within == timedelta(hours=4)
    assert {"prefect.flow-run.Pending", "prefect.flow-run.Late"} <= trigger.after
    assert _related(trigger, "deployment") == ["daily"]
    assert _related(trigger, "flow") == [_flow(deployments["daily"]["entrypoint"]).name]
    assert _related(trigger, "tag") == ["prefect.tag.auto-scheduled"]


def _render(template: str, **context) -> str:
    from prefect.server.events.jinja_filters import all_filters
    from prefect.server.utilities.user_templates import register_user_template_filters, render_user_template_sync

    register_user_template_filters(all_filters)  # as the server does before its first action
    return render_user_template_sync(template, context)


def test_the_missing_run_message_renders_for_a_late_run(automations):
    from prefect.server.schemas.core import FlowRun
    from prefect.server.schemas.states import Late

    due = datetime(2024, 2, 1, 2, 0, tzinfo=timezone.utc)
    run = FlowRun(flow_id=uuid4(), name="sassy-lemur", expected_start_time=due,
                  state=Late(scheduled_time=due, timestamp=due + timedelta(seconds=15)))
    action = automations["bionicpro-daily-not-completed"].actions[0]
    subject, body = _render(action.subject, flow_run=run), _render(action.body, flow_run=run)
    assert subject == "BionicPRO: the daily run due at 2024-02-01 02:00:00+00:00 has not completed"
    assert body.startswith("The daily run sassy-lemur, due at 2024-02-01 02:00:00+00:00, had not completed 2 hours later.\n"
                           "It was Late at 2024-02-01 02:00:15+00:00.")
