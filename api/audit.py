"""The audit log: one JSON line per report access (who, whose report, which month, the outcome).

Every request under ``/reports`` is written when its response starts, whatever the outcome (401,
403, 404, 422, 503 included). The line is written before the response leaves: if it cannot be
written, the caller gets 503 instead of the report (an access that is not recorded does not happen).
"""

from __future__ import annotations

import json
import os
import threading
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import parse_qs

SCOPE_KEY = "bionicpro.audit"
OUTCOMES = {200: "allowed", 401: "unauthenticated", 403: "denied", 404: "not_found", 422: "invalid",
            503: "unavailable"}


def _clip(value, limit: int = 64):
    """Raw request text (not yet validated) is kept, but short."""
    return value[:limit] if isinstance(value, str) else value


class AuditLog:
    def __init__(self, path: Path):
        self.path = path
        self._lock = threading.Lock()
        path.parent.mkdir(parents=True, exist_ok=True)

    def write(self, entry: dict) -> None:
        line = (json.dumps(entry, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode()
        with self._lock:
            fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)


class AuditMiddleware:
    """Pure ASGI: a record per /reports request that the handlers fill in, written at response start."""

    def __init__(self, app, audit: AuditLog, prefix: str = "/reports"):
        self.app = app
        self.audit = audit
        self.prefix = prefix

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or not scope["path"].startswith(self.prefix):
            await self.app(scope, receive, send)
            return
        record: dict = {}
        scope[SCOPE_KEY] = record
        refused = False

        async def send_audited(message):
            nonlocal refused
            if message["type"] == "http.response.start":
                try:
                    self.audit.write(self._entry(scope, record, message["status"]))
                except OSError:
                    refused = True
                    body = b'{"detail":"the audit log cannot be written; no report is served without it"}'
                    await send({"type": "http.response.start", "status": 503,
                                "headers": [(b"content-type", b"application/json"),
                                            (b"content-length", str(len(body)).encode()), (b"retry-after", b"30")]})
                    await send({"type": "http.response.body", "body": body})
                    return
            elif refused:
                return
            await send(message)

        await self.app(scope, receive, send_audited)

    @staticmethod
    def _entry(scope: dict, record: dict, status: int) -> dict:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        target = scope.get("path_params", {}).get("user_id")
        client = scope.get("client")
        return {
            "ts": datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
            "path": scope["path"],
            "client": client[0] if client else None,
            "subject": record.get("subject"),
            "roles": record.get("roles"),
            "support": record.get("support"),
            "target_user_id": record.get("target_user_id", _clip(target)),
            "target_user_uuid": record.get("target_user_uuid"),
            "month": record.get("month", _clip((query.get("month") or [None])[0])),
            "status": status,
            "outcome": OUTCOMES.get(status, "error"),
            "reason": record.get("reason"),
        }
