"""Who is calling: a bearer JWT verified for signature (RS256), issuer, audience and expiry.

The identity is the token's ``sub`` (configurable claim), matched to ``user_uuid`` in the marts;
roles come from configured claims (Keycloak's ``realm_access.roles`` by default, or a flat
``roles``). Nothing else (no header, no query parameter, no unsigned token) can claim an identity.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import jwt

from api.config import ApiSettings
from api.keys import PUBLIC_KEY

ALGORITHMS = ["RS256"]
MAX_TOKEN_LENGTH = 16_384
NUMERIC_DATES = ("exp", "nbf", "iat")


class AuthError(Exception):
    """The token does not prove an identity: 401. The message is safe to show the caller."""


class KeysUnavailable(Exception):
    """The identity provider's keys cannot be fetched now: 503, not the caller's fault."""


@dataclass(frozen=True)
class Caller:
    subject: str
    roles: frozenset[str]
    is_support: bool


def _claim(claims: dict, path: str):
    value = claims
    for part in path.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def roles_of(claims: dict, paths: tuple[str, ...]) -> frozenset[str]:
    roles: set[str] = set()
    for path in paths:
        value = _claim(claims, path)
        if isinstance(value, str):
            value = [value]
        if isinstance(value, list):
            roles.update(role for role in value if isinstance(role, str))
    return frozenset(roles)


_REASONS = (
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token not valid yet"),
    (jwt.InvalidIssuerError, "wrong token issuer"),
    (jwt.InvalidAudienceError, "wrong token audience"),
    (jwt.InvalidAlgorithmError, "token algorithm not allowed (RS256 only)"),
    (jwt.InvalidSignatureError, "token signature does not verify"),
    (jwt.MissingRequiredClaimError, None),
    (jwt.InvalidIssuedAtError, "token issued-at time is invalid"),
    (jwt.DecodeError, "malformed token"),
)


def _reason(error: jwt.PyJWTError) -> str:
    for kind, reason in _REASONS:
        if isinstance(error, kind):
            return reason or f"token lacks the required claim {getattr(error, 'claim', '?')!r}"
    return "invalid token"


class _LocalPublicKey:
    """The public key of ``bionicpro-api mint-token``'s pair, reread when the file changes."""

    def __init__(self, path: Path):
        self.path = path
        self._cached: tuple[int, object] | None = None
        self._lock = threading.Lock()

    def get(self):
        from cryptography.hazmat.primitives import serialization

        try:
            stamp = os.stat(self.path).st_mtime_ns
        except FileNotFoundError:
            raise AuthError("no token signing key is configured: set BIONICPRO_API_JWKS_URL or "
                            "BIONICPRO_API_JWT_PUBLIC_KEY, or create the local key pair with "
                            "`bionicpro-api mint-token`") from None
        with self._lock:
            if self._cached is None or self._cached[0] != stamp:
                self._cached = (stamp, serialization.load_pem_public_key(self.path.read_bytes()))
            return self._cached[1]


class TokenVerifier:
    """Verifies bearer tokens against one key source: JWKS URL, else PEM file, else the local pair."""

    def __init__(self, api: ApiSettings, local_keys: Path):
        from cryptography.hazmat.primitives import serialization

        self.api = api
        self._jwks = None
        self._pem = None
        self._local = None
        if api.jwks_url is not None:
            self._jwks = jwt.PyJWKClient(api.jwks_url.get_secret_value(), cache_jwk_set=True, lifespan=300,
                                         timeout=5)
        elif api.jwt_public_key is not None:
            self._pem = serialization.load_pem_public_key(Path(api.jwt_public_key).expanduser().read_bytes())
        else:
            self._local = _LocalPublicKey(local_keys / PUBLIC_KEY)

    def _key(self, token: str):
        if self._jwks is not None:
            try:
                return self._jwks.get_signing_key_from_jwt(token)
            except jwt.PyJWKClientConnectionError as error:
                raise KeysUnavailable(f"the identity provider's keys cannot be fetched: {error}") from None
            except jwt.PyJWKClientError:
                raise AuthError("no key of the identity provider matches the token's key id") from None
        if self._pem is not None:
            return self._pem
        return self._local.get()

    def verify(self, token: str) -> Caller:
        if not token or len(token) > MAX_TOKEN_LENGTH:
            raise AuthError("malformed token")
        try:
            key = self._key(token)
            claims = jwt.decode(
                token, key, algorithms=ALGORITHMS, audience=self.api.jwt_audience, issuer=self.api.jwt_issuer,
                leeway=self.api.leeway_seconds,
                options={"require": ["exp", "iss", "aud", self.api.user_claim], "verify_signature": True},
            )
        except jwt.PyJWTError as error:
            raise AuthError(_reason(error)) from None
        # PyJWT compares int(claim), so "9999999999" or true would pass; RFC 7519 wants a JSON number
        # (type(), not isinstance: a JSON true is an int to Python).
        for name in NUMERIC_DATES:
            if name in claims and type(claims[name]) not in (int, float):
                raise AuthError(f"token claim {name!r} is not a number (NumericDate)")
        subject = claims.get(self.api.user_claim)
        if not isinstance(subject, str) or not subject.strip() or len(subject) > 256:
            raise AuthError(f"token claim {self.api.user_claim!r} is not a user id")
        roles = roles_of(claims, self.api.role_claim_paths)
        return Caller(subject=subject, roles=roles, is_support=bool(roles & self.api.support_role_names))
