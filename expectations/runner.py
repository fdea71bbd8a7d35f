"""Run the data-contract suites with Great Expectations 1.x and report the outcome.

``validate(frames, gx_dir, run_name, params)`` validates the given validation frames (see
:mod:`expectations.frames`) against the suites of :mod:`expectations.suites`, updates the Data
Docs and returns a :class:`ValidationReport`; :func:`raise_for_blocking` turns blocking failures
into a :class:`DataQualityError` whose message says what was rejected and why.

GX layout (file context, created on first use at ``gx_dir/gx``): one pandas data source
``bionicpro``; per dataset one dataframe asset and batch definition, the stored suites
``<dataset>.blocking`` / ``<dataset>.warning``, a validation definition per suite and a checkpoint
``<dataset>`` running both suites. All of it is declared idempotently on each call (nothing is
rewritten when the stored objects already match the code), under an exclusive lock (a
process-wide lock plus ``flock`` on ``gx_dir/.gx.lock``), so concurrent runs in threads or
processes never see half-written GX stores. Nothing is created, read or connected at import time.

Data Docs: the checkpoints carry no ``UpdateDataDocsAction``; instead ``validate()`` builds the
``local_site`` once per call, for exactly this call's validation results and suites
(``context.build_data_docs(resource_identifiers=...)``). The action would rebuild the suite page
and the whole index once per validation result (11 times for all datasets), and the index reads
every stored validation result; the site's index is therefore also capped to the most recent
``DOCS_INDEX_LIMIT`` results (``site_index_builder.validation_results_limit``), so that a year of
nightly runs does not make each build slower. Older result pages stay on disk.

Noise: GX's "Calculating Metrics" tqdm bars are switched off in the project config
(``progress_bars: {globally: false}``, read by ``Validator._determine_progress_bars``), analytics
are disabled in the config too, and Python warnings raised while GX runs are suppressed.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
import time
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

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
    "raise_for_blocking",
]

DATASOURCE_NAME = "bionicpro"
BATCH_DEFINITION_NAME = "whole_dataframe"
DOCS_SITE = "local_site"
#: Validation results listed on the Data Docs index (most recent first).
DOCS_INDEX_LIMIT = 200
#: Examples of failing rows kept per expectation (GX ``partial_unexpected_count``).
MAX_EXAMPLES = 5

_PROCESS_LOCK = threading.RLock()


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
            bounds = {k: v for k, v in self.kwargs.items() if k in ("min_value", "max_value")}
            text += f" -- observed {self.observed_value}, expected {bounds}"
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
        bounds = {k: v for k, v in r.kwargs.items() if k in ("min_value", "max_value")}
        text += f" Observed **{r.observed_value}**, expected {bounds}"
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
    """Serialize GX store access across threads (RLock) and processes (flock)."""
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
    if changed:
        context.variables.save()
    return context


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
    return {
        "result_format": "SUMMARY",
        "unexpected_index_column_names": list(DATASETS[dataset].key_columns),
        "partial_unexpected_count": MAX_EXAMPLES,
        # the pandas "query" lists every bad index: can be huge, and we do not use it
        "return_unexpected_index_query": False,
    }


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
        actions=[],  # Data Docs are built once per validate() call, see the module doc
        result_format=_result_format(dataset),
    )
    return context.checkpoints.add_or_update(checkpoint)


def _docs_path(context, resource_identifier=None) -> Path | None:
    """Local path of the Data Docs index (or of one resource's page)."""
    try:
        sites = context.get_docs_sites_urls(
            resource_identifier=resource_identifier, site_name=DOCS_SITE, only_if_exists=False
        )
    except Exception:  # pragma: no cover - docs are a report, never a reason to fail
        return None
    for site in sites or []:
        url = site.get("site_url")
        if url and url.startswith("file://"):
            return Path(unquote(urlparse(url).path))
    return None


def _build_docs(context, resource_identifiers: list) -> None:
    """Render this call's validation results and suites, and the index, once."""
    if resource_identifiers:
        context.build_data_docs(
            site_names=[DOCS_SITE], resource_identifiers=resource_identifiers, build_index=True
        )
    elif _docs_path(context) is None or not _docs_path(context).exists():
        # nothing validated and no site yet: an empty site (resource_identifiers=None would
        # render a page for every stored result, so only done while there are none of ours)
        context.build_data_docs(site_names=[DOCS_SITE])


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


def _prepare(dataset: str, frame: pd.DataFrame) -> pd.DataFrame:
    if dataset not in DATASETS:
        raise ValueError(f"unknown dataset {dataset!r}; known: {sorted(DATASETS)}")
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"{dataset}: expected a pandas DataFrame, got {type(frame).__name__}")
    missing = sorted(required_columns(dataset) - set(frame.columns))
    if missing:
        raise ValueError(
            f"{dataset}: the validation frame lacks column(s) {missing}; build it with "
            "expectations.frames"
        )
    # GX reads the frame only; a fresh default index keeps row lookups unambiguous.
    frame = decimals_to_float(frame)
    if not isinstance(frame.index, pd.RangeIndex) or frame.index.name is not None:
        frame = frame.reset_index(drop=True)
    return frame


def validate(
    frames: Mapping[str, pd.DataFrame],
    gx_dir: Path,
    run_name: str,
    params: Mapping[str, Any] | None = None,
) -> ValidationReport:
    """Validate ``frames`` ({dataset: validation frame}) and update the Data Docs.

    ``gx_dir``: project root of the file GX context (created if missing; reused across runs and
    processes). ``run_name``: the GX run name (shown in the Data Docs, e.g. the flow run name).
    ``params``: run-time bounds, see :func:`expectations.suites.suite_parameters`
    (``max_hours``, ``expected_rows``, ``min_volume_fraction``).

    Both the blocking and the warning suites of every given dataset run. Returns the
    :class:`ValidationReport`; call :func:`raise_for_blocking` to stop on blocking failures.
    """
    from great_expectations.core.run_identifier import RunIdentifier

    started = time.perf_counter()
    gx_dir = Path(gx_dir)
    prepared = {dataset: _prepare(dataset, frame) for dataset, frame in frames.items()}
    safe_run_name = str(run_name).replace("/", "_").replace("\\", "_") or "run"
    run_id = RunIdentifier(run_name=safe_run_name, run_time=dt.datetime.now(dt.timezone.utc))

    outcomes: list[SuiteOutcome] = []
    parameters: dict[str, dict[str, Any]] = {}
    with _exclusive(gx_dir), _quiet():
        context = _context(gx_dir)
        docs_resources: list = []
        try:
            for dataset, frame in prepared.items():
                t0 = time.perf_counter()
                checkpoint = _checkpoint(context, dataset)
                parameters[dataset] = suite_parameters(dataset, params)
                result = checkpoint.run(
                    batch_parameters={"dataframe": frame},
                    expectation_parameters=parameters[dataset],
                    run_id=run_id,
                )
                seconds = time.perf_counter() - t0
                for key, suite_result in result.run_results.items():
                    docs_resources += [key, key.expectation_suite_identifier]
                    name = suite_result.suite_name
                    severity = name.rsplit(".", 1)[-1]
                    results = [_outcome(dataset, severity, name, r) for r in suite_result.results]
                    outcomes.append(
                        SuiteOutcome(
                            dataset=dataset,
                            suite=name,
                            severity=severity,
                            success=bool(suite_result.success),
                            rows=len(frame),
                            results=results,
                            seconds=seconds,
                            docs_page=_docs_path(context, key),
                        )
                    )
        finally:  # results validated before an error still reach the Data Docs
            _build_docs(context, docs_resources)
        docs_index = _docs_path(context) or (
            gx_dir / "gx" / "uncommitted" / "data_docs" / DOCS_SITE / "index.html"
        )

    order = {BLOCKING: 0, WARNING: 1}
    outcomes.sort(key=lambda s: (list(prepared).index(s.dataset), order.get(s.severity, 2)))
    return ValidationReport(
        run_name=safe_run_name,
        suites=outcomes,
        docs_index=docs_index,
        parameters=parameters,
        seconds=time.perf_counter() - started,
    )
