"""Failpoints: named moments where the fault-injection suite (tests/faults) breaks a run.

``BIONICPRO_FAILPOINT=<name>`` makes the process SIGKILL itself when it reaches ``<name>``: no
handler, ``finally`` or atexit runs, as with an OOM kill or a power cut.
``BIONICPRO_FAILPOINT=error@<name>`` raises there instead, as a warehouse connection lost mid-step
would (transient: the task's retries meet it again). Unset, a failpoint costs a comparison.
"""

from __future__ import annotations

import os
import signal

from bionicpro.settings import Settings


class InjectedFault(ConnectionError):
    """The error an ``error@`` failpoint raises."""


def failpoint(settings: Settings, name: str) -> None:
    if settings.failpoint == name:
        os.kill(os.getpid(), signal.SIGKILL)
    if settings.failpoint == f"error@{name}":
        raise InjectedFault(f"failpoint {name}: the warehouse connection was lost")
