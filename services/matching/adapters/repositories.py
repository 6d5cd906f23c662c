"""MongoDB read models of the matching service: programmes, cohorts, enrolments and pairings.

They are written synchronously by the command handlers right after the events are appended
(not by the worker). Each document is a full snapshot of its aggregate at `version` (the
aggregate version it reflects) and a write only lands if its version is newer than the stored
one, so writing the same snapshot twice, or an older one late, changes nothing (idempotent).
Documents are keyed by a computable string `_id` (FerretDB indexes only `{"_id": ...}`).
"""
from __future__ import annotations

from pymongo import ASCENDING


class _Snapshots:
    COLLECTION = ""

    def __init__(self, database):
        self.collection = database[self.COLLECTION]

    def get(self, doc_id: str) -> dict | None:
        return self.collection.find_one({"_id": doc_id})

    def put(self, doc: dict) -> bool:
        """Store `doc` unless the stored one already reflects the same or a later version."""
        current = self.collection.find_one({"_id": doc["_id"]}, {"version": 1})
        if current is not None and current.get("version", 0) >= doc["version"]:
            return False
        self.collection.find_one_and_replace({"_id": doc["_id"]}, doc, upsert=True)
        return True

    def drop(self) -> None:
        self.collection.drop()


class ProgramsRepository(_Snapshots):
    COLLECTION = "programs"


class CohortsRepository(_Snapshots):
    COLLECTION = "cohorts"


class EnrollmentsRepository(_Snapshots):
    """One document per person per cohort: `_id` = `{cohort_id}|{employee_id}`."""

    COLLECTION = "enrollments"

    @staticmethod
    def key(cohort_id: str, employee_id: str) -> str:
        return f"{cohort_id}|{employee_id}"

    def ensure_indexes(self) -> None:
        self.collection.create_index([("cohort_id", ASCENDING)])
        self.collection.create_index([("employee_id", ASCENDING)])

    def of_cohort(self, cohort_id: str) -> list[dict]:
        return list(self.collection.find({"cohort_id": cohort_id}))

    def of_employee(self, employee_id: str) -> list[dict]:
        return list(self.collection.find({"employee_id": employee_id}))


class PairingsRepository(_Snapshots):
    COLLECTION = "pairings"

    def ensure_indexes(self) -> None:
        self.collection.create_index([("cohort_id", ASCENDING), ("_id", ASCENDING)])
        self.collection.create_index([("mentor_id", ASCENDING)])
        self.collection.create_index([("mentee_id", ASCENDING)])
        self.collection.create_index([("status", ASCENDING)])

    def of_cohort(self, cohort_id: str) -> list[dict]:
        return list(self.collection.find({"cohort_id": cohort_id}))

    def of_employee(self, employee_id: str) -> list[dict]:
        return list(self.collection.find({"$or": [{"mentor_id": employee_id}, {"mentee_id": employee_id}]}))

    def with_status(self, status: str) -> list[dict]:
        return list(self.collection.find({"status": status}))

    def page(self, cohort_id: str, *, status: str | None, party: str | None, after: str | None,
             limit: int) -> tuple[list[dict], str | None]:
        query: dict = {"cohort_id": cohort_id}
        if status:
            query["status"] = status
        if party:
            query["$or"] = [{"mentor_id": party}, {"mentee_id": party}]
        if after:
            query["_id"] = {"$gt": after}
        docs = list(self.collection.find(query).sort("_id", ASCENDING).limit(limit + 1))
        more = len(docs) > limit
        docs = docs[:limit]
        return docs, (docs[-1]["_id"] if more and docs else None)
