"""The portal's server-side sessions on the real MongoDB-compatible server: expired sessions are
purged (FerretDB v1 refuses TTL indexes, so the purge a sign-in runs at most once an hour is what
removes them there; mongod also gets the TTL index)."""
from __future__ import annotations

from datetime import datetime

import pytest

from shared.mongo import database_for
from services.portal.sessions import MongoStore

pytestmark = pytest.mark.integration


class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def test_expired_sessions_are_purged_at_most_once_an_hour_and_live_ones_stay(make_settings):
    collection = database_for(make_settings("portal"))["sessions"]
    clock = Clock()
    store = MongoStore(collection, clock=clock, purge_interval_s=3600)
    store.save("old", {"user": {"employee_id": "E1"}}, 60)  # the first save purges (nothing yet)
    collection.insert_one({"_id": "older", "data": "{}", "expires_at": clock.now - 1})  # stored as seconds once
    assert isinstance(collection.find_one({"_id": "old"})["expires_at"], datetime)  # a date: what a TTL index needs
    clock.now += 120  # "old" has expired
    assert store.load("old") is None
    store.save("new", {"user": {"employee_id": "E2"}}, 3600)  # within the hour: no purge yet
    assert collection.find_one({"_id": "old"}) is not None
    clock.now += 3601  # an hour later: the next sign-in purges; "new" has expired too by now
    store.save("newest", {"user": {"employee_id": "E3"}}, 3600)
    assert sorted(doc["_id"] for doc in collection.find({})) == ["newest"]
    assert store.load("newest") == {"user": {"employee_id": "E3"}}
    is_ferretdb = "ferretdb" in str(collection.database.command("buildInfo")).lower()
    ttl = [index for index in collection.list_indexes() if "expireAfterSeconds" in index]
    assert (not ttl) if is_ferretdb else [index["key"] for index in ttl] == [{"expires_at": 1}]
