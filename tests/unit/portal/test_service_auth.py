"""The services accept the IdP's RS256 tokens (JWKS, iss, aud) and, in development only, HS256
development tokens beside them; the claim mapping is configurable (shared/http/auth.py)."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa

from shared.config import Settings
from shared.http.auth import TokenVerifier, mint_token

ISSUER, AUDIENCE, SECRET = "http://127.0.0.1/realms/mentoring", "mentoring", "s" * 40


@pytest.fixture(scope="module")
def jwks():
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    body = json.dumps({"keys": [dict(public, kid="k1", use="sig", alg="RS256")]}).encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - http.server's name
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield key, f"http://127.0.0.1:{server.server_port}/certs"
    server.shutdown()


def idp_token(key, **claims):
    now = int(time.time())
    body = {"sub": "E000042", "roles": ["participant"], "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 300,
            **claims}
    return jwt.encode(body, key, algorithm="RS256", headers={"kid": "k1"})


def verifier(url, **overrides):
    settings = Settings(service_name="t", jwt_secret=SECRET, jwt_jwks_url=url, jwt_issuer=ISSUER,
                        jwt_audience=AUDIENCE, environment="development")
    for name, value in overrides.items():
        object.__setattr__(settings, name, value)
    return TokenVerifier(settings)


def test_an_idp_token_is_verified_through_the_jwks(jwks):
    key, url = jwks
    person = verifier(url).verify(idp_token(key, roles=["admin", "participant", "other"]))
    assert person.subject == "E000042" and person.roles == {"admin", "participant"}


@pytest.mark.parametrize("claims", [{"aud": "someone-else"}, {"iss": "http://evil"}, {"exp": 1}])
def test_a_wrong_audience_issuer_or_an_expired_token_is_refused(jwks, claims):
    key, url = jwks
    with pytest.raises(jwt.PyJWTError):
        verifier(url).verify(idp_token(key, **claims))


def test_development_tokens_work_beside_the_idp_in_development_only(jwks):
    _, url = jwks
    token = mint_token(SECRET, "E000001", ["admin"])
    assert verifier(url).verify(token).is_admin
    with pytest.raises(jwt.PyJWTError):
        verifier(url, environment="production").verify(token)


def test_a_token_signed_with_the_secret_but_claiming_rs256_is_refused(jwks):
    _, url = jwks
    import base64
    import hashlib
    import hmac

    def part(doc):
        return base64.urlsafe_b64encode(json.dumps(doc).encode()).rstrip(b"=").decode()

    signed = f'{part({"alg": "RS256", "kid": "k1"})}.{part({"sub": "E1", "exp": int(time.time()) + 60})}'
    mac = hmac.new(SECRET.encode(), signed.encode(), hashlib.sha256).digest()
    forged = f"{signed}.{base64.urlsafe_b64encode(mac).rstrip(b'=').decode()}"
    with pytest.raises(jwt.PyJWTError):
        verifier(url).verify(forged)


def test_subject_and_roles_can_come_from_other_claims(jwks):
    key, url = jwks
    token = idp_token(key, sub="opaque-id", preferred_username="E000777", roles=None,
                      realm_access={"roles": ["participant"]})
    person = verifier(url, jwt_subject_claim="preferred_username", jwt_roles_claim="realm_access.roles").verify(token)
    assert person.subject == "E000777" and person.roles == {"participant"}
