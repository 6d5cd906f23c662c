"""Sign-in with the organisation's OpenID Connect provider (authorization code + PKCE, authlib).

Tokens stay in the server-side session; the cookie holds only its id. The services check the
access token themselves (JWKS), so the portal only reads from it who the person is, through the
same claim mapping the services use (JWT_SUBJECT_CLAIM, JWT_ROLES_CLAIM).
"""
from __future__ import annotations

import functools
import hmac
import secrets
import time
from urllib.parse import urlencode, urlsplit

import jwt
from flask import Blueprint, abort, current_app, g, redirect, request, session, url_for

from shared.http.auth import principal_from_claims

bp = Blueprint("auth", __name__)
REFRESH_MARGIN_S = 60


def safe_next(target: str | None) -> str:
    """Only a path on this site: `next` must never send a signed-in person elsewhere."""
    if not target or not target.startswith("/") or target.startswith("//") or urlsplit(target).netloc:
        return "/"
    return target


class OidcClient:
    """What the login routes need from the provider; a fake replaces it in unit tests."""

    def __init__(self, app, settings):
        from authlib.integrations.flask_client import OAuth

        self.oauth = OAuth(app)
        self.settings = settings
        self.idp = self.oauth.register(
            "idp", client_id=settings.oidc_client_id, client_secret=settings.oidc_client_secret,
            server_metadata_url=f"{settings.oidc_issuer.rstrip('/')}/.well-known/openid-configuration",
            client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256"},
        )

    def authorize_redirect(self, redirect_uri: str, **kwargs):
        return self.idp.authorize_redirect(redirect_uri, **kwargs)

    def authorize_access_token(self) -> dict:
        return self.idp.authorize_access_token()

    def refresh(self, refresh_token: str) -> dict:
        return self.idp.fetch_access_token(grant_type="refresh_token", refresh_token=refresh_token)

    def logout_url(self, id_token: str | None, after: str) -> str | None:
        endpoint = self.idp.load_server_metadata().get("end_session_endpoint")
        if not endpoint:
            return None
        params = {"post_logout_redirect_uri": after, "client_id": self.settings.oidc_client_id}
        if id_token:
            params["id_token_hint"] = id_token
        return f"{endpoint}?{urlencode(params)}"


def identity_from(access_token: str, settings) -> dict:
    """Who the token names (employee id, roles), read with the services' claim mapping. The token
    came straight from the provider's token endpoint; the services verify its signature."""
    claims = jwt.decode(access_token, options={"verify_signature": False})
    person = principal_from_claims(claims, settings)
    return {"employee_id": person.subject, "roles": sorted(person.roles),
            "name": claims.get("name") or claims.get("preferred_username") or person.subject}


def store_tokens(token: dict) -> None:
    settings = current_app.config["settings"]
    session["tokens"] = {"access_token": token["access_token"], "refresh_token": token.get("refresh_token"),
                         "id_token": token.get("id_token") or session.get("tokens", {}).get("id_token"),
                         "expires_at": token.get("expires_at") or int(time.time()) + int(token.get("expires_in", 300))}
    session["user"] = identity_from(token["access_token"], settings)


def access_token() -> str | None:
    """The current access token, refreshed shortly before it expires; None when signed out."""
    tokens = session.get("tokens")
    if not tokens:
        return None
    if tokens["expires_at"] - REFRESH_MARGIN_S < time.time():
        if not tokens.get("refresh_token"):
            session.clear()
            return None
        try:
            store_tokens(current_app.extensions["oidc"].refresh(tokens["refresh_token"]))
        except Exception:  # noqa: BLE001 - any refresh failure means: sign in again
            session.clear()
            return None
    return session["tokens"]["access_token"]


def login_required(view):
    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        token = access_token()
        if token is None:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        g.token = token
        g.user = session["user"]
        return view(*args, **kwargs)

    return wrapper


def admin_required(view):
    @functools.wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if "admin" not in g.user["roles"]:
            abort(403)
        return view(*args, **kwargs)

    return wrapper


# -- CSRF: one random token per session, in every form, checked on every unsafe request -----------

def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return session["csrf"]


def check_csrf() -> None:
    if request.method in ("GET", "HEAD", "OPTIONS") or request.endpoint in (None, "static"):
        return
    sent = request.form.get("csrf_token") or request.headers.get("X-CSRF-Token") or ""
    if not session.get("csrf") or not hmac.compare_digest(sent, session["csrf"]):
        abort(400, description="The form has expired: reload the page and send it again.")


# -- routes ---------------------------------------------------------------------------------------

@bp.get("/login")
def login():
    session["next"] = safe_next(request.args.get("next"))
    lang = session.get("lang")
    extra = {"ui_locales": lang} if lang else {}
    return current_app.extensions["oidc"].authorize_redirect(url_for("auth.callback", _external=True), **extra)


@bp.get("/auth/callback")
def callback():
    if request.args.get("error"):
        abort(401, description=request.args.get("error_description") or request.args["error"])
    token = current_app.extensions["oidc"].authorize_access_token()
    target = session.pop("next", "/")
    csrf, lang = session.get("csrf"), session.get("lang")
    session.clear()
    if lang:
        session["lang"] = lang
    store_tokens(token)
    session["csrf"] = csrf or secrets.token_urlsafe(32)
    session["_rotate"] = True
    _remember_language()
    return redirect(safe_next(target))


def _remember_language() -> None:
    """The person's own language choice (their notification preferences) wins over the browser's."""
    from services.portal.backend import Api, ApiError

    try:
        prefs = Api(current_app.extensions["backend"], session["tokens"]["access_token"]).get(
            "notifications", "/v1/me/preferences")
    except ApiError:
        return
    if prefs.get("language") in ("en", "de"):
        session["lang"] = prefs["language"]


@bp.post("/logout")
def logout():
    id_token = (session.get("tokens") or {}).get("id_token")
    session.clear()
    after = url_for("auth.signed_out", _external=True)
    target = current_app.extensions["oidc"].logout_url(id_token, after) if id_token else None
    return redirect(target or after)


@bp.get("/signed-out")
def signed_out():
    from flask import render_template

    return render_template("signed_out.html")
