"""`bionicpro`: set up, seed, run and inspect the pipeline from a terminal."""

from __future__ import annotations

import os
import re
import signal
import time
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, NoReturn

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


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _refuse(option: str, message: str) -> NoReturn:
    """One line on stderr and exit 2 (a usage error), before anything is started."""
    typer.echo(f"Error: {option}: {message}", err=True)
    raise typer.Exit(2)


def _today() -> date:
    return datetime.now(timezone.utc).date()


def _parse_date(value: str | None, option: str) -> date | None:
    """YYYY-MM-DD only (``date.fromisoformat`` also takes 20240115), and not after today (UTC)."""
    if value is None:
        return None
    try:
        day = date.fromisoformat(value) if _DAY.fullmatch(value) else None
    except ValueError:
        day = None
    if day is None:
        _refuse(option, f"{value!r} is not a date (YYYY-MM-DD)")
    if day > _today():
        _refuse(option, f"{day} is in the future (today is {_today()}, UTC)")
    return day


def _parse_month(value: str) -> date:
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}", value):
        _refuse("--month", f"{value!r} is not a month (YYYY-MM)")
    try:
        return datetime.strptime(value, "%Y-%m").date()
    except ValueError:
        _refuse("--month", f"{value!r} is not a month (YYYY-MM)")


def _interrupt_on_sigterm() -> None:
    """SIGTERM (systemd, docker, a CI runner) stops a long command as Ctrl-C does: its ``finally``
    blocks and atexit handlers stop what it started instead of leaving it running."""
    signal.signal(signal.SIGTERM, signal.default_int_handler)


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
def etl(
    report_date: Annotated[str | None, typer.Option(help="YYYY-MM-DD, not after today; default yesterday (UTC)")] = None,
    recompute: Annotated[bool, typer.Option(help="recompute every day of the month from the sources, e.g. after "
                                                 "source rows were fixed in place")] = False,
) -> None:
    """Run the daily flow once, in this process, for the month containing REPORT_DATE."""
    day = _parse_date(report_date, "--report-date")
    _interrupt_on_sigterm()
    from bionicpro.stack import prefect_api
    from flows.daily import bionicpro_etl_daily

    with prefect_api():
        rows = bionicpro_etl_daily(report_date=day, recompute=recompute)
    console.print(rows)


@app.command()
def backfill(
    start: Annotated[str | None, typer.Option(help="YYYY-MM-DD; default: the oldest source row")] = None,
    end: Annotated[str | None, typer.Option(help="YYYY-MM-DD, not after today; default yesterday (UTC)")] = None,
    mode: Annotated[str, typer.Option(help="missing | failed | all")] = "missing",
) -> None:
    """Run the backfill flow in this process: every month from START to END, one run per month."""
    if mode not in ("missing", "failed", "all"):
        _refuse("--mode", f"{mode!r} is not one of missing, failed, all")
    last = _parse_date(end, "--end") or _today() - timedelta(days=1)
    first = _parse_date(start, "--start")
    if first is None:
        from bionicpro.inspect import first_source_day
        from bionicpro.settings import get_settings

        first = first_source_day(get_settings())
        if first is None:
            _refuse("--start", "no source rows: seed first (bionicpro seed)")
    if first > last:
        _refuse("--start" if start else "--end", f"the start, {first}, is after the end, {last}")
    _interrupt_on_sigterm()
    from bionicpro.stack import prefect_api
    from flows.backfill import bionicpro_backfill

    started = time.perf_counter()
    with prefect_api():
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


@app.command("automations")
def create_automations() -> None:
    """Create the automations of automations.yaml on the Prefect server (PREFECT_API_URL), or update
    those of the same names: an alert on a failed or crashed run, and on a nightly run not done by 04:00."""
    from prefect.settings import PREFECT_API_URL

    from bionicpro.automations import apply_automations

    if not PREFECT_API_URL.value():
        # Without it Prefect would keep them in a throwaway server that never evaluates them.
        typer.echo("Error: PREFECT_API_URL is not set: which Prefect server? (`make up` sets it)", err=True)
        raise typer.Exit(2)
    for name, actions in apply_automations():
        console.print(f"automation {name}: " + ("notifies through block bionicpro-alerts" if actions else
                                               "notifies nobody (BIONICPRO_ALERT_WEBHOOK_URL unset)"))


def _where_to_look(settings, stack_ui: str | None) -> None:
    console.rule("where to look")
    console.print(f"Data Docs:  file://{settings.gx_dir}/gx/uncommitted/data_docs/local_site/index.html")
    if stack_ui:
        console.print(f"Prefect UI: {stack_ui} (flow runs, their logs and artifacts, deployments)")
    else:
        console.print(f"Prefect UI: `make up`, then http://127.0.0.1:{settings.prefect_port} "
                      "(flow runs, logs, artifacts, deployments)")
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
    _interrupt_on_sigterm()
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
    """Keep a Prefect server, the deployments, a worker and the reports API running; Ctrl-C or SIGTERM
    stops them all, and the embedded PostgreSQL unless another process still uses it."""
    from bionicpro.embedded import release_postgres
    from bionicpro.settings import get_settings
    from bionicpro.stack import StackError, local_stack, signals_held

    settings = get_settings()
    _interrupt_on_sigterm()
    failed = False
    try:
        init()
        with local_stack(settings, with_api=True) as stack:
            _where_to_look(settings, stack.ui_url)
            if stack.reports_url:
                console.print(f"Reports API: {stack.reports_url} (docs at {stack.reports_url}/docs)")
            console.print("Run a day:  PREFECT_API_URL=" + stack.api_url +
                          " .venv/bin/prefect deployment run bionicpro_etl_daily/daily --param report_date=YYYY-MM-DD --watch")
            console.print("Ctrl-C (or SIGTERM) stops everything.")
            while all(process.poll() is None for _, process in stack.children):
                time.sleep(1)
            console.print(f"[red]a service stopped; see {stack.logs}")
            failed = True
    except StackError as error:
        console.print(f"[red]{error}")
        failed = True
    except KeyboardInterrupt:
        console.print("stopped")
    finally:
        with signals_held():
            release_postgres(settings.postgres_dir)
    if failed:
        raise typer.Exit(1)


if __name__ == "__main__":
    app()
