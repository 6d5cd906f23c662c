"""JWT authentication and roles (contract section 5).

HS256 with JWT_SECRET for local runs; RS256 against the issuer's JWKS (JWT_JWKS_URL) in
production. `exp` is always required and checked; `iss` and `aud` whenever configured.

With both configured and MENTORING_ENV=development (`make run`), both work side by side: the
IdP's RS256 tokens (what the portal sends) are checked against the JWKS with `iss`/`aud`, and
HS256 development tokens (`make dev-token`, which carry neither) against JWT_SECRET. Outside
development a JWKS-configured service accepts RS256 only. Which claim holds the employee id and
which the roles is configurable (JWT_SUBJECT_CLAIM, JWT_ROLES_CLAIM: a dotted path such as
`realm_access.roles`), so a customer's IdP fits by configuration.
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
        algorithm = jwt.get_unverified_header(token).get("alg")
        if self._jwks is not None and (algorithm != "HS256" or not self._hs256_beside_jwks):
            key = self._jwks.get_signing_key_from_jwt(token).key
            claims = jwt.decode(token, key, algorithms=["RS256"], **self._checks(self.settings.jwt_audience,
                                                                                  self.settings.jwt_issuer))
        elif self._jwks is not None:
            # a development token beside the IdP's: minted locally, it names no issuer or audience
            claims = jwt.decode(token, self.settings.jwt_secret, algorithms=["HS256"], **self._checks(None, None))
        else:
            claims = jwt.decode(token, self.settings.jwt_secret, algorithms=["HS256"],
                                **self._checks(self.settings.jwt_audience, self.settings.jwt_issuer))
        return self.principal(claims)

    @property
    def _hs256_beside_jwks(self) -> bool:
        return bool(self.settings.jwt_secret) and self.settings.development

    @staticmethod
    def _checks(audience, issuer) -> dict:
        options = {"require": ["exp"], "verify_aud": bool(audience)}
        return dict(options=options, audience=audience, issuer=issuer)

    def principal(self, claims: dict) -> Principal:
        return principal_from_claims(claims, self.settings)


def principal_from_claims(claims: dict, settings: Settings) -> Principal:
    """The employee id and roles a verified token names, through the configured claim mapping."""
    subject = claims.get(settings.jwt_subject_claim)
    if not subject:
        raise jwt.MissingRequiredClaimError(settings.jwt_subject_claim)
    found: object = claims
    for part in settings.jwt_roles_claim.split("."):
        found = found.get(part) if isinstance(found, dict) else None
    roles = found or []
    if not isinstance(roles, list):
        raise jwt.InvalidTokenError("roles must be a list")
    return Principal(subject=str(subject), roles=frozenset(r for r in roles if r in ROLES))


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
            raise ProblemError(401, "Invalid token", str(exc), headers={"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
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
