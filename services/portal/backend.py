"""HTTP calls to the four services, always as the signed-in person (their bearer token).

The portal holds no business data: every page is the services' answer to the person's own
token, so a participant sees through the portal exactly what the APIs let them see.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import requests


@dataclass
class ApiError(Exception):
    """A service's problem+json answer (or an unreachable service, status 503)."""

    status: int
    title: str
    detail: str = ""
    code: str | None = None
    errors: dict = field(default_factory=dict)
    extra: dict = field(default_factory=dict)

    def __str__(self) -> str:
        return self.detail or self.title

    def messages(self) -> list[str]:
        """One line per problem, field errors named by field."""
        lines = [f"{name}: {'; '.join(map(str, problems if isinstance(problems, list) else [problems]))}"
                 for name, problems in (self.errors or {}).items()]
        return lines or [str(self)]


class Backend:
    """requests against the services' base URLs; one pooled session per process (urllib3's pool is
    thread-safe: the page threads share its kept-alive connections)."""

    def __init__(self, service_urls: dict[str, str], *, timeout_s: float = 10.0):
        self.urls = {name: url.rstrip("/") for name, url in service_urls.items()}
        self.timeout_s = timeout_s
        self.http = requests.Session()
        # The services are addressed directly (loopback, in-cluster Services): no proxy, no
        # ~/.netrc. Without this, every call re-reads the proxy environment and looks for a
        # netrc file (a measurable share of a page's CPU when it makes ten calls).
        self.http.trust_env = False
        adapter = requests.adapters.HTTPAdapter(pool_connections=8, pool_maxsize=32)
        self.http.mount("http://", adapter)
        self.http.mount("https://", adapter)

    def request(self, token: str, method: str, service: str, path: str, *, json=None, params=None,
                raw: bool = False, timeout_s: float | None = None):
        url = f"{self.urls[service]}{path}"
        try:
            response = self.http.request(method, url, json=json, params=params, timeout=timeout_s or self.timeout_s,
                                         headers={"Authorization": f"Bearer {token}"})
        except requests.RequestException as error:
            raise ApiError(503, "Service unavailable", f"{service}: {error.__class__.__name__}") from None
        if response.status_code >= 400:
            try:
                body = response.json()
            except ValueError:
                body = {}
            known = {"title", "detail", "code", "errors", "status", "type", "instance"}
            raise ApiError(response.status_code, body.get("title") or response.reason or "Error",
                           body.get("detail") or "", body.get("code"), body.get("errors") or {},
                           {k: v for k, v in body.items() if k not in known})
        if raw:
            return response
        if response.status_code == 204 or not response.content:
            return {}
        return response.json()


class Api:
    """The calls the pages make, named for what they do, bound to one person's token."""

    def __init__(self, backend, token: str):
        self.backend, self.token = backend, token

    def _call(self, method, service, path, **kwargs):
        return self.backend.request(self.token, method, service, path, **kwargs)

    def get(self, service, path, **params):
        return self._call("GET", service, path, params=params or None)

    def post(self, service, path, body=None, *, timeout_s: float | None = None):
        """`timeout_s`: a longer wait than a page's calls get, for a bulk request (a CSV import)."""
        if timeout_s is not None:
            return self._call("POST", service, path, json=body if body is not None else {}, timeout_s=timeout_s)
        return self._call("POST", service, path, json=body if body is not None else {})

    def put(self, service, path, body):
        return self._call("PUT", service, path, json=body)

    def patch(self, service, path, body):
        return self._call("PATCH", service, path, json=body)

    def raw(self, service, path):
        return self._call("GET", service, path, raw=True)

    def optional(self, service, path, default=None, **params):
        """GET that answers `default` where the resource (or the route) does not exist, or is not ours."""
        try:
            return self.get(service, path, **params)
        except ApiError as error:
            if error.status in (403, 404, 405):
                return default
            raise
