"""The portal's Flask app (gunicorn: "services.portal.api:create_app()").

create_app(settings, backend=, oidc=, store=) lets unit tests swap the services' HTTP client, the
identity provider and the session store for fakes; a real run builds all three from Settings.
"""
from __future__ import annotations

import logging
import time

from flask import Flask, Response, g, render_template, request
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from shared.config import Settings
from shared.metrics import HTTP_REQUEST_DURATION, render_latest
from services.portal import oidc as auth
from services.portal.backend import ApiError, Backend
from services.portal.i18n import choose_language, gettext
from services.portal.sessions import MongoStore, ServerSessionInterface

log = logging.getLogger(__name__)


def _store(settings: Settings):
    from shared.mongo import database_for

    return MongoStore(database_for(settings)["sessions"])


def create_app(settings: Settings | None = None, *, backend=None, oidc=None, store=None) -> Flask:
    settings = settings or Settings.from_env("portal")
    app = Flask(__name__)
    if not settings.development:
        # Deployed behind the ingress controller, which ends TLS: the sign-in redirect URI and the
        # sign-out return address must be https://<public host>, as the IdP has them registered.
        # One proxy hop is trusted; the NetworkPolicy lets nothing else reach the pods.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)  # type: ignore[method-assign]
    app.config.update(settings=settings, SECRET_KEY=settings.portal_secret_key or settings.jwt_secret or "dev",
                      PREFERRED_URL_SCHEME="http" if settings.development else "https",
                      MAX_CONTENT_LENGTH=5 * 1024 * 1024)
    app.session_interface = ServerSessionInterface(store if store is not None else _store(settings),
                                                   secure=not settings.development)
    app.extensions["backend"] = backend or Backend(settings.service_urls)
    app.extensions["oidc"] = oidc or auth.OidcClient(app, settings)
    app.register_blueprint(auth.bp)
    from services.portal.views import agreement, availability, choice, console, outcomes, participant

    app.register_blueprint(participant.bp)
    app.register_blueprint(agreement.bp)
    app.register_blueprint(availability.bp)
    app.register_blueprint(console.bp)
    app.register_blueprint(outcomes.bp)
    from services.portal.views import privacy  # the console's Privacy pages (platform admins)

    app.register_blueprint(privacy.bp)
    app.register_blueprint(choice.bp)
    from services.portal.views import circles  # My circle (issue 15: group mentoring)

    app.register_blueprint(circles.bp)
    app.jinja_env.globals.update(_=gettext, csrf_token=auth.csrf_token)
    app.jinja_env.policies["json.dumps_kwargs"] = {"sort_keys": False}

    @app.before_request
    def _start():
        g.started = time.perf_counter()
        g.lang = choose_language()
        auth.check_csrf()

    @app.after_request
    def _finish(response: Response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Content-Security-Policy",
                                    "default-src 'self'; img-src 'self' data:; style-src 'self'; "
                                    "form-action 'self' " + (settings.oidc_issuer or "") + "; frame-ancestors 'none'")
        if request.endpoint != "static":
            response.headers.setdefault("Cache-Control", "no-store")
        started = g.get("started")
        route = request.url_rule.rule if request.url_rule else "unmatched"
        if started is not None and route != "/metrics":
            elapsed = time.perf_counter() - started
            response.headers["Server-Timing"] = f"render;dur={elapsed * 1000:.1f}"
            # the same series as the services' (job portal-api): render latency per page
            HTTP_REQUEST_DURATION.labels(settings.service_name, route, request.method,
                                         str(response.status_code)).observe(elapsed)
        return response

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        status = error.status if error.status in (403, 404, 409, 422, 503) else 502
        return render_template("error.html", status=status, title=error.title, messages=error.messages()), status

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        return render_template("error.html", status=error.code, title=error.name,
                               messages=[error.description] if error.description else []), error.code

    @app.get("/healthz")
    def healthz():
        return {"status": "ok"}

    @app.get("/metrics")
    def metrics():
        body, content_type = render_latest()
        return Response(body, mimetype=content_type.split(";")[0], headers={"Content-Type": content_type})

    @app.get("/readyz")
    def readyz():
        checks = {}
        for name, url in app.extensions["backend"].urls.items() if hasattr(app.extensions["backend"], "urls") else []:
            try:
                checks[name] = app.extensions["backend"].http.get(f"{url}/healthz", timeout=2).status_code == 200
            except Exception:  # noqa: BLE001 - a readiness probe reports, never raises
                checks[name] = False
        ok = all(checks.values())
        return {"status": "ready" if ok else "not ready", "checks": checks}, 200 if ok else 503

    return app
