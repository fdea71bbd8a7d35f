"""The reports API: a person's own monthly report, and anyone's for support staff.

Built by ``create_app()`` (a factory: nothing is read or opened at import). Reads only
``reports_db`` through clickhouse-connect; see ``api.store`` for living beside the ETL on chDB.
"""

from __future__ import annotations

import dataclasses
import logging
import re
import threading
import time
from contextlib import asynccontextmanager
from typing import Annotated, Literal

from fastapi import Depends, FastAPI, HTTPException, Path, Query, Request
from fastapi.exception_handlers import request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import AfterValidator, BaseModel, BeforeValidator, Field

from api.audit import SCOPE_KEY, AuditLog, AuditMiddleware
from api.auth import AuthError, Caller, KeysUnavailable, TokenVerifier
from api.config import ApiSettings, get_api_settings, local_keys_dir
from api.reports import build_report, fetch_by_user_id, fetch_by_user_uuid, newest_loaded, parse_month, read_ahead, sql
from api.store import StoreUnavailable, open_store
from bionicpro.settings import Settings, get_settings

log = logging.getLogger("bionicpro.api")

Status = Literal["healthy", "attention", "repair", "payment_issue"]


class Financial(BaseModel):
    total_payments: str = Field(description="sum of all payments of the month, any status (decimal string)")
    successful_payments: str = Field(description="sum of successful payments (decimal string)")
    failed_payments_count: int
    active_subscriptions: int
    monthly_cost: str = Field(description="sum of monthly_cost of the subscriptions active in the month")
    support_tickets_opened: int
    support_tickets_resolved: int


class Battery(BaseModel):
    discharge_active: float = Field(description="mean discharge current in use, mA")
    discharge_idle: float = Field(description="mean discharge current outside use, mA")
    charge_rate: float = Field(description="mean charge current, mA")
    charge_cycles: int


class Device(BaseModel):
    prosthetic_id: int
    prosthetic_uuid: str
    device_type: str
    usage_hours: float
    power_on_count: int
    battery: Battery
    warnings: int
    errors: int
    critical_errors: int
    downtime_minutes: int
    reliability_pct: float = Field(ge=0, le=100)
    status: Literal["healthy", "attention", "repair"]


class Report(BaseModel):
    period: str = Field(examples=["2024-01"])
    user_id: int
    user_uuid: str
    financial: Financial
    devices: list[Device]
    status: Status
    status_reasons: list[str] = Field(description="why the status is not healthy")
    data_complete_through: str = Field(description="exclusive end (UTC) of the data the month was computed "
                                       "from: the horizon of its latest successful load")
    complete: bool = Field(description="false while the month is computed only to date (partial)")


class Health(BaseModel):
    status: Literal["ok"]
    backend: Literal["chdb", "server"]
    newest_loaded_month: str | None
    data_complete_through: str | None
    chdb_turns: dict[str, int] | None = Field(default=None, description="chDB: opens of the path, times the API "
                                              "stepped aside, answers from what it kept, kept months dropped, "
                                              "requests refused busy")


class Problem(BaseModel):
    detail: str


MonthQuery = Annotated[str, Query(pattern=r"^[0-9]{4}-[0-9]{2}$", description="the report month, YYYY-MM",
                                  examples=["2024-01"]), AfterValidator(parse_month)]


def _plain_decimal(value: str) -> str:
    """The user id as ASCII digits without sign or leading zero; int() would take 1.0, +1, 01, 1_0."""
    if not re.fullmatch(r"0|[1-9][0-9]*", value):
        raise ValueError(f"user_id must be decimal digits without sign or leading zero (e.g. 42), got {value[:32]!r}")
    return value


UserIdPath = Annotated[int, Path(ge=1, le=2_147_483_647, description="crm_users.user_id, decimal digits"),
                       BeforeValidator(_plain_decimal)]
ERRORS = {
    401: {"model": Problem, "description": "no valid bearer token"},
    403: {"model": Problem, "description": "not your report, and not a support role"},
    404: {"model": Problem, "description": "month never loaded, or no report of that user in it"},
    503: {"model": Problem, "description": "reports_db busy or unreachable; see Retry-After"},
}
bearer = HTTPBearer(auto_error=False, description="RS256 JWT from the identity provider (or `bionicpro-api "
                    "mint-token` locally)")


def _audit(request: Request, **fields) -> None:
    record = request.scope.get(SCOPE_KEY)
    if record is not None:
        record.update(fields)


def _unauthorized(request: Request, reason: str) -> HTTPException:
    _audit(request, reason=reason)
    return HTTPException(401, detail=reason,
                         headers={"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{reason}"'})


def current_caller(request: Request,
                   credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]) -> Caller:
    if credentials is None:
        _audit(request, reason="no bearer token")
        raise HTTPException(401, detail="a bearer token is required (Authorization: Bearer <JWT>)",
                            headers={"WWW-Authenticate": "Bearer"})
    try:
        caller = request.app.state.verifier.verify(credentials.credentials)
    except AuthError as error:
        raise _unauthorized(request, str(error)) from None
    _audit(request, subject=caller.subject, roles=sorted(caller.roles), support=caller.is_support)
    return caller


CallerDep = Annotated[Caller, Depends(current_caller)]


def _not_loaded(request: Request, month_label: str) -> HTTPException:
    reason = (f"month {month_label} has not been loaded: reports_db.load_log has no successful load of both marts "
              f"for it (run the ETL for a date in that month)")
    _audit(request, reason="month not loaded")
    return HTTPException(404, detail=reason)


def _read_ahead(store, stop: threading.Event) -> None:
    try:
        started = time.monotonic()
        months = read_ahead(store, stop)
        if months:
            log.info("read %d loaded month(s) ahead in %.2f s", months, time.monotonic() - started)
    except Exception as error:  # an optimisation only: requests read what they need anyway
        log.warning("reading the loaded months ahead failed: %s", error)


def create_app(settings: Settings | None = None, api: ApiSettings | None = None, store=None) -> FastAPI:
    settings = settings or get_settings()
    api = api or get_api_settings()
    store = store or open_store(settings, api, stamps_sql=sql("month_stamps"))

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        store.start()
        log.info("reports API: marts at %s, tokens checked against %s, audit log %s",
                 settings.describe()["reports_db"], api.describe_keys(settings), api.audit_path(settings))
        stop = threading.Event()
        reader = threading.Thread(target=_read_ahead, args=(store, stop), name="read-ahead", daemon=True)
        reader.start()
        try:
            yield
        finally:
            stop.set()
            reader.join(timeout=api.chdb_wait_seconds + 5)
            store.close()

    app = FastAPI(title="BionicPRO Reports API", version="1.0.0", lifespan=lifespan,
                  description="Monthly reports of BionicPRO users from the ClickHouse marts. Each person reads "
                              "only their own report; support roles read anyone's. See docs/api.md.")
    app.state.settings = settings
    app.state.api = api
    app.state.store = store
    app.state.verifier = TokenVerifier(api, local_keys_dir(settings))
    app.add_middleware(AuditMiddleware, audit=AuditLog(api.audit_path(settings)))

    @app.exception_handler(StoreUnavailable)
    async def store_unavailable(request: Request, error: StoreUnavailable):
        _audit(request, reason="reports_db unavailable")
        return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": str(error.retry_after)})

    @app.exception_handler(KeysUnavailable)
    async def keys_unavailable(request: Request, error: KeysUnavailable):
        _audit(request, reason="identity provider keys unavailable")
        return JSONResponse({"detail": str(error)}, status_code=503, headers={"Retry-After": "30"})

    @app.exception_handler(RequestValidationError)
    async def invalid_request(request: Request, error: RequestValidationError):
        _audit(request, reason="; ".join(str(item.get("msg")) for item in error.errors())[:300])
        return await request_validation_exception_handler(request, error)

    @app.get("/reports/me", response_model=Report, responses=ERRORS, tags=["reports"],
             summary="The caller's own report for a month")
    def my_report(request: Request, month: MonthQuery, caller: CallerDep) -> dict:
        label = f"{month:%Y-%m}"
        _audit(request, month=label, target_user_uuid=caller.subject)
        fetch = fetch_by_user_uuid(app.state.store, caller.subject, month)
        if not fetch.loaded:
            raise _not_loaded(request, label)
        if fetch.user is None:
            _audit(request, reason="no report for the caller in the month")
            raise HTTPException(404, detail=f"you have no report for {label}: your account (token subject) has no "
                                            f"row in the user mart of that month")
        _audit(request, target_user_id=fetch.user["user_id"])
        return build_report(fetch)

    @app.get("/reports/user/{user_id}", response_model=Report, responses=ERRORS, tags=["reports"],
             summary="A user's report for a month (that user, or a support role)")
    def user_report(request: Request, user_id: UserIdPath, month: MonthQuery, caller: CallerDep) -> dict:
        label = f"{month:%Y-%m}"
        _audit(request, month=label, target_user_id=user_id)
        fetch = fetch_by_user_id(app.state.store, user_id, month)
        if not fetch.loaded:  # the same for every user: says nothing about this one
            raise _not_loaded(request, label)
        owner = fetch.user["user_uuid"] if fetch.user else None
        _audit(request, target_user_uuid=owner)
        if not caller.is_support and owner != caller.subject:
            # Another user's report and a user without a report look the same to a regular caller.
            _audit(request, reason="not the caller's report and no support role")
            raise HTTPException(403, detail=f"you may read only your own report, and {label} has no report of "
                                            f"user {user_id} that is yours (/reports/me answers for you)")
        if fetch.user is None:
            _audit(request, reason="no report of the user in the month")
            raise HTTPException(404, detail=f"user {user_id} has no report for {label}")
        return build_report(fetch)

    @app.get("/health", response_model=Health, responses={503: ERRORS[503]}, tags=["operations"],
             summary="ClickHouse reachable, and the newest loaded month")
    def health() -> dict:
        newest = newest_loaded(app.state.store)
        return {"status": "ok", "backend": app.state.store.backend,
                "newest_loaded_month": f"{newest[0]:%Y-%m}" if newest else None,
                "data_complete_through": newest[1].strftime("%Y-%m-%dT%H:%M:%SZ") if newest else None,
                "chdb_turns": dataclasses.asdict(app.state.store.stats) if hasattr(app.state.store, "stats") else None}

    return app
