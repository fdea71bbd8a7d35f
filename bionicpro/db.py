"""Connections, opened late and closed early."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg2
import psycopg2.extensions

from bionicpro.settings import SERVING, Settings


# Source timestamps are UTC without a zone; "basic" parsing of the copied rows is ~2.5x faster than
# the default best_effort.
SESSION_SETTINGS = {"session_timezone": "UTC", "date_time_input_format": "basic"}


# A source that accepts connections but never answers must fail the run, not hang it: the retry
# policy can only act on an error.
CONNECT_TIMEOUT_S = 10
STATEMENT_TIMEOUT_S = 1800  # one source statement, or one staging pull from a source


class SourceUnavailable(ConnectionError):
    """A source database refused, stopped answering or dropped the connection (named in the message)."""


@contextmanager
def pg_connection(settings: Settings, database: str) -> Iterator[psycopg2.extensions.connection]:
    """A PostgreSQL connection in UTC; committed on success, rolled back on error."""
    try:
        conn = psycopg2.connect(settings.postgres_url(database), connect_timeout=CONNECT_TIMEOUT_S,
                                options=f"-c TimeZone=UTC -c statement_timeout={STATEMENT_TIMEOUT_S * 1000}")
    except psycopg2.OperationalError as error:
        raise SourceUnavailable(f"{database}: no connection within {CONNECT_TIMEOUT_S} s: {error}".strip()) from None
    try:
        with conn:
            yield conn
    except psycopg2.OperationalError as error:  # includes the statement timeout
        raise SourceUnavailable(f"{database}: {error}".strip()) from error
    finally:
        conn.close()


@contextmanager
def clickhouse_client(settings: Settings, warehouse: str = SERVING) -> Iterator[object]:
    """A clickhouse-connect client on the serving (reports_db) or work (bionicpro_work) warehouse;
    on chDB, opened only during this process's turn on that path.

    SQL always names tables with their database, so the session database is ``default``.
    """
    import clickhouse_connect

    dsn = settings.clickhouse_dsn(warehouse)
    if not settings.warehouse_uses_chdb(warehouse):
        client = clickhouse_connect.get_client(dsn=dsn, database="default", settings=SESSION_SETTINGS)
        try:
            yield client
        finally:
            client.close()
        return
    from bionicpro.chdb_gate import ChdbGate

    path = Path(dsn.removeprefix("chdb://"))
    path.mkdir(parents=True, exist_ok=True)
    with ChdbGate.for_path(path).client(lambda: clickhouse_connect.get_client(dsn=dsn, settings=SESSION_SETTINGS)) as client:
        yield client


def end_clickhouse_turn(settings: Settings, warehouse: str = SERVING) -> None:
    """Close this process's idle chDB clients of a warehouse now, rather than when they stop
    lingering: for a process about to hand the path to one that does not take turns."""
    if settings.warehouse_uses_chdb(warehouse):
        from bionicpro.chdb_gate import ChdbGate

        ChdbGate.for_path(Path(settings.clickhouse_dsn(warehouse).removeprefix("chdb://"))).close()
