"""The embedded PostgreSQL (pgserver wheel): started on first use, shared by processes."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import psycopg2
from psycopg2 import sql

from bionicpro.settings import CRM_DB, TELEMETRY_DB

SOURCE_DATABASES = (CRM_DB, TELEMETRY_DB)
_servers: dict[Path, object] = {}


def postgres_server(pgdata: Path):
    """Start (or join) the server at ``pgdata``.

    ``cleanup_mode="stop"``: the server stops when the last process that joined it exits,
    so nothing is left running after a CLI command or a test session.
    """
    pgdata = Path(pgdata).resolve()
    if pgdata not in _servers:
        with warnings.catch_warnings():
            # pgserver resolves a runtime dir at import; without XDG_RUNTIME_DIR it falls back to
            # /tmp/runtime-<uid>, which is fine, and warns on every command.
            warnings.simplefilter("ignore")
            import pgserver

        logging.getLogger("pgserver").setLevel(logging.WARNING)
        pgdata.mkdir(parents=True, exist_ok=True)
        server = pgserver.get_server(pgdata, cleanup_mode="stop")
        _ensure_databases(server.get_uri("postgres"))
        _servers[pgdata] = server
    return _servers[pgdata]


def embedded_postgres_url(pgdata: Path, database: str) -> str:
    if database not in SOURCE_DATABASES:
        raise ValueError(f"unknown source database {database!r}; expected one of {SOURCE_DATABASES}")
    return postgres_server(pgdata).get_uri(database)


def _ensure_databases(admin_url: str) -> None:
    conn = psycopg2.connect(admin_url)
    conn.autocommit = True
    try:
        with conn.cursor() as cur:
            for name in SOURCE_DATABASES:
                cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cur.fetchone() is None:
                    cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    finally:
        conn.close()
