"""The one settings object: reads the environment, never connects."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

CRM_DB = "crm_db"
TELEMETRY_DB = "telemetry_db"
REPORTS_DB = "reports_db"
SERVING, WORK = "serving", "work"


class Settings(BaseSettings):
    """Where the sources and the marts live.

    Unset URLs mean the embedded defaults: a pgserver PostgreSQL under
    ``<data_dir>/postgres`` and chDB under ``<data_dir>/clickhouse``.
    """

    model_config = SettingsConfigDict(env_prefix="", extra="ignore", populate_by_name=True)

    crm_database_url: SecretStr | None = Field(default=None, alias="CRM_DATABASE_URL")
    telemetry_database_url: SecretStr | None = Field(default=None, alias="TELEMETRY_DATABASE_URL")
    clickhouse_url: SecretStr | None = Field(default=None, alias="CLICKHOUSE_URL")
    clickhouse_work_url: SecretStr | None = Field(default=None, alias="CLICKHOUSE_WORK_URL")
    data_dir: Path = Field(default=Path(".data"), alias="BIONICPRO_DATA_DIR")
    # The Prefect server (and UI) that `make up` and `make demo` start.
    prefect_port: int = Field(default=4200, ge=1, le=65535, alias="BIONICPRO_PREFECT_PORT")
    # Where the automations post a failed, crashed or missing run: often a URL with a token in it.
    alert_webhook_url: SecretStr | None = Field(default=None, alias="BIONICPRO_ALERT_WEBHOOK_URL")
    # The fault-injection suite's hook (tests/faults): the named point kills the process there.
    failpoint: str | None = Field(default=None, alias="BIONICPRO_FAILPOINT")

    @cached_property
    def data_path(self) -> Path:
        return self.data_dir.expanduser().resolve()

    @property
    def postgres_dir(self) -> Path:
        return self.data_path / "postgres"

    @property
    def chdb_dir(self) -> Path:
        if self.clickhouse_url is not None and self.uses_chdb:
            return Path(self.clickhouse_url.get_secret_value().removeprefix("chdb://")).resolve()
        return self.data_path / "clickhouse"

    @property
    def work_chdb_dir(self) -> Path:
        """The work warehouse's chDB path: beside the serving one, so the API only waits for publishing."""
        if self.clickhouse_work_url is not None:
            return Path(self.clickhouse_work_url.get_secret_value().removeprefix("chdb://")).resolve()
        return self.chdb_dir.with_name(self.chdb_dir.name + "-work")

    @property
    def gx_dir(self) -> Path:
        return self.data_path / "gx"

    @property
    def uses_embedded_postgres(self) -> bool:
        return self.crm_database_url is None or self.telemetry_database_url is None

    @property
    def uses_chdb(self) -> bool:
        return self.clickhouse_url is None or self.clickhouse_url.get_secret_value().startswith("chdb://")

    def warehouse_uses_chdb(self, warehouse: str = SERVING) -> bool:
        if warehouse == WORK and self.clickhouse_work_url is not None:
            return self.clickhouse_work_url.get_secret_value().startswith("chdb://")
        return self.uses_chdb

    def postgres_url(self, database: str) -> str:
        """URL of ``crm_db`` or ``telemetry_db``; starts the embedded server if it is the default."""
        configured = {CRM_DB: self.crm_database_url, TELEMETRY_DB: self.telemetry_database_url}[database]
        if configured is not None:
            return configured.get_secret_value()
        from bionicpro.embedded import embedded_postgres_url

        return embedded_postgres_url(self.postgres_dir, database)

    def clickhouse_dsn(self, warehouse: str = SERVING) -> str:
        """``serving``: reports_db (marts, load log; what the API reads). ``work``: bionicpro_work
        (staging, partials, candidates). On a server both default to CLICKHOUSE_URL."""
        if warehouse not in (SERVING, WORK):
            raise ValueError(f"unknown warehouse {warehouse!r}")
        if warehouse == WORK and self.clickhouse_work_url is not None:
            return self.clickhouse_work_url.get_secret_value()
        if self.uses_chdb:
            return f"chdb://{self.work_chdb_dir if warehouse == WORK else self.chdb_dir}"
        return self.clickhouse_url.get_secret_value()

    def describe(self) -> dict[str, str]:
        """Where things are, safe to print (no credentials)."""

        def redact(url: SecretStr | None, default: str) -> str:
            if url is None:
                return default
            parts = urlsplit(url.get_secret_value())
            host = parts.hostname or ""
            port = f":{parts.port}" if parts.port else ""
            return f"{parts.scheme}://{host}{port}{parts.path}"

        return {
            "crm_db": redact(self.crm_database_url, f"embedded PostgreSQL at {self.postgres_dir}"),
            "telemetry_db": redact(self.telemetry_database_url, f"embedded PostgreSQL at {self.postgres_dir}"),
            "reports_db": redact(self.clickhouse_url, f"embedded chDB at {self.chdb_dir}"),
        }


def get_settings() -> Settings:
    return Settings()
