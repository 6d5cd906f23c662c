"""Published cohort summaries: one per cohort and day, stored once (`summary_snapshots`).

Not a read model: a snapshot is a record of what was *published*, and the next day's release is
decided against it (services/feedback/domain/insight.py `release`), so it is never rebuilt or
dropped with the views, and it lives on the service's database itself, not a view generation.
It is written by the first reader of the day: an insert of `_id = "<cohort>|<day>"`, which is
atomic on FerretDB too; a replica losing the race reads the winner's, so everyone sees the same.

The next release needs the latest snapshot before today, found by `_id` reads only (a `{cohort_id}`
filter scans every cohort's snapshots on FerretDB v1): before a snapshot is stored, unique inserts
mark its month (`summary_snapshot_months`, `"<cohort>|<YYYY-MM>"`) and, once per cohort, the first
month that had one (`"<cohort>|first"`). A reader walks back from today's month to the first, and in
a marked month reads the days before today, newest first, a few side by side. A marker whose snapshot
never got stored (a crash in between) only costs a walk further back.

The units (each with its basis: every counted answer's id and person, thousands in a large cohort)
are one JSON string: FerretDB's cost follows the number of values in a document (as sub-documents,
a 3,000-pairing cohort's snapshot took ~2 s to read). Snapshots stored before are lists of objects
(`{"name", "figures", "basis": [{"cell", "items": [{"item", "person"}]}]}`) and read as such. A
read that serves the day's summary (`published`) fetches only the `summary` field.
"""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

from pymongo.errors import DuplicateKeyError

SNAPSHOTS = "summary_snapshots"
MONTHS = "summary_snapshot_months"
BACKFILLED = "|marked before"  # the months of snapshots older than the markers are marked (no cohort id starts with "|")
DAYS_AT_ONCE = 8  # a marked month's days read side by side (the previous day, usually, in the first round)


def _encode(units: dict) -> str:
    return json.dumps(units, sort_keys=True, separators=(",", ":"))


def _decode(units: str | list[dict]) -> dict:
    if isinstance(units, str):
        return json.loads(units)
    return {unit["name"]: {"figures": unit["figures"],  # stored by versions before the JSON string
                           "basis": {cell["cell"]: {pair["item"]: pair["person"] for pair in cell["items"]}
                                     for cell in unit["basis"]}}
            for unit in units}


class SnapshotStore:
    def __init__(self, database):
        self.collection = database[SNAPSHOTS]
        self.months = database[MONTHS]

    def ensure_indexes(self) -> None:
        """Marks the months of snapshots stored before the markers existed (`migrate` and a worker's
        start: one scan, once; every marker an insert that leaves an existing one alone)."""
        if self.months.find_one({"_id": BACKFILLED}) is not None:
            return
        months: dict[str, set[str]] = {}
        for doc in self.collection.find({}, {"cohort_id": 1, "day": 1}):
            months.setdefault(doc["cohort_id"], set()).add(doc["day"][:7])
        for cohort_id, marked in months.items():
            for month in sorted(marked):  # the earliest first: it is the cohort's first month
                self._mark(cohort_id, month)
        try:
            self.months.insert_one({"_id": BACKFILLED})
        except DuplicateKeyError:
            pass  # another process finished it too

    @staticmethod
    def _month(day: date) -> str:
        return day.isoformat()[:7]

    def _mark(self, cohort_id: str, month: str) -> None:
        for doc in ({"_id": f"{cohort_id}|{month}", "cohort_id": cohort_id, "month": month},
                    {"_id": f"{cohort_id}|first", "cohort_id": cohort_id, "month": month}):
            try:
                self.months.insert_one(doc)
            except DuplicateKeyError:
                pass  # marked already (the first month stays the one first marked)

    @staticmethod
    def key(cohort_id: str, day: date) -> str:
        return f"{cohort_id}|{day.isoformat()}"

    @staticmethod
    def _snapshot(doc: dict) -> dict:
        return {"summary": doc["summary"], "units": _decode(doc["units"]), "day": doc["day"]}

    def get(self, cohort_id: str, day: date) -> dict | None:
        doc = self.collection.find_one({"_id": self.key(cohort_id, day)})
        return self._snapshot(doc) if doc else None

    def published(self, cohort_id: str, day: date) -> dict | None:
        """The day's published summary only (what every read after the day's first serves)."""
        doc = self.collection.find_one({"_id": self.key(cohort_id, day)}, {"summary": 1})
        return doc["summary"] if doc else None

    def latest_before(self, cohort_id: str, day: date) -> dict | None:
        """The last snapshot published before `day`: marked months from `day`'s back to the first."""
        first = self.months.find_one({"_id": f"{cohort_id}|first"})
        if first is None:
            return None
        month_start = day.replace(day=1)
        while self._month(month_start) >= first["month"]:
            if self.months.find_one({"_id": f"{cohort_id}|{self._month(month_start)}"}) is not None:
                found = self._latest_in_month(cohort_id, month_start, day)
                if found is not None:
                    return self._snapshot(found)
            month_start = (month_start - timedelta(days=1)).replace(day=1)
        return None

    def _latest_in_month(self, cohort_id: str, month_start: date, before: date) -> dict | None:
        end = min(before, (month_start + timedelta(days=31)).replace(day=1))
        days = [end - timedelta(days=n) for n in range(1, (end - month_start).days + 1)]  # newest first
        with ThreadPoolExecutor(DAYS_AT_ONCE) as pool:
            for start in range(0, len(days), DAYS_AT_ONCE):
                keys = [self.key(cohort_id, d) for d in days[start:start + DAYS_AT_ONCE]]
                found = [doc for doc in pool.map(lambda key: self.collection.find_one({"_id": key}), keys) if doc]
                if found:
                    return found[0]
        return None

    def put_once(self, cohort_id: str, day: date, snapshot: dict) -> dict:
        """Store the day's snapshot unless one is there; either way, the stored one."""
        doc = {"_id": self.key(cohort_id, day), "cohort_id": cohort_id, "day": day.isoformat(),
               "summary": snapshot["summary"], "units": _encode(snapshot["units"])}
        self._mark(cohort_id, self._month(day))  # before the snapshot: a reader never misses a stored one
        try:
            self.collection.insert_one(doc)
        except DuplicateKeyError:
            doc = self.collection.find_one({"_id": doc["_id"]})
        return self._snapshot(doc)
