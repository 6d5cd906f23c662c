"""Published cohort summaries: one per cohort and day, stored once (`summary_snapshots`).

Not a read model: a snapshot is a record of what was *published*, and the next day's release is
decided against it (services/feedback/domain/insight.py `release`), so it is never rebuilt or
dropped with the views, and it lives on the service's database itself, not a view generation.
It is written by the first reader of the day: an insert of `_id = "<cohort>|<day>"`, which is
atomic on FerretDB too; a replica losing the race reads the winner's, so everyone sees the same.

Unit names ("reviews.2026-01") and item ids are stored as values, never as field names (dots),
and in lists of objects (FerretDB v1 refuses nested arrays).
"""
from __future__ import annotations

from datetime import date

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

SNAPSHOTS = "summary_snapshots"


def _encode(units: dict) -> list[dict]:
    return [{"name": name, "figures": unit["figures"],
             "basis": [{"cell": cell, "items": [{"item": item, "person": items[item]} for item in sorted(items)]}
                       for cell, items in sorted(unit["basis"].items())]}
            for name, unit in sorted(units.items())]


def _decode(units: list[dict]) -> dict:
    return {unit["name"]: {"figures": unit["figures"],
                           "basis": {cell["cell"]: {pair["item"]: pair["person"] for pair in cell["items"]}
                                     for cell in unit["basis"]}}
            for unit in units}


class SnapshotStore:
    def __init__(self, database):
        self.collection = database[SNAPSHOTS]

    def ensure_indexes(self) -> None:
        self.collection.create_index([("cohort_id", ASCENDING)])

    @staticmethod
    def key(cohort_id: str, day: date) -> str:
        return f"{cohort_id}|{day.isoformat()}"

    @staticmethod
    def _snapshot(doc: dict) -> dict:
        return {"summary": doc["summary"], "units": _decode(doc["units"]), "day": doc["day"]}

    def get(self, cohort_id: str, day: date) -> dict | None:
        doc = self.collection.find_one({"_id": self.key(cohort_id, day)})
        return self._snapshot(doc) if doc else None

    def latest_before(self, cohort_id: str, day: date) -> dict | None:
        """The last snapshot published before `day` (a scan of one cohort's few documents)."""
        docs = [d for d in self.collection.find({"cohort_id": cohort_id}) if d["day"] < day.isoformat()]
        return self._snapshot(max(docs, key=lambda d: d["day"])) if docs else None

    def put_once(self, cohort_id: str, day: date, snapshot: dict) -> dict:
        """Store the day's snapshot unless one is there; either way, the stored one."""
        doc = {"_id": self.key(cohort_id, day), "cohort_id": cohort_id, "day": day.isoformat(),
               "summary": snapshot["summary"], "units": _encode(snapshot["units"])}
        try:
            self.collection.insert_one(doc)
        except DuplicateKeyError:
            doc = self.collection.find_one({"_id": doc["_id"]})
        return self._snapshot(doc)
