"""Prefect blocks: the three databases (register them from the settings, or read settings from them)
and the alert webhook.

Another environment is just other blocks: flows take block names as parameters.
"""

from __future__ import annotations

from pathlib import Path

from bionicpro.settings import CRM_DB, TELEMETRY_DB, Settings, get_settings

CRM_BLOCK = "bionicpro-crm"
TELEMETRY_BLOCK = "bionicpro-telemetry"
CLICKHOUSE_BLOCK = "bionicpro-reports"
EMBEDDED_USER = "postgres"


def _components(settings: Settings, database: str):
    """Connection components of a source: its URL's, or the embedded server's data dir as ``host``."""
    from prefect_sqlalchemy import ConnectionComponents
    from sqlalchemy.engine import make_url

    configured = {CRM_DB: settings.crm_database_url, TELEMETRY_DB: settings.telemetry_database_url}[database]
    if configured is None:
        return ConnectionComponents(driver="postgresql+psycopg2", database=database, username=EMBEDDED_USER,
                                    query={"host": str(settings.postgres_dir)})
    url = make_url(configured.get_secret_value())
    return ConnectionComponents(driver="postgresql+psycopg2", database=url.database, username=url.username,
                                password=url.password, host=url.host, port=url.port,
                                query={k: str(v) for k, v in url.query.items()} or None)


def register_blocks(settings: Settings | None = None, overwrite: bool = True) -> list[str]:
    """Save the three database blocks from the settings (the environment), and the alert webhook
    when ``BIONICPRO_ALERT_WEBHOOK_URL`` is set; returns their names."""
    from prefect_sqlalchemy import SqlAlchemyConnector

    from blocks.alerts import ALERT_BLOCK, alert_block
    from blocks.clickhouse import ClickHouseConnection

    settings = settings or get_settings()
    SqlAlchemyConnector(connection_info=_components(settings, CRM_DB)).save(CRM_BLOCK, overwrite=overwrite)
    SqlAlchemyConnector(connection_info=_components(settings, TELEMETRY_DB)).save(TELEMETRY_BLOCK, overwrite=overwrite)
    if settings.uses_chdb:
        clickhouse = ClickHouseConnection(chdb_path=str(settings.chdb_dir))
    else:
        clickhouse = ClickHouseConnection(url=settings.clickhouse_url)
    clickhouse.save(CLICKHOUSE_BLOCK, overwrite=overwrite)
    saved = [CRM_BLOCK, TELEMETRY_BLOCK, CLICKHOUSE_BLOCK]
    if settings.alert_webhook_url is not None:
        alert_block(settings.alert_webhook_url).save(ALERT_BLOCK, overwrite=overwrite)
        saved.append(ALERT_BLOCK)
    return saved


def _source_url(block_name: str) -> str:
    """A libpq URL from a SqlAlchemyConnector block, joining the embedded server if it names one."""
    from prefect_sqlalchemy import SqlAlchemyConnector

    from bionicpro.embedded import embedded_postgres_url

    url = SqlAlchemyConnector.load(block_name)._rendered_url
    socket_or_data = url.query.get("host")
    if url.host is None and socket_or_data and (Path(socket_or_data) / "PG_VERSION").exists():
        return embedded_postgres_url(Path(socket_or_data), url.database)
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


def resolve_settings(crm_block: str | None = None, telemetry_block: str | None = None,
                     clickhouse_block: str | None = None) -> Settings:
    """The environment's settings, with each named block overriding its database."""
    from blocks.clickhouse import ClickHouseConnection

    overrides = {}
    if crm_block:
        overrides["CRM_DATABASE_URL"] = _source_url(crm_block)
    if telemetry_block:
        overrides["TELEMETRY_DATABASE_URL"] = _source_url(telemetry_block)
    if clickhouse_block:
        overrides["CLICKHOUSE_URL"] = ClickHouseConnection.load(clickhouse_block).dsn()
    return Settings(**overrides)
