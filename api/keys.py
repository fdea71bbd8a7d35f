"""The local RS256 key pair for development, and minting tokens signed with it.

Only for local use: in production the identity provider (e.g. Keycloak) signs the tokens and the
API reads its JWKS. The private key never leaves ``<data_dir>/api-keys/`` (mode 0600).
"""

from __future__ import annotations

import os
import tempfile
import uuid
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path

PRIVATE_KEY = "private.pem"
PUBLIC_KEY = "public.pem"


def _publish(directory: Path, name: str, data: bytes, mode: int) -> Path:
    """Write ``name`` atomically once: the first writer wins, later ones keep its content."""
    target = directory / name
    if target.exists():
        return target
    fd, temporary = tempfile.mkstemp(dir=directory, prefix=f".{name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(handle.fileno(), mode)
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temporary, target)  # fails if another process published first
        except FileExistsError:
            pass
    finally:
        os.unlink(temporary)
    return target


def ensure_local_keys(directory: Path) -> tuple[Path, Path]:
    """Create the key pair under ``directory`` unless it exists; returns (private, public) paths."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    private_path = directory / PRIVATE_KEY
    if not private_path.exists():
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
        _publish(directory, PRIVATE_KEY, pem, 0o600)
    private = serialization.load_pem_private_key(private_path.read_bytes(), password=None)
    public_pem = private.public_key().public_bytes(serialization.Encoding.PEM,
                                                   serialization.PublicFormat.SubjectPublicKeyInfo)
    public_path = _publish(directory, PUBLIC_KEY, public_pem, 0o644)
    return private_path, public_path


def key_id(public_pem: bytes) -> str:
    """RFC 7638 thumbprint of the RSA public key (what a JWKS would publish as ``kid``)."""
    import base64
    import hashlib
    import json

    from cryptography.hazmat.primitives import serialization

    numbers = serialization.load_pem_public_key(public_pem).public_numbers()

    def b64(value: int) -> str:
        raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    canonical = json.dumps({"e": b64(numbers.e), "kty": "RSA", "n": b64(numbers.n)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


@lru_cache(maxsize=8)
def _signing_key(private_pem: bytes) -> tuple[object, str]:
    """The loaded private key and its ``kid`` (loading checks the key: ~50 ms, so once)."""
    from cryptography.hazmat.primitives import serialization

    key = serialization.load_pem_private_key(private_pem, password=None)
    public_pem = key.public_key().public_bytes(serialization.Encoding.PEM,
                                               serialization.PublicFormat.SubjectPublicKeyInfo)
    return key, key_id(public_pem)


def mint_token(private_pem: bytes, *, subject: str, issuer: str, audience: str, roles: list[str],
               minutes: float = 60, now: datetime | None = None, extra: dict | None = None) -> str:
    """An RS256 token shaped like Keycloak's: roles under ``realm_access.roles``."""
    import jwt

    now = now or datetime.now(timezone.utc)
    key, kid = _signing_key(private_pem)
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "iat": int(now.timestamp()),
        "nbf": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=minutes)).timestamp()),
        "jti": str(uuid.uuid4()),
        "realm_access": {"roles": list(roles)},
        **(extra or {}),
    }
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})
