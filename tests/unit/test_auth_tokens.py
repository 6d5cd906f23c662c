"""Forged, foreign and stale tokens are refused, and settings that would let them in stop the
service from starting (shared/http/auth.py; issue 12).

The IdP is a JWKS server on 127.0.0.1 whose keys a test can rotate; no traffic leaves loopback.
"""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Blueprint

from shared.config import Settings
from shared.http.app import create_service_app
from shared.http.auth import (
    PUBLISHED_SECRETS,
    InsecureAuthConfiguration,
    JwksKeys,
    TokenVerifier,
    current_principal,
    mint_token,
    require,
)

ROOT = Path(__file__).resolve().parents[2]
ISSUER, AUDIENCE = "http://127.0.0.1/realms/mentoring", "mentoring"
SECRET = secrets.token_urlsafe(32)


@functools.cache
def rsa_key(name: str) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)  # ~0.5 s each: made once


class Idp:
    """A JWKS endpoint on loopback serving whichever RSA keys it currently publishes."""

    def __init__(self):
        self.keys = {kid: rsa_key(kid) for kid in ("k1", "k2")}
        self.published = ["k1"]
        self.fetches = 0
        idp = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 - http.server's name
                idp.fetches += 1
                body = json.dumps({"keys": [idp.jwk(kid) for kid in idp.published]}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/certs"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def jwk(self, kid: str) -> dict:
        public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.keys[kid].public_key()))
        return dict(public, kid=kid, use="sig", alg="RS256")

    def public_pem(self, kid: str = "k1") -> bytes:
        return self.keys[kid].public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo)

    def token(self, kid: str = "k1", *, drop: tuple = (), **claims) -> str:
        now = int(time.time())
        body = {"sub": "E000042", "roles": ["participant"], "iss": ISSUER, "aud": AUDIENCE, "iat": now,
                "exp": now + 300, **claims}
        for name in drop:
            body.pop(name)
        return jwt.encode(body, self.keys[kid], algorithm="RS256", headers={"kid": kid})


@pytest.fixture
def idp():
    server = Idp()
    yield server
    server.server.shutdown()
    server.server.server_close()


def settings(url: str | None = None, **overrides) -> Settings:
    base = Settings(service_name="t", jwt_jwks_url=url, jwt_issuer=ISSUER if url else None,
                    jwt_audience=AUDIENCE if url else None)
    return replace(base, **overrides)


def hs256(claims: dict, key: bytes, header: dict | None = None) -> str:
    """A token MACed with any bytes (PyJWT itself refuses a PEM public key as an HMAC secret)."""
    def part(doc):
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()

    signed = f"{part(header or {'alg': 'HS256', 'typ': 'JWT'})}.{part(claims)}"
    mac = hmac.new(key, signed.encode(), hashlib.sha256).digest()
    return f"{signed}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"


def refused(verifier: TokenVerifier, token: str) -> str:
    with pytest.raises(jwt.PyJWTError) as caught:
        verifier.verify(token)
    return str(caught.value)


# --- forged tokens ---------------------------------------------------------------------------


def test_alg_none_is_refused_in_every_mode(idp):
    now = int(time.time())
    claims = {"sub": "E1", "roles": ["admin"], "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 60}
    unsigned = jwt.encode(claims, None, algorithm="none")
    for verifier in (TokenVerifier(settings(idp.url)),
                     TokenVerifier(settings(idp.url, jwt_secret=SECRET, environment="development")),
                     TokenVerifier(settings(jwt_secret=SECRET, environment="development"))):
        refused(verifier, unsigned)
        refused(verifier, unsigned.rstrip(".") + ".c2lnbmF0dXJl")  # "none" with a made-up signature


def test_an_hs256_token_macd_with_the_idps_public_key_is_refused(idp):
    """HS/RS confusion: the public key is public, so a token MACed with it proves nothing."""
    now = int(time.time())
    claims = {"sub": "E1", "roles": ["admin"], "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 60}
    pem = idp.public_pem()
    for header in ({"alg": "HS256", "typ": "JWT"}, {"alg": "HS256", "kid": "k1"}):
        forged = hs256(claims, pem, header)
        refused(TokenVerifier(settings(idp.url)), forged)
        refused(TokenVerifier(settings(idp.url, jwt_secret=SECRET, environment="development")), forged)
    # and the key MACs nothing when the header claims RS256 either
    refused(TokenVerifier(settings(idp.url)), hs256(claims, pem, {"alg": "RS256", "kid": "k1"}))


def test_a_token_signed_by_a_key_the_jwks_does_not_publish_is_refused(idp):
    verifier = TokenVerifier(settings(idp.url))
    assert verifier.verify(idp.token("k1")).subject == "E000042"
    impostor = rsa_key("impostor")
    now = int(time.time())
    forged = jwt.encode({"sub": "E1", "roles": ["admin"], "iss": ISSUER, "aud": AUDIENCE, "iat": now,
                         "exp": now + 60}, impostor, algorithm="RS256", headers={"kid": "k1"})
    refused(verifier, forged)
    refused(verifier, jwt.encode({"sub": "E1", "iat": now, "exp": now + 60}, impostor, algorithm="RS256"))  # no kid


# --- foreign, stale and over-long tokens -------------------------------------------------------


@pytest.mark.parametrize("claims, drop", [
    ({"iss": "http://127.0.0.1/realms/other-tenant"}, ()),
    ({"aud": "another-client"}, ()),
    ({}, ("iss",)),
    ({}, ("aud",)),
], ids=["foreign issuer", "foreign audience", "no issuer", "no audience"])
def test_tokens_of_another_issuer_or_audience_are_refused(idp, claims, drop):
    refused(TokenVerifier(settings(idp.url)), idp.token(drop=drop, **claims))


def test_expired_not_yet_valid_too_long_lived_and_iat_less_tokens_are_refused(idp):
    verifier = TokenVerifier(settings(idp.url, jwt_leeway_s=30, jwt_max_lifetime_s=3600))
    now = int(time.time())
    assert "expired" in refused(verifier, idp.token(iat=now - 400, exp=now - 60))
    assert "not yet valid" in refused(verifier, idp.token(nbf=now + 120))
    assert "not yet valid" in refused(verifier, idp.token(iat=now + 120, exp=now + 600))
    assert "more than the 3600s" in refused(verifier, idp.token(iat=now, exp=now + 3601))
    assert "iat" in refused(verifier, idp.token(drop=("iat",)))
    assert "exp" in refused(verifier, idp.token(drop=("exp",)))


def test_clock_skew_within_the_leeway_is_tolerated(idp):
    verifier = TokenVerifier(settings(idp.url, jwt_leeway_s=30))
    now = int(time.time())
    assert verifier.verify(idp.token(nbf=now + 10, iat=now + 10, exp=now + 300))
    assert verifier.verify(idp.token(iat=now - 300, exp=now - 10))


def test_development_tokens_obey_the_same_lifetime_cap():
    verifier = TokenVerifier(settings(jwt_secret=SECRET, environment="development", jwt_max_lifetime_s=600))
    assert verifier.verify(mint_token(SECRET, "E1", ["participant"], ttl_s=600)).subject == "E1"
    refused(verifier, mint_token(SECRET, "E1", ["participant"], ttl_s=601))


# --- key rotation --------------------------------------------------------------------------------


def test_a_key_removed_from_the_jwks_stops_working_after_the_ttl(idp):
    verifier = TokenVerifier(settings(idp.url, jwt_jwks_ttl_s=0.5, jwt_jwks_min_refetch_s=0.2))
    old = idp.token("k1")
    assert verifier.verify(old).subject == "E000042"
    idp.published = ["k2"]  # the IdP rotates: k1 is withdrawn (compromised, say)
    time.sleep(0.6)
    assert "no signing key 'k1'" in refused(verifier, old)
    assert verifier.verify(idp.token("k2")).subject == "E000042"


def test_a_new_key_is_picked_up_at_once_but_unknown_kids_refetch_at_most_once_per_interval(idp):
    verifier = TokenVerifier(settings(idp.url, jwt_jwks_ttl_s=300, jwt_jwks_min_refetch_s=60))
    assert verifier.verify(idp.token("k1"))
    assert idp.fetches == 1
    idp.published = ["k1", "k2"]  # rotation starts: the IdP signs with k2 from now on
    assert verifier.verify(idp.token("k2"))
    assert idp.fetches == 2
    for _ in range(20):  # an attacker sprays made-up kids
        forged = jwt.encode({"sub": "E1", "iat": int(time.time()), "exp": int(time.time()) + 60},
                            idp.keys["k1"], algorithm="RS256", headers={"kid": secrets.token_hex(4)})
        refused(verifier, forged)
    assert idp.fetches == 2, "unknown kids within min_refetch_s must not reach the IdP"


def test_expired_keys_are_not_used_while_the_idp_is_unreachable():
    clock = [0.0]
    answers: list = []

    def fetch():
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    jwk = dict(json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key("k1").public_key())), kid="k1", use="sig")
    keys = JwksKeys("http://127.0.0.1:1/certs", ttl_s=10, min_refetch_s=1, fetch=fetch, clock=lambda: clock[0])
    answers.append({"keys": [jwk]})
    assert keys.key("k1")
    clock[0] = 11
    answers.append(jwt.PyJWKClientConnectionError("connection refused"))
    with pytest.raises(jwt.InvalidKeyError):
        keys.key("k1")


def test_symmetric_and_encryption_keys_in_a_jwks_are_never_used():
    from shared.http.auth import signing_keys

    rsa_public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(rsa_key("k1").public_key()))
    found = signing_keys({"keys": [
        {"kty": "oct", "k": base64.urlsafe_b64encode(b"k" * 32).decode(), "kid": "sym", "alg": "HS256"},
        dict(rsa_public, kid="enc", use="enc", alg="RSA-OAEP"),
        dict(rsa_public, kid="confused", alg="HS256"),
        dict(rsa_public, kid="sig", use="sig", alg="RS256"),
    ]})
    assert set(found) == {"sig"}


# --- settings that would let foreign or forged tokens in ---------------------------------------


def _app(config: Settings):
    return create_service_app(config, title="t", blueprints=[], readiness_checks={})


@pytest.mark.parametrize("missing", [("jwt_issuer",), ("jwt_audience",), ("jwt_issuer", "jwt_audience")])
def test_a_jwks_service_refuses_to_start_without_issuer_and_audience(missing):
    config = settings("http://127.0.0.1:1/certs", **{name: None for name in missing})
    with pytest.raises(InsecureAuthConfiguration) as caught:
        _app(config)
    for name in missing:
        assert name.upper() in str(caught.value)


def test_hs256_outside_development_mode_refuses_to_start_or_is_refused(idp):
    with pytest.raises(InsecureAuthConfiguration, match="MENTORING_ENV=development"):
        _app(settings(jwt_secret=SECRET))
    # beside a JWKS in production the secret signs nothing the service accepts
    production = TokenVerifier(settings(idp.url, jwt_secret=SECRET))
    refused(production, mint_token(SECRET, "E1", ["admin"], issuer=ISSUER, audience=AUDIENCE))
    assert production.verify(idp.token()).subject == "E000042"


@pytest.mark.parametrize("secret", sorted(PUBLISHED_SECRETS) + ["short-secret-0123456789", "x" * 31])
def test_a_published_or_short_development_secret_refuses_to_start(secret):
    for config in (settings(jwt_secret=secret, environment="development"),
                   settings("http://127.0.0.1:1/certs", jwt_secret=secret, environment="development")):
        with pytest.raises(InsecureAuthConfiguration, match="JWT_SECRET"):
            _app(config)


def test_every_default_secret_the_repository_ships_is_in_the_refused_list():
    """The Makefile, compose, the k8s overlays and the tests must never ship a usable default."""
    shipped = set()
    patterns = [r"JWT_SECRET\s*[:=?]+\s*\$\{JWT_SECRET:-([^}]+)\}", r"JWT_SECRET=([^\s\"']+)",
                r"^\s*JWT_SECRET:\s*([^\s$]+)\s*$", r"JWT_SECRET\s*\?=\s*(\S+)"]
    for path in [ROOT / "Makefile", ROOT / "docker-compose.yml", *sorted((ROOT / "deploy").rglob("*.yaml"))]:
        for pattern in patterns:
            shipped |= {m for m in re.findall(pattern, path.read_text(), flags=re.M) if not m.startswith("$(")}
    assert shipped <= PUBLISHED_SECRETS, f"add to PUBLISHED_SECRETS: {shipped - PUBLISHED_SECRETS}"


# --- what a client sees ---------------------------------------------------------------------------


def test_a_forged_token_is_a_401_problem_naming_the_bearer_challenge(idp):
    probe = Blueprint("probe", __name__)

    @probe.get("/v1/me")
    def me():
        return {"sub": current_principal().subject}

    app = create_service_app(settings(idp.url), title="t", blueprints=[], readiness_checks={},
                             configure=lambda app: app.register_blueprint(probe))
    client = app.test_client()
    assert client.get("/v1/me", headers={"Authorization": f"Bearer {idp.token()}"}).json == {"sub": "E000042"}
    forged = hs256({"sub": "E1", "iat": int(time.time()), "exp": int(time.time()) + 60}, idp.public_pem())
    response = client.get("/v1/me", headers={"Authorization": f"Bearer {forged}"})
    assert response.status_code == 401 and response.content_type == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == 'Bearer error="invalid_token"'


def test_a_machine_client_is_refused_by_every_route_that_asks_who_is_calling():
    """`integration` tokens (an HRIS connector, a BI export) get no API route: the contract gives
    them Kafka only. Refused once, in current_principal(), whatever else the token claims."""
    probe = Blueprint("probe", __name__)

    @probe.get("/v1/me")
    @require()
    def me():
        return {"sub": current_principal().subject}

    @probe.get("/v1/admin-only")
    @require("admin")
    def admin_only():
        return {"ok": True}

    development = settings(jwt_secret=SECRET, environment="development")
    app = create_service_app(development, title="t", blueprints=[], readiness_checks={},
                             configure=lambda app: app.register_blueprint(probe))
    client = app.test_client()

    def get(path, subject, *roles):
        return client.get(path, headers={"Authorization": f"Bearer {mint_token(SECRET, subject, list(roles))}"})

    assert get("/v1/me", "E000042", "participant").json == {"sub": "E000042"}
    assert get("/v1/admin-only", "A1", "admin").status_code == 200
    for roles in (["integration"], ["integration", "participant"], ["integration", "admin"]):
        for path in ("/v1/me", "/v1/admin-only"):
            refused = get(path, "svc-hris", *roles)
            assert refused.status_code == 403 and refused.content_type == "application/problem+json", (path, roles)
            assert refused.json["code"] == "machine_client"
    assert client.get("/healthz").status_code == 200  # what an operator's tooling calls needs no token


def test_dev_token_mints_what_a_development_service_accepts_and_refuses_what_none_would(monkeypatch, capsys):
    from shared import cli

    secret = secrets.token_urlsafe(48)  # what `make run` generates into .local/jwt-secret
    monkeypatch.setenv("JWT_SECRET", secret)
    monkeypatch.setenv("JWT_MAX_LIFETIME_S", "3600")
    assert cli.main(["dev-token", "E000007", "admin", "participant"]) == 0
    verifier = TokenVerifier(settings(jwt_secret=secret, environment="development", jwt_max_lifetime_s=3600))
    person = verifier.verify(capsys.readouterr().out.strip())
    assert person.subject == "E000007" and person.roles == {"admin", "participant"}
    assert cli.main(["dev-token", "E000008"]) == 0
    assert verifier.verify(capsys.readouterr().out.strip()).roles == {"participant"}
    for argv in (["dev-token", "E1", "--ttl", "3601"], ["dev-token", "E1", "boss"]):
        with pytest.raises(SystemExit):
            cli.main(argv)
    monkeypatch.setenv("JWT_SECRET", "local-development-secret-change-me-0123456789")
    with pytest.raises(SystemExit):
        cli.main(["dev-token", "E1"])
    assert "published" in capsys.readouterr().err
