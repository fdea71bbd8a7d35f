"""The CLI refuses a bad date in one line, exit 2, naming the option, before anything starts."""

from datetime import date

import pytest
from typer.testing import CliRunner

from bionicpro import cli, stack

TODAY = date(2024, 3, 10)


@pytest.fixture(autouse=True)
def nothing_may_start(monkeypatch, tmp_path):
    monkeypatch.setenv("BIONICPRO_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("PREFECT_HOME", str(tmp_path / "prefect"))
    monkeypatch.setattr(cli, "_today", lambda: TODAY)

    def started():
        raise AssertionError("a Prefect server was started before the arguments were checked")

    monkeypatch.setattr(stack, "prefect_api", started)


def refused(*args: str):
    result = CliRunner().invoke(cli.app, list(args))
    lines = result.stderr.strip().splitlines()
    assert result.exit_code == 2, result.output
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.mark.parametrize("value", ["20240115", "2024-1-15", "2024-02-30", "tomorrow", "2024-01-15T00:00", "２０２４-01-15"])
def test_only_yyyy_mm_dd_is_a_date(value):
    assert refused("etl", "--report-date", value).startswith("Error: --report-date: ")


def test_a_future_report_date_is_refused():
    assert "2024-03-11 is in the future" in refused("etl", "--report-date", "2024-03-11")


@pytest.mark.parametrize("option", ["--start", "--end"])
def test_a_future_backfill_bound_is_refused(option):
    assert refused("backfill", option, "2025-01-01").startswith(f"Error: {option}: 2025-01-01 is in the future")


def test_start_after_end_is_refused():
    line = refused("backfill", "--start", "2024-02-01", "--end", "2024-01-31")
    assert line == "Error: --start: the start, 2024-02-01, is after the end, 2024-01-31"


def test_an_unknown_mode_is_refused():
    assert refused("backfill", "--start", "2024-01-01", "--mode", "some").startswith("Error: --mode: ")


def test_a_bad_month_is_refused():
    assert refused("report", "--month", "2024-13").startswith("Error: --month: ")


def test_today_and_earlier_are_dates():
    assert cli._parse_date("2024-03-10", "--report-date") == TODAY
    assert cli._parse_date("2020-02-29", "--report-date") == date(2020, 2, 29)
    assert cli._parse_date(None, "--report-date") is None


def test_etl_passes_recompute_to_the_daily_flow(monkeypatch):
    import contextlib

    import flows.daily

    calls = []
    monkeypatch.setattr(stack, "prefect_api", contextlib.nullcontext)
    monkeypatch.setattr(flows.daily, "bionicpro_etl_daily", lambda **kwargs: calls.append(kwargs) or {})
    monkeypatch.setattr(cli, "_interrupt_on_sigterm", lambda: None)
    result = CliRunner().invoke(cli.app, ["etl", "--report-date", "2024-03-01", "--recompute"])
    assert result.exit_code == 0, result.output
    assert calls == [{"report_date": date(2024, 3, 1), "recompute": True}]
