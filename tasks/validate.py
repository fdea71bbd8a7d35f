"""Validation tasks: one Great Expectations checkpoint over a run's staged rows or candidates.
Never retried: the same rows would fail the same way."""

from __future__ import annotations

from prefect import get_run_logger, task

from bionicpro.db import clickhouse_client
from bionicpro.faults import failpoint
from bionicpro.settings import WORK, Settings
from expectations import MART_DATASETS, SOURCE_DATASETS, ValidationReport, build_docs, check, raise_for_blocking
from tasks.common import PURE_TASK


def _run(settings: Settings, run_id: str, datasets: tuple[str, ...], run_name: str) -> ValidationReport:
    # GX opens the work path itself; the turn keeps other processes (and paths) out meanwhile.
    with clickhouse_client(settings, WORK):
        report = check(settings, run_id, datasets, run_name, update_docs=False)
    logger = get_run_logger()
    for suite in report.suites:
        logger.info("%s %s: %d expectations, %d failed, %d bad rows", suite.dataset, suite.severity,
                    suite.evaluated, len(suite.failed), suite.bad_rows)
    raise_for_blocking(report)
    failpoint(settings, f"check:{run_name.split('-')[0]}")
    return report


@task(name="check_sources", **PURE_TASK)
def check_sources(settings: Settings, run_id: str, label: str) -> ValidationReport:
    return _run(settings, run_id, SOURCE_DATASETS, f"sources-{label}")


@task(name="check_marts", **PURE_TASK)
def check_marts(settings: Settings, run_id: str, label: str) -> ValidationReport:
    return _run(settings, run_id, MART_DATASETS, f"marts-{label}")


@task(name="build_data_docs", **PURE_TASK)
def build_data_docs(settings: Settings) -> str:
    """Rebuild the Data Docs once per top-level run (subflows leave it to their parent).

    It runs in the flow's ``finally``: a broken docs site is logged, never allowed to hide the
    run's own outcome.
    """
    logger = get_run_logger()
    try:
        index = build_docs(settings)
    except Exception as error:  # noqa: BLE001 - see docstring
        logger.error("Data Docs were not rebuilt: %s", error)
        return ""
    logger.info("Data Docs: file://%s", index)
    return str(index)
