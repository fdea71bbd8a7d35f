"""The app's plumbing with a stand-in store: audit (fail closed), 503s, the OpenAPI document."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.config import ApiSettings
from api.keys import ensure_local_keys, mint_token
from api.reports import USER_FIELDS
from api.store import Rows, StoreUnavailable
from bionicpro.settings import Settings


class FakeStore:
    backend = "chdb"

    def __init__(self):
        self.fail = False
        self.calls = []

    def start(self):
        pass

    def close(self):
        pass

    remembers = False

    def query(self, sql, parameters):
        self.calls.append(parameters)
        if self.fail:
            raise StoreUnavailable("reports_db is busy: test", retry_after=3)
        if "newest_month" in sql:
            return Rows(("newest_month", "horizon"), [(1704067200, 1706745600)])
        user = dict(zip(USER_FIELDS, (7, "u-7", 1, 1, 0, 1, 1, 0, 0)))
        return Rows(("load", "users", "devices"), [((1, 1706745600), [tuple(user.values())], [])])


@pytest.fixture
def setup(tmp_path):
    settings = Settings(BIONICPRO_DATA_DIR=str(tmp_path))
    private, _ = ensure_local_keys(settings.data_path / "api-keys")
    api = ApiSettings(jwks_url=None, jwt_public_key=None, audit_log=tmp_path / "audit" / "api.jsonl")
    store = FakeStore()
    token = mint_token(private.read_bytes(), subject="u-7", issuer=api.jwt_issuer, audience=api.jwt_audience, roles=[])
    with TestClient(create_app(settings, api, store)) as client:
        yield client, store, api, {"Authorization": f"Bearer {token}"}


def test_an_access_is_audited_with_who_whose_and_when(setup):
    client, store, api, auth = setup
    assert client.get("/reports/user/7", params={"month": "2024-01"}, headers=auth).status_code == 200
    [entry] = [json.loads(line) for line in api.audit_log.read_text().splitlines()]
    assert {k: entry[k] for k in ("subject", "target_user_id", "target_user_uuid", "month", "status", "outcome")} == \
        {"subject": "u-7", "target_user_id": 7, "target_user_uuid": "u-7", "month": "2024-01", "status": 200,
         "outcome": "allowed"}
    assert client.get("/health").status_code == 200
    assert len(api.audit_log.read_text().splitlines()) == 1, "only /reports is an access to a report"


def test_no_report_leaves_without_its_audit_line(setup):
    client, store, api, auth = setup
    api.audit_log.unlink(missing_ok=True)
    api.audit_log.mkdir()  # writing the line now fails
    response = client.get("/reports/me", params={"month": "2024-01"}, headers=auth)
    assert response.status_code == 503 and "audit log" in response.json()["detail"]
    assert "u-7" not in response.text


def test_an_unavailable_store_is_a_503_with_retry_after(setup):
    client, store, api, auth = setup
    store.fail = True
    for path in ("/health", "/reports/me?month=2024-01"):
        response = client.get(path, headers=auth)
        assert response.status_code == 503 and response.headers["retry-after"] == "3"
        assert "busy" in response.json()["detail"]


def test_a_rejected_token_never_reaches_the_store(setup):
    client, store, api, auth = setup
    client.get("/reports/user/7", params={"month": "2024-01"}, headers={"Authorization": "Bearer x.y.z"})
    client.get("/reports/user/7", params={"month": "2024-01"})
    assert store.calls == []


@pytest.mark.parametrize("user_id", ["1.0", "7.0", "+7", "07", "7_0", " 7", "7%20", "7%0A", "%D9%A7", "7e0"])
def test_a_user_id_not_written_as_plain_digits_is_422(setup, user_id):
    client, store, api, auth = setup
    response = client.get(f"/reports/user/{user_id}", params={"month": "2024-01"}, headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["path", "user_id"]
    assert store.calls == []
    assert json.loads(api.audit_log.read_text().splitlines()[-1])["outcome"] == "invalid"


def test_a_string_exp_is_refused_and_audited_like_any_invalid_token(setup, tmp_path):
    client, store, api, _ = setup
    private = (tmp_path / "api-keys" / "private.pem").read_bytes()
    forged = mint_token(private, subject="u-7", issuer=api.jwt_issuer, audience=api.jwt_audience, roles=[],
                        extra={"exp": "9999999999"})
    response = client.get("/reports/user/7", params={"month": "2024-01"}, headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401 and "'exp' is not a number" in response.json()["detail"]
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    entry = json.loads(api.audit_log.read_text().splitlines()[-1])
    assert (entry["outcome"], entry["subject"], store.calls) == ("unauthenticated", None, [])


def test_the_openapi_document_declares_the_errors(setup):
    client, *_ = setup
    document = client.get("/openapi.json").json()
    responses = document["paths"]["/reports/user/{user_id}"]["get"]["responses"]
    assert {"200", "401", "403", "404", "422", "503"} <= set(responses)
    assert document["paths"]["/reports/me"]["get"]["security"] == [{"HTTPBearer": []}]
