"""JWT authentication and roles (contract section 5).

HS256 with JWT_SECRET for local runs; RS256 against the issuer's JWKS (JWT_JWKS_URL) in
production. `exp` is always required and checked; `iss` and `aud` whenever configured.
"""
from __future__ import annotations

import functools
import time
from dataclasses import dataclass

import jwt
from flask import current_app, g, request

from shared.config import Settings
from shared.http.problems import ProblemError

ROLES = ("admin", "participant", "integration")


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    def can_act_for(self, employee_id: str) -> bool:
        return self.is_admin or self.subject == employee_id


class TokenVerifier:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._jwks = jwt.PyJWKClient(settings.jwt_jwks_url, cache_keys=True) if settings.jwt_jwks_url else None
        if not self._jwks and not settings.jwt_secret:
            raise RuntimeError("set JWT_SECRET (HS256) or JWT_JWKS_URL (RS256) to authenticate requests")

    def verify(self, token: str) -> Principal:
        options = {"require": ["exp", "sub"], "verify_aud": bool(self.settings.jwt_audience)}
        kwargs = dict(options=options, audience=self.settings.jwt_audience, issuer=self.settings.jwt_issuer)
        if self._jwks is not None:
            key = self._jwks.get_signing_key_from_jwt(token).key
            claims = jwt.decode(token, key, algorithms=["RS256"], **kwargs)
        else:
            claims = jwt.decode(token, self.settings.jwt_secret, algorithms=["HS256"], **kwargs)
        roles = claims.get("roles") or []
        if not isinstance(roles, list):
            raise jwt.InvalidTokenError("roles must be a list")
        return Principal(subject=str(claims["sub"]), roles=frozenset(r for r in roles if r in ROLES))


def mint_token(secret: str, subject: str, roles: list[str], *, ttl_s: int = 3600 * 12, issuer=None, audience=None) -> str:
    """A development token (HS256). Production tokens come from the organisation's issuer."""
    now = int(time.time())
    claims = {"sub": subject, "roles": roles, "iat": now, "exp": now + ttl_s}
    if issuer:
        claims["iss"] = issuer
    if audience:
        claims["aud"] = audience
    return jwt.encode(claims, secret, algorithm="HS256")


def current_principal() -> Principal:
    principal = getattr(g, "principal", None)
    if principal is None:
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token:
            raise ProblemError(401, "Authentication required", "Send Authorization: Bearer <JWT>.",
                               headers={"WWW-Authenticate": "Bearer"})
        try:
            principal = current_app.extensions["token_verifier"].verify(token.strip())
        except jwt.PyJWTError as exc:
            raise ProblemError(401, "Invalid token", str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
        g.principal = principal
    return principal


def require(*roles: str):
    """Route decorator: authenticated, and holding at least one of `roles` (any role if none given)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            principal = current_principal()
            if roles and not (principal.roles & set(roles)):
                raise ProblemError(403, "Forbidden", f"this needs one of the roles: {', '.join(roles)}")
            return view(*args, **kwargs)

        return wrapper

    return decorate
