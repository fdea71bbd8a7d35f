"""Read-only looks at the databases for the CLI: counts, history start, one user's report."""

from __future__ import annotations

from datetime import date

from bionicpro.db import clickhouse_client, pg_connection
from bionicpro.pgio import fetch_rows, read_sql
from bionicpro.settings import CRM_DB, TELEMETRY_DB, Settings

SOURCE_TABLES = {
    CRM_DB: ("crm_users", "crm_prosthetics", "crm_subscriptions", "crm_payments", "crm_support_tickets"),
    TELEMETRY_DB: ("telemetry_events", "battery_metrics"),
}
MART_TABLES = ("report_user_monthly_metrics", "report_prosthetic_monthly_metrics", "load_log")


def table_counts(settings: Settings) -> list[tuple[str, str, int]]:
    from psycopg2 import sql

    result = []
    for database, tables in SOURCE_TABLES.items():
        with pg_connection(settings, database) as conn, conn.cursor() as cur:
            for table in tables:
                cur.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(table)))
                result.append((database, table, cur.fetchone()[0]))
    with clickhouse_client(settings) as client:
        for table in MART_TABLES:
            result.append(("reports_db", table, client.command(f"SELECT count() FROM reports_db.{table}")))
    return result


def first_source_day(settings: Settings) -> date | None:
    with pg_connection(settings, CRM_DB) as conn:
        return fetch_rows(conn, "first_source_day", {})[0][0]


def user_report(settings: Settings, user_id: int, month: date | None) -> tuple[dict, list[dict]] | None:
    with clickhouse_client(settings) as client:
        found = client.query(read_sql("ch_user_report"), parameters={"user_id": user_id, "month": month})
        if not found.result_rows:
            return None
        summary = dict(zip(found.column_names, found.result_rows[0]))
        devices = client.query(read_sql("ch_user_devices"),
                               parameters={"user_id": user_id, "month": summary["report_date"]})
    return summary, [dict(zip(devices.column_names, row)) for row in devices.result_rows]
