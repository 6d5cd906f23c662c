"""A cohort's enrolments in employee id order, stored so that a page is a few `_id` reads.

FerretDB v1 serves only an exact `{_id: <string>}` filter from an index: listing a cohort's
enrolments by `{cohort_id}|…` `_id` range scanned the whole enrolments collection (6–13 s per page
of 50 at 12,500 enrolled). This index keeps, per cohort:

- chunks (`_id` `"{cohort_id}|{first employee id}"`): consecutive entries in employee id order,
  each `[employee id, role, status]` (what the filters need), all in ONE JSON string field
  `entries`: FerretDB's cost follows the number of values in a document and its bytes (measured
  here: 200 rows as one JSON string read in ~15 ms, as 200 sub-documents 143 ms), and a bulk
  enrolment in file order touches most chunks in each run the projector applies, so entries stay
  slim (~30 bytes) and the rows themselves are read from the enrolment documents, by `_id`;
- a directory (`_id` = the cohort id): the chunks' first employee ids in order, with how many
  entries of each role and status each chunk holds, so a filtered page skips chunks without a match.

A page: the directory, the chunks holding its entries (usually one), then the page's enrolment
documents by `_id`, side by side (`Views.enrollments_page`).

Chunk boundaries depend only on the set of employee ids, never on arrival order: an employee id
starts a chunk when its hash is 0 modulo `SPREAD` (content-defined chunking; the first chunk,
`"{cohort_id}|"`, holds the ids before the first such id). So a rebuild, a bulk enrolment and one
enrolment at a time produce the same documents, and no chunk ever needs a split decision that could
differ after a crash. Chunks average `SPREAD` entries.

Written only by the views projection (`CohortIndexWrite`), before the enrolment document the entry
comes from: see `services/matching/application/projections.py`. Crash safety: chunks first (those
the directory does not list yet before the ones it does, so an entry moved into a new chunk is never
only in memory), the directory last. A chunk that exists but is not in the directory is what a crash
left: creating it again takes its stored entries (newer) over the ones still in the chunk they came
from. Every document's `version` is the store order (shared.projector.order_of) of the last event
that changed it, written with the views' version-guarded replace.
"""
from __future__ import annotations

import bisect
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

from shared.mongo import replace_if_newer

# ~25 chunks of ~16 kB for 12,500 enrolments. One enrolment rewrites its chunk: measured on FerretDB,
# a 64 kB chunk (2048) took ~50 ms to read and replace against ~11 ms at 16 kB, which made a single
# enrolment's p95 grow 2.2x by 12,500 enrolled; a bulk run rewrites about the same bytes either way.
SPREAD = 512
ROW_FIELDS = ("enrollment_id", "employee_id", "role", "capacity", "topics", "status", "paused", "enrolled_at",
              "withdrawal_reason")  # what the list shows of an enrolment document
HEAD = ""  # the first chunk's boundary: the ids before the first content-defined boundary
CHUNK_READERS = 8  # a whole cohort's chunks are read by `_id` on this many connections at once


def starts_chunk(key: str, spread: int = SPREAD) -> bool:
    digest = hashlib.blake2b(key.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % spread == 0


def row_of(doc: dict) -> dict:
    """What the list shows of an enrolment document (fields it lacks stay absent, as before)."""
    return {name: doc[name] for name in ROW_FIELDS if name in doc}


def entry_of(doc: dict) -> tuple[str, str, str]:
    """An enrolment document's entry in the index: (employee id, role, status)."""
    return doc["employee_id"], str(doc.get("role")), str(doc.get("status"))


Entries = dict[str, tuple[str, ...]]  # key (an employee id) -> the entry's values ((role, status))


def _matches(counts: dict[str, int], role: str | None, status: str | None) -> int:
    return sum(n for key, n in counts.items()
               if (role is None or key.split("|")[0] == role) and (status is None or key.split("|")[1] == status))


class CohortIndex:
    """Per cohort, entries `[key, *values]` in key order in content-defined chunks, and a directory
    counting each chunk's entries by `count_key(values)` (so a reader skips chunks without a match).
    On one collection (readers: live; the projection: its generation). Subclasses set `spread` (the
    average entries per chunk: a chunk's bytes bound what one write costs) and `count_key`."""

    spread = SPREAD

    def __init__(self, collection):
        self.collection = collection

    @staticmethod
    def count_key(values: tuple[str, ...]) -> str:
        return "|".join(values)

    def counts_of(self, entries: Entries) -> dict[str, int]:
        counts: dict[str, int] = {}
        for values in entries.values():
            key = self.count_key(values)
            counts[key] = counts.get(key, 0) + 1
        return counts

    @staticmethod
    def chunk_id(cohort_id: str, boundary: str) -> str:
        return f"{cohort_id}|{boundary}"

    def directory(self, cohort_id: str) -> dict | None:
        return self.collection.find_one({"_id": cohort_id})

    def chunk_entries(self, cohort_id: str, boundary: str) -> tuple[Entries, int] | None:
        doc = self.collection.find_one({"_id": self.chunk_id(cohort_id, boundary)})
        if doc is None:
            return None
        return {row[0]: tuple(row[1:]) for row in json.loads(doc["entries"])}, int(doc.get("version", 0))

    def entries(self, cohort_id: str, *, counted: set[str] | None = None) -> Entries:
        """Every entry of the cohort (only chunks holding a `counted` key when given): the directory,
        then its chunks by `_id`, side by side. Each read is one document of bounded size, whatever
        the size of the collection (a `{cohort_id}` filter scans all cohorts' documents on FerretDB v1)."""
        directory = self.directory(cohort_id)
        if directory is None:
            return {}
        boundaries = [boundary for boundary, counts in json.loads(directory["chunks"])
                      if counted is None or any(counts.get(key) for key in counted)]
        with ThreadPoolExecutor(CHUNK_READERS) as pool:
            chunks = list(pool.map(lambda boundary: self.chunk_entries(cohort_id, boundary), boundaries))
        found: Entries = {}
        for chunk in chunks:
            found.update((chunk or ({}, 0))[0])
        return found

    def find(self, query: dict) -> list[dict]:
        return list(self.collection.find(query))

    def drop(self) -> None:
        self.collection.drop()

    def writing(self, cohort_id: str, *, after: CohortIndexWrite | None = None) -> CohortIndexWrite:
        """`after`: this writer's previous, saved write of the cohort; its chunks are reused (not read
        again) when the stored directory is still exactly what it saved (a bulk enrolment's runs)."""
        return CohortIndexWrite(self, cohort_id, after=after)


class EnrollmentIndex(CohortIndex):
    """A cohort's enrolments: entries `[employee id, role, status]`, paged with filters."""

    # -- reading a page -------------------------------------------------------------------------
    def page(self, cohort_id: str, *, role: str | None, status: str | None, prefix: str | None,
             after: str | None, limit: int) -> tuple[list[str], str | None]:
        """Employee ids in order after `after`, matching the filters; the cursor is the last one when
        more follow. One directory read, then only the chunks holding a match."""
        directory = self.directory(cohort_id)
        if directory is None:
            return [], None
        chunks = json.loads(directory["chunks"])  # [[boundary, counts], ...] in order
        boundaries = [boundary for boundary, _ in chunks]
        low = prefix or ""
        high = low + "\uffff" if prefix else None
        start = max(after, low) if after is not None else low
        first = max(bisect.bisect_right(boundaries, start) - 1, 0)
        found: list[str] = []
        for boundary, counts in chunks[first:]:
            if high is not None and boundary >= high:
                break
            if not _matches(counts, role, status):
                continue
            entries = (self.chunk_entries(cohort_id, boundary) or ({}, 0))[0]
            for employee_id in sorted(entries):
                if employee_id < low or (after is not None and employee_id <= after):
                    continue
                if high is not None and employee_id >= high:
                    break
                if (role is None or entries[employee_id][0] == role) and (
                        status is None or entries[employee_id][1] == status):
                    found.append(employee_id)
            if len(found) > limit:
                break
        more = len(found) > limit
        found = found[:limit]
        return found, (found[-1] if more and found else None)


class CohortIndexWrite:
    """Entries of one cohort set in memory (in event order), then saved: `put(entry, order)`…, `save()`."""

    def __init__(self, index: CohortIndex, cohort_id: str, *, after: CohortIndexWrite | None = None):
        self.index, self.cohort_id = index, cohort_id
        directory = index.directory(cohort_id)
        self.version = int((directory or {}).get("version", 0))
        self.saved = (directory or {}).get("chunks")  # the directory as stored: what `after` must match
        self.listed = [boundary for boundary, _ in json.loads(self.saved)] if self.saved else []
        self.counts = {boundary: counts for boundary, counts in json.loads(self.saved)} if self.saved else {}
        self.boundaries = list(self.listed)
        self.chunks: dict[str, tuple[Entries, int]] = {}  # boundary -> (entries, version), loaded or new
        self.dirty: set[str] = set()
        self.reusable = False  # saved, and every write of the save was taken
        if (after is not None and after.reusable and after.index is index and after.cohort_id == cohort_id
                and self.saved is not None and (after.saved, after.version) == (self.saved, self.version)):
            self.chunks = {boundary: (dict(entries), version) for boundary, (entries, version) in after.chunks.items()}

    def _chunk(self, boundary: str) -> Entries:
        if boundary not in self.chunks:
            self.chunks[boundary] = self.index.chunk_entries(self.cohort_id, boundary) or ({}, 0)
        return self.chunks[boundary][0]

    def _touch(self, boundary: str, order: int) -> None:
        rows, version = self.chunks[boundary]
        self.chunks[boundary] = (rows, max(version, order))
        self.dirty.add(boundary)

    def _containing(self, employee_id: str) -> str | None:
        at = bisect.bisect_right(self.boundaries, employee_id) - 1
        return self.boundaries[at] if at >= 0 else None

    def put(self, entry: tuple[str, ...], order: int) -> None:
        """Set `entry` (key, *values; an enrolment's: employee id, role, status), as of the event at `order`."""
        key, values = entry[0], tuple(entry[1:])
        starts = starts_chunk(key, self.index.spread)
        containing = self._containing(key)
        if containing != key and (starts or containing is None):
            boundary = key if starts else HEAD
            self._open(boundary, containing, order)
            containing = boundary
        assert containing is not None
        self._chunk(containing)[key] = values
        self._touch(containing, order)

    def _open(self, boundary: str, containing: str | None, order: int) -> None:
        """A chunk starting at `boundary`: the entries at or after it move over from the chunk holding
        them; a copy a crash left stored (not yet listed) has the newer entries."""
        stored = self.index.chunk_entries(self.cohort_id, boundary) or ({}, 0)
        rows = dict(stored[0])
        if containing is not None:
            source = self._chunk(containing)
            moving = [employee_id for employee_id in source if employee_id >= boundary]
            for employee_id in moving:
                rows.setdefault(employee_id, source.pop(employee_id))
            if moving:
                self._touch(containing, order)
        self.chunks[boundary] = (rows, stored[1])
        bisect.insort(self.boundaries, boundary)
        self._touch(boundary, order)

    def save(self) -> None:
        """Changed chunks (new ones first), then the directory."""
        if not self.dirty:
            return
        top, taken = self.version, True
        for boundary in sorted(self.dirty, key=lambda b: (b in self.listed, b)):
            rows, version = self.chunks[boundary]
            top = max(top, version)
            taken &= replace_if_newer(self.index.collection, {
                "_id": self.index.chunk_id(self.cohort_id, boundary), "cohort_id": self.cohort_id,
                "entries": json.dumps([[key, *rows[key]] for key in sorted(rows)], separators=(",", ":")),
                "version": version}, same_version=True, likely_new=boundary not in self.listed)
            self.counts[boundary] = self.index.counts_of(rows)
        chunks = json.dumps([[boundary, self.counts[boundary]] for boundary in self.boundaries], sort_keys=True,
                            separators=(",", ":"))
        taken &= replace_if_newer(self.index.collection, {"_id": self.cohort_id, "cohort_id": self.cohort_id,
                                                          "chunks": chunks, "version": top},
                                  same_version=True, likely_new=not self.listed)
        self.listed, self.version, self.saved, self.dirty = list(self.boundaries), top, chunks, set()
        self.reusable = taken
