"""The signed unsubscribe token: the link in every email is its own credential (no login needed).

A token names the employee and when it stops working, signed with HMAC-SHA256 under the links'
own key (`NOTIFICATIONS_LINK_SECRET`, or one derived from `JWT_SECRET`: never the token key
itself). `id.expires.signature`, each part URL-safe.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime

from shared.keys import purpose_key


class LinkRefused(Exception):
    """`code`: "malformed" (not a token this service makes), "forged" (bad signature), "expired"."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def link_key(link_secret: str | None, jwt_secret: str | None) -> str:
    """The links' key; refuses (the service does not start) when neither secret is set."""
    return purpose_key(link_secret, jwt_secret, purpose=b"mentoring notifications: unsubscribe links",
                       setting="NOTIFICATIONS_LINK_SECRET", use="signs unsubscribe links")


def _signature(secret: str, employee_id: str, expires: int) -> str:
    signed = f"unsubscribe|{employee_id}|{expires}".encode()
    return _b64(hmac.new(secret.encode(), signed, hashlib.sha256).digest()[:18])


def unsubscribe_token(secret: str, employee_id: str, expires_at: datetime) -> str:
    expires = int(expires_at.timestamp())
    return f"{_b64(employee_id.encode())}.{expires}.{_signature(secret, employee_id, expires)}"


def verify_unsubscribe_token(secret: str, token: str, now: datetime) -> str:
    """The employee id the token was made for; `LinkRefused` if it is mangled, forged or expired."""
    try:
        encoded, expires_text, signature = token.split(".")
        employee_id = _unb64(encoded).decode("utf-8")
        expires = int(expires_text) if expires_text.isascii() and expires_text.isdigit() else None
    except (ValueError, UnicodeDecodeError, binascii.Error):
        raise LinkRefused("malformed") from None
    if not employee_id or expires is None or not signature.isascii():
        raise LinkRefused("malformed")
    if not hmac.compare_digest(signature, _signature(secret, employee_id, expires)):
        raise LinkRefused("forged")
    if now.timestamp() >= expires:
        raise LinkRefused("expired")
    return employee_id
