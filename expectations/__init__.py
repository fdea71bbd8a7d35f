"""Data-quality layer: Great Expectations 1.x suites for the BionicPRO data contract.

- :mod:`expectations.frames`: pure functions building the validation frames (derived columns).
- :mod:`expectations.suites`: the suites, declared in code (``<dataset>.blocking`` / ``.warning``).
- :mod:`expectations.runner`: ``validate()``, ``build_docs()``, ``ValidationReport``,
  ``raise_for_blocking()``, ``DataQualityError``.

Importing this package is cheap: Great Expectations is imported only when a name of
``suites`` / ``runner`` is first used, and nothing connects or reads configuration at import time.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "validate": "expectations.runner",
    "build_docs": "expectations.runner",
    "raise_for_blocking": "expectations.runner",
    "DataQualityError": "expectations.runner",
    "ValidationReport": "expectations.runner",
    "SuiteOutcome": "expectations.runner",
    "ExpectationOutcome": "expectations.runner",
    "DATASETS": "expectations.suites",
    "build_suites": "expectations.suites",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'expectations' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
