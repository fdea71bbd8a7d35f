"""Run the data-contract suites with Great Expectations 1.x and report the outcome.

``validate(frames, gx_dir, run_name, params)`` validates the given validation frames (see
:mod:`expectations.frames`) against the suites of :mod:`expectations.suites`, stores the GX
validation results and returns a :class:`ValidationReport`; :func:`raise_for_blocking` turns
blocking failures into a :class:`DataQualityError` whose message says what was rejected and why.
``build_docs(gx_dir)`` updates the Data Docs site from the stored results: the flow calls it once
at the end of each flow run (passed or failed), never ``validate()``.

GX layout (file context, created on first use at ``gx_dir/gx``): one pandas data source
``bionicpro``; per dataset one dataframe asset and batch definition, the stored suites
``<dataset>.blocking`` / ``<dataset>.warning``, a validation definition per suite and a checkpoint
``<dataset>`` running both suites. All of it is declared idempotently (nothing is rewritten when
the stored objects already match the code) the first time a dataset is validated in a process,
under an exclusive lock (a process-wide lock plus ``flock`` on ``gx_dir/.gx.lock``), so that
concurrent runs in threads or processes never see half-written GX stores; validation results
are written, and the site is built, under the same lock. Nothing is created, read or connected
at import time.

Caching (per process and ``gx_dir``): the file context (its data source, assets, suites,
validation definitions and checkpoints, checked against the code once) is opened on the first
call and kept; it is opened again only if ``gx_dir/gx/great_expectations.yml`` has gone. All use
of these GX objects is serialized by ``_GX_LOCK`` (the flow validates from two threads at once;
GX objects are not thread-safe), while the ``flock`` is only held to create and to write.

Fixed cost per dataset: a validation runs GX's ``Validator`` on the stored suites the way
``ValidationDefinition.run`` does (same result format, same result meta, same result key),
without its freshness check (which re-reads and compares the stored definition, suite and batch
definition on every run: they were verified once) and with one batch shared by the blocking and
warning suites (GX loads and fingerprints the frame once). The frame is cut to the columns the
suites and example keys use (GX hashes all it is given) and dropped from the engine afterwards.
``config_variables_file_path`` is unset in the project config: GX re-parses that YAML file on
every access to a context variable (dozens per validation) and the project uses no
``${...}`` config variables.

Data Docs: the checkpoints carry no ``UpdateDataDocsAction`` (it would rebuild the suite page
and the whole index once per validation result). :func:`build_docs` renders only the pages of
results that have none yet, suites stored since their page was rendered, and the index, which is
capped to the most recent ``DOCS_INDEX_LIMIT`` results (``site_index_builder.
validation_results_limit``) and made from entries cached next to it, so that its cost does not
grow with a year of nightly runs. Older result pages stay on disk. The report carries the paths
of the index and of each result's page (computed from the site's layout, nothing is rendered).

Noise: GX's "Calculating Metrics" tqdm bars are switched off in the project config
(``progress_bars: {globally: false}``, read by ``Validator._determine_progress_bars``), analytics
are disabled in the config too, and Python warnings raised while GX runs are suppressed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import functools
import json
import logging
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import numpy as np
import pandas as pd

from expectations.frames import decimals_to_float
from expectations.suites import (
    BLOCKING,
    DATASETS,
    WARNING,
    build_suites,
    required_columns,
    suite_name,
    suite_parameters,
)

__all__ = [
    "DataQualityError",
    "ExpectationOutcome",
    "SuiteOutcome",
    "ValidationReport",
    "validate",
    "build_docs",
    "raise_for_blocking",
]

logger = logging.getLogger(__name__)

DATASOURCE_NAME = "bionicpro"
BATCH_DEFINITION_NAME = "whole_dataframe"
DOCS_SITE = "local_site"
#: Validation results listed on the Data Docs index (most recent first).
DOCS_INDEX_LIMIT = 200
#: Examples of failing rows kept per expectation (GX ``partial_unexpected_count``).
MAX_EXAMPLES = 5

#: with ``flock`` on ``gx_dir/.gx.lock`` (see ``_exclusive``): creation of and writes to GX stores
_PROCESS_LOCK = threading.RLock()
#: every use of the cached GX objects in this process (taken before ``_PROCESS_LOCK``)
_GX_LOCK = threading.RLock()


# ---------------------------------------------------------------------------------------- report


@dataclass
class ExpectationOutcome:
    """One evaluated expectation."""

    dataset: str
    suite: str
    severity: str  # "blocking" | "warning"
    rule: str
    expectation_type: str
    column: str | None
    description: str
    success: bool
    element_count: int | None = None
    unexpected_count: int | None = None
    observed_value: Any = None
    #: up to 5 failing rows: key columns (and the checked values) as {column: value}
    examples: list[dict[str, Any]] = field(default_factory=list)
    #: partial unexpected values when no row keys are available
    unexpected_values: list[Any] = field(default_factory=list)
    error: str | None = None
    kwargs: dict[str, Any] = field(default_factory=dict)

    @property
    def key_columns(self) -> tuple[str, ...]:
        return DATASETS[self.dataset].key_columns

    @property
    def bounds(self) -> dict[str, Any]:
        """The expectation's ``min_value`` / ``max_value`` arguments, where it has them."""
        return {k: v for k, v in self.kwargs.items() if k in ("min_value", "max_value")}

    def example_strings(self) -> list[str]:
        """Examples as ``"event_id=5 (prosthetic_known=False)"``."""
        out = []
        keys = self.key_columns
        for example in self.examples:
            head = ", ".join(f"{k}={example[k]}" for k in keys if k in example)
            rest = ", ".join(f"{k}={v}" for k, v in example.items() if k not in keys)
            out.append(f"{head} ({rest})" if head and rest else head or rest)
        if not out and self.unexpected_values:
            out = [repr(v) for v in self.unexpected_values[:MAX_EXAMPLES]]
        return out

    def summary(self) -> str:
        """One line: what failed, how many rows, which rows."""
        target = f" on {self.column}" if self.column else ""
        text = (
            f"{self.dataset} [{self.severity}] {self.expectation_type}{target}"
            f" (rule {self.rule}): {self.description}"
        )
        if self.error:
            return f"{text} -- could not be evaluated: {self.error}"
        if self.unexpected_count is not None:
            of = f" of {self.element_count}" if self.element_count is not None else ""
            text += f" -- {self.unexpected_count} bad row(s){of}"
        elif self.observed_value is not None:
            text += f" -- observed {self.observed_value}, expected {self.bounds}"
        examples = self.example_strings()
        if examples:
            text += "; e.g. " + "; ".join(examples)
        return text


@dataclass
class SuiteOutcome:
    dataset: str
    suite: str
    severity: str
    success: bool
    rows: int
    results: list[ExpectationOutcome]
    seconds: float = 0.0
    #: the Data Docs page of this validation result
    docs_page: Path | None = None

    @property
    def evaluated(self) -> int:
        return len(self.results)

    @property
    def failed(self) -> list[ExpectationOutcome]:
        return [r for r in self.results if not r.success]

    @property
    def bad_rows(self) -> int:
        """Sum of unexpected_count over failed expectations (a row failing 2 rules counts twice)."""
        return sum(r.unexpected_count or 0 for r in self.failed)


@dataclass
class ValidationReport:
    run_name: str
    suites: list[SuiteOutcome]
    docs_index: Path
    parameters: dict[str, dict[str, Any]] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def success(self) -> bool:
        """True when no blocking expectation failed (warnings do not count)."""
        return not self.blocking_failures()

    def failures(self, severity: str | None = None) -> list[ExpectationOutcome]:
        return [
            r
            for s in self.suites
            if severity is None or s.severity == severity
            for r in s.failed
        ]

    def blocking_failures(self) -> list[ExpectationOutcome]:
        return self.failures(BLOCKING)

    def warning_failures(self) -> list[ExpectationOutcome]:
        return self.failures(WARNING)

    def suite(self, dataset: str, severity: str = BLOCKING) -> SuiteOutcome:
        for s in self.suites:
            if s.dataset == dataset and s.severity == severity:
                return s
        raise KeyError(f"no {severity} suite of {dataset} in this report")

    def to_markdown(self) -> str:
        """Compact Markdown for a Prefect artifact: a table, then every failure in detail."""
        blocking, warning_ = self.blocking_failures(), self.warning_failures()
        state = "PASSED" if not blocking else "FAILED (load blocked)"
        lines = [
            f"### Data quality `{_md(self.run_name)}`: {state}",
            "",
            f"{len(blocking)} blocking and {len(warning_)} warning expectation(s) failed. "
            f"Data Docs: `{self.docs_index}`",
            "",
            "| dataset | suite | checked | failed | bad rows |",
            "|---|---|---:|---:|---:|",
        ]
        for s in self.suites:
            lines.append(
                f"| {_md(s.dataset)} | {s.severity} | {s.evaluated} | {len(s.failed)} "
                f"| {s.bad_rows} |"
            )
        if blocking or warning_:
            lines += ["", "#### Failures", ""]
            for r in blocking + warning_:
                lines.append(f"- **{r.severity}** {_md(_details(r))}")
            pages = [s for s in self.suites if s.failed and s.docs_page is not None]
            if pages:
                lines += ["", "Data Docs pages of the failed suites:", ""]
                lines += [f"- {s.suite}: `{s.docs_page}`" for s in pages]
        return "\n".join(lines) + "\n"


def _md(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _details(r: ExpectationOutcome) -> str:
    target = f" on `{r.column}`" if r.column else ""
    text = f"`{r.dataset}` `{r.expectation_type}`{target} (rule `{r.rule}`): {r.description}"
    if r.error:
        return f"{text} Could not be evaluated: {r.error}"
    if r.unexpected_count is not None:
        share = ""
        if r.element_count:
            share = f" ({100.0 * r.unexpected_count / r.element_count:.2f}%)"
        text += f" **{r.unexpected_count}** bad row(s) of {r.element_count}{share}"
    elif r.observed_value is not None:
        text += f" Observed **{r.observed_value}**, expected {r.bounds}"
    examples = r.example_strings()
    if examples:
        text += "; e.g. " + ", ".join(f"`{e}`" for e in examples)
    return text


class DataQualityError(Exception):
    """Blocking expectations failed: the month must not be loaded.

    The message lists every failing blocking expectation (dataset, expectation type, column,
    description, bad-row count, up to 5 example keys). ``failures`` and ``report`` keep the details.
    """

    def __init__(self, failures: list[ExpectationOutcome], report: ValidationReport | None = None):
        self.failures = list(failures)
        self.report = report
        where = f" in run {report.run_name!r}" if report is not None else ""
        lines = [
            f"{len(self.failures)} blocking data-quality expectation(s) failed{where}; "
            "the rows were rejected and the load stopped:"
        ]
        lines += [f"- {f.summary()}" for f in self.failures]
        if report is not None:
            lines.append(f"Data Docs: {report.docs_index}")
        super().__init__("\n".join(lines))


def raise_for_blocking(report: ValidationReport) -> None:
    """Raise :class:`DataQualityError` if any blocking expectation of ``report`` failed."""
    failures = report.blocking_failures()
    if failures:
        raise DataQualityError(failures, report)


# ------------------------------------------------------------------------------------ GX set-up


@contextlib.contextmanager
def _exclusive(gx_dir: Path) -> Iterator[None]:
    """Serialize GX store writes across threads (RLock) and processes (flock)."""
    gx_dir.mkdir(parents=True, exist_ok=True)
    with _PROCESS_LOCK, open(gx_dir / ".gx.lock", "a+") as handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - not POSIX: thread lock only
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _context(gx_dir: Path):
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="file", project_root_dir=str(gx_dir))
    changed = False
    bars = context.variables.progress_bars
    if not bars or bars.get("globally", True) or bars.get("metric_calculations", True):
        context.variables.progress_bars = ProgressBarsConfig(
            globally=False, metric_calculations=False
        )
        changed = True
    if context.variables.analytics_enabled is not False:
        context.variables.analytics_enabled = False
        changed = True
    sites = context.variables.data_docs_sites or {}
    index_builder = (sites.get(DOCS_SITE) or {}).get("site_index_builder")
    limit = None if index_builder is None else index_builder.get("validation_results_limit")
    if index_builder is not None and limit != DOCS_INDEX_LIMIT:
        index_builder["validation_results_limit"] = DOCS_INDEX_LIMIT
        context.variables.data_docs_sites = sites
        changed = True
    reopen = False
    if context.variables.config.config_variables_file_path:
        # GX re-reads (YAML-parses) this file on every access to a context variable, dozens of
        # times per validation; the project uses no ``${...}`` config variables.
        context.variables.config_variables_file_path = None
        changed = reopen = True
    if changed:
        context.variables.save()
    if reopen:  # the config variables provider is registered when the context is opened
        context = gx.get_context(mode="file", project_root_dir=str(gx_dir))
    return context


@dataclass
class _Dataset:
    """The stored GX objects one dataset is validated with (verified once per process)."""

    name: str
    batch_definition: Any
    checkpoint_id: str | None
    #: (severity, stored suite, id of its validation definition), blocking first
    suites: list[tuple[str, Any, str | None]]
    result_format: dict[str, Any]


@dataclass
class _Project:
    """A GX file project opened once per process (see the module doc: caching)."""

    gx_dir: Path
    context: Any
    config_file: Path
    results_store: Any
    #: the ``DOCS_SITE`` page store: only used to compute page paths (nothing is rendered)
    site_store: Any
    docs_index: Path
    datasets: dict[str, _Dataset] = field(default_factory=dict)
    #: the ``DOCS_SITE`` SiteBuilder, made by the first build_docs() (see ``_site_builder``)
    site_builder: Any = None

    def page(self, resource_identifier=None) -> Path | None:
        """Local path of a Data Docs page (the index by default), built or not."""
        try:
            url = self.site_store.get_url_for_resource(
                resource_identifier=resource_identifier, only_if_exists=False
            )
        except Exception:  # pragma: no cover - docs are a report, never a reason to fail
            return None
        if url and url.startswith("file://"):
            return Path(unquote(urlparse(url).path))
        return None


#: one project per GX directory and process; guarded by ``_GX_LOCK``
_PROJECTS: dict[Path, _Project] = {}


def _site_store(context, gx_root: Path):
    from great_expectations.data_context.store.html_site_store import HtmlSiteStore

    site = (context.variables.data_docs_sites or {}).get(DOCS_SITE) or {}
    backend = dict(site.get("store_backend") or {})
    if not backend:
        return None
    return HtmlSiteStore(
        store_backend=backend, runtime_environment={"root_directory": str(gx_root)}
    )


def _project(gx_dir: Path) -> _Project:
    """The cached project of ``gx_dir``, opened (and created) on first use in this process.

    Callers hold ``_GX_LOCK``. The project is opened again when its configuration file has gone
    (e.g. the directory was deleted), and made the current GX context when another one is.
    """
    from great_expectations.data_context import set_context

    key = gx_dir.absolute()
    project = _PROJECTS.get(key)
    if project is None or not project.config_file.is_file():
        with _exclusive(gx_dir):
            context = _context(gx_dir)
        gx_root = Path(context.root_directory)
        site_store = _site_store(context, gx_root)
        project = _Project(
            gx_dir=gx_dir,
            context=context,
            config_file=gx_root / "great_expectations.yml",
            results_store=context.validation_results_store,
            site_store=site_store,
            docs_index=gx_root / "uncommitted" / "data_docs" / DOCS_SITE / "index.html",
        )
        project.docs_index = project.page() or project.docs_index
        _PROJECTS[key] = project
    set_context(project.context)  # for GX code that resolves the current context
    return project


def _batch_definition(context, dataset: str):
    sources = context.data_sources
    if DATASOURCE_NAME in sources.all():
        source = sources.get(DATASOURCE_NAME)
    else:
        source = sources.add_pandas(DATASOURCE_NAME)
    if dataset in source.get_asset_names():
        asset = source.get_asset(dataset)
    else:
        asset = source.add_dataframe_asset(dataset)
    for batch_definition in asset.batch_definitions:
        if batch_definition.name == BATCH_DEFINITION_NAME:
            return batch_definition
    return asset.add_batch_definition_whole_dataframe(BATCH_DEFINITION_NAME)


def _result_format(dataset: str) -> dict[str, Any]:
    # No ``unexpected_index_column_names``: with them GX reads the key of *every* bad row, one
    # ``DataFrame.at`` at a time, before keeping five (0.9 s per million-event window for the 2%
    # late rows alone). It returns row positions instead, and _name_examples keys the five it keeps.
    return {
        "result_format": "SUMMARY",
        "partial_unexpected_count": MAX_EXAMPLES,
        # the pandas "query" lists every bad index: can be huge, and we do not use it
        "return_unexpected_index_query": False,
    }


def _name_examples(dataset: str, frame: pd.DataFrame, suite_result) -> None:
    """Replace the row positions of each result's examples by the row's domain and key columns
    (what GX itself reports given ``unexpected_index_column_names``), so the stored results and
    the Data Docs name the bad rows."""
    keys = list(DATASETS[dataset].key_columns)
    for result in suite_result.results:
        body = result.result or {}
        positions = body.get("partial_unexpected_index_list")
        if not positions or not all(isinstance(p, (int, np.integer)) for p in positions):
            continue
        kwargs = result.expectation_config.kwargs or {}
        domain = [kwargs[k] for k in ("column", "column_A", "column_B") if kwargs.get(k)]
        domain += list(kwargs.get("column_list") or [])
        columns = list(dict.fromkeys(domain + keys))
        body["partial_unexpected_index_list"] = frame.loc[list(positions), columns].to_dict("records")


def _expectation_key(expectation) -> dict[str, Any]:
    """An expectation's configuration without its store-assigned id."""
    config = expectation.configuration.to_json_dict()
    config.pop("id", None)
    config.pop("rendered_content", None)
    return config


def _same_suite(stored, wanted) -> bool:
    return (
        stored.name == wanted.name
        and dict(stored.meta or {}) == dict(wanted.meta or {})
        and [_expectation_key(e) for e in stored.expectations]
        == [_expectation_key(e) for e in wanted.expectations]
    )


def _up_to_date(checkpoint, suites: Mapping[str, Any], batch_definition, dataset: str) -> bool:
    definitions = {vd.name: vd for vd in checkpoint.validation_definitions}
    if set(definitions) != {suite_name(dataset, severity) for severity in suites}:
        return False
    for severity, wanted in suites.items():
        definition = definitions[suite_name(dataset, severity)]
        if definition.data.id != batch_definition.id or not _same_suite(definition.suite, wanted):
            return False
    result_format = checkpoint.result_format
    if not isinstance(result_format, Mapping) or dict(result_format) != _result_format(dataset):
        return False
    return not checkpoint.actions


def _checkpoint(context, dataset: str):
    """The dataset's checkpoint with up-to-date suites.

    Nothing is written when the stored checkpoint, validation definitions and suites already match
    the code: GX's ``add_or_update`` would give every expectation a new id on each call.
    """
    import great_expectations as gx
    from great_expectations.exceptions import DataContextError

    batch_definition = _batch_definition(context, dataset)
    suites = build_suites(dataset)
    try:
        stored = context.checkpoints.get(dataset)
    except DataContextError:
        stored = None
    if stored is not None and _up_to_date(stored, suites, batch_definition, dataset):
        return stored

    definitions = []
    for severity, suite in suites.items():
        suite = context.suites.add_or_update(suite)
        definition = gx.ValidationDefinition(
            name=suite_name(dataset, severity), data=batch_definition, suite=suite
        )
        definitions.append(context.validation_definitions.add_or_update(definition))
    checkpoint = gx.Checkpoint(
        name=dataset,
        validation_definitions=definitions,
        actions=[],  # Data Docs are built by build_docs(), see the module doc
        result_format=_result_format(dataset),
    )
    return context.checkpoints.add_or_update(checkpoint)


def _dataset(project: _Project, dataset: str) -> _Dataset:
    """The dataset's stored objects, declared and checked against the code once per process."""
    cached = project.datasets.get(dataset)
    if cached is not None:
        return cached
    with _exclusive(project.gx_dir):
        checkpoint = _checkpoint(project.context, dataset)
    order = {BLOCKING: 0, WARNING: 1}
    suites = sorted(
        (
            (definition.suite.name.rsplit(".", 1)[-1], definition.suite, definition.id)
            for definition in checkpoint.validation_definitions
        ),
        key=lambda item: order.get(item[0], 2),
    )
    cached = _Dataset(
        name=dataset,
        batch_definition=checkpoint.validation_definitions[0].data,
        checkpoint_id=checkpoint.id,
        suites=suites,
        result_format=dict(checkpoint.result_format),
    )
    project.datasets[dataset] = cached
    return cached


# ---------------------------------------------------------------------------------- validation


def _column_of(kwargs: Mapping[str, Any]) -> str | None:
    if kwargs.get("column"):
        return str(kwargs["column"])
    if kwargs.get("column_A"):
        return f"{kwargs['column_A']}, {kwargs['column_B']}"
    if kwargs.get("column_list"):
        return ", ".join(map(str, kwargs["column_list"]))
    return None


def _outcome(dataset: str, severity: str, suite: str, result) -> ExpectationOutcome:
    config = result.expectation_config
    kwargs = dict(config.kwargs or {})
    meta = dict(config.meta or {})
    body = dict(result.result or {})
    info = result.exception_info or {}
    error = None
    if info.get("raised_exception"):
        error = str(info.get("exception_message") or "exception")
    else:  # several exceptions are reported as {metric_id: {...}}
        for value in info.values() if isinstance(info, dict) else ():
            if isinstance(value, dict) and value.get("raised_exception"):
                error = str(value.get("exception_message") or "exception")
                break
    examples = [
        dict(item) for item in (body.get("partial_unexpected_index_list") or [])
        if isinstance(item, Mapping)
    ][:MAX_EXAMPLES]
    return ExpectationOutcome(
        dataset=dataset,
        suite=suite,
        severity=str(meta.get("severity", severity)),
        rule=str(meta.get("rule", config.type)),
        expectation_type=config.type,
        column=_column_of(kwargs),
        description=config.description or "",
        success=bool(result.success),
        element_count=body.get("element_count"),
        unexpected_count=body.get("unexpected_count"),
        observed_value=body.get("observed_value"),
        examples=examples,
        unexpected_values=list(body.get("partial_unexpected_list") or [])[:MAX_EXAMPLES],
        error=error,
        kwargs={k: v for k, v in kwargs.items() if k not in ("batch_id",)},
    )


@functools.cache
def _required_columns(dataset: str) -> frozenset[str]:
    return frozenset(required_columns(dataset))


def _prepare(dataset: str, frame: pd.DataFrame) -> pd.DataFrame:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; known: {sorted(DATASETS)}")
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{dataset}: expected a pandas DataFrame, got {type(frame).__name__}")
    needed = _required_columns(dataset)
    missing = sorted(needed - set(frame.columns))
    if missing:
        raise ValueError(
            f"{dataset}: the validation frame lacks column(s) {missing}; build it with "
            "expectations.frames"
        )
    # Only the columns the suites and the example keys use: GX fingerprints (hashes) the whole
    # frame it is given, and no expectation looks at the set of columns.
    if len(needed) < len(frame.columns):
        frame = frame.loc[:, [column for column in frame.columns if column in needed]]
    # GX reads the frame only; a fresh default index keeps row lookups unambiguous.
    frame = decimals_to_float(frame)
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.name is not None:
        frame = frame.reset_index(drop=True)
    return frame


def _release(spec: _Dataset, batch_id: str | None) -> None:
    """Drop the frame from the data source's execution engine, which outlives the call.

    The cached project's pandas engine would otherwise keep the last batch of every asset (a
    telemetry window of millions of rows) until the next call. Best effort: the batch manager is
    a GX internal.
    """
    if batch_id is None:
        return
    try:
        engine = spec.batch_definition.data_asset.datasource.get_execution_engine()
        manager = engine.batch_manager
        manager.batch_data_cache.pop(batch_id, None)
        manager.batch_cache.pop(batch_id, None)
    except Exception:  # pragma: no cover - memory only
        pass


def _run_dataset(spec: _Dataset, frame: pd.DataFrame, parameters: Mapping[str, Any], run_id):
    """Validate ``frame`` against the dataset's suites: ``[(severity, result key, result)]``.

    What ``ValidationDefinition.run`` does, minus its per-call store reads (the freshness check
    re-reads and compares the stored definition, suite and batch definition, already verified
    once in this process by :func:`_dataset`), with one batch shared by both suites (GX loads
    and fingerprints the frame once instead of once per suite). Nothing is stored here.
    """
    from great_expectations.constants import DATAFRAME_REPLACEMENT_STR
    from great_expectations.data_context.types.resource_identifiers import (
        ExpectationSuiteIdentifier,
        ValidationResultIdentifier,
    )
    from great_expectations.validator.v1_validator import Validator

    validator = Validator(
        batch_definition=spec.batch_definition,
        batch_parameters={"dataframe": frame},
        result_format=spec.result_format,
    )
    out = []
    batch_id = None
    try:
        for severity, suite, definition_id in spec.suites:
            result = validator.validate_expectation_suite(suite, dict(parameters))
            batch_id = result.batch_id
            _name_examples(spec.name, frame, result)
            result.meta["validation_id"] = definition_id
            result.meta["checkpoint_id"] = spec.checkpoint_id
            result.meta["run_id"] = run_id
            result.meta["validation_time"] = run_id.run_time
            result.meta["batch_parameters"] = {"dataframe": DATAFRAME_REPLACEMENT_STR}
            key = ValidationResultIdentifier(
                expectation_suite_identifier=ExpectationSuiteIdentifier(name=suite.name),
                run_id=run_id,
                batch_identifier=result.batch_id,
            )
            out.append((severity, key, result))
    finally:
        _release(spec, batch_id)
    return out


def validate(
    frames: Mapping[str, pd.DataFrame],
    gx_dir: Path,
    run_name: str,
    params: Mapping[str, Any] | None = None,
) -> ValidationReport:
    """Validate ``frames`` ({dataset: validation frame}) and store the validation results.

    ``gx_dir``: project root of the file GX context (created if missing; reused across runs and
    processes). ``run_name``: the GX run name (shown in the Data Docs, e.g. the flow run name).
    ``params``: run-time bounds, see :func:`expectations.suites.suite_parameters`
    (``max_hours``, ``expected_rows``, ``min_volume_fraction``).

    Both the blocking and the warning suites of every given dataset run. Returns the
    :class:`ValidationReport`; call :func:`raise_for_blocking` to stop on blocking failures. The
    Data Docs are not built here: call :func:`build_docs` once at the end of the flow run (the
    report's ``docs_index`` / ``docs_page`` paths exist after that).
    """
    from great_expectations.core.run_identifier import RunIdentifier

    started = time.perf_counter()
    gx_dir = Path(gx_dir)
    prepared = {dataset: _prepare(dataset, frame) for dataset, frame in frames.items()}
    safe_run_name = str(run_name).replace("/", "_").replace("\\", "_") or "run"
    run_id = RunIdentifier(run_name=safe_run_name, run_time=dt.datetime.now(dt.timezone.utc))

    outcomes: list[SuiteOutcome] = []
    parameters: dict[str, dict[str, Any]] = {}
    with _GX_LOCK, _quiet():
        project = _project(gx_dir)
        pending: list = []
        try:
            for dataset, frame in prepared.items():
                t0 = time.perf_counter()
                spec = _dataset(project, dataset)
                parameters[dataset] = suite_parameters(dataset, params)
                results = _run_dataset(spec, frame, parameters[dataset], run_id)
                pending += [(key, result) for _, key, result in results]
                seconds = time.perf_counter() - t0
                for severity, key, suite_result in results:
                    name = suite_result.suite_name
                    outcomes.append(
                        SuiteOutcome(
                            dataset=dataset,
                            suite=name,
                            severity=severity,
                            success=bool(suite_result.success),
                            rows=len(frame),
                            results=[
                                _outcome(dataset, severity, name, r) for r in suite_result.results
                            ],
                            seconds=seconds,
                            docs_page=project.page(key),
                        )
                    )
        finally:  # results validated before an error still reach the store (and the docs)
            if pending:
                with _exclusive(gx_dir):
                    for key, result in pending:
                        project.results_store.store_validation_results(
                            suite_validation_result=result,
                            suite_validation_result_identifier=key,
                            expectation_suite_identifier=key.expectation_suite_identifier,
                        )

    order = {BLOCKING: 0, WARNING: 1}
    outcomes.sort(key=lambda s: (list(prepared).index(s.dataset), order.get(s.severity, 2)))
    return ValidationReport(
        run_name=safe_run_name,
        suites=outcomes,
        docs_index=project.docs_index,
        parameters=parameters,
        seconds=time.perf_counter() - started,
    )


# ------------------------------------------------------------------------------------ Data Docs

#: run names the site's "validations" section leaves out (GX's default ``run_name_filter``)
_PROFILING = "profiling"
#: what the last build_docs() rendered the index from (next to index.html)
_DOCS_STATE = ".bionicpro_docs_state.json"


def _site_builder(project: _Project):
    """The project's ``DOCS_SITE`` builder, made once per process (as GX's build_data_docs does).

    Kept for the process: its Jinja environments compile the page templates once.
    """
    if project.site_builder is None:
        from great_expectations.data_context.util import instantiate_class_from_config

        context = project.context
        project.site_builder = instantiate_class_from_config(
            config=context.variables.data_docs_sites[DOCS_SITE],
            runtime_environment={
                "data_context": context,
                "root_directory": context.root_directory,
                "site_name": DOCS_SITE,
            },
            config_defaults={
                "class_name": "SiteBuilder",
                "module_name": "great_expectations.render.renderer.site_builder",
            },
        )
    return project.site_builder


def _stale_suites(project: _Project) -> tuple[list, list[str]]:
    """(suite identifiers whose page is missing or older than the stored suite, all names)."""
    gx_root = project.config_file.parent
    stale, names = [], []
    for key in project.context.expectations_store.list_keys():
        name = getattr(key, "name", None)
        if name is None:
            continue
        names.append(name)
        page = project.page(key)
        if page is None or not page.is_file():
            stale.append(key)
            continue
        stored = gx_root / "expectations" / Path(*name.split("."))
        stored = stored.with_name(stored.name + ".json")
        if stored.is_file() and stored.stat().st_mtime >= page.stat().st_mtime:
            stale.append(key)
    return stale, sorted(names)


def _listed_results(project: _Project) -> list:
    """Keys of the ``DOCS_INDEX_LIMIT`` most recent stored validation results, newest first.

    Sorted on the raw store keys (``(*suite, run_name, run_time, batch)``; GX writes run times
    as ``%Y%m%dT%H%M%S.%fZ``, which sorts like the time), so that only the listed keys are parsed
    (GX's ``Store.list_keys`` parses the date of every result ever stored).
    """
    store = project.results_store
    backend_id = getattr(store.store_backend, "STORE_BACKEND_ID_KEY", None)
    raw = [
        t
        for t in store.store_backend.list_keys()
        if t != backend_id and len(t) >= 4 and _PROFILING not in str(t[-3])
    ]
    raw.sort(key=lambda t: (t[-2], t), reverse=True)
    return [store.tuple_to_key(t) for t in raw[:DOCS_INDEX_LIMIT]]


def _index_entry(result) -> dict[str, Any]:
    """What the index shows of one validation result (cached in the docs state file)."""
    meta = dict(result.meta or {})
    batch_kwargs = meta.get("batch_kwargs") or {}
    batch_spec = meta.get("batch_spec") or {}
    asset_name = None
    for source in (batch_kwargs, batch_spec):
        if isinstance(source, Mapping) and source.get("data_asset_name"):
            asset_name = source["data_asset_name"]
            break
    if asset_name is None:
        asset_name = (meta.get("active_batch_definition") or {}).get("data_asset_name")
    entry = {
        "success": bool(result.success),
        "asset_name": asset_name,
        "batch_kwargs": batch_kwargs,
        "batch_spec": batch_spec,
    }
    return json.loads(json.dumps(entry, default=str))


def _render_results(project: _Project, keys: list) -> dict[tuple, dict[str, Any]]:
    """Render the page of each validation result of ``keys``; return their index entries.

    What GX's validations section builder does for the keys it is given, without listing (and
    parsing) every stored key to find them. A page that fails to render is logged and skipped,
    as GX does.
    """
    from great_expectations.data_context.types.resource_identifiers import SiteSectionIdentifier

    builder = _site_builder(project)
    section = builder.site_section_builders["validations"]
    entries: dict[tuple, dict[str, Any]] = {}
    for key in keys:
        try:
            result = project.results_store.get(key)
            rendered = section.renderer_class.render(result)
            page = section.view_class.render(
                rendered,
                data_context_id=section.data_context_id,
                show_how_to_buttons=section.show_how_to_buttons,
            )
            builder.target_store.set(
                SiteSectionIdentifier(site_section_name="validations", resource_identifier=key),
                page,
            )
            entries[key.to_tuple()] = _index_entry(result)
        except Exception:  # pragma: no cover - one bad page never stops the docs
            logger.exception("Data Docs: could not render the validation result %s", key)
    return entries


def _write_index(project: _Project, suite_names: list[str], listed: list, entries) -> None:
    """Render the index page from the listed results' entries (no result is read again).

    The links are made by GX's own index builder (``add_resource_info_to_index_links_dict``)
    and rendered by its renderer and view, as ``DefaultSiteIndexBuilder.build`` does.
    """
    from collections import OrderedDict

    from great_expectations.render.renderer.site_builder import DefaultSiteIndexBuilder

    index_builder = _site_builder(project).site_index_builder
    if type(index_builder) is not DefaultSiteIndexBuilder:  # pragma: no cover - custom config
        index_builder.build(build_index=True)
        return
    links: OrderedDict = OrderedDict(site_name=DOCS_SITE)
    if index_builder.show_how_to_buttons:
        links["cta_object"] = index_builder.get_calls_to_action()
    for name in suite_names:
        index_builder.add_resource_info_to_index_links_dict(
            index_links_dict=links, expectation_suite_name=name, section_name="expectations"
        )
    for key in listed:
        entry = entries.get(key.to_tuple())
        if entry is None:  # its page could not be rendered
            continue
        index_builder.add_resource_info_to_index_links_dict(
            index_links_dict=links,
            expectation_suite_name=key.expectation_suite_identifier.name,
            section_name="validations",
            batch_identifier=key.batch_identifier,
            run_id=key.run_id,
            validation_success=entry["success"],
            run_time=key.run_id.run_time,
            run_name=key.run_id.run_name,
            asset_name=entry["asset_name"],
            batch_kwargs=entry["batch_kwargs"],
            batch_spec=entry["batch_spec"],
        )
    rendered = index_builder.renderer_class.render(links)
    page = index_builder.view_class.render(
        rendered,
        data_context_id=index_builder.data_context_id,
        show_how_to_buttons=index_builder.show_how_to_buttons,
    )
    index_builder.target_store.write_index_page(page)


def build_docs(gx_dir: Path) -> Path:
    """Bring the local Data Docs site of ``gx_dir`` up to date; return its ``index.html`` path.

    Call it once at the end of a flow run, whether the run passed or failed (it is the only
    place the site is written). Renders only what is missing: the page of each of the
    ``DOCS_INDEX_LIMIT`` most recent stored validation results that has none yet, the page of
    every suite stored since its page was rendered, the static assets on the first build (and
    after a GX upgrade), then the index of those results. The index is made from entries cached
    in ``<site>/.bionicpro_docs_state.json`` (success, asset and batch of each listed result), so
    only new results are read. Returns without rendering anything when nothing was stored since
    the last build. A page GX fails to render is logged and skipped.
    """
    from great_expectations import __version__ as gx_version

    gx_dir = Path(gx_dir)
    with _GX_LOCK, _quiet():
        project = _project(gx_dir)
        index = project.docs_index
        with _exclusive(gx_dir):
            listed = _listed_results(project)
            stale_suites, suite_names = _stale_suites(project)
            state_file = index.parent / _DOCS_STATE
            try:
                previous = json.loads(state_file.read_text())
                cached = {tuple(t): entry for t, entry in previous["results"] if entry}
            except (OSError, ValueError, TypeError, KeyError, AttributeError):
                previous, cached = {}, {}
            if previous.get("gx") != gx_version:
                cached = {}  # pages and entries of another GX version: render them again
            missing = [
                key
                for key in listed
                if key.to_tuple() not in cached or not (project.page(key) or index).is_file()
            ]
            if not missing and not stale_suites and index.is_file() and previous == {
                "gx": gx_version,
                "suites": suite_names,
                "results": [[list(k.to_tuple()), cached[k.to_tuple()]] for k in listed],
            }:
                return index
            entries = {**cached, **_render_results(project, missing)}
            if stale_suites:
                _site_builder(project).site_section_builders["expectations"].build(
                    resource_identifiers=set(stale_suites)  # a set: GX tests every stored key
                )
            if previous.get("gx") != gx_version or not (index.parent / "static").is_dir():
                _site_builder(project).target_store.copy_static_assets()
            _write_index(project, suite_names, listed, entries)
            state = {
                "gx": gx_version,
                "suites": suite_names,
                "results": [
                    [list(k.to_tuple()), entries[k.to_tuple()]]
                    for k in listed
                    if k.to_tuple() in entries
                ],
            }
            state_file.write_text(json.dumps(state))
    return index
