"""The API's settings: who issues the tokens it trusts, what a role is called, where the audit goes.

Read from the environment (``BIONICPRO_API_*``) when asked, never at import. Where the marts are
(``CLICKHOUSE_URL``, ``BIONICPRO_DATA_DIR``) stays in the one project settings object,
``bionicpro.settings.get_settings()``.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from bionicpro.settings import Settings

LOCAL_ISSUER = "bionicpro-local"
AUDIENCE = "bionicpro-reports"


def _names(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


class ApiSettings(BaseSettings):
    """Token checks and operation of the reports API.

    With neither ``jwks_url`` nor ``jwt_public_key`` set, the API trusts the local key pair that
    ``bionicpro-api mint-token`` creates under ``<data_dir>/api-keys/`` (local use only).
    """

    model_config = SettingsConfigDict(env_prefix="BIONICPRO_API_", extra="ignore")

    jwt_issuer: str = Field(default=LOCAL_ISSUER, description="required `iss` of every token")
    jwt_audience: str = Field(default=AUDIENCE, description="required `aud` of every token")
    # A JWKS URL can carry a credential in its query string (some gateways): kept out of logs.
    jwks_url: SecretStr | None = Field(default=None, description="JWKS of the identity provider, e.g. "
                                       "https://sso.example/realms/bionicpro/protocol/openid-connect/certs")
    jwt_public_key: Path | None = Field(default=None, description="PEM file of the RS256 public key")
    roles_claim: str = Field(default="realm_access.roles,roles",
                             description="comma-separated dotted paths of claims holding role lists")
    support_roles: str = Field(default="support,admin", description="comma-separated roles that read any report")
    user_claim: str = Field(default="sub", description="claim holding the person's user_uuid")
    leeway_seconds: float = Field(default=10.0, ge=0, le=300, description="clock skew allowed on exp/nbf/iat")
    audit_log: Path | None = Field(default=None, description="JSON lines; default <data_dir>/audit/api.jsonl")
    chdb_wait_seconds: float = Field(default=10.0, gt=0, le=120,
                                     description="longest a request waits for its turn on the chDB path")
    chdb_idle_check_seconds: float = Field(default=0.05, gt=0, le=1,
                                           description="how often an idle API looks whether the ETL waits")
    turn_cache_rows: int = Field(default=200_000, ge=0, le=50_000_000,
                                 description="chDB: mart rows of whole months kept in memory while unchanged "
                                 "(~0.5 KB each; 0: read per request)")
    server_pool_size: int = Field(default=4, ge=1, le=64, description="clients kept for a ClickHouse server")
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=1, le=65535)

    @property
    def role_claim_paths(self) -> tuple[str, ...]:
        return _names(self.roles_claim)

    @property
    def support_role_names(self) -> frozenset[str]:
        return frozenset(_names(self.support_roles))

    def audit_path(self, settings: Settings) -> Path:
        return (self.audit_log or settings.data_path / "audit" / "api.jsonl").expanduser().resolve()

    def describe_keys(self, settings: Settings) -> str:
        if self.jwks_url is not None:
            return "JWKS (BIONICPRO_API_JWKS_URL)"
        if self.jwt_public_key is not None:
            return f"PEM public key {self.jwt_public_key}"
        return f"local key pair {local_keys_dir(settings)}"


def local_keys_dir(settings: Settings) -> Path:
    return settings.data_path / "api-keys"


def get_api_settings() -> ApiSettings:
    return ApiSettings()
