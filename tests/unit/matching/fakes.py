"""In-memory adapters for the matching unit tests: a pymongo-like database and a synchronous projector.

`MemoryDatabase` implements the small part of pymongo the matching adapters use (documents keyed
by `_id`, equality / `$or` / `$gt` filters, sort, limit). `SyncProjector` feeds projections from
the in-memory event store the way shared.projector.StoreProjector does (checkpoint, the commit's
private data visible to handlers through `private_of`), but only when asked: `wait_for(position)`
catches up first, so command handlers get read-your-writes without threads.
"""
from __future__ import annotations

import copy
import itertools

from pymongo.errors import BulkWriteError, DuplicateKeyError
from pymongo.results import UpdateResult

from shared.events.catalog import default_registry
from shared.projector import applying


def _matches(doc: dict, query: dict) -> bool:
    for key, expected in query.items():
        if key == "$or":
            if not any(_matches(doc, sub) for sub in expected):
                return False
        elif isinstance(expected, dict) and "$in" in expected:
            if doc.get(key) not in expected["$in"]:
                return False
        elif isinstance(expected, dict) and "$gt" in expected:
            if key not in doc or not doc[key] > expected["$gt"]:
                return False
        elif isinstance(expected, dict) and "$lt" in expected:
            if key not in doc or not doc[key] < expected["$lt"]:
                return False
        elif isinstance(expected, dict) and "$lte" in expected:
            if key not in doc or not doc[key] <= expected["$lte"]:
                return False
        elif isinstance(doc.get(key), list) and not isinstance(expected, (list, dict)):
            if expected not in doc[key]:  # MongoDB: a scalar matches an array holding it
                return False
        elif doc.get(key) != expected:
            return False
    return True


class _Cursor(list):
    def sort(self, key, direction=1):
        return _Cursor(sorted(self, key=lambda d: d.get(key), reverse=direction == -1))

    def limit(self, n):
        return _Cursor(self[:n])


class MemoryCollection:
    def __init__(self):
        self.docs: dict = {}
        self.scans: list[dict] = []  # every filter other than `{_id: <string>}` (a scan on FerretDB v1)

    def find_one(self, query: dict, projection=None):
        if set(query) == {"_id"} and not isinstance(query["_id"], dict):
            doc = self.docs.get(query["_id"])
            return copy.deepcopy(doc) if doc is not None else None
        found = self.find(query)
        return found[0] if found else None

    def find(self, query: dict | None = None, projection=None):
        self.scans.append(query or {})
        return _Cursor(copy.deepcopy(d) for d in self.docs.values() if _matches(d, query or {}))

    def count_documents(self, query: dict) -> int:
        return len(self.find(query))

    def replace_one(self, query: dict, doc: dict, upsert: bool = False):
        key = query["_id"]
        matched = key in self.docs and _matches(self.docs[key], query)
        if matched or (upsert and key not in self.docs):
            self.docs[key] = copy.deepcopy({**doc, "_id": key})
        return UpdateResult({"n": int(matched), "nModified": int(matched)}, acknowledged=True)

    def find_one_and_replace(self, query: dict, doc: dict, upsert: bool = False, **kwargs):
        before = self.find_one(query)
        self.replace_one(query, doc, upsert=upsert)
        return before

    def insert_one(self, doc: dict):
        if doc["_id"] in self.docs:
            raise DuplicateKeyError("duplicate _id")
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    def insert_many(self, docs: list[dict], ordered: bool = True):
        errors = []
        for index, doc in enumerate(docs):
            try:
                self.insert_one(doc)
            except DuplicateKeyError:
                errors.append({"index": index, "code": 11000})
        if errors:
            raise BulkWriteError({"writeErrors": errors})

    def delete_one(self, query: dict):
        self.docs.pop(query["_id"], None)

    def drop(self):
        self.docs.clear()

    def create_index(self, *args, **kwargs):
        return "index"


class MemoryDatabase:
    def __init__(self):
        self.collections: dict[str, MemoryCollection] = {}

    def __getitem__(self, name: str) -> MemoryCollection:
        return self.collections.setdefault(name, MemoryCollection())

    def snapshot(self, *names: str) -> dict:
        return {name: {k: v for k, v in self[name].docs.items()} for name in names}


class SyncProjector:
    """StoreProjector's behaviour, synchronously: `catch_up`, `checkpoint`, `wait_for`."""

    def __init__(self, store, projections, registry=None):
        self.store = store
        self.projections = list(projections)
        self.registry = registry or default_registry()
        self.next_position = 1
        self.applied = 0
        self.paused = False  # a stopped worker: wait_for then times out, as it would

    def routes(self):
        routes: dict = {}
        for projection in self.projections:
            for event_type, handler in projection.handlers().items():
                routes.setdefault(event_type, []).append(handler)
        return routes

    def catch_up(self) -> int:
        if self.paused:
            return 0
        routes = self.routes()
        applied = 0
        for commit in self.store.read_all(self.next_position):
            with applying(commit):
                for raw in commit.events:
                    envelope = self.registry.to_current(raw)
                    for handler in routes.get(envelope.event_type, ()):
                        handler(envelope)
                        applied += 1
            self.next_position = commit.position + 1
        self.applied += applied
        return applied

    def checkpoint(self) -> int:
        return self.next_position

    def wait_for(self, position: int, timeout_s: float = 2.0) -> bool:
        self.catch_up()
        return self.next_position > position or not position

    def rewind(self) -> None:
        self.next_position = 1


counter = itertools.count(1)
