"""Helpers every page uses: the person's API, profiles, flash messages, form values."""
from __future__ import annotations

import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app, flash, g

from services.portal.backend import Api, ApiError
from services.portal.i18n import gettext as _

# page calls that do not depend on each other run side by side (the render budget is 150 ms)
POOL_PREFIX = "portal-api"
POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix=POOL_PREFIX)


def api() -> Api:
    return Api(current_app.extensions["backend"], g.token)


def me() -> str:
    return g.user["employee_id"]


def is_admin() -> bool:
    return "admin" in g.user["roles"]


class Started:
    """Calls already running side by side; `results()` waits for them."""

    def __init__(self, futures: dict[str, Future]):
        self.futures = futures

    def results(self) -> dict:
        """Each call's result, or the ApiError it raised."""
        out = {}
        for name, future in self.futures.items():
            try:
                out[name] = future.result()
            except ApiError as error:
                out[name] = error
        return out


def start(**calls) -> Started:
    """Start zero-argument callables at once and return without waiting: a page starts what does
    not depend on anything, works out what does meanwhile, then collects both."""
    app, token, user = current_app._get_current_object(), g.token, g.user  # type: ignore[attr-defined]
    nested = threading.current_thread().name.startswith(POOL_PREFIX)

    def in_context(call):
        with app.app_context():
            g.token, g.user = token, user
            return call()

    futures: dict[str, Future] = {}
    for name, call in calls.items():
        if nested:
            # Already on a pool thread: waiting there for more pool threads could leave every one
            # of them waiting on work queued behind it (a deadlock under load). Run it here.
            futures[name] = Future()
            try:
                futures[name].set_result(call())
            except Exception as error:  # noqa: BLE001 - handed over exactly as a pool thread would
                futures[name].set_exception(error)
        else:
            futures[name] = POOL.submit(in_context, call)
    return Started(futures)


def parallel(**calls):
    """Run zero-argument callables at once; each result, or the ApiError it raised."""
    return start(**calls).results()


def ok(value, default=None):
    return default if isinstance(value, ApiError) else value


# Profiles (name, title, ...) are the same for every signed-in reader and change when the HRIS says
# so: a page naming 100 people would otherwise make 100 calls per render. A minute of staleness.
PROFILE_TTL_S = 60.0
_profiles: dict[str, tuple[float, dict]] = {}


def profile(employee_id: str | None) -> dict:
    if not employee_id:
        return {}
    # Per reader: what the API shows depends on who asks (the person and admins get the whole
    # record, partners a card, anyone else nothing), so one reader's copy is never another's.
    key = f"{me()}|{employee_id}"
    cached = _profiles.get(key)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    found = api().optional("matching", f"/v1/participants/{employee_id}", default=None)
    if found is None:
        return {"employee_id": employee_id}
    if len(_profiles) > 50_000:
        _profiles.clear()
    _profiles[key] = (time.monotonic() + PROFILE_TTL_S, found)
    return found


def report(error: ApiError) -> None:
    for line in error.messages():
        flash(line, "error")


def done(message: str) -> None:
    flash(_(message), "ok")


def zone_of(person: dict) -> ZoneInfo:
    try:
        return ZoneInfo(person.get("timezone") or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def local_time(value: str | None, zone: ZoneInfo) -> str:
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


def to_rfc3339(local_value: str, zone: ZoneInfo) -> str:
    """A `datetime-local` form value in the person's zone as RFC 3339 UTC."""
    moment = datetime.fromisoformat(local_value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return moment.astimezone(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")
