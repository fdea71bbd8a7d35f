"""A small Prefect block for the marts' ClickHouse: a server URL, or a chDB data path."""

from __future__ import annotations

from prefect.blocks.core import Block
from pydantic import Field, SecretStr, model_validator


class ClickHouseConnection(Block):
    """Where ``reports_db`` lives: ``url`` (http(s)://user:pass@host:port/reports_db) or ``chdb_path``."""

    _block_type_name = "BionicPRO ClickHouse"
    _description = "The ClickHouse server (URL, password kept secret) or the embedded chDB path of reports_db."

    url: SecretStr | None = Field(default=None, description="http(s)://user:password@host:port/reports_db")
    chdb_path: str | None = Field(default=None, description="Data directory of the embedded chDB")

    @model_validator(mode="after")
    def _exactly_one(self) -> ClickHouseConnection:
        if (self.url is None) == (self.chdb_path is None):
            raise ValueError("give exactly one of url and chdb_path")
        return self

    def dsn(self) -> str:
        return self.url.get_secret_value() if self.url is not None else f"chdb://{self.chdb_path}"
