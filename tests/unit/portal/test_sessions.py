"""Server-side sessions in MongoDB survive what FerretDB v1 refuses (nested arrays: Flask's flashes)."""
from __future__ import annotations

from services.portal.sessions import MongoStore


class NoNestedArrays:
    """Stands in for a FerretDB v1 collection: `_id` look-ups, and no list inside a list."""

    def __init__(self):
        self.docs = {}

    def _check(self, value):
        if isinstance(value, dict):
            for item in value.values():
                self._check(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                assert not isinstance(item, (list, tuple)), "nested arrays are not supported"
                self._check(item)

    def replace_one(self, query, doc, upsert=False):
        self._check(doc)
        self.docs[query["_id"]] = doc

    def find_one(self, query):
        return self.docs.get(query["_id"])

    def delete_one(self, query):
        self.docs.pop(query["_id"], None)

    def create_index(self, *args, **kwargs):
        return "expires_at_1"

    def delete_many(self, query):
        class Deleted:
            deleted_count = 0
        return Deleted()


def test_a_session_with_flashed_messages_round_trips():
    store = MongoStore(NoNestedArrays())
    data = {"_flashes": [("ok", "Programme created.")], "user": {"employee_id": "E1", "roles": ["admin"]}}
    store.save("sid", data, 60)
    assert store.load("sid") == {"_flashes": [["ok", "Programme created."]], "user": data["user"]}
    store.delete("sid")
    assert store.load("sid") is None
