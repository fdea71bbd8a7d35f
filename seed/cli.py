"""``bionicpro seed`` (mounted by bionicpro.cli) and ``python -m seed``."""

from __future__ import annotations

import time
from datetime import date
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table


def parse_end_date(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        if len(value) != 10:  # date.fromisoformat also takes 20240115
            raise ValueError(value)
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (expected YYYY-MM-DD)", param_hint="--end-date") from None


def seed_command(
    users: Annotated[int, typer.Option("--users", min=1, help="Number of users (1-2 prostheses each).")] = 12,
    months: Annotated[int, typer.Option("--months", min=1, help="Length of the period in months.")] = 30,
    end_date: Annotated[
        str | None,
        typer.Option("--end-date", metavar="YYYY-MM-DD",
                     help="Exclusive end of the period (the last day of data is the day before); default today (UTC)."),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed: the same seed and end date give the same rows.")] = 42,
    anomalies: Annotated[
        bool, typer.Option("--anomalies/--no-anomalies", help="Also insert bad rows of every kind, dated on the last day."),
    ] = False,
) -> None:
    """Fill crm_db and telemetry_db with deterministic, coherent data (replaces what is there)."""
    from bionicpro.settings import get_settings
    from schema import apply_postgres
    from seed.config import SeedConfig
    from seed.load import load_seed

    console = Console()
    config = SeedConfig(users=users, months=months, end_date=parse_end_date(end_date), seed=seed,
                        anomalies=anomalies).resolved()
    settings = get_settings()
    console.print(
        f"Seeding {config.users} users, {config.start} .. {config.last_day} "
        f"({config.months} months, end {config.end} exclusive), seed {config.seed}"
    )
    started = time.perf_counter()
    apply_postgres(settings)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn("days"),
                  TimeElapsedColumn(), console=console, transient=False) as bar:
        task = bar.add_task("crm", total=config.period_days)

        def progress(stage: str, advance: int) -> None:
            bar.update(task, advance=advance, description=stage)

        report = load_seed(settings, config, progress)
    elapsed = time.perf_counter() - started

    table = Table(title="Rows loaded")
    table.add_column("table")
    table.add_column("rows", justify="right")
    for name, count in report.rows.items():
        table.add_row(name, f"{count:,}")
    console.print(table)
    if report.anomalies:
        bad = Table(title=f"Bad rows on purpose (dated {config.last_day})")
        bad.add_column("rule")
        bad.add_column("rows", justify="right")
        for rule, count in report.anomalies.items():
            bad.add_row(rule, str(count))
        console.print(bad)
    timings = report.timings
    console.print(
        f"Done in {elapsed:.1f} s (generation {timings.get('generate', 0):.1f} s, "
        f"loading {timings.get('load', 0):.1f} s, indexes {timings.get('index', 0):.1f} s)"
    )
