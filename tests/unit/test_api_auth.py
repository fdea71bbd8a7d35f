"""Token verification without a database: PEM, JWKS (a loopback server) and the local key pair."""

from __future__ import annotations

import json
import threading
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from api.auth import AuthError, KeysUnavailable, TokenVerifier, roles_of
from api.config import ApiSettings
from api.keys import PUBLIC_KEY, ensure_local_keys, key_id, mint_token

ISSUER, AUDIENCE = "https://sso.test/realms/bionicpro", "bionicpro-reports"


@pytest.fixture(scope="module")
def key():
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    public = private.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return pem, public


@pytest.fixture
def pem_verifier(key, tmp_path):
    path = tmp_path / "idp.pem"
    path.write_bytes(key[1])
    api = ApiSettings(jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwks_url=None, jwt_public_key=path)
    return TokenVerifier(api, tmp_path / "no-local-keys")


def token(key, subject="u-1", roles=(), **extra):
    return mint_token(key[0], subject=subject, issuer=ISSUER, audience=AUDIENCE, roles=list(roles), extra=extra)


def test_a_valid_token_gives_subject_and_roles(pem_verifier, key):
    caller = pem_verifier.verify(token(key, roles=("offline_access",)))
    assert caller.subject == "u-1" and caller.roles == {"offline_access"} and not caller.is_support
    assert pem_verifier.verify(token(key, roles=("support",))).is_support
    flat = mint_token(key[0], subject="u-1", issuer=ISSUER, audience=AUDIENCE, roles=[], extra={"roles": ["admin"]})
    assert pem_verifier.verify(flat).is_support


@pytest.mark.parametrize("claims, reason", [
    ({"exp": 1}, "token expired"),
    ({"iss": "https://other"}, "wrong token issuer"),
    ({"aud": "other"}, "wrong token audience"),
    ({"nbf": 4_000_000_000}, "token not valid yet"),
    ({"sub": ""}, "is not a user id"),
    ({"sub": 42}, "invalid token"),
])
def test_claims_are_checked(pem_verifier, key, claims, reason):
    with pytest.raises(AuthError) as failure:
        pem_verifier.verify(token(key, **claims))
    assert reason in str(failure.value)


@pytest.mark.parametrize("claim, value", [("exp", "9999999999"), ("nbf", "0"), ("iat", "0")])
def test_a_numeric_date_in_a_string_is_refused(pem_verifier, key, claim, value):
    with pytest.raises(AuthError, match=f"token claim '{claim}' is not a number"):
        pem_verifier.verify(token(key, **{claim: value}))


@pytest.mark.parametrize("claim", ["exp", "nbf", "iat"])
@pytest.mark.parametrize("value", [True, False, None, [4_000_000_000], {"t": 1}, "", "soon"])
def test_a_numeric_date_that_is_no_json_number_is_refused(pem_verifier, key, claim, value):
    with pytest.raises(AuthError):
        pem_verifier.verify(token(key, **{claim: value}))


def test_numeric_dates_may_be_fractional(pem_verifier, key):
    now = datetime.now(timezone.utc).timestamp()
    assert pem_verifier.verify(token(key, exp=now + 300.5, nbf=now - 0.5, iat=now - 0.25)).subject == "u-1"


def test_required_claims(pem_verifier, key):
    now = datetime.now(timezone.utc)
    base = {"iss": ISSUER, "aud": AUDIENCE, "sub": "u-1", "exp": now + timedelta(minutes=5)}
    for missing in ("exp", "iss", "aud", "sub"):
        claims = {k: v for k, v in base.items() if k != missing}
        with pytest.raises(AuthError, match="required claim|issuer|audience|not a user id"):
            pem_verifier.verify(jwt.encode(claims, key[0], algorithm="RS256"))


def test_a_small_clock_skew_is_tolerated(pem_verifier, key):
    past = datetime.now(timezone.utc) - timedelta(minutes=60, seconds=-5)  # expired 5 s ago; leeway 10 s
    assert pem_verifier.verify(mint_token(key[0], subject="u", issuer=ISSUER, audience=AUDIENCE, roles=[],
                                          minutes=60, now=past)).subject == "u"


def test_algorithm_confusion_and_none_are_refused(pem_verifier, key):
    claims = jwt.decode(token(key), options={"verify_signature": False})
    with pytest.raises(AuthError, match="algorithm not allowed"):
        pem_verifier.verify(jwt.encode(claims, key[1].decode()[:64], algorithm="HS256"))
    with pytest.raises(AuthError, match="algorithm not allowed"):
        pem_verifier.verify(jwt.encode(claims, None, algorithm="none"))
    with pytest.raises(AuthError, match="malformed"):
        pem_verifier.verify("x" * 20_000)


def test_roles_from_nested_and_flat_claims():
    claims = {"realm_access": {"roles": ["a", 3]}, "roles": "b", "resource_access": {"api": {"roles": ["c"]}}}
    assert roles_of(claims, ("realm_access.roles", "roles")) == {"a", "b"}
    assert roles_of(claims, ("resource_access.api.roles",)) == {"c"}
    assert roles_of({"realm_access": "oops"}, ("realm_access.roles",)) == set()


class _Jwks(BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self):  # noqa: N802
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def jwks_server(key):
    public = serialization.load_pem_public_key(key[1])
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(public))
    jwk.update(kid=key_id(key[1]), use="sig", alg="RS256")
    handler = type("Handler", (_Jwks,), {"body": json.dumps({"keys": [jwk]}).encode()})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/realms/bionicpro/protocol/openid-connect/certs"
    server.shutdown()


def test_jwks_keys_verify_by_kid(key, jwks_server, tmp_path):
    from pydantic import SecretStr

    api = ApiSettings(jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwks_url=SecretStr(jwks_server), jwt_public_key=None)
    verifier = TokenVerifier(api, tmp_path)
    assert verifier.verify(token(key, roles=("support",))).is_support
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = jwt.encode({"iss": ISSUER, "aud": AUDIENCE, "sub": "u", "exp": 4_000_000_000}, other,
                        algorithm="RS256", headers={"kid": "unknown"})
    with pytest.raises(AuthError, match="no key of the identity provider"):
        verifier.verify(forged)


def test_an_unreachable_jwks_is_unavailable_not_unauthenticated(key, tmp_path):
    import socket

    from pydantic import SecretStr

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    api = ApiSettings(jwt_issuer=ISSUER, jwt_audience=AUDIENCE, jwks_url=SecretStr(f"http://127.0.0.1:{port}/certs"),
                      jwt_public_key=None)
    with pytest.raises(KeysUnavailable):
        TokenVerifier(api, tmp_path).verify(token(key))


def test_the_local_key_pair_is_created_once_and_trusted_by_default(tmp_path):
    api = ApiSettings(jwt_issuer="bionicpro-local", jwt_audience=AUDIENCE, jwks_url=None, jwt_public_key=None)
    verifier = TokenVerifier(api, tmp_path / "api-keys")
    with pytest.raises(AuthError, match="mint-token"):
        verifier.verify("a.b.c")
    private, public = ensure_local_keys(tmp_path / "api-keys")
    assert ensure_local_keys(tmp_path / "api-keys") == (private, public)
    first = private.read_bytes()
    ensure_local_keys(tmp_path / "api-keys")
    assert private.read_bytes() == first and private.stat().st_mode & 0o077 == 0
    minted = mint_token(first, subject="u-9", issuer="bionicpro-local", audience=AUDIENCE, roles=["support"])
    assert jwt.get_unverified_header(minted)["kid"] == key_id(public.read_bytes())
    caller = verifier.verify(minted)
    assert caller.subject == "u-9" and caller.is_support
    # A new pair (the old one deleted) is picked up without a restart; old tokens stop working.
    private.unlink()
    (tmp_path / "api-keys" / PUBLIC_KEY).unlink()
    ensure_local_keys(tmp_path / "api-keys")
    with pytest.raises(AuthError, match="signature"):
        verifier.verify(minted)
