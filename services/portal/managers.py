"""Who may open the console: platform admins (the token's `admin` role) and programme managers.

A manager's token need not say so: matching knows who manages which programme
(`GET /v1/me/managed-programs`), and every API refuses what lies outside those programmes, so the
portal only decides whether to show the console at all and which programmes to list. The answer
is kept a minute per person (the nav asks on every page), per app.
"""
from __future__ import annotations

import functools
import time

from flask import abort, current_app

from services.portal.backend import ApiError
from services.portal.oidc import login_required
from services.portal.views.common import api, is_admin, me

MANAGED_TTL_S = 60.0
_CACHE = "portal_managed_programs"


def managed_programs() -> list[dict]:
    """The programmes naming the signed-in person as a manager (`program_id`, `name`)."""
    cache = current_app.extensions.setdefault(_CACHE, {})
    cached = cache.get(me())
    if cached and cached[0] > time.monotonic():
        return cached[1]
    try:
        found = api().optional("matching", "/v1/me/managed-programs", default=None)
    except ApiError:
        return []  # matching unreachable: no console link this time, asked again on the next page
    items = list((found or {}).get("items") or [])
    if len(cache) > 50_000:
        cache.clear()
    cache[me()] = (time.monotonic() + MANAGED_TTL_S, items)
    return items


def may_use_console() -> bool:
    return is_admin() or bool(managed_programs())


def console_required(view):
    """Signed in, and a platform admin or a programme's manager (the APIs check each programme)."""

    @functools.wraps(view)
    @login_required
    def wrapper(*args, **kwargs):
        if not may_use_console():
            abort(403)
        return view(*args, **kwargs)

    return wrapper
