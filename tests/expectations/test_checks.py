"""The data-contract checks on staged rows in chDB: each rule fires on a hand-made bad row."""

from __future__ import annotations

import copy
from datetime import date, timedelta
from decimal import Decimal

import pytest

from tests.expectations.conftest import good_rows, ts

pytestmark = pytest.mark.integration


def _run(settings, run_id, datasets):
    from expectations import check

    return check(settings, run_id, datasets, f"test-{run_id}", update_docs=False)


def _failed(report, severity="blocking"):
    return {f.rule for s in report.suites if s.severity == severity for f in s.failed}


# (dataset, rule, change of the good rows, expected failing rules of that severity, example key)
def _set(table, index, **values):
    def change(rows):
        rows[table][index].update(values)
    return change


def _add(table, index, **values):
    def change(rows):
        rows[table].append({**copy.deepcopy(rows[table][index]), **values})
    return change


EV, BA, LB = "stage_events", "stage_battery", "stage_lookback"
UM, PM = "user_mart_candidates", "prosthetic_mart_candidates"

CASES = [
    ("telemetry_events", "prosthetic_known", _set(EV, 1, prosthetic_id=99), None, 2),
    ("telemetry_events", "user_known", _set(EV, 1, user_id=99), None, 2),
    ("telemetry_events", "event_type_known", _set(EV, 1, event_type="teleport"), None, 2),
    ("telemetry_events", "severity_known", _set(EV, 1, severity="fatal"), None, 2),
    ("telemetry_events", "not_before_purchase",
     _set(EV, 0, event_timestamp=ts("2023-05-31 23:59:59"), created_at=ts("2023-05-31 23:59:59")), None, 1),
    ("telemetry_events", "not_ahead_of_arrival",
     _set(EV, 2, created_at=ts("2024-01-15 09:54:59")), None, 3),  # 301 s ahead
    ("battery_metrics", "prosthetic_known", _set(BA, 0, prosthetic_id=99), None, 1),
    ("battery_metrics", "charge_level_range", _set(BA, 1, charge_level=100.5), None, 2),
    ("battery_metrics", "current_sign", _set(BA, 1, current_ma=-5), None, 2),
    ("battery_metrics", "voltage_range", _set(BA, 1, voltage=-9.0), None, 2),
    ("battery_metrics", "voltage_range", _set(BA, 1, voltage=5.001), None, 2),
    ("battery_metrics", "voltage_range", _set(BA, 0, voltage=float("nan")), None, 1),
    ("battery_metrics", "temperature_range", _set(BA, 1, temperature_c=999.9), None, 2),
    ("battery_metrics", "temperature_range", _set(BA, 2, temperature_c=-40.1), None, 3),
    ("battery_metrics", "not_before_purchase",
     _set(BA, 2, metric_timestamp=ts("2024-01-14 23:59:59"), created_at=ts("2024-01-15 00:00:00")), None, 3),
    ("battery_metrics", "not_ahead_of_arrival",
     _set(BA, 0, created_at=ts("2024-01-15 08:24:59")), None, 1),
    ("crm_users", "user_id_unique", _add("stage_users", 0, user_uuid="u-dup"), None, 1),
    ("crm_users", "user_uuid_unique", _set("stage_users", 1, user_uuid="u-1"), None, 1),
    ("crm_prosthetics", "prosthetic_id_unique", _add("stage_prosthetics", 0, prosthetic_uuid="p-x"), None, 10),
    ("crm_prosthetics", "device_type_known", _set("stage_prosthetics", 1, device_type="wing"), None, 11),
    ("crm_payments", "payment_id_unique", _add("stage_payments", 0), None, 100),
    ("crm_payments", "amount_non_negative", _set("stage_payments", 1, amount=Decimal("-0.01")), None, 101),
    ("crm_payments", "status_known", _set("stage_payments", 1, status="refunded"), None, 101),
    ("crm_payments", "user_known", _set("stage_payments", 1, user_id=99), None, 101),
    ("crm_subscriptions", "monthly_cost_non_negative",
     _set("stage_subscriptions", 1, monthly_cost=Decimal("-1")), None, 1001),
    ("crm_subscriptions", "end_not_before_start",
     _set("stage_subscriptions", 1, end_date=date(2022, 12, 31)), None, 1001),
    ("crm_support_tickets", "resolved_not_before_created",
     _set("stage_tickets", 0, resolved_at=ts("2024-01-03 08:59:59")), None, 5000),
    ("report_user_monthly_metrics", "one_row_per_user_month", _add(UM, 0), None, 1),
    ("report_user_monthly_metrics", "successful_within_total",
     _set(UM, 0, successful_payments=Decimal("49.91")), None, 1),
    ("report_user_monthly_metrics", "total_payments_non_negative",
     _set(UM, 0, total_payments=Decimal("-1"), successful_payments=Decimal("-1")),
     {"total_payments_non_negative", "successful_payments_non_negative"}, 1),
    ("report_user_monthly_metrics", "successful_payments_non_negative",
     _set(UM, 0, successful_payments=Decimal("-1")), None, 1),
    ("report_user_monthly_metrics", "subscription_cost_total_non_negative",
     _set(UM, 0, subscription_cost_total=Decimal("-0.01")), None, 1),
    *[
        ("report_user_monthly_metrics", f"{c}_non_negative", _set(UM, 1, **{c: -1}), None, 2)
        for c in ("failed_payments_count", "active_subscriptions_count", "support_tickets_opened",
                  "support_tickets_resolved")
    ],
    ("report_prosthetic_monthly_metrics", "one_row_per_prosthetic_month", _add(PM, 1), None, 11),
    ("report_prosthetic_monthly_metrics", "active_hours_range",
     _set(PM, 1, total_active_hours=360.001), None, 11),
    ("report_prosthetic_monthly_metrics", "downtime_range", _set(PM, 1, downtime_minutes=21601), None, 11),
    *[
        ("report_prosthetic_monthly_metrics", f"{c}_non_negative", _set(PM, 0, **{c: -1}), None, 10)
        for c in ("avg_discharge_rate_active", "avg_discharge_rate_idle", "avg_charge_rate")
    ],
    *[
        ("report_prosthetic_monthly_metrics", f"{c}_non_negative", _set(PM, 0, **{c: -1}), None, 10)
        for c in ("power_on_count", "power_off_count", "charge_cycles", "warning_count", "error_count",
                  "critical_error_count")
    ],
]


def test_good_rows_pass_every_suite(work, stage):
    from expectations import MART_DATASETS, SOURCE_DATASETS

    settings, _ = work
    run_id = stage()
    report = _run(settings, run_id, SOURCE_DATASETS + MART_DATASETS)
    assert report.passed, report.to_markdown()
    assert not report.warning_failures, report.to_markdown()
    assert {(s.dataset, s.severity) for s in report.suites} >= {
        ("telemetry_events", "blocking"), ("telemetry_events", "warning"),
        ("battery_metrics", "warning"), ("report_user_monthly_metrics", "blocking"),
    }
    assert all(s.evaluated > 0 and s.rows > 0 for s in report.suites)


@pytest.mark.parametrize(
    "dataset,rule,change,expected,key", CASES, ids=[f"{c[0]}-{c[1]}" for c in CASES]
)
def test_each_blocking_rule_fires_on_a_bad_row(work, stage, dataset, rule, change, expected, key):
    settings, _ = work
    rows = good_rows()
    change(rows)
    report = _run(settings, stage(rows), [dataset])
    assert not report.passed
    assert _failed(report) == (expected or {rule}), report.to_markdown()
    failure = next(f for f in report.blocking_failures if f.rule == rule)
    assert failure.bad_rows >= 1
    assert str(key) in failure.example_keys(), failure.summary()
    assert failure.description


# (rule, change of the good rows, example key): rows the contract does not call bad data, reported
WARNING_CASES = [
    ("event_value_finite", _set(EV, 1, event_value=float("nan")), 2),
    ("event_value_finite", _set(EV, 2, event_value=float("inf")), 3),
    ("event_value_finite", _set(EV, 3, event_value=float("-inf")), 4),
    ("user_is_owner", _set(EV, 1, user_id=2), 2),  # a known user, owner of prosthesis 11, not 10
    ("arrived_dated_ahead", _add(LB, 1, event_id=92, event_timestamp=ts("2030-01-01 00:00:00")), 92),
    ("arrived_dated_ahead", _set(LB, 1, created_at=ts("2024-01-15 23:54:59")), 91),  # 301 s ahead
]


@pytest.mark.parametrize("rule,change,key", WARNING_CASES, ids=[f"{c[0]}-{c[2]}" for c in WARNING_CASES])
def test_each_event_warning_fires_on_its_row_and_does_not_block(work, stage, rule, change, key):
    settings, _ = work
    rows = good_rows()
    change(rows)
    report = _run(settings, stage(rows), ["telemetry_events"])
    assert report.passed, report.to_markdown()
    assert _failed(report, "warning") == {rule}, report.to_markdown()
    failure = next(f for f in report.warning_failures if f.rule == rule)
    assert failure.bad_rows == 1
    assert failure.example_keys() == f"event_id={key}", failure.summary()
    assert failure.description


def test_look_back_rows_are_not_arrivals(work, stage):
    """Look-back rows (``created_at`` NULL) are not arrivals: their own runs checked them."""
    settings, _ = work
    rows = good_rows()
    rows[LB][0]["event_timestamp"] = ts("2030-01-01 00:00:00")
    report = _run(settings, stage(rows), ["telemetry_events"])
    assert "arrived_dated_ahead" not in _failed(report, "warning")


def test_late_rows_share_and_volume_are_warnings(work, stage):
    settings, _ = work
    rows = good_rows()
    late = rows[EV][3]
    late["created_at"] = late["event_timestamp"] + timedelta(hours=1, seconds=1)  # 1 of 5 > 5 %
    rows[EV].append({**late, "event_id": 5, "event_timestamp": ts("2024-01-16 09:00:00"),
                     "created_at": ts("2024-01-16 09:00:01")})  # a day with 1 row; mean day 2.5
    report = _run(settings, stage(rows), ["telemetry_events"])
    assert report.passed, report.to_markdown()  # warnings never block
    assert _failed(report, "warning") == {"late_rows_share", "volume"}
    by_rule = {f.rule: f for f in report.warning_failures}
    assert by_rule["late_rows_share"].bad_rows == 1
    assert "event_id=4" in by_rule["late_rows_share"].example_keys()
    assert "day=2024-01-16" in by_rule["volume"].example_keys()


def test_late_rows_within_mostly_pass(work, stage):
    settings, _ = work
    rows = good_rows()
    template = rows[EV][1]
    rows[EV] += [
        {**template, "event_id": 100 + i, "created_at": template["created_at"] + timedelta(seconds=i)}
        for i in range(20)
    ]
    rows[EV][0]["created_at"] = rows[EV][0]["event_timestamp"] + timedelta(hours=2)  # 1 of 24 < 5 %
    report = _run(settings, stage(rows), ["telemetry_events"])
    assert "late_rows_share" not in _failed(report, "warning")


def test_battery_volume_warning(work, stage):
    settings, _ = work
    rows = good_rows()
    rows[BA].append({**rows[BA][0], "metric_id": 8, "metric_timestamp": ts("2024-01-15 08:31:00"),
                     "created_at": ts("2024-01-15 08:31:01")})  # 4 samples on the 15th
    rows[BA].append({**rows[BA][0], "metric_id": 9, "metric_timestamp": ts("2024-01-16 08:30:00"),
                     "created_at": ts("2024-01-16 08:30:01")})  # 1 on the 16th: below half of 2.5
    report = _run(settings, stage(rows), ["battery_metrics"])
    assert report.passed
    assert _failed(report, "warning") == {"volume"}


def test_money_fits_column(work, stage):
    settings, _ = work
    rows = good_rows()
    rows[UM][1]["total_payments"] = Decimal("10000000000.00")  # 10^10 does not fit Decimal(12,2)
    rows[UM][0]["subscription_cost_total"] = Decimal("-10000000000.00")
    report = _run(settings, stage(rows), ["report_user_monthly_metrics"])
    failure = next(f for f in report.blocking_failures if f.rule == "money_fits_column")
    assert failure.bad_rows == 2
    assert failure.example_keys() == "report_date=2024-01-01 user_id=1; report_date=2024-01-01 user_id=2"
    # the largest value that fits passes (the good rows hold 9999999999.99)
    assert "money_fits_column" not in _failed(_run(settings, stage(), ["report_user_monthly_metrics"]))


def test_other_runs_rows_are_ignored(work, stage):
    settings, _ = work
    bad = good_rows()
    bad[EV][0]["event_type"] = "teleport"
    bad["stage_prosthetics"] = []  # every event of that run is of an unknown device
    bad["stage_users"] = []
    bad[UM].append(copy.deepcopy(bad[UM][0]))
    other = stage(bad)
    good = stage()
    datasets = ["telemetry_events", "battery_metrics", "crm_payments", "report_user_monthly_metrics"]
    assert _run(settings, good, datasets).passed
    failed = _run(settings, other, datasets)
    assert {"event_type_known", "prosthetic_known", "user_known", "not_before_purchase"} - {
        "not_before_purchase"
    } <= _failed(failed)
    assert "one_row_per_user_month" in _failed(failed)
    # the other run's users and devices do not make this run's ids known
    assert "crm_users" not in {s.dataset for s in failed.suites}


def test_error_names_rule_rows_and_keys(work, stage):
    from expectations import DataQualityError, raise_for_blocking

    settings, _ = work
    rows = good_rows()
    for event_id in (17, 18, 19):
        rows[EV].append({**rows[EV][1], "event_id": event_id, "event_type": "teleport"})
    report = _run(settings, stage(rows), ["telemetry_events"])
    with pytest.raises(DataQualityError) as raised:
        raise_for_blocking(report)
    assert str(raised.value) == "telemetry_events.blocking: event_type_known failed: 3 bad rows (event_id=17, 18, 19)"
    assert raised.value.report is report
    markdown = report.to_markdown()
    assert "| suite | rule | bad rows | example keys |" in markdown
    assert "| telemetry_events.blocking | event_type_known | 3 | event_id=17, 18, 19 |" in markdown


def test_passing_report_does_not_raise(work, stage):
    from expectations import raise_for_blocking

    settings, _ = work
    raise_for_blocking(_run(settings, stage(), ["crm_users", "crm_prosthetics"]))


def test_dataset_without_rows_is_reported_not_evaluated(work, stage):
    settings, _ = work
    rows = good_rows()
    rows["stage_tickets"] = []
    report = _run(settings, stage(rows), ["crm_support_tickets"])
    assert report.passed
    assert report.suites[0].skipped and report.suites[0].evaluated == 0


def test_run_id_is_validated(work):
    from expectations import check

    settings, _ = work
    for bad in ("", "x' OR 1=1 --", "a" * 65, "run id"):
        with pytest.raises(ValueError):
            check(settings, bad, ["crm_users"], "bad")
    with pytest.raises(ValueError):
        check(settings, "ok", ["no_such_dataset"], "bad")


def test_gx_project_and_data_docs(work, stage):
    from expectations import build_docs, check
    from expectations.checks import DSN_VARIABLE
    from expectations.suites import DATASETS

    settings, _ = work
    run_id = stage()
    report = check(settings, run_id, ["crm_users"], "with-docs")  # the checkpoint's docs action
    index = build_docs(settings)
    assert str(index) == report.docs_index and index.is_file()
    config = (settings.gx_dir / "gx" / "great_expectations.yml").read_text()
    assert "${" + DSN_VARIABLE + "}" in config
    assert "chdb://" not in config and "clickhousedb" not in config
    stored = settings.gx_dir / "gx" / "expectations"
    assert any('"money_fits_column"' in p.read_text() for p in stored.rglob("*.json"))
    # every expectation is tagged with its rule and severity and described
    for dataset in DATASETS.values():
        for severity, rules in dataset.rules().items():
            assert len({r for r, _ in rules}) == len(rules)
            assert all(e.description for _, e in rules)
    site = index.parent
    assert any(site.glob("validations/**/*.html"))


def test_stored_results_are_pruned(work, stage, monkeypatch):
    from expectations import check, checks

    settings, _ = work
    monkeypatch.setattr(checks, "KEEP_RESULTS_PER_SUITE", 2)
    run_id = stage()
    for i in range(4):
        check(settings, run_id, ["crm_prosthetics"], f"prune-{i}", update_docs=False)
    store = checks._project(settings).context.validation_results_store
    kept = [k for k in store.list_keys() if k.expectation_suite_identifier.name == "crm_prosthetics.blocking"]
    assert len(kept) == 2


def test_sqlalchemy_url():
    from expectations.checks import sqlalchemy_url

    assert sqlalchemy_url("chdb:///tmp/x") == "chdb:///tmp/x"
    assert sqlalchemy_url("http://u:p@h:8123/db") == "clickhousedb://u:p@h:8123/db"
    assert sqlalchemy_url("https://u:p@h:8443/db") == "clickhousedb://u:p@h:8443/db?secure=true"
    with pytest.raises(ValueError):
        sqlalchemy_url("postgresql://h/db")


def test_a_project_declared_again_by_another_process_is_reloaded(work, stage):
    """Two runs at once: each process declares the GX project (saving the suites anew) when it
    starts, and GX refuses a checkpoint whose suite was saved again since it was loaded. Here the
    other process's declaration is played by a fresh declaration beside this process's cached one."""
    from pathlib import Path

    from expectations import checks

    settings, _ = work
    run_id = stage()
    _run(settings, run_id, ["crm_users"])
    key = (str(Path(settings.gx_dir)), checks.sqlalchemy_url(settings.clickhouse_dsn("work")))
    ours = checks._PROJECTS.pop(key)
    checks._project(settings)  # "the other process": saves every suite again, new token
    checks._PROJECTS[key] = ours
    assert _run(settings, run_id, ["crm_users"]).passed
