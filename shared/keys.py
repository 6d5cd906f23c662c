"""Keys with one purpose each (unsubscribe links, respondents' pseudonyms).

A service takes its own secret for the purpose when set; otherwise one derived from JWT_SECRET
(never JWT_SECRET itself: a leaked purpose key must not sign tokens, nor the other way round);
with neither, the service does not start.
"""
from __future__ import annotations

import hashlib
import hmac


def purpose_key(own_secret: str | None, jwt_secret: str | None, *, purpose: bytes, setting: str, use: str) -> str:
    if own_secret:
        return own_secret
    if jwt_secret:
        return hmac.new(jwt_secret.encode(), purpose, hashlib.sha256).hexdigest()
    raise RuntimeError(f"{setting} must be set when JWT_SECRET is not (it {use})")
