"""Failpoints: named moments where the fault-injection suite (tests/faults) kills a run.

``BIONICPRO_FAILPOINT=<name>`` makes the process SIGKILL itself when it reaches ``<name>``: no
handler, ``finally`` or atexit runs, as with an OOM kill or a power cut. Unset, a failpoint costs a
comparison.
"""

from __future__ import annotations

import os
import signal

from bionicpro.settings import Settings


def failpoint(settings: Settings, name: str) -> None:
    if settings.failpoint == name:
        os.kill(os.getpid(), signal.SIGKILL)
