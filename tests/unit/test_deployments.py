"""prefect.yaml and the flows' parameters, as the Prefect CLI and server will read them."""

from datetime import date, datetime
from importlib import import_module
from pathlib import Path

import pytest
import yaml

from flows.backfill import check_range, month_targets, select_months

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def deployments():
    config = yaml.safe_load((ROOT / "prefect.yaml").read_text())
    return {d["name"]: d for d in config["deployments"]}, config


def _flow(entrypoint: str):
    module, name = entrypoint.split(":")
    return getattr(import_module(module.removesuffix(".py").replace("/", ".")), name)


def test_entrypoints_import_and_name_the_flows(deployments):
    by_name, _ = deployments
    assert _flow(by_name["daily"]["entrypoint"]).name == "bionicpro_etl_daily"
    assert _flow(by_name["backfill"]["entrypoint"]).name == "bionicpro_backfill"


def test_daily_runs_at_two_utc_on_the_process_pool_one_at_a_time(deployments):
    by_name, config = deployments
    daily = by_name["daily"]
    assert daily["schedules"] == [{"cron": "0 2 * * *", "timezone": "UTC", "active": True}]
    assert daily["work_pool"]["name"] == "bionicpro"
    assert daily["enforce_parameter_schema"] is True
    assert daily["concurrency_limit"] == {"limit": 1, "collision_strategy": "ENQUEUE"}
    assert list(config["pull"][0]) == ["prefect.deployments.steps.set_working_directory"]


def test_deployment_parameters_are_parameters_of_the_flows(deployments):
    by_name, _ = deployments
    for deployment in by_name.values():
        flow = _flow(deployment["entrypoint"])
        assert set(deployment["parameters"]) <= set(flow.parameters.properties)


def test_deployed_flows_expose_only_operator_parameters(deployments):
    """A switch a parent flow passes to its subflows (the backfill's no catch-up) is not a
    parameter of a deployed flow: an operator could otherwise skip part of the daily run."""
    by_name, _ = deployments
    public = {"daily": {"report_date", "recompute", "crm_block", "telemetry_block", "clickhouse_block"},
              "backfill": {"start_date", "end_date", "mode", "max_concurrency", "crm_block", "telemetry_block",
                           "clickhouse_block"}}
    for name, expected in public.items():
        assert set(_flow(by_name[name]["entrypoint"]).parameters.properties) == expected, name


def test_report_date_is_coerced_from_text_and_bad_dates_are_refused():
    from prefect.exceptions import ParameterTypeError

    flow = _flow("flows/daily.py:bionicpro_etl_daily")
    assert flow.validate_parameters({"report_date": "2024-01-15"})["report_date"] == date(2024, 1, 15)
    for bad in ("2024-13-01", "tomorrow"):
        with pytest.raises(ParameterTypeError, match="report_date"):
            flow.validate_parameters({"report_date": bad})


def test_backfill_mode_is_a_closed_set():
    from prefect.exceptions import ParameterTypeError

    flow = _flow("flows/backfill.py:bionicpro_backfill")
    with pytest.raises(ParameterTypeError, match="mode"):
        flow.validate_parameters({"start_date": "2024-01-01", "end_date": "2024-02-01", "mode": "some"})


def test_month_targets_cover_every_touched_month():
    assert month_targets(date(2023, 12, 15), date(2024, 2, 10)) == [
        date(2023, 12, 31), date(2024, 1, 31), date(2024, 2, 10)]


def test_select_months_by_policy():
    targets = [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 10)]
    status = {
        date(2024, 1, 1): ("success", datetime(2024, 2, 1)),   # done
        date(2024, 2, 1): ("failed", datetime(2024, 3, 1)),    # done once, last attempt failed
        date(2024, 3, 1): ("success", datetime(2024, 3, 16)),  # only to mid-month: not done
    }                                                          # April never loaded
    assert select_months(targets, status, "missing") == [date(2024, 3, 31), date(2024, 4, 10)]
    assert select_months(targets, status, "failed") == [date(2024, 2, 29)]
    assert select_months(targets, status, "all") == targets


def test_a_backwards_or_future_range_is_refused():
    with pytest.raises(ValueError, match="start_date=2024-02-01 is after end_date=2024-01-01"):
        check_range(date(2024, 2, 1), date(2024, 1, 1), date(2024, 6, 1))
    with pytest.raises(ValueError, match="end_date=2024-07-01 is after today"):
        check_range(date(2024, 1, 1), date(2024, 7, 1), date(2024, 6, 1))
