"""Run the data-contract suites (``expectations.suites``) on a run's staged rows in ClickHouse.

``check(settings, run_id, datasets, run_name)`` runs GX's checkpoint of each dataset over the rows
of one ``run_id`` of its ``bionicpro_work`` table and returns a :class:`ValidationReport`; it
never raises for bad data: :func:`raise_for_blocking` does. ``build_docs(settings)`` brings the
Data Docs site up to date (call it once per top-level flow run).

GX layout (file context at ``settings.gx_dir``): one SQL data source ``bionicpro_work`` whose
connection string is ``${BIONICPRO_GX_WORK_DSN}``, substituted by GX from the environment (this
module sets the variable in the process from ``settings.clickhouse_dsn("work")``), so no URL or
credential is written to ``great_expectations.yml``. Per dataset: a table asset on its staged
table with a batch definition ``by_run`` partitioned on the ``run_id`` column
(``PartitionerColumnValue``; the batch parameter ``{"run_id": ...}`` selects one run's rows), the
suites ``<dataset>.blocking`` / ``<dataset>.warning``, one validation definition per suite and a
checkpoint ``<dataset>`` running both with an ``UpdateDataDocsAction`` (and its twin
``<dataset>.without_docs``, used when the caller builds the docs once at the end). All of it is declared from
the code once per process (``add_or_update``), under a lock.

Stored validation results are pruned to the newest ``KEEP_RESULTS_PER_SUITE`` of each suite
(with their Data Docs pages), so the docs' cost stays bounded.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import re
import threading
import uuid
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from expectations.suites import BLOCKING, DATASETS, WARNING, Dataset

__all__ = [
    "SOURCE_DATASETS",
    "MART_DATASETS",
    "RuleFailure",
    "SuiteOutcome",
    "ValidationReport",
    "DataQualityError",
    "check",
    "raise_for_blocking",
    "build_docs",
]

logger = logging.getLogger(__name__)

SOURCE_DATASETS: tuple[str, ...] = (
    "telemetry_events",
    "battery_metrics",
    "crm_users",
    "crm_prosthetics",
    "crm_payments",
    "crm_subscriptions",
    "crm_support_tickets",
)
MART_DATASETS: tuple[str, ...] = ("report_user_monthly_metrics", "report_prosthetic_monthly_metrics")

RUN_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")
DSN_VARIABLE = "BIONICPRO_GX_WORK_DSN"
DATASOURCE = "bionicpro_work"
SCHEMA = "bionicpro_work"
BATCH_DEFINITION = "by_run"
SITE = "local_site"
#: Examples of failing rows kept per rule.
MAX_EXAMPLES = 5
#: Stored validation results kept per suite (newest first); older ones and their pages go.
KEEP_RESULTS_PER_SUITE = 20
#: Validation results listed on the Data Docs index.
DOCS_INDEX_LIMIT = 100

_LOCK = threading.RLock()


# ---------------------------------------------------------------------------------------- report


@dataclass
class RuleFailure:
    """One failed rule of one suite."""

    dataset: str
    severity: str
    rule: str
    description: str
    bad_rows: int
    examples: list[dict[str, Any]] = field(default_factory=list)
    key_columns: tuple[str, ...] = ()
    error: str | None = None

    @property
    def suite(self) -> str:
        return f"{self.dataset}.{self.severity}"

    def example_keys(self) -> str:
        """``event_id=17, 18, 19`` or ``report_date=2024-01-01 user_id=5; ...`` (a rule whose bad
        rows are not dataset rows, such as the volume's days, is named by its first column)."""
        keys = [k for k in self.key_columns if any(k in e for e in self.examples)]
        if not keys and self.examples:
            keys = list(self.examples[0])[:1]
        if not keys:
            return ""
        if len(keys) == 1:
            return f"{keys[0]}=" + ", ".join(str(e.get(keys[0])) for e in self.examples)
        return "; ".join(" ".join(f"{k}={e.get(k)}" for k in keys) for e in self.examples)

    def summary(self) -> str:
        if self.error:
            return f"{self.suite}: {self.rule} could not be evaluated: {self.error}"
        examples = self.example_keys()
        rows = f"{self.bad_rows} bad row{'s' if self.bad_rows != 1 else ''}"
        return f"{self.suite}: {self.rule} failed: {rows}" + (f" ({examples})" if examples else "")


@dataclass
class SuiteOutcome:
    """One suite (dataset and severity) over one run's rows."""

    dataset: str
    severity: str
    rows: int
    evaluated: int
    failed: list[RuleFailure] = field(default_factory=list)
    skipped: str | None = None

    @property
    def name(self) -> str:
        return f"{self.dataset}.{self.severity}"

    @property
    def bad_rows(self) -> int:
        return sum(f.bad_rows for f in self.failed)

    @property
    def success(self) -> bool:
        return not self.failed


@dataclass
class ValidationReport:
    run_id: str
    run_name: str
    suites: list[SuiteOutcome]
    docs_index: str

    @property
    def passed(self) -> bool:
        """No blocking rule failed (warnings do not count)."""
        return not self.blocking_failures

    @property
    def blocking_failures(self) -> list[RuleFailure]:
        return [f for s in self.suites if s.severity == BLOCKING for f in s.failed]

    @property
    def warning_failures(self) -> list[RuleFailure]:
        return [f for s in self.suites if s.severity == WARNING for f in s.failed]

    def suite(self, dataset: str, severity: str = BLOCKING) -> SuiteOutcome:
        for s in self.suites:
            if s.dataset == dataset and s.severity == severity:
                return s
        raise KeyError(f"{dataset}.{severity}")

    def to_markdown(self) -> str:
        failures = self.blocking_failures + self.warning_failures
        head = (
            f"**Data quality, run `{self.run_name}`**: "
            + ("passed" if self.passed else f"{len(self.blocking_failures)} blocking rule(s) failed")
            + f"; {len(self.suites)} suites, {sum(s.evaluated for s in self.suites)} rules."
        )
        lines = [head, ""]
        if failures:
            lines += ["| suite | rule | bad rows | example keys |", "|---|---|---|---|"]
            for f in failures:
                keys = f"error: {f.error}" if f.error else f.example_keys()
                lines.append(f"| {f.suite} | {f.rule} | {f.bad_rows} | {_md(keys)} |")
            lines.append("")
        skipped = [s for s in self.suites if s.skipped]
        if skipped:
            lines.append("Not evaluated: " + ", ".join(f"{s.name} ({s.skipped})" for s in skipped))
            lines.append("")
        if self.docs_index:
            lines.append(f"Data Docs: `{self.docs_index}`")
        return "\n".join(lines).rstrip() + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


class DataQualityError(Exception):
    """Blocking rules failed; ``.report`` is the whole :class:`ValidationReport`."""

    def __init__(self, report: ValidationReport):
        self.report = report
        super().__init__("\n".join(f.summary() for f in report.blocking_failures))


def raise_for_blocking(report: ValidationReport) -> None:
    if not report.passed:
        raise DataQualityError(report)


# ------------------------------------------------------------------------------------ connection


def sqlalchemy_url(dsn: str) -> str:
    """The SQLAlchemy URL of a ClickHouse DSN of the settings.

    ``chdb:///path`` is chdb-sqlalchemy's; ``http(s)://user:pass@host:port/db`` becomes
    clickhouse-connect's ``clickhousedb://`` (``https`` adds ``secure=true``).
    """
    parts = urlsplit(dsn)
    if parts.scheme == "chdb" or parts.scheme.startswith("clickhousedb"):
        return dsn
    if parts.scheme not in ("http", "https"):
        raise ValueError(f"unsupported ClickHouse DSN scheme {parts.scheme!r}")
    query = parse_qsl(parts.query)
    if parts.scheme == "https" and not any(k == "secure" for k, _ in query):
        query.append(("secure", "true"))
    return urlunsplit(("clickhousedb", parts.netloc, parts.path, urlencode(query), ""))


# --------------------------------------------------------------------------------------- project


@dataclass
class _Project:
    context: Any
    root: Path
    checkpoints: dict[tuple[str, bool], Any]
    engine: Any
    token: str  # the declaration this process made (see _DECLARED)

    @property
    def site_dir(self) -> Path:
        return self.root / "gx" / "uncommitted" / "data_docs" / SITE

    @property
    def docs_index(self) -> Path:
        return self.site_dir / "index.html"


_PROJECTS: dict[tuple[str, str], _Project] = {}
# Each declaration of the project (suites, definitions, checkpoints saved anew) writes a new token
# here. GX refuses to run a checkpoint whose suite was saved again since it was loaded, so a
# process whose project another process re-declared (two runs at once) declares it again first.
_DECLARED = ".declared"
_HELD: dict[Path, int] = {}


@contextlib.contextmanager
def _exclusive(root: Path) -> Iterator[None]:
    """One user of the GX project at a time: threads (RLock) and processes (flock); re-entrant."""
    root.mkdir(parents=True, exist_ok=True)
    with _LOCK:
        if _HELD.get(root):
            _HELD[root] += 1
            try:
                yield
            finally:
                _HELD[root] -= 1
            return
        with open(root / ".gx.lock", "a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            _HELD[root] = 1
            try:
                yield
            finally:
                _HELD[root] = 0
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _declared_token(root: Path) -> str:
    path = root / _DECLARED
    return path.read_text() if path.is_file() else ""


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _configure(context) -> bool:
    """Project settings: no progress bars, no analytics, a bounded Data Docs index, no config
    variables file. True if the project file changed (the context must be opened again)."""
    from great_expectations.data_context.types.base import ProgressBarsConfig

    changed = False
    bars = context.variables.progress_bars
    if not bars or bars.get("globally", True) or bars.get("metric_calculations", True):
        context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
        changed = True
    if context.variables.analytics_enabled is not False:
        context.variables.analytics_enabled = False
        changed = True
    sites = context.variables.data_docs_sites or {}
    builder = (sites.get(SITE) or {}).get("site_index_builder")
    if builder is not None and builder.get("validation_results_limit") != DOCS_INDEX_LIMIT:
        builder["validation_results_limit"] = DOCS_INDEX_LIMIT
        context.variables.data_docs_sites = sites
        changed = True
    if context.variables.config.config_variables_file_path:
        # GX YAML-parses that file on every access to a context variable (hundreds per check);
        # the ``${...}`` of the data source come from the environment, which needs no file.
        context.variables.config_variables_file_path = None
        changed = True
    if changed:
        context.variables.save()
    return changed


def _suite(dataset: Dataset, severity: str):
    import great_expectations as gx

    expectations = []
    for rule, expectation in dataset.rules()[severity]:
        tagged = expectation.copy(deep=True)
        tagged.meta = {**(tagged.meta or {}), "rule": rule, "severity": severity}
        expectations.append(tagged)
    return gx.ExpectationSuite(
        name=f"{dataset.name}.{severity}",
        expectations=expectations,
        meta={"dataset": dataset.name, "severity": severity, "table": f"{SCHEMA}.{dataset.table}",
              "source": "expectations/suites.py"},
    )


def _result_format(dataset: Dataset) -> dict[str, Any]:
    return {
        "result_format": "COMPLETE",  # GX caps SQL row lists at partial_unexpected_count
        "unexpected_index_column_names": list(dataset.keys),
        "partial_unexpected_count": MAX_EXAMPLES,
        "return_unexpected_index_query": False,
    }


def _project(settings) -> _Project:
    """The GX project of ``settings.gx_dir`` with everything declared, once per process."""
    root = Path(settings.gx_dir)
    url = sqlalchemy_url(settings.clickhouse_dsn("work"))
    os.environ[DSN_VARIABLE] = url
    key = (str(root), url)
    project = _PROJECTS.get(key)
    if (project is not None and (root / "gx" / "great_expectations.yml").is_file()
            and project.token == _declared_token(root)):
        return project

    import great_expectations as gx
    from great_expectations.checkpoint import UpdateDataDocsAction
    from great_expectations.core.partitioners import PartitionerColumnValue

    with _exclusive(root), _quiet():
        context = gx.get_context(mode="file", project_root_dir=str(root))
        if _configure(context):
            context = gx.get_context(mode="file", project_root_dir=str(root))
        connection_string = "${" + DSN_VARIABLE + "}"
        try:
            datasource = context.data_sources.get(DATASOURCE)
        except (KeyError, ValueError, LookupError):
            datasource = None
        except Exception:  # noqa: BLE001 - GX raises its own "not found" types
            datasource = None
        if datasource is None or str(getattr(datasource, "connection_string", "")) != connection_string:
            if datasource is not None:
                context.data_sources.delete(DATASOURCE)
            datasource = context.data_sources.add_sql(name=DATASOURCE, connection_string=connection_string)
        checkpoints = {}
        for dataset in DATASETS.values():
            names = {a.name: a for a in datasource.assets}
            stored = names.get(dataset.name)
            if stored is not None and getattr(stored, "table_name", None) != dataset.table:
                datasource.delete_asset(dataset.name)
                stored = None
            if stored is None:
                datasource.add_table_asset(name=dataset.name, table_name=dataset.table, schema_name=SCHEMA)
            asset = datasource.get_asset(dataset.name)  # bound to the context's data source
            if BATCH_DEFINITION in {b.name for b in asset.batch_definitions}:
                batch_definition = asset.get_batch_definition(BATCH_DEFINITION)
            else:
                batch_definition = asset.add_batch_definition(
                    BATCH_DEFINITION,
                    partitioner=PartitionerColumnValue(column_name="run_id"),
                    validate_partitioner=False,  # GX only validates date partitioners
                )
            definitions = []
            for severity in dataset.rules():
                suite = context.suites.add_or_update(_suite(dataset, severity))
                definitions.append(
                    context.validation_definitions.add_or_update(
                        gx.ValidationDefinition(
                            name=f"{dataset.name}.{severity}", data=batch_definition, suite=suite
                        )
                    )
                )
            for docs in (True, False):  # the docs action runs only when asked (see check)
                actions = [UpdateDataDocsAction(name="update_data_docs", site_names=[SITE])]
                checkpoints[dataset.name, docs] = context.checkpoints.add_or_update(
                    gx.Checkpoint(
                        name=dataset.name if docs else f"{dataset.name}.without_docs",
                        validation_definitions=definitions,
                        actions=actions if docs else [],
                        result_format=_result_format(dataset),
                    )
                )
        # The counts go through the engine GX validates with: one chDB connection per check, not two.
        validation_source = next(iter(checkpoints.values())).validation_definitions[0].data.data_asset.datasource
        engine = validation_source.get_execution_engine().engine
        token = uuid.uuid4().hex
        (root / _DECLARED).write_text(token)
    project = _Project(context=context, root=root, checkpoints=checkpoints, engine=engine, token=token)
    _PROJECTS[key] = project
    return project


# ------------------------------------------------------------------------------------------ check


def _row_counts(project: _Project, run_id: str, datasets: Sequence[str]) -> dict[str, int]:
    """Rows of ``run_id`` per dataset (one query; partition pruning makes it cheap)."""
    import sqlalchemy as sa

    parts = [
        f"SELECT '{name}' AS dataset, count() AS n FROM {SCHEMA}.{DATASETS[name].table} "
        f"WHERE run_id = '{run_id}'"
        for name in datasets
    ]
    with project.engine.connect() as connection:
        rows = connection.execute(sa.text(" UNION ALL ".join(parts))).fetchall()
    return {str(r[0]): int(r[1]) for r in rows}


def _examples(result: dict[str, Any]) -> list[dict[str, Any]]:
    """Up to ``MAX_EXAMPLES`` distinct failing rows: the rows of an UnexpectedRowsExpectation, the
    index list (key columns) of a column expectation, or the key values of a compound one."""
    candidates = (
        (result.get("details") or {}).get("unexpected_rows"),
        result.get("partial_unexpected_index_list"),
        result.get("unexpected_index_list"),
        result.get("partial_unexpected_list"),
    )
    rows = next((c for c in candidates if c and isinstance(c[0], dict)), [])
    examples: list[dict[str, Any]] = []
    for row in rows:
        example = {k: _plain(v) for k, v in row.items()}
        if example not in examples:
            examples.append(example)
        if len(examples) == MAX_EXAMPLES:
            break
    return examples


def _plain(value: Any) -> Any:
    if hasattr(value, "isoformat"):
        text = value.isoformat()
        return text[:10] if text.endswith("T00:00:00") else text
    return value


def _outcome(dataset: Dataset, severity: str, rows: int, suite_result) -> SuiteOutcome:
    outcome = SuiteOutcome(dataset.name, severity, rows, evaluated=len(suite_result.results))
    descriptions = dict(dataset.rules()[severity])
    for r in suite_result.results:
        if r.success:
            continue
        config = r.expectation_config
        rule = (config.meta or {}).get("rule", config.type)
        result = r.result or {}
        error = None
        info = r.exception_info or {}
        if isinstance(info, dict) and info.get("raised_exception"):
            error = str(info.get("exception_message") or "exception")[:300]
        elif isinstance(info, dict):
            for value in info.values():
                if isinstance(value, dict) and value.get("raised_exception"):
                    error = str(value.get("exception_message") or "exception")[:300]
        bad = result.get("unexpected_count")
        if bad is None:
            observed = result.get("observed_value")
            bad = observed if isinstance(observed, int) else 0
        expectation = descriptions.get(rule)
        outcome.failed.append(
            RuleFailure(
                dataset=dataset.name,
                severity=severity,
                rule=rule,
                description=getattr(expectation, "description", "") or "",
                bad_rows=int(bad),
                examples=_examples(result),
                key_columns=dataset.keys,
                error=error,
            )
        )
    return outcome


@contextlib.contextmanager
def _engine_closed_after(settings) -> Iterator[None]:
    """Close GX's pooled connections when the checks end: chDB runs one engine per process, on one
    path at a time, and the run goes on to another path (the serving one) next."""
    try:
        yield
    finally:
        project = _PROJECTS.get((str(Path(settings.gx_dir)), sqlalchemy_url(settings.clickhouse_dsn("work"))))
        if project is not None:
            project.engine.dispose()
            # The checkpoints' data source builds an execution engine with an engine of its own.
            sources = {id(d.data.data_asset.datasource): d.data.data_asset.datasource
                       for checkpoint in project.checkpoints.values() for d in checkpoint.validation_definitions}
            for source in sources.values():
                source.get_execution_engine().engine.dispose()
                source.get_engine().dispose()


def check(
    settings, run_id: str, datasets: Sequence[str], run_name: str, *, update_docs: bool = True
) -> ValidationReport:
    """Run the blocking and warning suites of ``datasets`` over the staged rows of ``run_id``.

    Never raises for bad data (see :func:`raise_for_blocking`). ``update_docs=False`` skips the
    checkpoints' Data Docs action: the caller then runs :func:`build_docs` once at the end.
    A dataset with no rows for the run is reported as not evaluated.
    """
    from great_expectations.core.run_identifier import RunIdentifier

    if not isinstance(run_id, str) or not RUN_ID.fullmatch(run_id):
        raise ValueError(f"run_id must match {RUN_ID.pattern}: {run_id!r}")
    unknown = [d for d in datasets if d not in DATASETS]
    if unknown:
        raise ValueError(f"unknown dataset(s) {unknown}; known: {sorted(DATASETS)}")
    with _LOCK, _quiet(), _engine_closed_after(settings), _exclusive(Path(settings.gx_dir)):
        project = _project(settings)  # (declared again if another process declared it since)
        counts = _row_counts(project, run_id, datasets)
        suites: list[SuiteOutcome] = []
        gx_run = RunIdentifier(run_name=run_name)
        for name in datasets:
            dataset = DATASETS[name]
            if counts.get(name, 0) == 0:
                suites += [
                    SuiteOutcome(name, s, 0, 0, skipped="no rows staged for this run")
                    for s in dataset.rules()
                ]
                continue
            checkpoint = project.checkpoints[name, update_docs]
            result = checkpoint.run(batch_parameters={"run_id": run_id}, run_id=gx_run)
            by_suite = {r.suite_name: r for r in result.run_results.values()}
            for severity in dataset.rules():
                suites.append(
                    _outcome(dataset, severity, counts[name], by_suite[f"{name}.{severity}"])
                )
        _prune(project)
    for suite in suites:
        for failure in suite.failed:
            log = logger.error if suite.severity == BLOCKING else logger.warning
            log("%s", failure.summary())
    return ValidationReport(run_id, run_name, suites, str(project.docs_index))


# ------------------------------------------------------------------------------------------- docs


def _page(project: _Project, key) -> Path:
    """The Data Docs page of a stored validation result: the site mirrors the store's layout, one
    directory per part of the key's public ``to_tuple()`` (suite name parts, run name, run time)
    and ``<batch identifier>.html``."""
    *directories, name = (str(part) for part in key.to_tuple())
    return project.site_dir / "validations" / Path(*directories) / f"{name}.html"


def _prune(project: _Project) -> None:
    """Keep the newest ``KEEP_RESULTS_PER_SUITE`` stored results of each suite (and their pages)."""
    store = project.context.validation_results_store
    by_suite: dict[str, list] = {}
    for key in store.list_keys():
        by_suite.setdefault(key.expectation_suite_identifier.name, []).append(key)
    for keys in by_suite.values():
        keys.sort(key=lambda k: str(k.run_id.run_time), reverse=True)
        for key in keys[KEEP_RESULTS_PER_SUITE:]:
            with contextlib.suppress(Exception):
                _page(project, key).unlink(missing_ok=True)
            store.remove_key(key)


def build_docs(settings) -> Path:
    """Render the pages of stored results that have none yet and the index; return its path."""
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
    )

    with _LOCK, _quiet(), _exclusive(Path(settings.gx_dir)):
        project = _project(settings)
        _prune(project)
        store = project.context.validation_results_store
        missing = [k for k in store.list_keys() if not _page(project, k).is_file()]
        suites = {k.expectation_suite_identifier.name for k in missing}
        if not project.docs_index.is_file():
            suites |= {f"{d.name}.{s}" for d in DATASETS.values() for s in d.rules()}
        identifiers = missing + [ExpectationSuiteIdentifier(name=s) for s in sorted(suites)]
        if not identifiers:
            return project.docs_index  # nothing stored since the last build
        project.context.build_data_docs(site_names=[SITE], resource_identifiers=identifiers)
    return project.docs_index
