"""Connections, opened late and closed early."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg2
import psycopg2.extensions

from bionicpro.settings import Settings


@contextmanager
def pg_connection(settings: Settings, database: str) -> Iterator[psycopg2.extensions.connection]:
    """A PostgreSQL connection in UTC; committed on success, rolled back on error."""
    conn = psycopg2.connect(settings.postgres_url(database), options="-c TimeZone=UTC")
    try:
        with conn:
            yield conn
    finally:
        conn.close()


@contextmanager
def clickhouse_client(settings: Settings) -> Iterator[object]:
    """A clickhouse-connect client; on chDB, opened only during this process's turn on the path.

    SQL always names tables as ``reports_db.<table>``, so the session database is ``default``.
    """
    import clickhouse_connect

    if not settings.uses_chdb:
        client = clickhouse_connect.get_client(dsn=settings.clickhouse_dsn(), database="default")
        try:
            yield client
        finally:
            client.close()
        return
    from bionicpro.chdb_gate import ChdbGate

    settings.chdb_dir.mkdir(parents=True, exist_ok=True)
    with ChdbGate.for_path(settings.chdb_dir).client(lambda: clickhouse_connect.get_client(dsn=settings.clickhouse_dsn())) as client:
        yield client


def end_clickhouse_turn(settings: Settings) -> None:
    """Close this process's idle chDB clients now, rather than when they stop lingering: for a
    process about to hand the path to one that does not take turns."""
    if settings.uses_chdb:
        from bionicpro.chdb_gate import ChdbGate

        ChdbGate.for_path(settings.chdb_dir).close()
