"""Links in messages, and the signed unsubscribe token (no login needed to unsubscribe)."""
from __future__ import annotations

import base64
import hashlib
import hmac


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _signature(secret: str, employee_id: str) -> str:
    return _b64(hmac.new(secret.encode(), f"unsubscribe|{employee_id}".encode(), hashlib.sha256).digest()[:18])


def unsubscribe_token(secret: str, employee_id: str) -> str:
    return f"{_b64(employee_id.encode())}.{_signature(secret, employee_id)}"


def verify_unsubscribe_token(secret: str, token: str) -> str | None:
    """The employee id the token was made for, or None if it is not genuine."""
    try:
        encoded, signature = token.split(".", 1)
        employee_id = _unb64(encoded).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        return None
    if not employee_id or not hmac.compare_digest(signature, _signature(secret, employee_id)):
        return None
    return employee_id
