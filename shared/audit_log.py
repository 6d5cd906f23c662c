"""The audit trail's keyed layout (issue 16): every read and delete is by `_id`, whatever its size.

FerretDB v1 uses an index only for `{_id: <string>}`; an `_id` range, a sort or an `actor_id`
filter scans the whole collection (a newest-first page took 23 s at 20,000 entries). So entries
live in `audit_log` in documents whose `_id`s a reader can compute:

- a *stream* is one list a page can ask for: `all`, one actor's (`a:<actor>`), one programme's
  (`p:<programme>`) and one actor's within one programme (`p:<programme>:a:<actor>`). An entry is
  written into each stream it belongs to (2 for an admin's request, 4 for a programme-scoped one),
  so every filter of `GET /v1/audit` is a walk of exact streams, never a filter over a scan;
- entries of a stream are grouped by hour in *buckets* `<stream>|B|<YYYYmmddHH>|<n>`: slot n of
  an hour is claimed by a unique insert carrying the writer's first entry (DuplicateKeyError: another
  writer has it, try n+1), after which only that writer (one per process, under its lock) replaces
  it, up to `BUCKET_ENTRIES` entries. Slots fill from 0 without gaps, so a reader reads n = 0, 1, ...
  until one is missing. FerretDB v1's `update_one` is not isolated; a replace by a single writer
  needs no isolation, and two writers never share a slot;
- markers `<stream>|M|<YYYYmm>`, `|D|<YYYYmmdd>`, `|Q|<YYYYmmdd><0-3>` (a quarter of a day; unique
  inserts, duplicates ignored, inserted with the claim) let a reader step over empty months, days and
  six-hour spans: walking to the previous entry costs at most ~14 month + 31 day + 4 + 6 hour reads;
- why hours and not minutes: on the local server a read by `_id` costs 10-25 ms under load, and
  each bucket period that holds entries costs its slots plus one read that finds the next slot
  missing; a sparse stream (one actor, one programme) would pay that per hour. Hours keep a page
  of a sparse stream at about two reads per hour it spans, and a busy hour at one read per
  `BUCKET_ENTRIES` entries (a page needs all of an hour's slots: writers' buckets interleave);
- `origin` holds the oldest day a reader needs to look at, so the walk ends: the day before the
  first write (entries of several writers arrive a little out of order, and the first one stored
  may be just past midnight while another, stored after it, was made just before), moved forward
  by retention.

Writing: an entry is one `bulk_write` of replaces by `_id` into its streams' open buckets, plus one
`insert_many` when a stream opens a bucket (a new hour, a full bucket, with the new markers).

Retention (`purge_day`) reads a day of the `all` stream, which names every other stream written
that day and the hours they were written in (an entry lands in the same hour everywhere), and
deletes those documents one `_id` at a time. A write that failed half way (counted as failed) may
leave an entry in some of its streams only; one missing from `all` is not found by retention (the
writes go `all` first, so that takes a failure between two documents of one `bulk_write`).

Measured (bench/bench_audit.py, 20,000 entries over two days, 40 actors; load ~3.4, then ~6-8):
the newest 50 in 0.048 s / 0.57 s (31-33 reads) against 2.9 s / 8.3 s for `find().sort(_id desc)`;
one actor's 50 in 0.015 s / 0.10 s (16-18 reads) against 2.2 s / 6.9 s; a write 2.7 ms / 8.7 ms p50
(one `bulk_write` of two replaces; an `insert_many` when a bucket opens) against 1.0 ms / 2.9 ms for
the `insert_one` before: the same round trips, larger documents.
"""
from __future__ import annotations

import heapq
import itertools
import json
import os
import threading
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Iterator

from pymongo import ReplaceOne

from shared.mongo import insert_new

KEYED = "audit_log"
ORIGIN = "origin"
ALL = "all"
# Entries per bucket document: a replace rewrites the whole bucket (about 350 bytes an entry), so a
# busy writer's hour is a few small documents rather than one that grows with every request.
BUCKET_ENTRIES = 30


def _q(value: str) -> str:
    """A key component that cannot contain the separators."""
    return value.replace("%", "%25").replace("|", "%7C").replace(":", "%3A")


def streams_of(entry: dict) -> list[str]:
    """Every stream an entry is listed in, `all` first (written first: retention finds the rest from it)."""
    actor = _q(entry["actor_id"])
    streams = [ALL, f"a:{actor}"]
    if entry.get("program_id"):
        program = _q(entry["program_id"])
        streams += [f"p:{program}", f"p:{program}:a:{actor}"]
    return streams


def streams_for(program_ids: set[str] | None, actor_id: str | None) -> list[str]:
    """The streams whose union is a page's filter (`program_ids` None: every programme, an admin)."""
    if program_ids is None:
        return [f"a:{_q(actor_id)}"] if actor_id else [ALL]
    if actor_id:
        return [f"p:{_q(p)}:a:{_q(actor_id)}" for p in sorted(program_ids)]
    return [f"p:{_q(p)}" for p in sorted(program_ids)]


def hour_of(at: datetime) -> str:
    return f"{at.astimezone(timezone.utc):%Y%m%d%H}"


def _day_before(hour: str) -> str:
    return f"{datetime.strptime(hour[:8], '%Y%m%d').date() - timedelta(days=1):%Y%m%d}"


def bucket_id(stream: str, hour: str, n: int) -> str:
    return f"{stream}|B|{hour}|{n:04d}"


def markers_of(stream: str, hour: str) -> list[str]:
    return [f"{stream}|M|{hour[:6]}", f"{stream}|D|{hour[:8]}", f"{stream}|Q|{hour[:8]}{int(hour[8:10]) // 6}"]


@dataclass
class _Open:
    """The bucket this writer is filling in one stream."""
    hour: str
    n: int
    entries: list[dict] = field(default_factory=list)


class AuditLogWriter:
    """One per process and database: the only writer of the buckets it claimed (its lock makes the
    threads of a gunicorn worker one writer). A forked child starts over, with slots of its own."""

    MARKERS_KEPT = 10_000  # markers known to exist; forgetting them only costs a duplicate insert

    def __init__(self, database):
        self.collection = database[KEYED]
        self._lock = threading.Lock()
        self._reset()

    def _reset(self) -> None:
        self._pid = os.getpid()
        self._writer = uuid.uuid4().hex[:12]
        self._open: dict[str, _Open] = {}
        self._markers: set[str] = set()

    def write(self, entry: dict, at: datetime) -> None:
        """Store `entry` (it has its `_id`) in all its streams; raises PyMongoError when it could not."""
        hour = hour_of(at)
        with self._lock:
            if os.getpid() != self._pid:
                self._reset()
            if len(self._markers) > self.MARKERS_KEPT:
                self._markers.clear()
            self._open = {s: b for s, b in self._open.items() if b.hour >= hour}  # past hours are done
            streams = streams_of(entry)
            markers = [m for s in streams for m in markers_of(s, hour) if m not in self._markers]
            if ORIGIN not in self._markers:
                markers.append(ORIGIN)
            claims: dict[str, int] = {}
            replaces: dict[str, _Open] = {}
            for stream in streams:
                current = self._open.get(stream)
                if current is not None and current.hour == hour and len(current.entries) < BUCKET_ENTRIES:
                    replaces[stream] = _Open(hour, current.n, [*current.entries, entry])
                else:
                    claims[stream] = current.n + 1 if current is not None and current.hour == hour else 0
            opened = self._claim(claims, markers, entry, hour)
            if replaces:
                self.collection.bulk_write(
                    [ReplaceOne({"_id": bucket_id(s, hour, b.n)}, self._bucket(s, b)) for s, b in replaces.items()],
                    ordered=True)
            self._open.update(opened)
            self._open.update(replaces)

    def _claim(self, claims: dict[str, int], markers: list[str], entry: dict, hour: str) -> dict[str, _Open]:
        """New buckets by unique inserts (with the markers, in one round trip while none collides)."""
        opened: dict[str, _Open] = {}
        docs: list[dict] = [{"_id": ORIGIN, "day": _day_before(hour)} if m == ORIGIN else {"_id": m} for m in markers]
        while claims or docs:
            buckets = {s: _Open(hour, n, [entry]) for s, n in claims.items()}
            docs += [self._bucket(s, b) for s, b in buckets.items()]
            taken = insert_new(self.collection, docs)
            self._markers.update(markers)
            markers, docs = [], []
            for stream, bucket in buckets.items():
                if bucket_id(stream, hour, bucket.n) in taken:
                    claims[stream] = bucket.n + 1  # another writer's slot: the next one
                else:
                    opened[stream] = bucket
                    del claims[stream]
        return opened

    def _bucket(self, stream: str, bucket: _Open) -> dict:
        # One JSON string: FerretDB's cost follows the number of values in a document.
        return {"_id": bucket_id(stream, bucket.hour, bucket.n), "writer": self._writer,
                "entries": json.dumps(bucket.entries, separators=(",", ":"))}


class AuditLogReader:
    """Walks streams newest first by `_id` reads only."""

    def __init__(self, database):
        self.collection = database[KEYED]
        self.reads = 0  # round trips of this reader (the benchmark and tests look)

    def _get(self, _id: str) -> dict | None:
        self.reads += 1
        return self.collection.find_one({"_id": _id})

    def origin(self) -> date | None:
        doc = self._get(ORIGIN)
        return datetime.strptime(doc["day"], "%Y%m%d").date() if doc else None

    def buckets(self, stream: str, hour: str) -> list[dict]:
        found: list[dict] = []
        for n in itertools.count():
            doc = self._get(bucket_id(stream, hour, n))
            if doc is None:
                return found
            found.append(doc)
        return found  # unreachable; for mypy

    def hours(self, stream: str, start: datetime, floor: date) -> Iterator[tuple[str, list[dict]]]:
        """(hour, buckets) of `stream` from `start`'s hour back to the day `floor`, newest first.

        The floor's month is walked day by day without its month marker: retention deletes a
        month's markers with the first of its days it purges, while later days may still hold entries.
        """
        start = start.astimezone(timezone.utc)
        month = date(start.year, start.month, 1)
        while month >= date(floor.year, floor.month, 1):
            month_key = f"{month:%Y%m}"
            if (month.year, month.month) == (floor.year, floor.month) or self._get(f"{stream}|M|{month_key}"):
                last = _month_end(month) if (month.year, month.month) != (start.year, start.month) else start.date()
                day = last
                while day >= max(month, floor):
                    if self._get(f"{stream}|D|{day:%Y%m%d}"):
                        top = start.hour if day == start.date() else 23
                        for quarter in range(top // 6, -1, -1):
                            if not self._get(f"{stream}|Q|{day:%Y%m%d}{quarter}"):
                                continue
                            for hour in range(min(top, quarter * 6 + 5), quarter * 6 - 1, -1):
                                hour_key = f"{day:%Y%m%d}{hour:02d}"
                                found = self.buckets(stream, hour_key)
                                if found:
                                    yield hour_key, found
                    day -= timedelta(days=1)
            month = date(month.year - 1, 12, 1) if month.month == 1 else date(month.year, month.month - 1, 1)

    def entries(self, streams: list[str], start: datetime, before: str | None) -> Iterator[dict]:
        """The entries of the union of `streams` older than the entry id `before`, newest first."""
        floor = self.origin()
        if floor is None:
            return
        walks = [self.hours(stream, start, floor) for stream in streams]
        merged = heapq.merge(*walks, key=lambda item: item[0], reverse=True)
        for _hour, group in itertools.groupby(merged, key=lambda item: item[0]):
            hour_entries = [e for _, found in group for doc in found for e in json.loads(doc["entries"])]
            hour_entries.sort(key=lambda e: e["_id"], reverse=True)  # an hour's buckets interleave
            for entry in hour_entries:
                if before is None or entry["_id"] < before:
                    yield entry


def _month_end(month: date) -> date:
    following = date(month.year + 1, 1, 1) if month.month == 12 else date(month.year, month.month + 1, 1)
    return following - timedelta(days=1)


def purge_before(database, cutoff: date) -> int:
    """Delete every keyed document of the days before `cutoff` (by `_id`) and move `origin` to it;
    returns the number of entries removed. Idempotent: replicas running it at once do no harm."""
    reader = AuditLogReader(database)
    floor = reader.origin()
    if floor is None or floor >= cutoff:
        return 0
    removed = 0
    day = floor
    while day < cutoff:
        removed += purge_day(database, day)
        day += timedelta(days=1)
    database[KEYED].replace_one({"_id": ORIGIN}, {"day": f"{cutoff:%Y%m%d}"}, upsert=True)
    return removed


def purge_day(database, day: date) -> int:
    collection = database[KEYED]
    reader = AuditLogReader(database)
    if reader._get(f"{ALL}|D|{day:%Y%m%d}") is None:
        return 0  # nothing written that day (or purged already)
    end = datetime(day.year, day.month, day.day, 23, 59, tzinfo=timezone.utc)
    # the floor's month is walked without its marker: every hour of `day` is looked at
    hours_written: dict[str, set[str]] = {}  # stream -> hours written that day
    count = 0
    for hour, found in reader.hours(ALL, end, day):
        for doc in found:
            for entry in json.loads(doc["entries"]):
                count += 1
                for stream in streams_of(entry):
                    hours_written.setdefault(stream, set()).add(hour)
    hours_written.setdefault(ALL, set())
    # `all` last, its day marker at the very end: a purge cut short is found and finished by the next run
    for stream in sorted(hours_written, key=lambda s: s == ALL):
        written = hours_written[stream]
        for hour in sorted(written):
            for n in itertools.count():
                if not collection.delete_one({"_id": bucket_id(stream, hour, n)}).deleted_count:
                    break
        # every quarter of `all` (one marked by a writer that failed before its bucket holds nothing)
        quarters = ({f"{h[:8]}{int(h[8:10]) // 6}" for h in written} if stream != ALL
                    else {f"{day:%Y%m%d}{q}" for q in range(4)})
        for _id in ([f"{stream}|Q|{q}" for q in sorted(quarters)]
                    + [f"{stream}|M|{day:%Y%m}", f"{stream}|D|{day:%Y%m%d}"]):
            collection.delete_one({"_id": _id})
    return count
