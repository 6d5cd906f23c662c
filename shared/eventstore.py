"""Event store in MongoDB: optimistic concurrency, atomic multi-event commits, a global order.

Layout (collections in the owning service's database):

- `event_commits`: one document per command: all the events that command produced, so they are
  stored atomically by a single insert (no multi-document transaction needed, which FerretDB
  lacks). `_id` is the commit's global position ("p" + 15 digits). A unique index on
  (`stream_id`, `first_version`) is the optimistic-concurrency guard: two writers that loaded the
  same stream version cannot both insert the next commit.
- `event_streams`: a pointer per commit, `_id` = "<stream>|<first_version>", so a stream is read
  by `_id` look-ups alone (the only look-ups FerretDB v1 indexes). It is written after the commit;
  if a crash loses it, the next append finds the commit through the unique index and restores it.
- `event_counters`: the position counter.

Positions are taken from the counter *before* the insert, so they can become visible out of
order or never (a writer that lost a race, or crashed). The relay (shared.relay) walks positions
one by one and waits for a missing one; after a timeout it *seals* it by inserting a placeholder
with that `_id`. A writer whose insert then collides on `_id` takes a fresh position and tries
again, so no commit can ever appear behind the relay's cursor.
"""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Iterator, Sequence

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from shared.events.envelope import Envelope
from shared.metrics import EVENTS_APPENDED

COMMITS = "event_commits"
STREAMS = "event_streams"
COUNTERS = "event_counters"


class ConcurrencyError(Exception):
    """The stream moved on since it was loaded: the HTTP layer answers 409."""

    def __init__(self, stream_id: str, expected_version: int):
        super().__init__(f"stream {stream_id} is no longer at version {expected_version}")
        self.stream_id = stream_id
        self.expected_version = expected_version


def position_key(position: int) -> str:
    return f"p{position:015d}"


def stream_key(stream_id: str, first_version: int) -> str:
    return f"{stream_id}|{first_version:09d}"


@dataclass(frozen=True)
class LoadedStream:
    stream_id: str
    version: int
    events: list[Envelope]


@dataclass(frozen=True)
class Commit:
    position: int
    stream_id: str
    events: list[Envelope]


class EventStore:
    def __init__(self, database, *, max_position_retries: int = 20, cached_streams: int = 2048):
        self.db = database
        self.commits = database[COMMITS]
        self.streams = database[STREAMS]
        self.counters = database[COUNTERS]
        self.max_position_retries = max_position_retries
        # Streams only ever grow, so a prefix read once stays true: `load` keeps the last
        # `cached_streams` streams it read and fetches only the commits written since.
        self._prefixes: OrderedDict[str, tuple[int, tuple[Envelope, ...]]] = OrderedDict()
        self._prefix_limit = cached_streams
        self._prefix_lock = threading.Lock()

    def ensure_indexes(self) -> None:
        self.commits.create_index(
            [("stream_id", ASCENDING), ("first_version", ASCENDING)], unique=True, name="stream_version_unique"
        )

    # -- writing -----------------------------------------------------------------------------

    def append(self, stream_id: str, expected_version: int, events: Sequence[Envelope]) -> int:
        """Store `events` (one command's output) atomically after `expected_version`.

        Returns the commit's global position. Raises ConcurrencyError when another writer got
        there first.
        """
        if not events:
            raise ValueError("nothing to append")
        for offset, event in enumerate(events, start=1):
            if event.aggregate_id != stream_id or event.aggregate_version != expected_version + offset:
                raise ValueError(
                    f"event {event.event_type} has aggregate {event.aggregate_id} v{event.aggregate_version}; "
                    f"expected {stream_id} v{expected_version + offset}"
                )
        first_version = expected_version + 1
        doc = {
            "stream_id": stream_id,
            "first_version": first_version,
            "last_version": expected_version + len(events),
            "events": [event.to_dict() for event in events],
        }
        for _ in range(self.max_position_retries):
            position = self._next_position()
            doc["_id"] = position_key(position)
            doc["position"] = position
            try:
                self.commits.insert_one(doc)
            except DuplicateKeyError as exc:
                # Positions come from a counter, so the only thing that can already sit at ours is
                # the relay's seal (FerretDB does not say which index collided, so look).
                if self.commit_at(position) is not None:
                    continue  # sealed while we were slow: take another position
                self._seal_quietly(position)
                self._repair_pointer(stream_id, first_version)
                raise ConcurrencyError(stream_id, expected_version) from exc
            self._write_pointer(stream_id, first_version, position)
            EVENTS_APPENDED.inc(len(events))
            return position
        raise RuntimeError(f"could not claim a position for {stream_id} after {self.max_position_retries} tries")

    def _next_position(self) -> int:
        counter = self.counters.find_one_and_update(
            {"_id": "position"}, {"$inc": {"value": 1}}, upsert=True, return_document=ReturnDocument.AFTER
        )
        return int(counter["value"])

    def _write_pointer(self, stream_id: str, first_version: int, position: int) -> None:
        try:
            self.streams.insert_one({"_id": stream_key(stream_id, first_version), "position": position})
        except DuplicateKeyError:
            pass  # already restored by a repair

    def _seal_quietly(self, position: int) -> None:
        """Tell the relay at once that this position will never hold a commit."""
        try:
            self.commits.insert_one({"_id": position_key(position), "position": position, "sealed": True})
        except DuplicateKeyError:
            pass

    def _repair_pointer(self, stream_id: str, first_version: int) -> None:
        """A conflict can mean our pointer was lost in a crash: restore it from the commit.

        This is the one query that is not an `_id` look-up; it runs only on conflicts.
        """
        if self.streams.find_one({"_id": stream_key(stream_id, first_version)}) is not None:
            return
        commit = self.commits.find_one({"stream_id": stream_id, "first_version": first_version}, {"position": 1})
        if commit is not None:
            self._write_pointer(stream_id, first_version, commit["position"])

    def current_position(self) -> int:
        counter = self.counters.find_one({"_id": "position"})
        return int(counter["value"]) if counter else 0

    # -- reading -----------------------------------------------------------------------------

    def load(self, stream_id: str) -> LoadedStream:
        with self._prefix_lock:
            version, known = self._prefixes.get(stream_id, (0, ()))
        events: list[Envelope] = list(known)
        while True:
            pointer = self.streams.find_one({"_id": stream_key(stream_id, version + 1)})
            if pointer is None:
                break
            commit = self.commits.find_one({"_id": position_key(pointer["position"])})
            if commit is None or commit.get("sealed"):
                break
            events.extend(Envelope(**raw) for raw in commit["events"])
            version = commit["last_version"]
        if version:
            with self._prefix_lock:
                self._prefixes[stream_id] = (version, tuple(events))
                self._prefixes.move_to_end(stream_id)
                while len(self._prefixes) > self._prefix_limit:
                    self._prefixes.popitem(last=False)
        return LoadedStream(stream_id=stream_id, version=version, events=events)

    def commit_at(self, position: int) -> dict | None:
        """The raw document at a position: a commit, a sealed placeholder, or None (not yet)."""
        return self.commits.find_one({"_id": position_key(position)})

    def seal(self, position: int) -> dict | None:
        """Seal an empty position; returns the commit instead if one won the race."""
        try:
            self.commits.insert_one({"_id": position_key(position), "position": position, "sealed": True})
            return None
        except DuplicateKeyError:
            doc = self.commit_at(position)
            return None if doc is None or doc.get("sealed") else doc

    def read_all(self, from_position: int = 1, *, limit: int | None = None) -> Iterator[Commit]:
        """Commits in global order from `from_position`, stopping at the first position not yet written."""
        position = from_position
        last = self.current_position()
        count = 0
        while position <= last and (limit is None or count < limit):
            doc = self.commit_at(position)
            if doc is None:
                break
            if not doc.get("sealed"):
                count += 1
                yield Commit(position, doc["stream_id"], [Envelope(**raw) for raw in doc["events"]])
            position += 1
