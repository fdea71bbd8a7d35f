"""Data-quality layer: Great Expectations 1.x suites of the BionicPRO data contract, run on the
staged rows of a run in ClickHouse (``bionicpro_work``).

- :mod:`expectations.suites`: the rules, declared (``<dataset>.blocking`` / ``.warning``).
- :mod:`expectations.checks`: ``check()``, ``raise_for_blocking()``, ``build_docs()``,
  ``ValidationReport``, ``DataQualityError``, ``SOURCE_DATASETS``, ``MART_DATASETS``.

Importing this package is cheap: Great Expectations is imported when a name is first used.
"""

from __future__ import annotations

import importlib
from typing import Any

_NAMES = (
    "SOURCE_DATASETS",
    "MART_DATASETS",
    "check",
    "raise_for_blocking",
    "build_docs",
    "DataQualityError",
    "ValidationReport",
    "SuiteOutcome",
    "RuleFailure",
)

__all__ = list(_NAMES)


def __getattr__(name: str) -> Any:
    if name not in _NAMES:
        raise AttributeError(f"module 'expectations' has no attribute {name!r}")
    return getattr(importlib.import_module("expectations.checks"), name)
