"""Server-side sessions: the cookie carries only a random id (HttpOnly, SameSite=Lax, Secure
outside development); tokens and the rest stay on the server, in the portal's own MongoDB
database (keyed by `_id`, which FerretDB indexes) or in memory for unit tests."""
from __future__ import annotations

import json
import secrets
import threading
import time

from flask.sessions import SessionInterface, SessionMixin
from werkzeug.datastructures import CallbackDict

COOKIE = "portal_session"
TTL_S = 10 * 3600


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

    def __init__(self, collection):
        self.collection = collection

    def load(self, sid: str) -> dict | None:
        doc = self.collection.find_one({"_id": sid})
        if not doc or doc.get("expires_at", 0) < time.time():
            return None
        return json.loads(doc.get("data") or "{}")

    def save(self, sid: str, data: dict, ttl_s: int) -> None:
        self.collection.replace_one({"_id": sid}, {"_id": sid, "data": json.dumps(data), "expires_at": time.time() + ttl_s},
                                    upsert=True)

    def delete(self, sid: str) -> None:
        self.collection.delete_one({"_id": sid})


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
