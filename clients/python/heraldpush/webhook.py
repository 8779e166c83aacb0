"""Checks Herald's webhook requests (docs/api.md, "Receipt webhook")."""

from __future__ import annotations

import hashlib
import hmac
import time


def verify_webhook(
    secret: str,
    timestamp: str | None,
    signature: str | None,
    body: bytes | str,
    *,
    tolerance_seconds: int = 300,
    now: float | None = None,
) -> bool:
    """Reports whether a webhook request is Herald's, signed with secret.

    ``X-Herald-Signature`` is ``sha256=`` and the hex HMAC-SHA256 of the
    ``X-Herald-Timestamp`` header, ``.``, and the raw body. A timestamp more
    than ``tolerance_seconds`` from now is refused, so that a captured
    request cannot be replayed later. Pass the body as received, before any
    JSON parsing.
    """
    if not timestamp or not timestamp.isdigit() or not signature or not signature.startswith("sha256="):
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance_seconds:
        return False
    raw = body.encode() if isinstance(body, str) else body
    want = hmac.new(secret.encode(), timestamp.encode() + b"." + raw, hashlib.sha256).hexdigest()
    return hmac.compare_digest(want, signature[len("sha256="):])
