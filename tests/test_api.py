"""The reports API on the real marts (chDB): access matrix, exact content, 404/422, schema fuzzing.

Mart and load_log rows are written here directly, for users 9001+ in months of 2022 that no other
test touches (the session's data dir is shared), so every figure below is known exactly.
"""

from __future__ import annotations

import base64
import json
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

pytestmark = pytest.mark.integration

ISSUER = "https://sso.test/realms/bionicpro"
AUDIENCE = "bionicpro-reports"
USER_COLUMNS = ["report_date", "user_id", "user_uuid", "total_payments", "successful_payments",
                "failed_payments_count", "active_subscriptions_count", "subscription_cost_total",
                "support_tickets_opened", "support_tickets_resolved", "created_at", "last_updated", "load_id"]
DEVICE_COLUMNS = ["report_date", "prosthetic_id", "user_id", "user_uuid", "prosthetic_uuid", "device_type",
                  "power_on_count", "power_off_count", "total_active_hours", "avg_discharge_rate_active",
                  "avg_discharge_rate_idle", "avg_charge_rate", "charge_cycles", "warning_count", "error_count",
                  "critical_error_count", "downtime_minutes", "created_at", "last_updated", "load_id"]
LOG_COLUMNS = ["report_date", "mart", "rows", "horizon", "status", "message", "run_id", "loaded_at", "load_id"]
# Every row here is of one load, RUN (its run_id and load_id): readers take a month's rows of its
# latest successful load.
RUN = "test"


def uuid_of(user_id: int) -> str:
    return f"00000000-0000-4000-8000-{user_id:012d}"


def user_row(month: date, user_id: int, total: str, paid: str, failed: int, subs: int, cost: str,
             opened: int = 0, resolved: int = 0) -> list:
    stamp = datetime(2023, 1, 1)
    return [month, user_id, uuid_of(user_id), Decimal(total), Decimal(paid), failed, subs, Decimal(cost),
            opened, resolved, stamp, stamp, RUN]


def device_row(month: date, prosthetic_id: int, user_id: int, device_type: str, *, on: int, hours: float,
               active: float, idle: float, charge: float, cycles: int, warnings: int, errors: int,
               critical: int, downtime: int) -> list:
    stamp = datetime(2023, 1, 1)
    return [month, prosthetic_id, user_id, uuid_of(user_id), f"p-{prosthetic_id}", device_type, on, on, hours,
            active, idle, charge, cycles, warnings, errors, critical, downtime, stamp, stamp, RUN]


def log_rows(month: date, horizon: datetime, status: str, loaded_at: datetime, users: int = 1,
             devices: int = 1) -> list[list]:
    return [[month, mart, rows, horizon, status, "" if status == "success" else "blocking failure", RUN,
             loaded_at, RUN] for mart, rows in (("user", users), ("prosthetic", devices))]


def insert(settings, users: list[list], devices: list[list], logs: list[list]) -> None:
    from bionicpro.db import clickhouse_client

    with clickhouse_client(settings) as client:
        if users:
            client.insert("reports_db.report_user_monthly_metrics", users, column_names=USER_COLUMNS)
        if devices:
            client.insert("reports_db.report_prosthetic_monthly_metrics", devices, column_names=DEVICE_COLUMNS)
        if logs:
            client.insert("reports_db.load_log", logs, column_names=LOG_COLUMNS)


MAY, JUNE, JULY, AUGUST = date(2022, 5, 1), date(2022, 6, 1), date(2022, 7, 1), date(2022, 8, 1)


@pytest.fixture(scope="module")
def marts(settings):
    """Four months of 2022 for users 9001-9003 (9001: two prostheses; 9002: one, with a critical error;
    9003: none, and a payment problem)."""
    may = [user_row(MAY, 9001, "5980.00", "5980.00", 0, 2, "5980.00", 1, 1),
           user_row(MAY, 9002, "2990.00", "2990.00", 0, 1, "2990.00"),
           user_row(MAY, 9003, "2980.00", "1490.00", 1, 1, "2990.00", 2, 0)]
    may_devices = [
        device_row(MAY, 90011, 9001, "hand", on=31, hours=250.75, active=123.456, idle=12.5, charge=850.25,
                   cycles=30, warnings=4, errors=1, critical=0, downtime=0),
        device_row(MAY, 90012, 9001, "arm", on=20, hours=99.5, active=140.0, idle=0.0, charge=0.0,
                   cycles=0, warnings=15, errors=0, critical=0, downtime=0),
        device_row(MAY, 90021, 9002, "leg", on=28, hours=180.0, active=110.0, idle=9.0, charge=800.0,
                   cycles=25, warnings=2, errors=3, critical=2, downtime=446),
    ]
    june = [user_row(JUNE, 9001, "2990.00", "0.00", 2, 2, "5980.00")]
    june_devices = [
        device_row(JUNE, 90011, 9001, "hand", on=15, hours=120.0, active=120.0, idle=10.0, charge=840.0,
                   cycles=14, warnings=1, errors=0, critical=0, downtime=90),
    ]
    july = [user_row(JULY, 9001, "1.00", "1.00", 0, 1, "1.00")]
    august = [user_row(AUGUST, 9001, "1.00", "1.00", 0, 1, "1.00")]
    logs = (
        # May: an early partial load, then the full month, then a failed rerun (ignored).
        log_rows(MAY, datetime(2022, 5, 20), "success", datetime(2022, 5, 20, 3, 0), 3, 3)
        + log_rows(MAY, datetime(2022, 6, 1), "success", datetime(2022, 6, 1, 3, 0), 3, 3)
        + log_rows(MAY, datetime(2022, 6, 1), "failed", datetime(2022, 6, 2, 3, 0), 0, 0)
        # June: computed to the 15th only.
        + log_rows(JUNE, datetime(2022, 6, 16), "success", datetime(2022, 6, 16, 3, 0))
        # July: only a failed load. August: rows but no load_log entry.
        + log_rows(JULY, datetime(2022, 8, 1), "failed", datetime(2022, 8, 1, 3, 0))
    )
    insert(settings, may + june + july + august, may_devices + june_devices, logs)
    return settings


@pytest.fixture(scope="module")
def test_key(tmp_path_factory):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    path = tmp_path_factory.mktemp("idp") / "public.pem"
    path.write_bytes(public)
    return private, public, path


@pytest.fixture(scope="module", params=["whole months per turn", "a query per request"])
def api_settings(request, test_key, tmp_path_factory):
    """Both ways of reading: chDB's (a month read once per turn) and a server's (report_of_user.sql)."""
    from api.config import ApiSettings

    return ApiSettings(jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwks_url=None, jwt_public_key=test_key[2],
                       audit_log=tmp_path_factory.mktemp("audit") / "api.jsonl",
                       turn_cache_rows=200_000 if request.param == "whole months per turn" else 0)


@pytest.fixture(scope="module")
def client(marts, api_settings):
    from fastapi.testclient import TestClient

    from api.app import create_app

    with TestClient(create_app(marts, api_settings)) as test_client:  # lifespan: the store opens and closes
        yield test_client


@pytest.fixture(scope="module")
def token(test_key):
    from api.keys import mint_token

    def make(user_id: int | None = None, *, roles=(), subject: str | None = None, minutes: float = 10,
             now: datetime | None = None, flat_roles=None, **extra) -> str:
        claims = {"issuer": ISSUER, "audience": AUDIENCE}
        claims.update({k: extra.pop(k) for k in ("issuer", "audience") if k in extra})
        if flat_roles is not None:
            extra["roles"] = list(flat_roles)
        return mint_token(test_key[0], subject=subject or uuid_of(user_id), roles=list(roles), minutes=minutes,
                          now=now, extra=extra or None, **claims)

    return make


def bearer(value: str) -> dict:
    return {"Authorization": f"Bearer {value}"}


def b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged_tokens(token, test_key) -> dict[str, str]:
    import jwt

    good = token(9001)
    header, payload, signature = good.split(".")
    claims = jwt.decode(good, options={"verify_signature": False})
    other = dict(claims, sub=uuid_of(9002))
    flipped = ("A" if signature[10] != "A" else "B")
    return {
        "expired": token(9001, now=datetime.now(timezone.utc) - timedelta(hours=2), minutes=60),
        "wrong issuer": token(9001, issuer="https://evil.example/realms/bionicpro"),
        "wrong audience": token(9001, audience="another-service"),
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "alg none, support":
            f"{b64({'alg': 'none', 'typ': 'JWT'})}.{b64(dict(claims, realm_access={'roles': ['support']}))}.",
        "tampered signature": f"{header}.{payload}.{signature[:10]}{flipped}{signature[11:]}",
        "tampered payload": f"{header}.{b64(other)}.{signature}",
        "HS256 with the public key": jwt.encode(claims, "x" * 32, algorithm="HS256"),
        "signed by another key": _other_key_token(claims),
        "garbage": "not-a-jwt",
    }


def _other_key_token(claims: dict) -> str:
    import jwt
    from cryptography.hazmat.primitives.asymmetric import rsa

    return jwt.encode(claims, rsa.generate_private_key(public_exponent=65537, key_size=2048), algorithm="RS256")


# --- the access matrix -------------------------------------------------------------------------

def test_no_token_is_401(client):
    response = client.get("/reports/user/9001", params={"month": "2022-05"})
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert client.get("/reports/me", params={"month": "2022-05"}).status_code == 401


@pytest.mark.parametrize("case", ["expired", "wrong issuer", "wrong audience", "alg none", "alg none, support",
                                  "tampered signature", "tampered payload", "HS256 with the public key",
                                  "signed by another key", "garbage"])
def test_forged_or_invalid_tokens_are_401(client, token, test_key, case):
    forged = forged_tokens(token, test_key)[case]
    for path in ("/reports/user/9001", "/reports/user/9002", "/reports/me"):
        response = client.get(path, params={"month": "2022-05"}, headers=bearer(forged))
        assert response.status_code == 401, (case, path, response.text)
        assert "user_uuid" not in response.text


def test_no_header_or_parameter_claims_an_identity(client, token):
    params = {"month": "2022-05"}
    for headers in ({"X-User-Id": "9001"}, {"X-Forwarded-User": uuid_of(9001)}, {"X-Roles": "support"},
                    {"Authorization": f"Basic {base64.b64encode(b'9001:x').decode()}"},
                    {"Authorization": token(9001)}):  # a token without the Bearer scheme
        assert client.get("/reports/user/9001", params=params, headers=headers).status_code == 401, headers
    assert client.get("/reports/user/9001", params={**params, "access_token": token(9001)}).status_code == 401
    assert client.get("/reports/user/9001", params=params, cookies={"access_token": token(9001)}).status_code == 401


def test_own_report_is_200_and_another_users_is_403(client, token):
    own = client.get("/reports/user/9001", params={"month": "2022-05"}, headers=bearer(token(9001)))
    assert own.status_code == 200 and own.json()["user_id"] == 9001
    other = client.get("/reports/user/9002", params={"month": "2022-05"}, headers=bearer(token(9001)))
    assert other.status_code == 403
    assert "own report" in other.json()["detail"] and uuid_of(9002) not in other.text


def test_me_is_the_callers_own_report(client, token):
    for user_id in (9001, 9002, 9003):
        response = client.get("/reports/me", params={"month": "2022-05"}, headers=bearer(token(user_id)))
        assert response.status_code == 200, response.text
        assert (response.json()["user_id"], response.json()["user_uuid"]) == (user_id, uuid_of(user_id))


@pytest.mark.parametrize("claims", [{"roles": ("support",)}, {"roles": ("admin",)},
                                    {"roles": (), "flat": ["support"]}])
def test_support_roles_read_any_user(client, token, claims):
    staff = token(subject="staff-42", roles=claims["roles"], flat_roles=claims.get("flat"))
    for user_id in (9001, 9002, 9003):
        response = client.get(f"/reports/user/{user_id}", params={"month": "2022-05"}, headers=bearer(staff))
        assert response.status_code == 200, response.text
        assert response.json()["user_id"] == user_id


def test_a_role_that_is_not_support_reads_only_its_own(client, token):
    viewer = token(9001, roles=("offline_access", "uma_authorization", "Support "))
    assert client.get("/reports/user/9002", params={"month": "2022-05"}, headers=bearer(viewer)).status_code == 403


def test_unknown_user_is_404_for_support_and_403_for_a_regular_user(client, token):
    staff = bearer(token(subject="staff-1", roles=("support",)))
    response = client.get("/reports/user/987654", params={"month": "2022-05"}, headers=staff)
    assert response.status_code == 404 and "987654" in response.json()["detail"]
    assert client.get("/reports/user/987654", params={"month": "2022-05"},
                      headers=bearer(token(9001))).status_code == 403
    # A token whose subject is no user at all: its own report does not exist, others are forbidden.
    stranger = bearer(token(subject="nobody-at-all"))
    assert client.get("/reports/me", params={"month": "2022-05"}, headers=stranger).status_code == 404
    assert client.get("/reports/user/9001", params={"month": "2022-05"}, headers=stranger).status_code == 403


def test_every_report_access_is_audited(client, token, api_settings):
    client.get("/reports/user/9003", params={"month": "2022-05"}, headers=bearer(token(9001)))
    client.get("/reports/user/9003", params={"month": "2022-05"}, headers=bearer(token(9003)))
    client.get("/reports/user/9003", params={"month": "2022-05"})
    client.get("/reports/user/9003", params={"month": "2022-13"}, headers=bearer(token(9003)))
    lines = [json.loads(line) for line in api_settings.audit_log.read_text().splitlines()]
    last = lines[-4:]
    assert [entry["status"] for entry in last] == [403, 200, 401, 422]
    assert [entry["outcome"] for entry in last] == ["denied", "allowed", "unauthenticated", "invalid"]
    denied, allowed, anonymous, invalid = last
    assert (denied["subject"], denied["target_user_id"], denied["month"]) == (uuid_of(9001), 9003, "2022-05")
    assert (allowed["subject"], allowed["target_user_id"], allowed["target_user_uuid"]) == \
        (uuid_of(9003), 9003, uuid_of(9003))
    assert anonymous["subject"] is None and anonymous["reason"] == "no bearer token"
    assert invalid["month"] == "2022-13" and "month" in invalid["reason"]


# --- content -------------------------------------------------------------------------------------

def _mart(settings, table: str, month: date, user_id: int, key: str) -> list[dict]:
    from bionicpro.db import clickhouse_client

    with clickhouse_client(settings) as client:
        result = client.query(f"SELECT * FROM reports_db.{table} "
                              f"WHERE report_date = {{m:Date}} AND user_id = {{u:Int32}} "
                              f"ORDER BY {key}", parameters={"m": month, "u": user_id})
    return [dict(zip(result.column_names, row)) for row in result.result_rows]


def test_report_equals_the_mart_rows(client, token, marts):
    report = client.get("/reports/user/9001", params={"month": "2022-05"}, headers=bearer(token(9001))).json()
    [user] = _mart(marts, "report_user_monthly_metrics", MAY, 9001, "user_id")
    devices = _mart(marts, "report_prosthetic_monthly_metrics", MAY, 9001, "prosthetic_id")
    assert report["period"] == "2022-05" and report["user_uuid"] == user["user_uuid"]
    assert report["financial"] == {
        "total_payments": f"{user['total_payments']:.2f}",
        "successful_payments": f"{user['successful_payments']:.2f}",
        "failed_payments_count": user["failed_payments_count"],
        "active_subscriptions": user["active_subscriptions_count"],
        "monthly_cost": f"{user['subscription_cost_total']:.2f}",
        "support_tickets_opened": user["support_tickets_opened"],
        "support_tickets_resolved": user["support_tickets_resolved"],
    }
    assert [d["prosthetic_id"] for d in report["devices"]] == [d["prosthetic_id"] for d in devices] == [90011, 90012]
    for got, row in zip(report["devices"], devices):
        assert got["prosthetic_uuid"] == row["prosthetic_uuid"] and got["device_type"] == row["device_type"]
        assert got["usage_hours"] == row["total_active_hours"]
        assert got["power_on_count"] == row["power_on_count"]
        assert got["battery"] == {"discharge_active": row["avg_discharge_rate_active"],
                                  "discharge_idle": row["avg_discharge_rate_idle"],
                                  "charge_rate": row["avg_charge_rate"], "charge_cycles": row["charge_cycles"]}
        assert (got["warnings"], got["errors"], got["critical_errors"], got["downtime_minutes"]) == \
            (row["warning_count"], row["error_count"], row["critical_error_count"], row["downtime_minutes"])
    # And the figures themselves, as written (so that a wrong read on both sides cannot agree).
    assert report["financial"]["total_payments"] == "5980.00"
    assert report["devices"][0]["usage_hours"] == 250.75
    assert report["devices"][0]["battery"]["discharge_active"] == 123.456
    # The whole month was loaded (the latest success, not the earlier partial one, nor the failed rerun).
    assert report["data_complete_through"] == "2022-06-01T00:00:00Z" and report["complete"] is True
    assert [d["reliability_pct"] for d in report["devices"]] == [100.0, 100.0]
    assert [d["status"] for d in report["devices"]] == ["healthy", "attention"]  # 15 warnings
    assert report["status"] == "attention"


def test_statuses_repair_and_payment_issue(client, token):
    staff = bearer(token(subject="staff-1", roles=("support",)))
    repair = client.get("/reports/user/9002", params={"month": "2022-05"}, headers=staff).json()
    assert repair["status"] == "repair" and repair["devices"][0]["status"] == "repair"
    # 446 minutes down out of May's 44,640: 100 * (1 - 446 / 44640) = 99.0009 -> 99.0
    assert repair["devices"][0]["reliability_pct"] == 99.0
    payment = client.get("/reports/user/9003", params={"month": "2022-05"}, headers=staff).json()
    assert payment["status"] == "payment_issue" and payment["devices"] == []
    assert (payment["financial"]["successful_payments"], payment["financial"]["monthly_cost"]) == ("1490.00", "2990.00")


def test_a_partial_month_says_how_far_it_was_computed(client, token):
    report = client.get("/reports/me", params={"month": "2022-06"}, headers=bearer(token(9001))).json()
    assert report["complete"] is False and report["data_complete_through"] == "2022-06-16T00:00:00Z"
    # 90 minutes down out of the 15 days computed (21,600 minutes): 99.5833 -> 99.58
    assert report["devices"][0]["reliability_pct"] == 99.58
    assert report["status"] == "payment_issue"  # nothing of 5980.00 paid, 2 failed payments


# --- 404 and 422 ---------------------------------------------------------------------------------

@pytest.mark.parametrize("month", ["2021-01", "2022-07", "2022-08", "2149-05"])
def test_a_month_never_loaded_is_404(client, token, month):
    """2022-07 only failed; 2022-08 has mart rows but no successful load: neither is trusted."""
    staff = bearer(token(subject="staff-1", roles=("support",)))
    for path, headers in (("/reports/user/9001", staff), ("/reports/user/9001", bearer(token(9001))),
                          ("/reports/me", bearer(token(9001)))):
        response = client.get(path, params={"month": month}, headers=headers)
        assert response.status_code == 404, (path, response.text)
        assert f"month {month} has not been loaded" in response.json()["detail"]


def test_no_row_for_the_user_in_a_loaded_month(client, token):
    """9002 has no row in June: /reports/me says so (404), support gets 404; by id, a regular caller
    cannot tell their own missing row from someone else's (the month's rows are all there is to
    check against), so the answer is the 403 that any id without a row of theirs gets."""
    me = client.get("/reports/me", params={"month": "2022-06"}, headers=bearer(token(9002)))
    assert me.status_code == 404 and "no report for 2022-06" in me.json()["detail"]
    staff = bearer(token(subject="staff-1", roles=("support",)))
    response = client.get("/reports/user/9002", params={"month": "2022-06"}, headers=staff)
    assert response.status_code == 404 and "user 9002 has no report for 2022-06" in response.json()["detail"]
    response = client.get("/reports/user/9002", params={"month": "2022-06"}, headers=bearer(token(9002)))
    assert response.status_code == 403 and "/reports/me" in response.json()["detail"]


@pytest.mark.parametrize("month", ["2022-13", "2022-00", "2022-1", "22-01", "2022/01", "January", "", "0000-01",
                                   "1969-12", "2149-06", "9999-12", "2022-01-01",
                                   "\u0662\u0660\u0662\u0662-\u0660\u0661",
                                   "2022-05'; DROP TABLE x; --"])
def test_an_invalid_month_is_422_with_the_reason(client, token, month):
    response = client.get("/reports/me", params={"month": month}, headers=bearer(token(9001)))
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["query", "month"] and error["msg"]


def test_a_missing_month_is_422(client, token):
    response = client.get("/reports/user/9001", headers=bearer(token(9001)))
    assert response.status_code == 422 and response.json()["detail"][0]["type"] == "missing"


@pytest.mark.parametrize("user_id", ["abc", "0", "-1", "2147483648", "1.5", "9001 OR 1=1", "9001.0", "+9001",
                                     "09001", "9_001"])
def test_an_invalid_user_id_is_422(client, token, user_id):
    staff = bearer(token(subject="staff-1", roles=("support",)))
    response = client.get(f"/reports/user/{user_id}", params={"month": "2022-05"}, headers=staff)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["path", "user_id"]


def test_health_and_the_openapi_document(client):
    health = client.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "ok" and body["backend"] == "chdb" and body["newest_loaded_month"] >= "2022-06"
    document = client.get("/openapi.json").json()
    assert {"/reports/me", "/reports/user/{user_id}", "/health"} <= set(document["paths"])
    assert "HTTPBearer" in document["components"]["securitySchemes"]


def test_the_client_stays_open_between_requests(client, token):
    store = client.app.state.store
    opens = store.stats.opens
    own = bearer(token(9001))
    for month in ("2022-05", "2022-06", "2021-01") * 7:
        assert client.get("/reports/me", params={"month": month}, headers=own).status_code in (200, 404)
    assert store.stats.opens == opens and store.holding


# --- schema-driven fuzzing -----------------------------------------------------------------------

class _WithoutLifespan:
    """The app for schemathesis, minus lifespan events: the `client` fixture runs the real one (and
    stops it at the end of the module, which releases the chDB path)."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "lifespan":
            await self.app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            else:
                await send({"type": "lifespan.shutdown.complete"})
                return


def test_schema_fuzzing_finds_no_server_error(client, token):
    """Hypothesis cases from the OpenAPI document, anonymous and with a support token: never a 5xx,
    and every answer is one the document declares, in the declared shape."""
    from collections import Counter

    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

    schema = schemathesis.openapi.from_asgi("/openapi.json", _WithoutLifespan(client.app))
    staff = bearer(token(subject="staff-1", roles=("support",), minutes=30))
    own = bearer(token(9001, minutes=30))
    checks = [not_a_server_error, status_code_conformance, response_schema_conformance]
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {op.path for op in operations} == {"/reports/me", "/reports/user/{user_id}", "/health"}

    def fuzz(operation, headers: dict, examples: int):
        # Half of the cases get a real month and user, so that 200s (and their schema) are exercised too.
        @given(case=operation.as_strategy(), real=st.booleans(),
               month=st.sampled_from(["2022-05", "2022-06", "2022-07", "2021-01"]),
               user_id=st.sampled_from([9001, 9002, 9003, 987654]))
        # Derandomized: the same cases every run, so the set of statuses reached cannot vary by luck.
        @settings(max_examples=examples, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def run(case, real, month, user_id):
            if real and isinstance(case.query, dict):
                case.query["month"] = month
            if real and isinstance(case.path_parameters, dict) and "user_id" in case.path_parameters:
                case.path_parameters["user_id"] = user_id
            response = case.call_and_validate(headers=headers, checks=checks)
            statuses[response.status_code] += 1

        run()

    statuses: Counter = Counter()
    for operation in operations:
        for headers, examples in ((staff, 120), (own, 40), ({}, 20)):
            fuzz(operation, headers, examples)
    assert {200, 401, 403, 404, 422} <= set(statuses), statuses
