"""`bionicpro`: set up, seed, run and inspect the pipeline from a terminal."""

from __future__ import annotations

import os
import time
from datetime import date, datetime, timedelta, timezone
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(help="BionicPRO Reports: source databases, seed data, ETL and reports.", no_args_is_help=True)
console = Console()


@app.callback()
def main() -> None:
    """Keep Prefect's local state with the project's data unless told otherwise."""
    from bionicpro.settings import get_settings

    os.environ.setdefault("PREFECT_HOME", str(get_settings().data_path / "prefect"))


def _parse_date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a date (YYYY-MM-DD)", param_hint=option) from None


def _parse_month(value: str) -> date:
    try:
        return datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        raise typer.BadParameter(f"{value!r} is not a month (YYYY-MM)", param_hint="--month") from None


@app.command()
def init() -> None:
    """Start the embedded databases if they are the default and apply every schema (idempotent)."""
    from bionicpro.settings import get_settings
    from schema import apply_all

    settings = get_settings()
    apply_all(settings)
    for name, where in settings.describe().items():
        console.print(f"{name}: {where}")


def _register_seed() -> None:
    from seed.cli import seed_command

    app.command("seed", help="Fill crm_db and telemetry_db with deterministic, coherent data.")(seed_command)


_register_seed()


@app.command()
def counts() -> None:
    """Row counts of every source table and mart."""
    from bionicpro.inspect import table_counts
    from bionicpro.settings import get_settings

    table = Table("database", "table", "rows")
    for database, name, rows in table_counts(get_settings()):
        table.add_row(database, name, f"{rows:,}")
    console.print(table)


@app.command()
def etl(report_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default yesterday (UTC)")] = None) -> None:
    """Run the daily flow once, in this process, for the month containing REPORT_DATE."""
    from flows.daily import bionicpro_etl_daily

    rows = bionicpro_etl_daily(report_date=_parse_date(report_date, "--report-date"))
    console.print(rows)


@app.command()
def backfill(
    start: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default: the oldest source row")] = None,
    end: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default yesterday (UTC)")] = None,
    mode: Annotated[str, typer.Option(help="missing | failed | all")] = "missing",
) -> None:
    """Run the backfill flow in this process: every month from START to END, one run per month."""
    from bionicpro.inspect import first_source_day
    from bionicpro.settings import get_settings
    from flows.backfill import bionicpro_backfill

    last = _parse_date(end, "--end") or datetime.now(timezone.utc).date() - timedelta(days=1)
    first = _parse_date(start, "--start") or first_source_day(get_settings())
    if first is None:
        raise typer.BadParameter("no source rows: seed first (bionicpro seed)", param_hint="--start")
    if mode not in ("missing", "failed", "all"):
        raise typer.BadParameter(f"{mode!r} is not one of missing, failed, all", param_hint="--mode")
    started = time.perf_counter()
    table = bionicpro_backfill(start_date=first, end_date=last, mode=mode)
    for row in table:
        console.print(row)
    console.print(f"{len(table)} month(s) in {time.perf_counter() - started:.1f} s")


@app.command()
def report(
    user_id: Annotated[int, typer.Option(help="crm_users.user_id")] = 1,
    month: Annotated[str | None, typer.Option(help="YYYY-MM; default the newest loaded month")] = None,
) -> None:
    """Print one user's monthly report from the marts in reports_db."""
    from bionicpro.inspect import user_report
    from bionicpro.settings import get_settings

    found = user_report(get_settings(), user_id, _parse_month(month) if month else None)
    if found is None:
        console.print(f"[red]no report for user {user_id}{' in ' + month if month else ''}: load that month first")
        raise typer.Exit(1)
    summary, devices = found
    table = Table(title=f"User {user_id}: {summary['report_date']:%Y-%m}", show_header=False)
    for key, value in summary.items():
        table.add_row(key, str(value))
    console.print(table)
    if devices:
        # One column per device: the mart has too many measures to fit a row on a terminal.
        device_table = Table("measure", *(f"prosthesis {d['prosthetic_id']}" for d in devices), title="Devices")
        for measure in devices[0]:
            if measure != "prosthetic_id":
                device_table.add_row(measure, *(f"{d[measure]:.2f}" if isinstance(d[measure], float)
                                                else str(d[measure]) for d in devices))
        console.print(device_table)


@app.command("blocks")
def register() -> None:
    """Register the Prefect blocks of the three databases from the settings (the environment)."""
    from blocks import register_blocks

    for name in register_blocks():
        console.print(f"block {name} saved")


def _where_to_look(settings, stack_ui: str | None) -> None:
    console.rule("where to look")
    console.print(f"Data Docs:  file://{settings.gx_dir}/gx/uncommitted/data_docs/local_site/index.html")
    if stack_ui:
        console.print(f"Prefect UI: {stack_ui} (flow runs, their logs and artifacts, deployments)")
    else:
        console.print("Prefect UI: `make up`, then http://127.0.0.1:4200 (flow runs, logs, artifacts, deployments)")
    console.print("Marts:      reports_db.report_user_monthly_metrics, reports_db.report_prosthetic_monthly_metrics "
                  f"({settings.describe()['reports_db']})")


@app.command()
def demo() -> None:
    """The whole job on the embedded defaults: schemas, seed, a backfill of the whole history through
    a real Prefect server, work pool, deployment and worker, then one user's report."""
    from bionicpro.inspect import first_source_day
    from bionicpro.settings import get_settings
    from bionicpro.stack import local_stack
    from seed import SeedConfig, seed_database

    settings = get_settings()
    init()
    console.rule("seed (default profile)")
    started = time.perf_counter()
    rows = seed_database(settings, SeedConfig())
    console.print(f"seeded {sum(rows.values()):,} rows in {time.perf_counter() - started:.1f} s")
    first, last = first_source_day(settings), datetime.now(timezone.utc).date() - timedelta(days=1)
    console.rule(f"backfill {first}..{last} through the deployment")
    with local_stack(settings) as stack:
        started = time.perf_counter()
        run = stack.run(*_prefect("deployment", "run", "bionicpro_backfill/backfill",
                                  "--param", f"start_date={first}", "--param", f"end_date={last}",
                                  "--param", "mode=all", "--watch"), check=False)
        elapsed = time.perf_counter() - started
        if run.returncode != 0:
            console.print(run.stdout[-4000:], run.stderr[-4000:])
            console.print(f"[red]the backfill failed; logs in {stack.logs}")
            raise typer.Exit(1)
        console.print(f"full-history backfill through the deployment: {elapsed:.1f} s")
    counts()
    console.rule("user 1, newest month")
    report(user_id=1, month=None)
    _where_to_look(settings, None)


def _prefect(*args: str) -> list[str]:
    from bionicpro.stack import _bin

    return [_bin("prefect"), *args]


@app.command()
def up() -> None:
    """Keep a Prefect server, the deployments, a worker and the reports API running (Ctrl-C stops)."""
    from bionicpro.settings import get_settings
    from bionicpro.stack import local_stack

    settings = get_settings()
    init()
    with local_stack(settings, with_api=True) as stack:
        _where_to_look(settings, stack.ui_url)
        console.print("Run a day:  PREFECT_API_URL=" + stack.api_url +
                      " .venv/bin/prefect deployment run bionicpro_etl_daily/daily --param report_date=YYYY-MM-DD --watch")
        console.print("Ctrl-C stops everything.")
        try:
            while all(process.poll() is None for _, process in stack.children):
                time.sleep(1)
            console.print(f"[red]a service stopped; see {stack.logs}")
        except KeyboardInterrupt:
            console.print("stopping")


if __name__ == "__main__":
    app()
