"""What the portal needs to run in the cluster: Prometheus can scrape its render latency, and behind
the ingress controller (which ends TLS) sign-in sends the IdP the public https address."""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from shared.config import Settings
from services.portal.api import create_app
from services.portal.sessions import MemoryStore
from tests.unit.portal.fakes import MENTEE, FakeBackend, FakeOidc


def _app(environment: str):
    settings = Settings(service_name="portal", environment=environment, jwt_secret="x",
                        oidc_issuer="https://idp.example/realms/mentoring")
    app = create_app(settings, backend=FakeBackend(), oidc=FakeOidc(), store=MemoryStore())
    app.testing = True
    return app


def _redirect_uri_sent_to_the_idp(client, **headers) -> str:
    to_idp = client.get("/login", headers=headers)
    return parse_qs(urlsplit(to_idp.headers["Location"]).query)["redirect_uri"][0]


def test_behind_the_ingress_sign_in_returns_to_the_public_https_address():
    client = _app("production").test_client()
    uri = _redirect_uri_sent_to_the_idp(client, **{"X-Forwarded-Proto": "https",
                                                    "X-Forwarded-Host": "mentoring.example.com"})
    assert uri == "https://mentoring.example.com/auth/callback"


def test_in_development_forwarded_headers_are_not_trusted():
    client = _app("development").test_client()
    uri = _redirect_uri_sent_to_the_idp(client, **{"X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"})
    assert uri == "http://localhost/auth/callback"


def test_metrics_report_each_pages_render_latency_as_the_portal():
    app = _app("development")
    client = app.test_client()
    client.get("/login")
    client.get("/auth/callback?code=c&state=s")
    assert client.get("/").status_code == 200, MENTEE
    text = client.get("/metrics").get_data(as_text=True)
    # the registry is the process's: other tests' sign-ins (302s on "/") may be counted beside this page
    line = next(line for line in text.splitlines()
                if line.startswith("http_request_duration_seconds_count") and 'route="/"' in line
                and 'status="200"' in line)  # earlier tests' sign-in redirects count under 302
    assert 'service="portal"' in line and 'status="200"' in line and float(line.rsplit(" ", 1)[1]) >= 1
    assert 'route="/metrics"' not in text
