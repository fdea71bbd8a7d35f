"""The fault-injection suite (`make faults`): every test is one trial of a fault, marked
``@pytest.mark.fault("<fault>")``; the session ends with the table fault | trials | held."""

from __future__ import annotations

import pytest

from tests.faults.harness import REPORT_DATE, run, snapshot, trial_env

_TRIALS: dict[str, list[int]] = {}  # fault -> [trials, held]


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    marker = item.get_closest_marker("fault")
    if marker is None or report.skipped:
        return
    counts = _TRIALS.setdefault(marker.args[0], [0, 0])
    if report.when == "call" or report.failed:  # a setup error is a trial that did not hold
        counts[0] += 1
        counts[1] += report.passed and report.when == "call"


def pytest_terminal_summary(terminalreporter):
    if not _TRIALS:
        return
    width = max(len(fault) for fault in _TRIALS)
    terminalreporter.write_sep("=", "fault injection")
    terminalreporter.write_line(f"{'fault':<{width}} | trials | held")
    for fault, (trials, held) in _TRIALS.items():
        terminalreporter.write_line(f"{fault:<{width}} | {trials:>6} | {held:>4}")


@pytest.fixture(scope="session")
def world(tmp_path_factory, prefect_harness):
    """A seeded data dir with March 2024 loaded, and the snapshot readers see of it. Trials run one
    after another on it; each leaves it settled (its last run completed) in ``state``."""
    from prefect.settings import PREFECT_API_URL

    env = trial_env(tmp_path_factory.mktemp("faults"), PREFECT_API_URL.value())
    for args in (("init",), ("seed", "--users", "4", "--months", "2", "--end-date", "2024-04-01", "--seed", "3"),
                 ("etl", "--report-date", REPORT_DATE)):
        done = run(env, *args)
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {"env": env, "state": snapshot(env), "trial": 0}
