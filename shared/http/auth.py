"""JWT authentication and roles (contract section 5).

Production: RS256 (or another asymmetric algorithm) against the issuer's JWKS (JWT_JWKS_URL), and
then JWT_ISSUER and JWT_AUDIENCE are required: without them a token any tenant of the same IdP
minted would pass, so the service refuses to start instead. Development only
(MENTORING_ENV=development: `make run`, the tests): HS256 with JWT_SECRET, on its own or beside the
IdP's tokens (`make dev-token` mints them). A development secret must be at least 32 bytes and none
of the values this repository has ever published.

Every token must carry `exp` and `iat`, may live at most JWT_MAX_LIFETIME_S (`exp - iat`), and is
checked against `nbf`/`iat`/`exp` with JWT_LEEWAY_S of clock skew. The algorithm is never the
token's choice: HS256 is verified with the secret only, a JWKS key only with the algorithm of its
own key type (an HS256 token "signed" with the IdP's public key, or `alg: none`, is refused).
JWKS keys are trusted for JWT_JWKS_TTL_S, so a key the IdP removed stops working; an unknown `kid`
fetches the set again at most once per JWT_JWKS_MIN_REFETCH_S, so forged `kid`s cannot make the
service hammer the IdP.

Machine clients (role `integration`: an HRIS connector, a BI export) have no person behind them.
The contract gives them Kafka only (§6: `hris` writes `hris.employees.v1`, `analytics` reads the
`mentoring.*` topics) and names no HTTP route for them, so `current_principal()` refuses them with
403 `machine_client` on every route that asks who is calling: all of `/v1` (a person's own routes,
admin routes, exports). Only `/healthz`, `/readyz`, `/metrics` and `/openapi.json`, which need no
token, answer them. Decided here, once, so no route can forget it.

Which claim holds the employee id and which the roles is configurable (JWT_SUBJECT_CLAIM,
JWT_ROLES_CLAIM: a dotted path such as `realm_access.roles`), so a customer's IdP fits by
configuration.
"""
from __future__ import annotations

import functools
import threading
import time
from dataclasses import dataclass
from typing import Callable

import jwt
from flask import current_app, g, request

from shared.config import Settings
from shared.errors import Forbidden
from shared.http.problems import ProblemError

# `program_manager` grants nothing by itself: the services decide who manages a programme from
# their own projection of matching's ProgramManagersSet (shared.scopes), whatever the token says.
ROLES = ("admin", "program_manager", "participant", "integration")
# Roles of machine clients: no API route acts for them (module docstring). A token carrying one
# is a machine client whatever else it carries (least privilege: a person's token never has it).
MACHINE_ROLES = frozenset({"integration"})

MIN_SECRET_BYTES = 32
# Every JWT_SECRET this repository has shipped as a default (Makefile, tests, docker-compose, the
# k8s dev overlay and example Secret): anyone can read them, so no token signed with one is trusted.
PUBLISHED_SECRETS = frozenset({
    "local-development-secret-change-me-0123456789",
    "test-secret-for-the-test-suite-only-0123456789",
    "dev-only-insecure-jwt-secret",
    "change-me",
})
# The algorithms a JWKS key may verify, by key type. Symmetric ("oct") keys never come from a JWKS.
ASYMMETRIC_ALGORITHMS = {
    "RSA": ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512"),
    "EC": ("ES256", "ES384", "ES512"),
    "OKP": ("EdDSA",),
}


class InsecureAuthConfiguration(RuntimeError):
    """The token settings would let forged or foreign tokens in: the service does not start."""


@dataclass(frozen=True)
class Principal:
    subject: str
    roles: frozenset[str]

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    @property
    def is_machine(self) -> bool:
        return bool(self.roles & MACHINE_ROLES)

    def can_act_for(self, employee_id: str) -> bool:
        return self.is_admin or self.subject == employee_id


def check_token_settings(settings: Settings) -> None:
    """Refuse settings under which a forged or foreign token could pass (raised at app creation)."""
    if settings.jwt_jwks_url:
        missing = [name for name, value in (("JWT_ISSUER", settings.jwt_issuer),
                                            ("JWT_AUDIENCE", settings.jwt_audience)) if not value]
        if missing:
            raise InsecureAuthConfiguration(
                f"JWT_JWKS_URL is set but {' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} not: "
                "without them a token the IdP issued to any other tenant or client would be accepted")
    if settings.jwt_secret and settings.development:
        check_development_secret(settings.jwt_secret)
    elif not settings.jwt_jwks_url:
        if settings.jwt_secret:
            raise InsecureAuthConfiguration(
                "HS256 tokens (JWT_SECRET) are accepted only with MENTORING_ENV=development; "
                "in production set JWT_JWKS_URL, JWT_ISSUER and JWT_AUDIENCE")
        raise InsecureAuthConfiguration(
            "set JWT_JWKS_URL, JWT_ISSUER and JWT_AUDIENCE (or, with MENTORING_ENV=development, JWT_SECRET) "
            "to authenticate requests")


def check_development_secret(secret: str) -> None:
    if secret in PUBLISHED_SECRETS:
        raise InsecureAuthConfiguration("JWT_SECRET is a default published in this repository: set your own "
                                        "(`make run` generates one into .local/jwt-secret)")
    if len(secret.encode()) < MIN_SECRET_BYTES:
        raise InsecureAuthConfiguration(f"JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes")


class JwksKeys:
    """The IdP's signing keys by `kid`, fetched again once they are `ttl_s` old.

    A `kid` the keys held do not name (a rotation newer than the last fetch) fetches the set again,
    but at most once per `min_refetch_s`, however many made-up kids arrive; a failed fetch is not
    retried sooner either. Keys past their TTL are dropped even when the IdP cannot be reached.
    """

    def __init__(self, url: str, *, ttl_s: float, min_refetch_s: float,
                 fetch: Callable[[], dict] | None = None, clock: Callable[[], float] = time.monotonic):
        self.url = url
        self.ttl_s = ttl_s
        self.min_refetch_s = min_refetch_s
        self._fetch = fetch or jwt.PyJWKClient(url, cache_jwk_set=False, cache_keys=False, timeout=5).fetch_data
        self._clock = clock
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at: float | None = None  # when the keys held were fetched
        self._failed_at: float | None = None  # the last failed fetch
        self._unknown_kid_at: float | None = None  # the last fetch an unknown kid caused

    def key(self, kid: str) -> jwt.PyJWK:
        with self._lock:
            now = self._clock()
            if self._fetched_at is None or now - self._fetched_at >= self.ttl_s:
                self._keys = {}
                if not self._recently(self._failed_at, now):
                    self._refresh(now)
            elif kid not in self._keys and not self._recently(self._unknown_kid_at, now):
                self._unknown_kid_at = now
                self._refresh(now)
            found = self._keys.get(kid)
        if found is None:
            raise jwt.InvalidKeyError(f"no signing key {kid!r} in the issuer's JWKS")
        return found

    def _recently(self, at: float | None, now: float) -> bool:
        return at is not None and now - at < self.min_refetch_s

    def _refresh(self, now: float) -> None:
        try:
            data = self._fetch()
        except (jwt.PyJWKClientError, ValueError):
            self._failed_at = now  # the token is refused with "no signing key"
            return
        self._keys = signing_keys(data)
        self._fetched_at = now


def signing_keys(jwks: dict) -> dict[str, jwt.PyJWK]:
    """The asymmetric signature keys of a JWKS, by `kid` (encryption, symmetric, kid-less and
    unreadable keys are left out)."""
    keys = {}
    for jwk in jwks.get("keys", []) if isinstance(jwks, dict) else []:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig" or not jwk.get("kid"):
            continue
        allowed = ASYMMETRIC_ALGORITHMS.get(jwk.get("kty", ""), ())
        if jwk.get("alg") is not None and jwk["alg"] not in allowed:
            continue
        try:
            key = jwt.PyJWK(jwk)
        except (jwt.PyJWKError, jwt.InvalidKeyError, ValueError, TypeError):
            continue
        if key.algorithm_name in allowed:
            keys[str(jwk["kid"])] = key
    return keys


class TokenVerifier:
    def __init__(self, settings: Settings, *, jwks_fetch: Callable[[], dict] | None = None):
        check_token_settings(settings)
        self.settings = settings
        self._jwks = (JwksKeys(settings.jwt_jwks_url, ttl_s=settings.jwt_jwks_ttl_s,
                               min_refetch_s=settings.jwt_jwks_min_refetch_s, fetch=jwks_fetch)
                      if settings.jwt_jwks_url else None)
        # HS256 only in development, and then only with a secret check_token_settings accepted.
        self._secret = settings.jwt_secret if settings.development else None

    def verify(self, token: str) -> Principal:
        header = jwt.get_unverified_header(token)
        algorithm = header.get("alg")
        if algorithm == "HS256" and self._secret:
            if self._jwks is not None:
                # a development token beside the IdP's: minted locally, its iss/aud are not the IdP's word
                claims = self._decode(token, self._secret, "HS256", audience=None, issuer=None)
            else:
                claims = self._decode(token, self._secret, "HS256", audience=self.settings.jwt_audience,
                                      issuer=self.settings.jwt_issuer)
        elif self._jwks is not None and algorithm not in (None, "none", "HS256", "HS384", "HS512"):
            kid = header.get("kid")
            if not kid or not isinstance(kid, str):
                raise jwt.InvalidTokenError("the token names no signing key (kid)")
            key = self._jwks.key(kid)
            claims = self._decode(token, key.key, key.algorithm_name, audience=self.settings.jwt_audience,
                                  issuer=self.settings.jwt_issuer)
        else:
            raise jwt.InvalidAlgorithmError(f"tokens signed with {algorithm!r} are not accepted here")
        return self.principal(claims)

    def _decode(self, token: str, key, algorithm: str, *, audience: str | None, issuer: str | None) -> dict:
        claims = jwt.decode(token, key, algorithms=[algorithm], audience=audience, issuer=issuer,
                            leeway=self.settings.jwt_leeway_s,
                            options={"require": ["exp", "iat"], "verify_aud": bool(audience)})
        lifetime = int(claims["exp"]) - int(claims["iat"])
        if lifetime > self.settings.jwt_max_lifetime_s:
            raise jwt.InvalidTokenError(f"the token lives {lifetime:.0f}s, more than the "
                                        f"{self.settings.jwt_max_lifetime_s:.0f}s allowed")
        return claims

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
    """A development token (HS256; the default lifetime is JWT_MAX_LIFETIME_S's default).
    Production tokens come from the organisation's issuer."""
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
        g.principal = principal  # set before refusing a machine client: its 403 is audited too
    if principal.is_machine:
        raise Forbidden("machine_client", "integration clients use Kafka (contract §6); no API route acts for them")
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
