"""Server-side sessions: the cookie carries only a random id (HttpOnly, SameSite=Lax, Secure
outside development); tokens and the rest stay on the server, in the portal's own MongoDB
database (keyed by `_id`, which FerretDB indexes) or in memory for unit tests.

Expired sessions are removed: on mongod by a TTL index on `expires_at` (a date), and everywhere
(FerretDB v1 has no TTL indexes: "not implemented") by `MongoStore.purge_if_due`, which a session
save (every sign-in) runs at most once per `PURGE_INTERVAL_S` per process: one `delete_many` of the
expired, a scan of the sessions collection on FerretDB, an index range on mongod."""
from __future__ import annotations

import json
import logging
import secrets
import threading
import time
from datetime import datetime, timezone

from flask.sessions import SessionInterface, SessionMixin
from pymongo.errors import OperationFailure, PyMongoError
from werkzeug.datastructures import CallbackDict

log = logging.getLogger(__name__)

COOKIE = "portal_session"
TTL_S = 10 * 3600
PURGE_INTERVAL_S = 3600
NOT_IMPLEMENTED = 238  # the server's error code for an index option it lacks (FerretDB v1: expireAfterSeconds)


class ServerSession(CallbackDict, SessionMixin):
    def __init__(self, initial=None, sid: str | None = None, new: bool = False):
        def on_update(_):
            self.modified = True

        super().__init__(initial, on_update)
        self.sid = sid
        self.new = new
        self.modified = False


class MemoryStore:
    def __init__(self):
        self._data: dict[str, tuple[float, dict]] = {}
        self._lock = threading.Lock()

    def load(self, sid: str) -> dict | None:
        with self._lock:
            found = self._data.get(sid)
        if not found or found[0] < time.time():
            return None
        return dict(found[1])

    def save(self, sid: str, data: dict, ttl_s: int) -> None:
        with self._lock:
            self._data[sid] = (time.time() + ttl_s, dict(data))

    def delete(self, sid: str) -> None:
        with self._lock:
            self._data.pop(sid, None)


class MongoStore:
    """The session as one JSON string: FerretDB v1 stores no nested arrays (Flask's flashed
    messages are a list of pairs), and the portal never queries inside a session anyway."""

    def __init__(self, collection, *, clock=time.time, purge_interval_s: float = PURGE_INTERVAL_S):
        self.collection, self.clock, self.purge_interval_s = collection, clock, purge_interval_s
        self._lock = threading.Lock()
        self._next_purge = 0.0
        self._ttl_index_tried = False

    def load(self, sid: str) -> dict | None:
        doc = self.collection.find_one({"_id": sid})
        if not doc or _epoch(doc.get("expires_at")) < self.clock():
            return None
        return json.loads(doc.get("data") or "{}")

    def save(self, sid: str, data: dict, ttl_s: int) -> None:
        expires_at = datetime.fromtimestamp(self.clock() + ttl_s, tz=timezone.utc)
        self.collection.replace_one({"_id": sid}, {"_id": sid, "data": json.dumps(data), "expires_at": expires_at},
                                    upsert=True)
        self.purge_if_due()

    def delete(self, sid: str) -> None:
        self.collection.delete_one({"_id": sid})

    def purge_if_due(self) -> int | None:
        """Delete the expired sessions if this process has not for `purge_interval_s`; how many (None:
        not due, or the server failed: a purge never fails the request that happened to run it)."""
        now = self.clock()
        with self._lock:
            if now < self._next_purge:
                return None
            self._next_purge = now + self.purge_interval_s
            ensure_ttl, self._ttl_index_tried = not self._ttl_index_tried, True
        try:
            if ensure_ttl:
                self._ensure_ttl_index()
            expired = {"$or": [{"expires_at": {"$lt": datetime.fromtimestamp(now, tz=timezone.utc)}},
                               {"expires_at": {"$lt": now}}]}  # a date; or seconds, as sessions were stored before
            return self.collection.delete_many(expired).deleted_count
        except PyMongoError:
            log.warning("purging expired portal sessions failed; trying again in %ss", self.purge_interval_s,
                        exc_info=True)
            return None

    def _ensure_ttl_index(self) -> None:
        try:
            self.collection.create_index("expires_at", expireAfterSeconds=0)
        except OperationFailure as error:
            if error.code != NOT_IMPLEMENTED:
                raise
            log.info("the server has no TTL indexes (FerretDB v1): expired sessions go by the periodic purge only")


def _epoch(expires_at) -> float:
    if isinstance(expires_at, datetime):
        return (expires_at if expires_at.tzinfo else expires_at.replace(tzinfo=timezone.utc)).timestamp()
    return float(expires_at or 0)


class ServerSessionInterface(SessionInterface):
    def __init__(self, store, *, secure: bool, ttl_s: int = TTL_S):
        self.store, self.secure, self.ttl_s = store, secure, ttl_s

    def open_session(self, app, request):
        sid = request.cookies.get(COOKIE)
        if sid:
            data = self.store.load(sid)
            if data is not None:
                return ServerSession(data, sid=sid)
        return ServerSession(sid=secrets.token_urlsafe(32), new=True)

    def save_session(self, app, session, response):
        if not session:
            if not session.new:
                self.store.delete(session.sid)
                response.delete_cookie(COOKIE, path="/")
            return
        if session.modified or session.new:
            if session.get("_rotate"):
                # a new id after sign-in: an id planted before login is worth nothing afterwards
                session.pop("_rotate")
                self.store.delete(session.sid)
                session.sid = secrets.token_urlsafe(32)
            self.store.save(session.sid, dict(session), self.ttl_s)
        response.set_cookie(COOKIE, session.sid, max_age=self.ttl_s, httponly=True, samesite="Lax",
                            secure=self.secure, path="/")
