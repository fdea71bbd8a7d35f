"""Source and mart DDL, applied idempotently."""

from __future__ import annotations

from importlib.resources import files

from bionicpro.db import clickhouse_client, pg_connection
from bionicpro.settings import CRM_DB, SERVING, TELEMETRY_DB, WORK, Settings

POSTGRES_SCHEMAS = {CRM_DB: "crm.sql", TELEMETRY_DB: "telemetry.sql"}
CLICKHOUSE_SCHEMAS = {SERVING: "reports.sql", WORK: "work.sql"}


def read_sql(name: str) -> str:
    return files(__package__).joinpath(name).read_text(encoding="utf-8")


def statements(script: str) -> list[str]:
    """Split a DDL file on ';' (our DDL has no semicolons inside literals or bodies)."""
    lines = [line for line in script.splitlines() if not line.lstrip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def apply_postgres(settings: Settings) -> None:
    for database, filename in POSTGRES_SCHEMAS.items():
        with pg_connection(settings, database) as conn, conn.cursor() as cur:
            cur.execute(read_sql(filename))


def apply_clickhouse(client, warehouse: str = SERVING) -> None:
    for statement in statements(read_sql(CLICKHOUSE_SCHEMAS[warehouse])):
        client.command(statement)


def apply_all(settings: Settings) -> None:
    apply_postgres(settings)
    for warehouse in CLICKHOUSE_SCHEMAS:
        with clickhouse_client(settings, warehouse) as client:
            apply_clickhouse(client, warehouse)
