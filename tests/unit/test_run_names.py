"""Flow runs named and tagged from their parameters (flows/runs.py and the hooks of the flows)."""

from datetime import date, datetime, timezone
from types import SimpleNamespace
from uuid import uuid4

import pytest

from flows import daily, runs
from flows.runs import backfill_run_name, etl_run_name, month_tag

NIGHT = datetime(2024, 2, 1, 2, 0, tzinfo=timezone.utc)  # a scheduled start: it loads 2024-01-31


def test_names_and_month_tags():
    assert etl_run_name(date(2024, 1, 15)) == "etl-2024-01-15"
    assert month_tag(date(2024, 1, 15)) == "month:2024-01"
    assert backfill_run_name(date(2024, 1, 1), date(2024, 6, 30)) == "backfill-2024-01..2024-06"
    assert backfill_run_name(date(2023, 12, 15), date(2024, 1, 10)) == "backfill-2023-12..2024-01"
    assert backfill_run_name(date(2024, 3, 1), date(2024, 3, 31)) == "backfill-2024-03"


@pytest.mark.parametrize("report_date, name", [
    (date(2024, 1, 15), "etl-2024-01-15"),
    (None, "etl-2024-01-31"),             # the schedule's default: the day before its start
    (date(2099, 1, 1), "etl-2099-01-01"),  # named, then refused by the flow, not by its name
])
def test_a_daily_run_is_named_from_its_report_date(monkeypatch, report_date, name):
    monkeypatch.setattr(daily, "flow_run", SimpleNamespace(parameters={"report_date": report_date},
                                                           scheduled_start_time=NIGHT))
    monkeypatch.setattr(daily, "today_utc", lambda: date(2024, 6, 1))
    assert daily.name_etl_run() == name


def test_a_backfill_run_is_named_from_its_range(monkeypatch):
    monkeypatch.setattr(runs, "current_run", SimpleNamespace(
        parameters={"start_date": date(2024, 1, 1), "end_date": date(2024, 6, 30), "mode": "missing"}))
    assert runs.name_backfill_run() == "backfill-2024-01..2024-06"


def _run(parameters: dict, tags: list[str]):
    return SimpleNamespace(id=uuid4(), parameters=parameters, tags=tags, expected_start_time=NIGHT)


def test_a_scheduled_daily_run_is_tagged_with_the_month_it_loads(monkeypatch):
    added = []
    monkeypatch.setattr(daily, "add_tags", lambda run, tags: added.append(tags))
    # As the API gives a deployment run's parameters: JSON, report_date unset.
    daily.tag_etl_run(daily.bionicpro_etl_daily, _run({"crm_block": "bionicpro-crm"}, []), None)
    daily.tag_etl_run(daily.bionicpro_etl_daily, _run({"report_date": "2023-12-05"}, []), None)
    assert added == [["bionicpro", "daily", "month:2024-01"], ["bionicpro", "daily", "month:2023-12"]]


class FakeClient:
    def __init__(self):
        self.updates = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def update_flow_run(self, flow_run_id, tags):
        self.updates.append((flow_run_id, tags))


def test_tags_are_added_to_the_run_s_own_and_only_when_new(monkeypatch):
    client = FakeClient()
    monkeypatch.setattr("prefect.client.orchestration.get_client", lambda sync_client: client)
    scheduled = _run({}, ["daily", "auto-scheduled", "bionicpro"])
    runs.add_tags(scheduled, ["bionicpro", "daily", "month:2024-01"])
    assert client.updates == [(scheduled.id, ["auto-scheduled", "bionicpro", "daily", "month:2024-01"])]
    runs.add_tags(_run({}, ["bionicpro", "backfill"]), ["bionicpro", "backfill"])
    assert len(client.updates) == 1


def test_a_backfill_run_in_process_is_tagged_as_its_deployment_tags_its_runs(monkeypatch):
    import yaml

    from tests.unit.test_deployments import ROOT

    added = []
    monkeypatch.setattr(runs, "add_tags", lambda run, tags: added.append(tags))
    runs.tag_backfill_run(None, _run({}, []), None)
    deployments = {d["name"]: d for d in yaml.safe_load((ROOT / "prefect.yaml").read_text())["deployments"]}
    assert added == [deployments["backfill"]["tags"]] == [["bionicpro", "backfill"]]
    assert deployments["daily"]["tags"] == ["bionicpro", "daily"]
