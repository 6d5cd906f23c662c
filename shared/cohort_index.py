"""A list per cohort (or any key) stored so that reading it whole is a few `_id` reads.

FerretDB v1 serves only an exact `{_id: <string>}` filter from an index: a `{cohort_id}` filter
scans every cohort's documents (seconds at tens of thousands of documents). A `CohortIndex` keeps,
per cohort, on one collection of its own:

- chunks (`_id` `"{cohort_id}|{first key}"`): consecutive entries in key order, each
  `[key, *values]` (what the readers need, slim), all in ONE JSON string field `entries`:
  FerretDB's cost follows the number of values in a document and its bytes (200 rows as one JSON
  string read in ~15 ms, as 200 sub-documents 143 ms);
- a directory (`_id` = the cohort id): the chunks' first keys in order, with how many entries each
  chunk holds per `count_key(values)`, so a reader wanting some entries skips chunks without one.

Chunk boundaries depend only on the set of keys, never on arrival order: a key starts a chunk when
its hash is 0 modulo `spread` (content-defined chunking; the first chunk, `"{cohort_id}|"`, holds the
keys before the first such key). So a rebuild, a batch and one event at a time produce the same
documents, and no chunk ever needs a split decision that could differ after a crash.

One writer per directory (a store projector, or one partition's consumer: FerretDB v1 does not
isolate a read-modify-write), through `CohortIndexWrite`. Crash safety: chunks first (those the
directory does not list yet before the ones it does, so an entry moved into a new chunk is never
only in memory), the directory last. A chunk that exists but is not in the directory is what a crash
left: creating it again takes its stored entries (newer) over the ones still in the chunk they came
from. Every document's `version` is the order of the last event that changed it (the store order,
`shared.projector.order_of`, or the record's offset), written with `shared.mongo.replace_if_newer`.

Used by matching (a cohort's enrolments and pairings: services/matching/adapters/enrollment_index.py,
pairing_index.py) and feedback (a cohort's pairings, members, meetings, feedback, reviews and surveys:
services/feedback/adapters/cohort_lists.py).
"""
from __future__ import annotations

import bisect
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor

from pymongo.errors import DuplicateKeyError

from shared.mongo import replace_if_newer

SPREAD = 2048  # entries per chunk on average, unless a subclass sets its own `spread`
HEAD = ""  # the first chunk's boundary: the keys before the first content-defined boundary
CHUNK_READERS = 8  # a whole cohort's chunks are read by `_id` on this many connections at once
MAX_PARTITIONS = 1024  # a reader's bound on partitions to look for (Kafka topics have far fewer)
PARTITION_WINDOW = 4  # partition directories a reader asks for at once (3 partitions locally: one round)
PLACEHOLDER = -1  # the version of a partition's directory its consumer has not written yet


def starts_chunk(key: str, spread: int = SPREAD) -> bool:
    digest = hashlib.blake2b(key.encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") % spread == 0


Entries = dict[str, tuple]  # key -> the entry's values


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
        return self._listed({cohort_id: directory} if directory is not None else {}, counted)

    def _listed(self, directories: dict[str, dict], counted: set[str] | None) -> Entries:
        """The entries of the chunks these directories list, read side by side."""
        wanted = [(cohort_id, boundary) for cohort_id, directory in directories.items()
                  for boundary, counts in json.loads(directory["chunks"])
                  if counted is None or any(counts.get(key) for key in counted)]
        if not wanted:
            return {}
        with ThreadPoolExecutor(min(CHUNK_READERS, len(wanted))) as pool:
            chunks = list(pool.map(lambda at: self.chunk_entries(*at), wanted))
        found: Entries = {}
        for chunk in chunks:
            found.update((chunk or ({}, 0))[0])
        return found

    # -- one index per partition (a Kafka-fed view: each partition's consumer is a writer) -------
    # The cohort's entries from partition p live under `"{cohort_id}|{p}"`, written only by that
    # partition's consumer (`shared.consumer.record_of`), versions being record offsets. A reader
    # does not know how many partitions the topic has: it reads partitions 0, 1, 2, ... until one
    # is missing, so a writer creating partition p's directory first inserts an empty placeholder
    # for every lower partition still missing (an `_id` insert: it never overwrites), as
    # services/sessions/adapters/roster.py does. A key's events all travel on one partition (the
    # aggregate id is the record key), so each key has one entry.

    @staticmethod
    def partition_key(cohort_id: str, partition: int) -> str:
        return f"{cohort_id}|{partition}"

    def entries_of_partitions(self, cohort_id: str, *, counted: set[str] | None = None) -> Entries:
        """Every partition's entries of the cohort: directories `WINDOW` at a time, then their chunks."""
        directories: dict[str, dict] = {}
        with ThreadPoolExecutor(PARTITION_WINDOW) as pool:
            for start in range(0, MAX_PARTITIONS, PARTITION_WINDOW):
                keys = [self.partition_key(cohort_id, p) for p in range(start, start + PARTITION_WINDOW)]
                found = list(pool.map(self.directory, keys))
                for key, directory in zip(keys, found):
                    if directory is None:
                        return self._listed(directories, counted)
                    directories[key] = directory
        return self._listed(directories, counted)

    def writing_partition(self, cohort_id: str, partition: int, *,
                          after: CohortIndexWrite | None = None) -> CohortIndexWrite:
        return PartitionIndexWrite(self, self.partition_key(cohort_id, partition), cohort_id=cohort_id,
                                   partition=partition, after=after)

    def find(self, query: dict) -> list[dict]:
        return list(self.collection.find(query))

    def drop(self) -> None:
        self.collection.drop()

    def writing(self, cohort_id: str, *, after: CohortIndexWrite | None = None) -> CohortIndexWrite:
        """`after`: this writer's previous, saved write of the cohort; its chunks are reused (not read
        again) when the stored directory is still exactly what it saved (a bulk enrolment's runs)."""
        return CohortIndexWrite(self, cohort_id, after=after)


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


class PartitionIndexWrite(CohortIndexWrite):
    """One partition's entries of a cohort (`CohortIndex.writing_partition`): a first save inserts
    the placeholders of lower partitions before its own directory, so readers reach it."""

    def __init__(self, index: CohortIndex, key: str, *, cohort_id: str, partition: int,
                 after: CohortIndexWrite | None = None):
        super().__init__(index, key, after=after)
        self.cohort, self.partition = cohort_id, partition

    def save(self) -> None:
        if self.dirty and self.saved is None:
            self._placeholders_below()
        super().save()

    def _placeholders_below(self) -> None:
        for lower in range(self.partition):
            key = self.index.partition_key(self.cohort, lower)
            if self.index.directory(key) is not None:
                continue
            try:
                self.index.collection.insert_one({"_id": key, "cohort_id": key, "chunks": "[]",
                                                  "version": PLACEHOLDER})
            except DuplicateKeyError:
                pass  # its own consumer (or another placeholder) came first: never overwrite
