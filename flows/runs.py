"""Names and tags of the flows' runs, made from their parameters: the Prefect UI lists runs by them
and the alerts quote them (automations.yaml)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from prefect.runtime import flow_run as current_run

PROJECT_TAG = "bionicpro"


def month_tag(day: date) -> str:
    return f"month:{day:%Y-%m}"


def etl_run_name(day: date) -> str:
    return f"etl-{day:%Y-%m-%d}"


def backfill_run_name(start_date: date, end_date: date) -> str:
    """``backfill-2024-01..2024-06``, or ``backfill-2024-01`` for one month."""
    first, last = f"{start_date:%Y-%m}", f"{end_date:%Y-%m}"
    return f"backfill-{first}" if first == last else f"backfill-{first}..{last}"


def add_tags(run, tags: Iterable[str]) -> None:
    """Add ``tags`` to the flow run ``run``, keeping those it has (its deployment's, ``auto-scheduled``)."""
    from prefect.client.orchestration import get_client

    wanted = sorted({*run.tags, *tags})
    if wanted != sorted(run.tags):
        with get_client(sync_client=True) as client:
            client.update_flow_run(run.id, tags=wanted)


def name_backfill_run() -> str:
    """The running backfill's name (``flow_run_name``: called with its validated parameters)."""
    return backfill_run_name(current_run.parameters["start_date"], current_run.parameters["end_date"])


def tag_backfill_run(flow, run, state) -> None:
    """An ``on_running`` hook: a backfill run in process has no deployment to take its tags from."""
    add_tags(run, [PROJECT_TAG, "backfill"])
