"""MongoDB documents of erasure progress (GDPR Art. 17; application/erasure_progress.py).

Every read is by `_id` (FerretDB v1 serves nothing else from an index), and no document has two
writers that could race (its `update_one` is a read-modify-write without isolation):
- `erasure_progress`: `{employee_id}|{service}`, one per service that published `PersonErased`
  for the person; written once by a unique insert (the Kafka-fed progress projection), never updated.
- `erasure_list`: the erasure requests newest first, for `GET /v1/privacy/erasures`. Written only by
  matching's views projector (one replica at a time, under its lease, in store order): a `head`
  document (`count` of requests, `version` = the store order of the last one it applied) and pages of
  PAGE entries, `page|{k:08d}` holding entries k*PAGE .. k*PAGE+PAGE-1 (entry n is the n-th request,
  from 0) in one JSON string. A page of the list is the head plus one or two of these pages.
- `erasure_watch`: the overdue watch's state (`watch`): entries below `scanned_to` are complete except
  those in `pending`. Written by the watch job only; it is a cache (a lost write is recomputed).
"""
from __future__ import annotations

import json

from pymongo.errors import DuplicateKeyError

PROGRESS = "erasure_progress"
LIST = "erasure_list"
WATCH = "erasure_watch"
PAGE = 50  # entries per list page document
HEAD = "head"
WATCH_ID = "watch"


def progress_key(employee_id: str, service: str) -> str:
    return f"{employee_id}|{service}"


def page_key(number: int) -> str:
    return f"page|{number:08d}"


class ProgressRepository:
    def __init__(self, database):
        self.collection = database[PROGRESS]

    def record(self, employee_id: str, service: str, at: str) -> bool:
        """True when this call recorded it; a redelivery (or a second consumer) finds it there."""
        try:
            self.collection.insert_one({"_id": progress_key(employee_id, service), "employee_id": employee_id,
                                        "service": service, "at": at})
            return True
        except DuplicateKeyError:
            return False

    def erased_at(self, employee_id: str, service: str) -> str | None:
        doc = self.collection.find_one({"_id": progress_key(employee_id, service)})
        return doc["at"] if doc else None


class ErasureListIndex:
    """The requests in the order matching stored them (entry n = the n-th request)."""

    def __init__(self, database):
        self.collection = database[LIST]

    def head(self) -> dict:
        return self.collection.find_one({"_id": HEAD}) or {"_id": HEAD, "count": 0, "version": 0}

    def page(self, number: int) -> list[dict]:
        doc = self.collection.find_one({"_id": page_key(number)})
        return json.loads(doc["entries"]) if doc else []

    def put_page(self, number: int, entries: list[dict], version: int) -> None:
        self.collection.replace_one({"_id": page_key(number)},
                                    {"entries": json.dumps(entries, separators=(",", ":")), "version": version},
                                    upsert=True)

    def put_head(self, count: int, version: int) -> None:
        self.collection.replace_one({"_id": HEAD}, {"count": count, "version": version}, upsert=True)

    def entries(self, start: int, stop: int) -> list[dict]:
        """Entries start..stop-1 (0 <= start <= stop), oldest first: one read per page document."""
        found: list[dict] = []
        if start >= stop:
            return found
        for number in range(start // PAGE, (stop - 1) // PAGE + 1):
            found += [e for e in self.page(number) if start <= e["n"] < stop]
        return found


class WatchState:
    def __init__(self, database):
        self.collection = database[WATCH]

    def get(self) -> dict:
        return self.collection.find_one({"_id": WATCH_ID}) or {"_id": WATCH_ID, "scanned_to": 0, "pending": []}

    def put(self, scanned_to: int, pending: list[dict]) -> None:
        self.collection.replace_one({"_id": WATCH_ID}, {"scanned_to": scanned_to, "pending": pending}, upsert=True)
