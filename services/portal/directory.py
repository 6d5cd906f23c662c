"""Which programmes and cohorts exist, for the lists the matching API cannot give yet.

The matching API has no `GET /programs` or `GET /programs/{id}/cohorts` (contract §6 plans
them). Until it does, the portal remembers the ids of the programmes and cohorts created through
its console (ids and names only: the cohorts themselves are always read from the API), and asks
the API first so the lists switch to it by themselves once those routes exist.
"""
from __future__ import annotations

import threading


class MemoryDirectory:
    def __init__(self):
        self._docs: dict[str, dict] = {}
        self._lock = threading.Lock()

    def remember(self, kind: str, item_id: str, **fields) -> None:
        with self._lock:
            self._docs[f"{kind}|{item_id}"] = {"_id": f"{kind}|{item_id}", "kind": kind, "id": item_id, **fields}

    def all(self, kind: str) -> list[dict]:
        with self._lock:
            return [dict(doc) for doc in self._docs.values() if doc["kind"] == kind]


class MongoDirectory:
    def __init__(self, collection):
        self.collection = collection

    def remember(self, kind: str, item_id: str, **fields) -> None:
        doc = {"_id": f"{kind}|{item_id}", "kind": kind, "id": item_id, **fields}
        self.collection.replace_one({"_id": doc["_id"]}, doc, upsert=True)

    def all(self, kind: str) -> list[dict]:
        # a small collection (one document per programme or cohort): a scan is fine
        return [doc for doc in self.collection.find({}) if doc.get("kind") == kind]


def programs(api, directory) -> list[dict]:
    listed = api.optional("matching", "/v1/programs")
    if listed is not None:
        return listed.get("items", [])
    return sorted(({"program_id": d["id"], "name": d.get("name"), "description": d.get("description")}
                   for d in directory.all("program")), key=lambda p: p["name"] or "")


def cohorts(api, directory, program_id: str | None = None) -> list[dict]:
    """Cohorts (as the API describes them now) of one programme, or of every programme."""
    if api.optional("matching", "/v1/programs") is not None:
        found = []
        for pid in [program_id] if program_id else [p["program_id"] for p in programs(api, directory)]:
            found += (api.optional("matching", f"/v1/programs/{pid}/cohorts") or {}).get("items", [])
        return found
    ids = [d["id"] for d in directory.all("cohort") if program_id in (None, d.get("program_id"))]
    found = []
    for cohort_id in ids:
        cohort = api.optional("matching", f"/v1/cohorts/{cohort_id}")
        if cohort:
            found.append(cohort)
    return sorted(found, key=lambda c: (c.get("starts_on") or "", c.get("name") or ""))
