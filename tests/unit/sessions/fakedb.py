"""An in-memory stand-in for the few pymongo calls the sessions and feedback adapters make.

Unit tests only (integration tests use the real server). Documents are deep-copied in and out,
so a test cannot pass by mutating what it read.
"""
from __future__ import annotations

import copy
from types import SimpleNamespace

from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError


def _matches(doc: dict, query: dict) -> bool:
    for key, expected in (query or {}).items():
        if key == "$or":
            if not any(_matches(doc, alternative) for alternative in expected):
                return False
            continue
        value = doc.get(key)
        if isinstance(expected, dict) and any(k.startswith("$") for k in expected):
            for op, arg in expected.items():
                if op == "$lt" and not (value is not None and value < arg):
                    return False
                if op == "$in" and value not in arg:
                    return False
                if op == "$gte" and not (value is not None and value >= arg):
                    return False
        elif value != expected:
            return False
    return True


def _refuse_nested_arrays(value, inside_array: bool = False) -> None:
    """FerretDB v1 refuses an array inside an array ("nested arrays are not supported"): so does the fake."""
    if isinstance(value, (list, tuple)):
        if inside_array:
            raise WriteError("nested arrays are not supported", code=2)
        for item in value:
            _refuse_nested_arrays(item, True)
    elif isinstance(value, dict):
        for item in value.values():
            _refuse_nested_arrays(item, False)


def _keyed(query) -> bool:
    return bool(query) and set(query) == {"_id"} and isinstance(query["_id"], str)


class FakeCollection:
    def __init__(self, name: str):
        self.name = name
        self.docs: dict = {}
        self.scans: list[dict] = []  # every filter other than `{_id: <string>}` (a scan on FerretDB v1)

    def create_index(self, *args, **kwargs):
        return "index"

    def find_one(self, query=None, projection=None):
        if _keyed(query):
            doc = self.docs.get(query["_id"])
            return copy.deepcopy(doc) if doc is not None else None
        self.scans.append(query or {})
        for doc in self.docs.values():
            if _matches(doc, query or {}):
                return copy.deepcopy(doc)
        return None

    def find(self, query=None, projection=None):
        if not _keyed(query):
            self.scans.append(query or {})
        return [copy.deepcopy(doc) for doc in list(self.docs.values()) if _matches(doc, query or {})]

    def count_documents(self, query):
        return len(self.find(query))

    def insert_one(self, doc):
        _refuse_nested_arrays(doc)
        if doc["_id"] in self.docs:
            raise DuplicateKeyError("duplicate _id")
        self.docs[doc["_id"]] = copy.deepcopy(doc)

    def insert_many(self, docs, ordered=True):
        errors = []
        for index, doc in enumerate(docs):
            if doc["_id"] in self.docs:
                errors.append({"index": index, "code": 11000})
                if ordered:
                    break
            else:
                self.docs[doc["_id"]] = copy.deepcopy(doc)
        if errors:
            raise BulkWriteError({"writeErrors": errors})

    def replace_one(self, query, doc, upsert=False):
        _refuse_nested_arrays(doc)
        current = self.find_one(query)
        if current is None:
            if not upsert:
                return SimpleNamespace(matched_count=0)
            if doc.get("_id", query.get("_id")) in self.docs:
                raise DuplicateKeyError("duplicate _id")
        key = doc.get("_id", current["_id"] if current else query.get("_id"))
        self.docs[key] = copy.deepcopy(dict(doc, _id=key))
        return SimpleNamespace(matched_count=int(current is not None))

    def bulk_write(self, requests, ordered=True):
        """Replaces only (the audit trail's writer, shared/audit_log.py)."""
        for op in requests:
            self.replace_one(op._filter, op._doc, upsert=op._upsert)

    def find_one_and_replace(self, query, doc, upsert=False, **kwargs):
        before = self.find_one(query)
        self.replace_one(query, doc, upsert=upsert)
        return before

    def find_one_and_update(self, query, update, upsert=False, **kwargs):
        current = self.find_one(query)
        if current is None:
            if not upsert:
                return None
            current = {k: v for k, v in query.items() if not isinstance(v, dict)}
        for key, value in update.get("$set", {}).items():
            current[key] = copy.deepcopy(value)
        for key, value in update.get("$setOnInsert", {}).items():
            current.setdefault(key, copy.deepcopy(value))
        for key, value in update.get("$inc", {}).items():
            current[key] = current.get(key, 0) + value
        self.docs[current["_id"]] = current
        return copy.deepcopy(current)

    def update_one(self, query, update, upsert=False):
        matched = self.find_one(query) is not None
        self.find_one_and_update(query, update, upsert=upsert)
        return SimpleNamespace(matched_count=int(matched))

    def find_one_and_delete(self, query):
        doc = self.find_one(query)
        if doc is not None:
            del self.docs[doc["_id"]]
        return doc

    def delete_many(self, query):
        found = self.find(query)
        for doc in found:
            del self.docs[doc["_id"]]
        return SimpleNamespace(deleted_count=len(found))

    def delete_one(self, query):
        doc = self.find_one_and_delete(query)
        return SimpleNamespace(deleted_count=int(doc is not None))

    def drop(self):
        self.docs.clear()


class FakeDatabase:
    def __init__(self):
        self.collections: dict[str, FakeCollection] = {}

    def __getitem__(self, name: str) -> FakeCollection:
        return self.collections.setdefault(name, FakeCollection(name))

    def list_collection_names(self, filter=None):
        names = [name for name, c in self.collections.items() if c.docs]
        return [n for n in names if n == filter["name"]] if filter else names

    def command(self, *args, **kwargs):
        return {"ok": 1}
