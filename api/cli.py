"""`bionicpro-api`: serve the reports API, and mint a local test token."""

from __future__ import annotations

from typing import Annotated

import typer

app = typer.Typer(help="BionicPRO reports API: serve it, or mint a local token to call it.", no_args_is_help=True)

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def _err(message: str) -> None:
    typer.echo(message, err=True)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="default BIONICPRO_API_HOST or 127.0.0.1")] = None,
    port: Annotated[int | None, typer.Option(help="default BIONICPRO_API_PORT or 8000")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level")] = "info",
    access_log: Annotated[bool, typer.Option(help="uvicorn's access log (the audit log is always written)")] = True,
) -> None:
    """Serve the API with uvicorn: one process (chDB is opened by one process at a time)."""
    import uvicorn

    from api.config import get_api_settings
    from bionicpro.settings import get_settings

    api, settings = get_api_settings(), get_settings()
    _log_to_stderr(log_level)
    host = host or api.host
    if host not in LOOPBACK and api.jwks_url is None and api.jwt_public_key is None:
        _err(f"warning: serving on {host} while trusting the local development key pair; "
             "set BIONICPRO_API_JWKS_URL (or BIONICPRO_API_JWT_PUBLIC_KEY) for anything but local use")
    _err(f"reports_db: {settings.describe()['reports_db']}; tokens: {api.describe_keys(settings)}; "
         f"audit log: {api.audit_path(settings)}")
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port or api.port, workers=1,
                log_level=log_level, access_log=access_log)


def _log_to_stderr(level: str) -> None:
    """The API's own messages (turns taken and handed over, key sources) beside uvicorn's."""
    import logging

    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(levelname)-9s %(name)s: %(message)s"))
    logger = logging.getLogger("bionicpro.api")
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False


@app.command("mint-token")
def mint_token_command(
    user_id: Annotated[int | None, typer.Option(help="crm_users.user_id: the token's sub is its user_uuid")] = None,
    subject: Annotated[str | None, typer.Option(help="a sub of your own instead (e.g. a support person "
                                                      "who is no user)")] = None,
    role: Annotated[list[str] | None, typer.Option(help="a realm role; repeat for more (e.g. --role support)")] = None,
    minutes: Annotated[float, typer.Option(min=1, max=7 * 24 * 60, help="lifetime")] = 60,
) -> None:
    """Print a signed RS256 token for local use (creates the local key pair once).

    The API trusts this key pair only while no JWKS URL or PEM key is configured.
    """
    from api.config import get_api_settings, local_keys_dir
    from api.keys import ensure_local_keys, mint_token
    from bionicpro.settings import get_settings

    if (user_id is None) == (subject is None):
        raise typer.BadParameter("give exactly one of --user-id and --subject", param_hint="--user-id")
    settings, api = get_settings(), get_api_settings()
    if subject is None:
        subject = _user_uuid(settings, user_id)
    private_path, _ = ensure_local_keys(local_keys_dir(settings))
    if api.jwks_url is not None or api.jwt_public_key is not None:
        _err(f"warning: the API is configured to trust {api.describe_keys(settings)}, not this local key")
    token = mint_token(private_path.read_bytes(), subject=subject, issuer=api.jwt_issuer, audience=api.jwt_audience,
                       roles=role or [], minutes=minutes)
    _err(f"token for sub={subject} roles={role or []} valid {minutes:g} min (iss={api.jwt_issuer}, "
         f"aud={api.jwt_audience})")
    typer.echo(token)


def _user_uuid(settings, user_id: int) -> str:
    from api.reports import sql
    from bionicpro.db import clickhouse_client

    with clickhouse_client(settings) as client:
        rows = client.query(sql("user_uuid"), parameters={"user_id": user_id}).result_rows
    if not rows:
        _err(f"user {user_id} is in no month of reports_db.report_user_monthly_metrics: load a month first "
             "(bionicpro etl / bionicpro history), or use --subject")
        raise typer.Exit(1)
    return rows[0][0]


if __name__ == "__main__":
    app()
