"""Data-quality layer: every bad-data rule of the contract is caught by its expectation.

Each case starts from a clean hand-made frame, breaks exactly one row in one way and checks that
exactly that blocking rule fails, with ``unexpected_count == 1`` (2 for duplicates: both copies are
unexpected) and the broken row's key among the examples. The GX context lives under a temporary
directory shared by the module (creating it once keeps the tests fast).
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

pytest.importorskip("great_expectations")

from expectations import frames as F  # noqa: E402
from expectations.runner import (  # noqa: E402
    DataQualityError,
    ValidationReport,
    build_docs,
    raise_for_blocking,
    validate,
)
from expectations.suites import (  # noqa: E402
    DATASETS,
    EVENT_TYPES,
    SEVERITIES,
    build_suites,
    suite_parameters,
)

T0 = pd.Timestamp("2024-02-01 10:00:00")
KNOWN_USERS = {10, 20}


# ------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def gx_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("gx")


def _prosthetics() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "prosthetic_id": [1, 2],
            "prosthetic_uuid": ["p-1", "p-2"],
            "user_id": [10, 20],
            "device_type": ["arm", "leg"],
            "purchase_date": [dt.date(2024, 1, 1), dt.date(2024, 2, 1)],
        }
    )


def _users() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "user_id": [10, 20],
            "user_uuid": ["u-10", "u-20"],
            "created_at": [pd.Timestamp("2023-12-01"), pd.Timestamp("2023-12-02")],
        }
    )


def _events() -> pd.DataFrame:
    """Clean events, including the boundaries that are still fine."""
    return pd.DataFrame(
        {
            "event_id": [1, 2, 3, 4, 5],
            "prosthetic_id": [1, 1, 2, 2, 1],
            "user_id": [10, 10, 20, 20, 10],
            "event_type": ["power_on", "grip", "power_off", "critical_error", "charging_completed"],
            "severity": ["info", "info", "info", "critical", "info"],
            "event_timestamp": [
                T0,
                T0 + pd.Timedelta(minutes=5),  # exactly 300 s ahead of arrival: allowed
                pd.Timestamp("2024-02-01 00:00:00"),  # exactly the purchase date: allowed
                T0,
                T0 - pd.Timedelta(minutes=50),  # 50 minutes late: fine
            ],
            "created_at": [T0, T0, pd.Timestamp("2024-02-01 00:00:10"), T0, T0],
            "event_value": [None, 1.0, None, None, None],
        }
    )


def _samples() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "metric_id": [11, 12, 13, 14],
            "prosthetic_id": [1, 1, 2, 2],
            "metric_timestamp": [T0, T0, T0, pd.Timestamp("2024-02-01 00:00:00")],
            "charge_level": [Decimal("0.00"), Decimal("100.00"), Decimal("55.50"), Decimal("60")],
            "voltage": [Decimal("3.700")] * 4,
            "current_ma": [-120, 800, 0, -5],
            "is_charging": [False, True, False, False],
            "created_at": [T0, T0, T0, pd.Timestamp("2024-02-01 00:01:00")],
        }
    )


def _payments() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "payment_id": [100, 101, 102],
            "user_id": [10, 20, 20],
            "subscription_id": [1, 2, 2],
            "amount": [Decimal("10.00"), Decimal("0.00"), Decimal("25.50")],
            "status": ["success", "failed", "pending"],
            "payment_date": [T0, T0, T0],
        }
    )


def _subscriptions() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "subscription_id": [1, 2],
            "user_id": [10, 20],
            "monthly_cost": [Decimal("10.00"), Decimal("0.00")],
            "start_date": [dt.date(2024, 1, 1), dt.date(2024, 1, 5)],
            "end_date": [None, dt.date(2024, 1, 5)],
        }
    )


def _tickets() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "ticket_id": [7, 8],
            "user_id": [10, 20],
            "created_at": [T0, T0],
            "resolved_at": [None, T0],
        }
    )


def _user_mart() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "report_date": [dt.date(2024, 2, 1), dt.date(2024, 2, 1), dt.date(2024, 1, 1)],
            "user_id": [10, 20, 10],
            "user_uuid": ["u-10", "u-20", "u-10"],
            "total_payments": [Decimal("35.50"), Decimal("0.00"), Decimal("10.00")],
            "successful_payments": [Decimal("10.00"), Decimal("0.00"), Decimal("10.00")],
            "failed_payments_count": [1, 0, 0],
            "active_subscriptions_count": [1, 1, 1],
            "subscription_cost_total": [Decimal("10.00"), Decimal("0.00"), Decimal("10.00")],
            "support_tickets_opened": [1, 1, 0],
            "support_tickets_resolved": [0, 1, 0],
        }
    )


def _prosthetic_mart() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "report_date": [dt.date(2024, 2, 1), dt.date(2024, 2, 1)],
            "prosthetic_id": [1, 2],
            "user_id": [10, 20],
            "user_uuid": ["u-10", "u-20"],
            "prosthetic_uuid": ["p-1", "p-2"],
            "device_type": ["arm", "leg"],
            "power_on_count": [2, 0],
            "power_off_count": [1, 0],
            "total_active_hours": [16.5, 0.0],
            "avg_discharge_rate_active": [0.0, 0.0],
            "avg_discharge_rate_idle": [30.0, 0.0],
            "avg_charge_rate": [800.0, 0.0],
            "charge_cycles": [1, 0],
            "warning_count": [0, 0],
            "error_count": [0, 0],
            "critical_error_count": [1, 0],
            "downtime_minutes": [30, 0],
        }
    )


MAX_HOURS = 48.0  # month to date for the horizon 2024-02-03 00:00


def _frames(raw: dict[str, pd.DataFrame]) -> dict[str, pd.DataFrame]:
    """Validation frames from raw extracts (defaults: the clean frames above)."""
    get = lambda name, default: raw.get(name, default())  # noqa: E731
    prosthetics = get("crm_prosthetics", _prosthetics)
    users = get("crm_users", _users)
    known = set(users["user_id"])
    return {
        "telemetry_events": F.telemetry_events_frame(
            get("telemetry_events", _events), prosthetics, known
        ),
        "battery_metrics": F.battery_metrics_frame(get("battery_metrics", _samples), prosthetics),
        "crm_users": F.users_frame(users),
        "crm_prosthetics": F.prosthetics_frame(prosthetics),
        "crm_payments": F.payments_frame(get("crm_payments", _payments), known),
        "crm_subscriptions": F.subscriptions_frame(get("crm_subscriptions", _subscriptions)),
        "crm_support_tickets": F.tickets_frame(get("crm_support_tickets", _tickets)),
        "report_user_monthly_metrics": F.user_mart_frame(
            get("report_user_monthly_metrics", _user_mart)
        ),
        "report_prosthetic_monthly_metrics": F.prosthetic_mart_frame(
            get("report_prosthetic_monthly_metrics", _prosthetic_mart)
        ),
    }


# ------------------------------------------------------------------------------ the bad-data rules


def _names_row(examples: list[str], key: str) -> bool:
    """``key`` (e.g. ``event_id=1``) is one of the examples' key=value items (not event_id=10)."""
    pattern = re.compile(rf"(?<![\w]){re.escape(key)}(?![\w.])")
    return any(pattern.search(example) for example in examples)


EARLY = pd.Timestamp("2024-01-31 23:59:00")  # before prosthetic 2's purchase date (2024-02-01)

#: the column that names a row in the examples of each dataset
KEY = {
    "telemetry_events": "event_id",
    "battery_metrics": "metric_id",
    "crm_users": "user_id",
    "crm_prosthetics": "prosthetic_id",
    "crm_payments": "payment_id",
    "crm_subscriptions": "subscription_id",
    "crm_support_tickets": "ticket_id",
    "report_user_monthly_metrics": "user_id",  # with report_date
    "report_prosthetic_monthly_metrics": "prosthetic_id",  # with report_date
}
CLEAN = {
    "telemetry_events": _events,
    "battery_metrics": _samples,
    "crm_users": _users,
    "crm_prosthetics": _prosthetics,
    "crm_payments": _payments,
    "crm_subscriptions": _subscriptions,
    "crm_support_tickets": _tickets,
    "report_user_monthly_metrics": _user_mart,
    "report_prosthetic_monthly_metrics": _prosthetic_mart,
}

# (case id, dataset, changes to a copy of the clean frame's first row, rule, bad rows, example key)
# Each case appends ONE row (key 1000 + case number unless the change sets the key) breaking ONE
# rule. A duplicate key makes 2 bad rows: the copy and the row it duplicates are both unexpected.
CASES = [
    ("event_unknown_prosthetic", "telemetry_events", {"prosthetic_id": 99}, "prosthetic_known", 1,
     None),
    ("event_unknown_user", "telemetry_events", {"user_id": 99}, "user_known", 1, None),
    ("event_unknown_type", "telemetry_events", {"event_type": "teleport"}, "event_type_known", 1,
     None),
    ("event_unknown_severity", "telemetry_events", {"severity": "fatal"}, "severity_known", 1,
     None),
    ("event_before_purchase", "telemetry_events",
     {"prosthetic_id": 2, "user_id": 20, "event_timestamp": EARLY, "created_at": EARLY},
     "not_before_purchase", 1, None),
    ("event_ahead_of_arrival", "telemetry_events",
     {"event_timestamp": T0 + pd.Timedelta(seconds=301)}, "not_ahead_of_arrival", 1, None),
    ("event_null_type", "telemetry_events", {"event_type": None}, "event_type_not_null", 1, None),
    ("event_duplicate_id", "telemetry_events", {"event_id": 2}, "event_id_unique", 2, "event_id=2"),
    ("sample_unknown_prosthetic", "battery_metrics", {"prosthetic_id": 99}, "prosthetic_known", 1,
     None),
    ("sample_charge_above_100", "battery_metrics", {"charge_level": Decimal("100.01")},
     "charge_level_range", 1, None),
    ("sample_charge_below_0", "battery_metrics", {"charge_level": Decimal("-0.5")},
     "charge_level_range", 1, None),
    ("sample_charging_negative_current", "battery_metrics",
     {"is_charging": True, "current_ma": -300}, "current_sign", 1, None),
    ("sample_charging_zero_current", "battery_metrics", {"is_charging": True, "current_ma": 0},
     "current_sign", 1, None),
    ("sample_discharging_positive_current", "battery_metrics", {"current_ma": 40},
     "current_sign", 1, None),
    ("sample_before_purchase", "battery_metrics",
     {"prosthetic_id": 2, "metric_timestamp": EARLY, "created_at": EARLY},
     "not_before_purchase", 1, None),
    ("sample_ahead_of_arrival", "battery_metrics",
     {"metric_timestamp": T0 + pd.Timedelta(minutes=6)}, "not_ahead_of_arrival", 1, None),
    ("payment_negative_amount", "crm_payments", {"amount": Decimal("-0.01")},
     "amount_non_negative", 1, None),
    ("payment_unknown_user", "crm_payments", {"user_id": 99}, "user_known", 1, None),
    ("payment_unknown_status", "crm_payments", {"status": "refunded"}, "status_known", 1, None),
    ("payment_duplicate_id", "crm_payments", {"payment_id": 101}, "payment_id_unique", 2,
     "payment_id=101"),
    ("user_duplicate_uuid", "crm_users", {"user_uuid": "u-20"}, "user_uuid_unique", 2,
     "user_id=20"),
    ("prosthetic_unknown_device_type", "crm_prosthetics", {"device_type": "wing"},
     "device_type_known", 1, None),
    ("subscription_negative_cost", "crm_subscriptions", {"monthly_cost": Decimal("-5.00")},
     "monthly_cost_non_negative", 1, None),
    ("subscription_ends_before_start", "crm_subscriptions", {"end_date": dt.date(2023, 12, 31)},
     "end_not_before_start", 1, None),
    ("ticket_resolved_before_created", "crm_support_tickets",
     {"resolved_at": T0 - pd.Timedelta(seconds=1)}, "resolved_not_before_created", 1, None),
    ("user_mart_successful_above_total", "report_user_monthly_metrics",
     {"successful_payments": Decimal("35.51")}, "successful_within_total", 1, None),
    ("user_mart_duplicate_row", "report_user_monthly_metrics", {"user_id": 10},
     "one_row_per_user_month", 2, "user_id=10"),
    ("user_mart_negative_count", "report_user_monthly_metrics", {"support_tickets_opened": -1},
     "support_tickets_opened_non_negative", 1, None),
    ("prosthetic_mart_hours_above_max", "report_prosthetic_monthly_metrics",
     {"total_active_hours": MAX_HOURS + 0.01}, "active_hours_range", 1, None),
    ("prosthetic_mart_downtime_above_max", "report_prosthetic_monthly_metrics",
     {"downtime_minutes": int(MAX_HOURS * 60) + 1}, "downtime_range", 1, None),
    ("prosthetic_mart_negative_rate", "report_prosthetic_monthly_metrics",
     {"avg_charge_rate": -1.0}, "avg_charge_rate_non_negative", 1, None),
]


def _with_bad_rows() -> tuple[dict[str, pd.DataFrame], dict[str, str]]:
    """The clean raw frames, plus one bad row per case; and each case's example key."""
    raw = {dataset: make() for dataset, make in CLEAN.items()}
    keys: dict[str, str] = {}
    for number, (case, dataset, changes, _rule, _count, key) in enumerate(CASES):
        row = raw[dataset].iloc[[0]].copy().astype(object)
        row[KEY[dataset]] = 1000 + number
        for column, value in changes.items():
            row[column] = [value]
        raw[dataset] = pd.concat([raw[dataset], row], ignore_index=True)
        keys[case] = key or f"{KEY[dataset]}={1000 + number}"
    return raw, keys


@pytest.fixture(scope="module")
def bad_run(gx_dir) -> tuple[ValidationReport, dict[str, str]]:
    raw, keys = _with_bad_rows()
    report = validate(_frames(raw), gx_dir, "bad-rows", {"max_hours": MAX_HOURS})
    return report, keys


def test_bad_rows_fail_exactly_their_rules(bad_run):
    report, _ = bad_run
    failed = {(f.dataset, f.rule) for f in report.blocking_failures()}
    assert failed == {(case[1], case[3]) for case in CASES}, report.to_markdown()
    assert report.warning_failures() == []
    assert not report.success


@pytest.mark.parametrize(
    ("case", "dataset", "rule"),
    [pytest.param(case[0], case[1], case[3], id=case[0]) for case in CASES],
)
def test_each_bad_row_is_caught_by_its_rule(bad_run, case, dataset, rule):
    report, keys = bad_run
    [failure] = [f for f in report.blocking_failures() if (f.dataset, f.rule) == (dataset, rule)]
    # one bad row per case (two for a duplicated key), summed over the cases of this rule
    expected = sum(c[4] for c in CASES if (c[1], c[3]) == (dataset, rule))
    assert failure.unexpected_count == expected
    assert failure.severity == "blocking" and failure.suite == f"{dataset}.blocking"
    assert failure.description
    assert _names_row(failure.example_strings(), keys[case]), failure.example_strings()


def test_a_single_bad_row_is_one_failure_with_count_one(gx_dir):
    events = _events()
    events.loc[2, "prosthetic_id"] = 99
    frame = F.telemetry_events_frame(events, _prosthetics(), KNOWN_USERS)
    report = validate({"telemetry_events": frame}, gx_dir, "single")

    [failure] = report.blocking_failures()
    assert (failure.rule, failure.expectation_type, failure.column) == (
        "prosthetic_known",
        "expect_column_values_to_be_in_set",
        "prosthetic_known",
    )
    assert failure.unexpected_count == 1 and failure.element_count == 5
    assert failure.example_strings() == ["event_id=3 (prosthetic_known=False)"]
    with pytest.raises(DataQualityError):
        raise_for_blocking(report)


def test_clean_frames_pass_every_suite(gx_dir):
    frames = _frames({})
    params = {
        "max_hours": MAX_HOURS,
        "expected_rows": {"telemetry_events": 5, "battery_metrics": 4},
    }
    report = validate(frames, gx_dir, "clean", params)

    assert report.success
    assert report.blocking_failures() == [] and report.warning_failures() == []
    assert {(s.dataset, s.severity) for s in report.suites} == {
        (name, severity) for name in DATASETS for severity in build_suites(name)
    }
    assert all(s.success and s.evaluated > 0 for s in report.suites)
    raise_for_blocking(report)  # does not raise


def test_hours_at_the_max_pass_and_the_max_is_a_run_parameter(gx_dir):
    mart = _prosthetic_mart()
    mart.loc[0, "total_active_hours"] = MAX_HOURS
    mart.loc[0, "downtime_minutes"] = int(MAX_HOURS * 60)
    frames = {"report_prosthetic_monthly_metrics": F.prosthetic_mart_frame(mart)}

    assert validate(frames, gx_dir, "at-max", {"max_hours": MAX_HOURS}).success
    tighter = validate(frames, gx_dir, "tighter", {"max_hours": MAX_HOURS - 1})
    assert {f.rule for f in tighter.blocking_failures()} == {"active_hours_range", "downtime_range"}


def test_warning_failures_do_not_block(gx_dir):
    events = _events()
    late = events.index == 4
    events.loc[late, "created_at"] = events.loc[late, "event_timestamp"] + pd.Timedelta(hours=2)
    frame = F.telemetry_events_frame(events, _prosthetics(), KNOWN_USERS)
    report = validate(
        {"telemetry_events": frame}, gx_dir, "warn", {"expected_rows": {"telemetry_events": 1000}}
    )

    assert report.blocking_failures() == []
    assert {f.rule for f in report.warning_failures()} == {"late_rows_share", "volume"}
    late_rows = next(f for f in report.warning_failures() if f.rule == "late_rows_share")
    assert late_rows.unexpected_count == 1 and _names_row(late_rows.example_strings(), "event_id=5")
    volume = next(f for f in report.warning_failures() if f.rule == "volume")
    assert volume.observed_value == 5
    assert report.success
    raise_for_blocking(report)  # warnings only: no exception
    assert "| telemetry_events | warning | 2 | 2 |" in report.to_markdown()


def test_volume_check_is_skipped_without_baseline():
    assert suite_parameters("telemetry_events", None)["min_rows"] is None
    assert suite_parameters("telemetry_events", {"expected_rows": {"telemetry_events": 10}})[
        "min_rows"
    ] == 5
    params = {"expected_rows": {"telemetry_events": 10}, "min_volume_fraction": 0.9}
    assert suite_parameters("telemetry_events", params)["min_rows"] == 9


def test_error_message_names_rule_count_and_rows(gx_dir):
    events = _events()
    events.loc[2, "prosthetic_id"] = 99
    events.loc[0, "severity"] = "fatal"
    frame = F.telemetry_events_frame(events, _prosthetics(), KNOWN_USERS)
    report = validate({"telemetry_events": frame}, gx_dir, "message")

    with pytest.raises(DataQualityError) as caught:
        raise_for_blocking(report)
    message = str(caught.value)
    assert "2 blocking data-quality expectation(s) failed" in message
    assert "telemetry_events" in message
    assert "expect_column_values_to_be_in_set on prosthetic_known" in message
    assert "crm_prosthetics" in message  # the rule's description
    assert "1 bad row(s) of 5" in message
    assert "event_id=3" in message
    assert "severity" in message and "event_id=1" in message
    assert str(report.docs_index) in message
    assert {f.rule for f in caught.value.failures} == {"prosthetic_known", "severity_known"}


def test_validate_does_not_build_the_data_docs(tmp_path):
    frame = F.telemetry_events_frame(_events(), _prosthetics(), KNOWN_USERS)
    report = validate({"telemetry_events": frame}, tmp_path, "no-docs")

    assert report.docs_index == tmp_path / "gx" / "uncommitted" / "data_docs" / "local_site" / (
        "index.html"
    )
    assert not report.docs_index.exists()
    assert not list(report.docs_index.parent.rglob("*.html"))  # no page rendered
    page = report.suite("telemetry_events", "blocking").docs_page
    assert page is not None and page.is_relative_to(report.docs_index.parent)
    assert not page.exists()
    # the validation results are stored for build_docs()
    assert len(list((tmp_path / "gx" / "uncommitted" / "validations").rglob("*.json"))) == 2


def test_build_docs_shows_the_failing_suite(tmp_path):
    events = _events()
    events.loc[1, "event_type"] = "teleport"
    frame = F.telemetry_events_frame(events, _prosthetics(), KNOWN_USERS)
    report = validate({"telemetry_events": frame}, tmp_path / "gx", "docs")
    index = build_docs(tmp_path / "gx")

    assert index == report.docs_index
    assert report.docs_index.name == "index.html"
    assert report.docs_index.is_file()
    assert report.docs_index.is_relative_to(tmp_path)
    assert "telemetry_events.blocking" in report.docs_index.read_text()
    page = report.suite("telemetry_events", "blocking").docs_page
    assert page is not None and page.is_file() and "teleport" in page.read_text()
    assert page.name in report.docs_index.read_text() or "docs" in report.docs_index.read_text()
    assert report.suite("telemetry_events", "warning").docs_page.is_file()
    markdown = report.to_markdown()
    assert "| dataset | suite | checked | failed | bad rows |" in markdown
    assert "| telemetry_events | blocking | 12 | 1 | 1 |" in markdown
    assert "teleport" in markdown and "`event_id=2" in markdown
    assert str(page) in markdown  # the failed suite's page is linked


def test_build_docs_is_incremental(tmp_path):
    frames = {"crm_users": F.users_frame(_users())}
    first = validate(frames, tmp_path, "first")
    index = build_docs(tmp_path)
    first_page = first.suite("crm_users").docs_page
    assert first_page.is_file() and "first" in index.read_text()
    stamp = first_page.stat().st_mtime_ns, index.stat().st_mtime_ns

    assert build_docs(tmp_path) == index  # nothing new: nothing rendered
    assert (first_page.stat().st_mtime_ns, index.stat().st_mtime_ns) == stamp

    users = _users()
    users.loc[1, "user_id"] = 10
    second = validate({"crm_users": F.users_frame(users)}, tmp_path, "second")
    assert not second.suite("crm_users").docs_page.exists()
    assert build_docs(tmp_path) == index
    assert second.suite("crm_users").docs_page.is_file()
    assert first_page.stat().st_mtime_ns == stamp[0]  # the old page is not rendered again
    text = index.read_text()
    assert "first" in text and "second" in text


def test_build_docs_recovers_missing_pages_and_a_broken_state(tmp_path):
    assert build_docs(tmp_path).is_file()  # nothing validated yet: an empty site
    report = validate({"crm_users": F.users_frame(_users())}, tmp_path, "once")
    index = build_docs(tmp_path)
    page = report.suite("crm_users").docs_page
    page.unlink()
    (index.parent / ".bionicpro_docs_state.json").write_text("{not json")
    assert build_docs(tmp_path) == index
    assert page.is_file() and "once" in index.read_text()


def test_the_gx_project_is_opened_and_checked_once_per_process(tmp_path, monkeypatch):
    import great_expectations as gx

    from expectations import runner

    frames = {"crm_users": F.users_frame(_users())}
    validate(frames, tmp_path, "first")

    def fail(*args, **kwargs):
        raise AssertionError("the cached project should have been used")

    with monkeypatch.context() as patched:
        patched.setattr(gx, "get_context", fail)
        patched.setattr(runner, "_checkpoint", fail)
        assert validate(frames, tmp_path, "second").success
        assert build_docs(tmp_path).is_file()

    # a deleted project is created again on the next call
    import shutil

    shutil.rmtree(tmp_path / "gx")
    report = validate(frames, tmp_path, "third")
    assert report.success and (tmp_path / "gx" / "great_expectations.yml").is_file()
    assert build_docs(tmp_path) == report.docs_index
    assert report.suite("crm_users").docs_page.is_file()


def test_validate_and_build_docs_from_two_threads(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    clean = _frames({})
    events = _events()
    events.loc[2, "prosthetic_id"] = 99
    bad = {"telemetry_events": F.telemetry_events_frame(events, _prosthetics(), KNOWN_USERS)}
    crm = {name: frame for name, frame in clean.items() if name.startswith("crm_")}
    jobs = [(crm, f"crm-{i}") for i in range(3)] + [(bad, f"bad-{i}") for i in range(3)]
    with ThreadPoolExecutor(2) as pool:
        reports = list(pool.map(lambda job: validate(job[0], tmp_path, job[1]), jobs))
        indexes = list(pool.map(build_docs, [tmp_path, tmp_path]))

    assert [r.success for r in reports] == [True] * 3 + [False] * 3
    for report in reports[3:]:
        [failure] = report.blocking_failures()
        assert failure.rule == "prosthetic_known" and failure.unexpected_count == 1
        assert failure.example_strings() == ["event_id=3 (prosthetic_known=False)"]
    assert indexes == [reports[0].docs_index] * 2
    assert all(s.docs_page.is_file() for r in reports for s in r.suites)


def test_validate_is_idempotent_on_the_stored_gx_project(tmp_path):
    frames = {"telemetry_events": F.telemetry_events_frame(_events(), _prosthetics(), KNOWN_USERS)}
    validate(frames, tmp_path, "first")
    root = tmp_path / "gx"

    def snapshot() -> dict[str, bytes]:
        return {
            str(p.relative_to(root)): p.read_bytes()
            for p in root.rglob("*")
            if p.is_file() and "uncommitted" not in p.parts
        }

    before = snapshot()
    assert validate(frames, tmp_path, "second").success
    assert snapshot() == before


def test_empty_extracts_validate_cleanly(gx_dir):
    raw = {dataset: make().iloc[0:0] for dataset, make in CLEAN.items()}
    report = validate(_frames(raw), gx_dir, "empty", {"max_hours": MAX_HOURS})
    assert report.blocking_failures() == [] and report.warning_failures() == []


def test_a_rule_that_cannot_be_evaluated_blocks(gx_dir):
    frame = _frames({})["telemetry_events"]
    frame["ahead_of_arrival_s"] = frame["ahead_of_arrival_s"].astype(object)
    frame.loc[0, "ahead_of_arrival_s"] = "soon"
    report = validate({"telemetry_events": frame}, gx_dir, "broken-column")
    [failure] = report.blocking_failures()
    assert failure.rule == "not_ahead_of_arrival" and failure.error
    with pytest.raises(DataQualityError, match="could not be evaluated"):
        raise_for_blocking(report)


def test_bad_input_is_a_programming_error(gx_dir):
    with pytest.raises(ValueError, match="unknown dataset"):
        validate({"telemetry": pd.DataFrame()}, gx_dir, "x")
    with pytest.raises(ValueError, match="prosthetic_known"):
        validate({"telemetry_events": _events()}, gx_dir, "x")  # raw extract, not the frame


# ------------------------------------------------------------------------------------ the frames


def test_telemetry_frame_derived_columns():
    events = _events()
    events.loc[2, "prosthetic_id"] = 99
    events.loc[1, "user_id"] = 99
    frame = F.telemetry_events_frame(events, _prosthetics(), pd.Series([10, 20]))

    assert frame["prosthetic_known"].tolist() == [True, True, False, True, True]
    assert frame["user_known"].tolist() == [True, False, True, True, True]
    assert pd.isna(frame.loc[2, "purchase_ts"])
    assert frame.loc[0, "purchase_ts"] == pd.Timestamp("2024-01-01")
    assert frame["ahead_of_arrival_s"].tolist()[:2] == [0.0, 300.0]
    assert frame.loc[4, "arrival_delay_s"] == 3000.0
    assert frame.loc[0, "owner_user_id"] == 10
    assert list(events.columns) == list(_events().columns)  # input untouched


def test_frames_accept_tz_aware_timestamps():
    events = _events()
    for column in ("event_timestamp", "created_at"):
        events[column] = events[column].dt.tz_localize("UTC").dt.tz_convert("Europe/Moscow")
    frame = F.telemetry_events_frame(events, _prosthetics(), KNOWN_USERS)
    assert frame["event_timestamp"].dt.tz is None
    assert frame.loc[0, "event_timestamp"] == T0
    assert frame.loc[1, "ahead_of_arrival_s"] == 300.0


def test_battery_frame_sign_and_decimals():
    samples = _samples()
    samples["current_ma"] = [-1, 1, 1, 0]
    samples["is_charging"] = [True, True, False, False]
    frame = F.battery_metrics_frame(samples, _prosthetics())
    assert frame["sign_ok"].tolist() == [False, True, False, True]
    assert frame["charge_level"].dtype == "float64"
    assert frame["charge_level"].tolist() == [0.0, 100.0, 55.5, 60.0]
    assert isinstance(samples.loc[0, "charge_level"], Decimal)  # the extract keeps its decimals


def test_money_frames_convert_decimals_on_a_copy():
    payments = _payments()
    frame = F.payments_frame(payments, KNOWN_USERS)
    assert frame["amount"].dtype == "float64" and frame["amount"].tolist() == [10.0, 0.0, 25.5]
    assert frame["user_known"].tolist() == [True, True, True]
    assert isinstance(payments.loc[0, "amount"], Decimal)
    assert F.subscriptions_frame(_subscriptions())["monthly_cost"].dtype == "float64"
    assert F.user_mart_frame(_user_mart())["total_payments"].dtype == "float64"


# ------------------------------------------------------------------------------------- the suites


def test_every_expectation_is_tagged_and_described():
    for dataset in DATASETS:
        for severity, suite in build_suites(dataset).items():
            assert suite.name == f"{dataset}.{severity}"
            rules = [e.meta["rule"] for e in suite.expectations]
            assert len(rules) == len(set(rules)), rules
            for expectation in suite.expectations:
                assert expectation.meta["severity"] == severity
                assert expectation.description


def test_event_vocabularies_are_the_metrics_ones():
    assert "critical_error" in EVENT_TYPES and "power_on" in EVENT_TYPES
    assert set(SEVERITIES) == {"info", "warning", "error", "critical"}
    prosthetic = pytest.importorskip("bionicpro.metrics.prosthetic")
    assert tuple(EVENT_TYPES) == tuple(prosthetic.EVENT_TYPES)
    assert tuple(SEVERITIES) == tuple(prosthetic.SEVERITIES)


def test_importing_the_package_does_not_load_great_expectations():
    code = (
        "import sys, expectations, expectations.frames; "
        "assert 'great_expectations' not in sys.modules, 'GX imported eagerly'"
    )
    root = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], cwd=root, check=True)


def test_report_type():
    assert ValidationReport.__dataclass_fields__.keys() >= {"run_name", "suites", "docs_index"}
