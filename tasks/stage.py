"""Stage tasks: the engine pulls a run's source rows from PostgreSQL into bionicpro_work.

Each statement is one SQL file of ``INSERT ... SELECT ... FROM postgresql(<named collection>, ...)``:
no row passes through Python. Every staged row carries the run's id (its own partition), which
``drop_run`` removes when the run ends.
"""

from __future__ import annotations

from datetime import date, datetime

import pandas as pd
from clickhouse_connect.driver.exceptions import DatabaseError
from prefect import get_run_logger, task

from bionicpro.db import STATEMENT_TIMEOUT_S, SourceUnavailable, clickhouse_client, pg_connection
from bionicpro.faults import failpoint
from bionicpro.pgio import copy_frame, read_sql
from bionicpro.settings import CRM_DB, TELEMETRY_DB, WORK, Settings
from tasks.common import DB_TASK

# The named collections the stage SQL reads through, and the source each one points at.
COLLECTIONS = {"bionicpro_crm": CRM_DB, "bionicpro_telemetry": TELEMETRY_DB}
CRM_STAGES = ("stage_users", "stage_prosthetics", "stage_payments", "stage_subscriptions", "stage_tickets")
TELEMETRY_STAGES = ("stage_events", "stage_lookback", "stage_battery")
# Every table holding a run's partition: the only identifiers drop_run.sql is given.
RUN_TABLES = (*CRM_STAGES, *TELEMETRY_STAGES, "user_mart_candidates", "prosthetic_mart_candidates")


def _quote(value: object) -> str:
    text = str(value)
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def collection_statements(settings: Settings) -> list[str]:
    """DDL of the named collections for embedded chDB, from the source URLs (DDL takes no bound
    parameters, so the values are quoted). On a ClickHouse server the operator defines them in
    the server's configuration instead (docs/scale-out.md): no credential ever travels in a query."""
    import psycopg2.extensions

    statements = []
    for name, database in COLLECTIONS.items():
        dsn = psycopg2.extensions.parse_dsn(settings.postgres_url(database))
        values = {"host": dsn.get("host") or "localhost", "port": int(dsn.get("port") or 5432),
                  "user": dsn.get("user") or "postgres", "password": dsn.get("password") or "",
                  "database": dsn.get("dbname") or database}
        body = ", ".join(f"{key} = {_quote(value)}" for key, value in values.items())
        statements += [f"DROP NAMED COLLECTION IF EXISTS {name}", f"CREATE NAMED COLLECTION {name} AS {body}"]
    return statements


# What the engine reports when a postgresql() source refused, dropped or outlived its time.
SOURCE_FAILURES = ("POSTGRESQL_CONNECTION_FAILURE", "TIMEOUT_EXCEEDED", "NETWORK_ERROR", "SOCKET_TIMEOUT",
                   "connection")


def _stage(settings: Settings, client, database: str, names: tuple[str, ...], params: dict) -> dict[str, int]:
    for name in names:
        try:
            client.command(read_sql(name), parameters=params, settings={"max_execution_time": STATEMENT_TIMEOUT_S})
        except DatabaseError as error:
            if any(sign in str(error) for sign in SOURCE_FAILURES):
                raise SourceUnavailable(f"{database}: {name} failed: {error}") from error
            raise
        failpoint(settings, f"stage:{name}")
    return staged_rows(client, params["run_id"], names)


def staged_rows(client, run_id: str, tables: tuple[str, ...]) -> dict[str, int]:
    """Rows of the run in each table (from the parts' metadata: reads no data)."""
    rows = client.query(read_sql("staged_rows"), parameters={"run_id": run_id, "tables": list(tables)}).result_rows
    counts = dict.fromkeys(tables, 0)
    counts.update({table: int(count) for table, count in rows})
    return counts


@task(name="stage_crm", **DB_TASK)
def stage_crm(settings: Settings, run_id: str, span_start: datetime, span_end: datetime) -> dict[str, int]:
    """All users and prostheses; payments, subscriptions and tickets of [span_start, span_end)."""
    with clickhouse_client(settings, WORK) as client:
        if settings.warehouse_uses_chdb(WORK):
            for statement in collection_statements(settings):
                client.command(statement)
        counts = _stage(settings, client, CRM_DB, CRM_STAGES, {"run_id": run_id, "span_start": span_start, "span_end": span_end})
    get_run_logger().info("staged CRM rows of [%s, %s): %s", span_start, span_end, counts)
    return counts


@task(name="stage_telemetry", **DB_TASK)
def stage_telemetry(settings: Settings, run_id: str, window_start: datetime, window_end: datetime) -> dict[str, int]:
    """Events and samples of [window_start, window_end), and the state events that reach into it."""
    params = {"run_id": run_id, "window_start": window_start, "window_end": window_end}
    with clickhouse_client(settings, WORK) as client:
        counts = _stage(settings, client, TELEMETRY_DB, TELEMETRY_STAGES, params)
    get_run_logger().info("staged telemetry of [%s, %s): %s", window_start, window_end, counts)
    return counts


@task(name="drop_run", **DB_TASK)
def drop_run(settings: Settings, run_id: str) -> None:
    """Drop the run's staged rows and candidates, and those of runs killed a day or more ago."""
    with clickhouse_client(settings, WORK) as client:
        abandoned = client.query(read_sql("abandoned_runs")).result_rows
        for table, partition in [(table, run_id) for table in RUN_TABLES] + abandoned:
            client.command(read_sql("drop_run"), parameters={"table": table, "run_id": partition})
            failpoint(settings, f"drop_run:{table}")
    if abandoned:
        get_run_logger().info("dropped %d partition(s) of abandoned runs", len(abandoned))


@task(name="find_arrivals", **DB_TASK)
def find_arrivals(settings: Settings, since: datetime) -> pd.DataFrame:
    """Spans of days touched by rows that arrived at or after ``since`` (see find_arrivals.sql):
    grouped in PostgreSQL, where the rows are; a few rows travel."""
    with pg_connection(settings, TELEMETRY_DB) as conn:
        frame = copy_frame(conn, "find_arrivals", {"since": since},
                           parse_dates=("last_arrival",), converters={"day": date.fromisoformat})
    get_run_logger().info("rows that arrived since %s touch %d day span(s)", since, len(frame))
    return frame
