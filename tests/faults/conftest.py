"""The fault-injection suite (`make faults`): every test is one trial of a fault, marked
``@pytest.mark.fault("<fault>")``; the session ends with the table fault | trials | held."""

from __future__ import annotations

import pytest

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
