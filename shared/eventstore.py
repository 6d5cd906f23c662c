"""Event store in MongoDB: optimistic concurrency, atomic multi-event commits, a global order.

Layout (one collection, `event_commits`, in the owning service's database):

- A commit: one document per command: all the events that command produced, so they are stored
  atomically by a single insert (no multi-document transaction needed, which FerretDB lacks).
  `_id` is the commit's global position ("p" + 15 digits). A unique index on (`stream_id`,
  `first_version`) is the optimistic-concurrency guard: two writers that loaded the same stream
  version cannot both insert the next commit. Private per-event data (`private`, keyed by event
  id) lives in the same document, so it is stored atomically with the events; the relay
  publishes only `events`.
- A stream pointer per commit, `_id` = "<stream>|<first_version>" -> its position, so a stream is
  read by `_id` look-ups alone (the only look-ups FerretDB v1 indexes). Its own keys in the unique
  index (`stream_id` "$pointer|<stream>") never meet a commit's.
- `event_counters` / "position": a *hint* of how far positions go (see below).

An append is ONE round trip: an ordered `insert_many` of the commit and then its pointer. The
server stops at the first refusal, so a commit refused (position or version taken) writes
nothing, and a pointer never exists without its commit. The two are still two documents: a server
that stops between them leaves a commit without its pointer. `load` then ends one commit short,
never beyond what is stored; the first append decided on that (a stale version) is refused by the
unique index, finds the commit by its fields and restores the pointer (`_stream_commit`), so the
client's retry loads it and succeeds; a store projector applying the commit restores it at once
(`loading_through`). Pointers used to live in
`event_streams`, written in a second round trip; `ensure_indexes` copies them here once. (Writing
the pointer off the request path instead would have turned that rare crash case into the common
case: a client's next command, served by another process, would load short and get a 409.)

How a writer gets a position: it inserts its commit with `_id` = the next free position, and the
unique `_id` decides — the one operation that is atomic on mongod and on FerretDB alike (FerretDB
v1's `find_one_and_update` is not isolated: a `$inc` counter handed two writers one position in
6–18 % of concurrent commits). A writer only ever tries position p after seeing p-1 occupied (its
own last commit, a collision, or a read), so by induction every position below an inserted one is
occupied: positions fill as a prefix, and a commit can never appear behind one that the relay
has already seen. The writer starts from the highest position this process has seen; after a
collision it gallops forward with `_id` reads to the end of the prefix. The hint document is
raised (`$max`) every HINT_EVERY positions, so a new process (and `current_position`) starts
near the end instead of at 1; a stale or lost hint update only costs a few more reads, because
the hint never exceeds a position that is really inserted.

Gaps can therefore only come from outside damage (or from positions an older version of this
code took from its counter and never used). The relay (shared.relay) still waits for a missing
position and, after a timeout, *seals* it with a placeholder that carries its own non-null keys
(`stream_id` "$sealed", `first_version` = position), so no unique index ever depends on how a
server treats NULLs (mongod indexes a missing field as null and would accept only one
placeholder; FerretDB treats NULLs as distinct). After any DuplicateKeyError the code reads what
is really stored before deciding, because FerretDB does not say which index collided.
"""
from __future__ import annotations

import contextlib
import contextvars
import threading
import time
import uuid
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Iterator, Protocol, Sequence

from pymongo import ASCENDING
from pymongo.errors import BulkWriteError, DuplicateKeyError

from shared.errors import Invalid
from shared.events.envelope import Envelope
from shared.metrics import EVENTS_APPENDED
from shared.mongo import insert_new, majority_reads

COMMITS = "event_commits"
# Where stream pointers lived before they moved into `event_commits` (one insert with their commit):
# `ensure_indexes` copies them over once; only processes of the previous version still use it.
LEGACY_STREAMS = "event_streams"
COUNTERS = "event_counters"
HINT_ID = "position"  # the legacy counter document: old code $inc'ed it, this code only $max'es it
POINTERS_MOVED_ID = "pointers_moved"  # in COUNTERS: LEGACY_STREAMS was copied into COMMITS
SEALED_STREAM = "$sealed"
POINTER_STREAM_PREFIX = "$pointer|"
HINT_EVERY = 32
# Commits per round trip of `append_many`: one insert of a few hundred small documents takes tens
# of milliseconds on FerretDB, and the claim lock (other appends of this process wait) is released
# between chunks.
APPEND_MANY_CHUNK = 500
# Positions `read_all` reads side by side (measured on FerretDB: 8 concurrent `_id` reads took
# 0.5 ms each against 1.45 ms one after another).
READ_WINDOW = 8
# Commits a process read lately, kept for its other readers: a worker's relay and its projectors
# read the same new commits moments apart (one database read instead of three or four). Bounded in
# age because `forget_private` (retention, erasure) changes a stored commit, maybe in another
# process: a reader may act on what was stored this long ago, as one that read a moment earlier would.
RECENT_COMMITS = 4096
RECENT_MAX_AGE_S = 5.0

# Kafka's default `message.max.bytes` is 1 MiB (1048588); keep room for the key, headers and the
# record batch overhead, so the relay can always publish what the store accepted.
DEFAULT_MAX_EVENT_BYTES = 1_000_000
# MongoDB refuses documents over 16 MiB; one commit (events + private data) must stay below.
MAX_COMMIT_BYTES = 15 * 1024 * 1024


def _refused_at(error: BulkWriteError) -> int:
    """Where an ordered insert stopped on a duplicate key (the documents before it are stored)."""
    errors = error.details.get("writeErrors") or []
    if not errors or errors[0].get("code") != 11000:
        raise error
    return int(errors[0]["index"])


class ConcurrencyError(Exception):
    """The stream moved on since it was loaded: the HTTP layer answers 409."""

    def __init__(self, stream_id: str, expected_version: int):
        super().__init__(f"stream {stream_id} is no longer at version {expected_version}")
        self.stream_id = stream_id
        self.expected_version = expected_version


class EventTooLarge(Invalid):
    """An event Kafka could never accept: refused before anything is stored."""

    def __init__(self, event_type: str, size: int, limit: int):
        super().__init__(
            "event_too_large",
            f"event {event_type} is {size} bytes; the limit is {limit}",
            size=size,
            limit=limit,
        )


def position_key(position: int) -> str:
    return f"p{position:015d}"


def stream_key(stream_id: str, first_version: int) -> str:
    return f"{stream_id}|{first_version:09d}"


def pointer_document(stream_id: str, first_version: int, position: int) -> dict:
    """The `_id`-keyed way from a stream version to its commit's position (in COMMITS, beside the commits).

    Its own non-null (`stream_id`, `first_version`) pair, distinct from every commit's and seal's
    (stream ids never start with '$'), keeps the unique stream index free of NULLs.
    """
    return {
        "_id": stream_key(stream_id, first_version),
        "position": position,
        "stream_id": POINTER_STREAM_PREFIX + stream_id,
        "first_version": first_version,
    }


def event_bytes(event: dict) -> bytes:
    """An event exactly as the relay sends it to Kafka (the size limit is checked on this)."""
    import json

    return json.dumps(event, separators=(",", ":"), sort_keys=True).encode("utf-8")


def sealed_placeholder(position: int) -> dict:
    """A document that occupies a position forever and holds no events.

    Its own non-null (`stream_id`, `first_version`) pair keeps the unique stream index free of
    NULLs: every placeholder has a distinct key on every server.
    """
    return {
        "_id": position_key(position),
        "position": position,
        "sealed": True,
        "stream_id": SEALED_STREAM,
        "first_version": position,
    }


@dataclass(frozen=True)
class StreamAppend:
    """One stream's commit in `EventStore.append_many`: what `append` takes."""

    stream_id: str
    expected_version: int
    events: Sequence[Envelope]
    private: dict | None = None


@dataclass(frozen=True)
class LoadedStream:
    stream_id: str
    version: int
    events: list[Envelope]
    private: dict = field(default_factory=dict)  # event_id -> private fields


@dataclass(frozen=True)
class Commit:
    position: int
    stream_id: str
    events: list[Envelope]
    private: dict = field(default_factory=dict)  # event_id -> private fields


class EventStorePort(Protocol):
    """What command handlers and projectors need from an event store (MongoDB: EventStore;
    unit tests: shared.memory.InMemoryEventStore)."""

    def append(
        self, stream_id: str, expected_version: int, events: Sequence[Envelope], *, private: dict | None = None
    ) -> int: ...

    def append_many(self, appends: Sequence[StreamAppend]) -> list[int | ConcurrencyError]: ...

    def load(self, stream_id: str) -> LoadedStream: ...

    def read_all(self, from_position: int = 1, *, limit: int | None = None) -> Iterator[Commit]: ...

    def committed_window(self, first: int, size: int) -> list[dict | None]: ...

    def current_position(self) -> int: ...

    def forget_private(self, stream_id: str, fields: Sequence[str]) -> int: ...


# The commits a store projector is applying right now: (stream id, first version) -> position.
# A commit is inserted before its stream's pointer (in one ordered insert, but as two documents), so
# a handler that loads the very stream whose commit it is applying (a process manager: a matching
# run's request, then its outcome) could find the pointer not yet written and load the stream short
# of the commit it reacts to (measured, when the pointer took a second round trip: a run never
# started, its request read as no run at all, one time in five under load). `load` restores such a
# pointer from here and goes on; the writer's own pointer insert then collides harmlessly.
_APPLYING: contextvars.ContextVar[dict | None] = contextvars.ContextVar("commits_being_applied", default=None)


@contextlib.contextmanager
def loading_through(commits: Sequence[Commit]):
    """While `commits` are applied: `load` of their streams includes them (see `_APPLYING`)."""
    token = _APPLYING.set({(c.stream_id, c.events[0].aggregate_version): c.position for c in commits if c.events})
    try:
        yield
    finally:
        _APPLYING.reset(token)


# How long `load` trusts a stream it cached: commits never change, except that `forget_private`
# removes private text (retention); a process that did not run the purge serves the cached text
# for at most this long afterwards.
PREFIX_CACHE_MAX_AGE_S = 600.0


class EventStore:
    def __init__(
        self,
        database,
        *,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        cached_streams: int = 2048,
        max_position_retries: int = 1000,
    ):
        self.db = database
        self.commits = database[COMMITS]
        self.counters = database[COUNTERS]
        self.max_event_bytes = max_event_bytes
        self.max_position_retries = max_position_retries
        # The highest position this process knows to be occupied: where the next append starts.
        self._seen = 0
        self._seen_lock = threading.Lock()
        # Threads of one process claim positions one at a time: they would only collide with
        # each other (one insert round trip each, instead of collisions and retries).
        self._claim_lock = threading.Lock()
        self._majority = None  # `commits` with majority reads where offered (decided on first use)
        self._readers: ThreadPoolExecutor | None = None  # read_all's window reads (started on first use)
        self._readers_lock = threading.Lock()
        self._recent: OrderedDict[int, tuple[dict, float]] = OrderedDict()  # position -> (document, read at)
        self._recent_lock = threading.Lock()
        # Streams only ever grow, so a prefix read once stays true: `load` keeps the last
        # `cached_streams` streams it read and fetches only the commits written since.
        self._prefixes: OrderedDict[str, tuple[int, tuple[Envelope, ...], dict, float]] = OrderedDict()
        self._prefix_limit = cached_streams
        self._prefix_lock = threading.Lock()

    def ensure_indexes(self) -> None:
        self.commits.create_index(
            [("stream_id", ASCENDING), ("first_version", ASCENDING)], unique=True, name="stream_version_unique"
        )
        self._adopt_legacy_pointers()

    def _adopt_legacy_pointers(self) -> None:
        """Copy the pointers an older version kept in LEGACY_STREAMS into COMMITS, once per database.

        Idempotent (existing pointers stay as they are), so processes starting at once, or one that
        dies half-way, only repeat work; the marker is written when a copy is complete. A pointer a
        process of the older version writes there afterwards (a rolling upgrade) is restored like a
        lost one: by the next append's conflict on that stream.
        """
        if self.counters.find_one({"_id": POINTERS_MOVED_ID}) is not None:
            return
        batch: list[dict] = []
        for legacy in self.db[LEGACY_STREAMS].find({}):
            stream_id, _, first_version = str(legacy["_id"]).rpartition("|")
            batch.append(pointer_document(stream_id, int(first_version), int(legacy["position"])))
            if len(batch) >= APPEND_MANY_CHUNK:
                insert_new(self.commits, batch)
                batch = []
        insert_new(self.commits, batch)
        with contextlib.suppress(DuplicateKeyError):  # another process completed a copy too
            self.counters.insert_one({"_id": POINTERS_MOVED_ID})

    # -- writing -----------------------------------------------------------------------------

    def append(
        self, stream_id: str, expected_version: int, events: Sequence[Envelope], *, private: dict | None = None
    ) -> int:
        """Store `events` (one command's output) atomically after `expected_version`.

        `private` maps event ids of `events` to data that is stored in the same commit but never
        published. Returns the commit's global position. Raises ConcurrencyError when another
        writer got there first, EventTooLarge (before storing anything) for an event Kafka
        could not take.
        """
        doc = self._commit_document(stream_id, expected_version, events, private)
        with self._claim_lock:
            position = self._claim(doc, stream_id, expected_version)
        if position % HINT_EVERY == 0:
            self._raise_hint(position)
        EVENTS_APPENDED.inc(len(events))
        return position

    def append_many(self, appends: Sequence[StreamAppend]) -> list[int | ConcurrencyError]:
        """Many streams' commits (each one command's output) in few round trips; per entry, in order,
        its position or the ConcurrencyError that refused it (the others are stored regardless).

        Each entry is its own commit document exactly as `append` stores it, so every guarantee
        holds unchanged: the unique (stream, first_version) index refuses a stale version, and the
        relay and projectors see ordinary commits. They are inserted with one *ordered*
        `insert_many` per chunk at consecutive positions, each commit followed by its stream
        pointer: the server inserts them one after the other and stops at the first refusal, so
        position p+1 is only ever written after p, positions still fill as a prefix, and a pointer
        never precedes its commit. A refused commit is decided as `_claim` decides it, on what is
        stored (FerretDB does not say which index collided): another writer's commit at that
        position (move to the end of the prefix and go on), or the stream's version taken (that
        entry gets its ConcurrencyError; the rest go on at the same, still free, position).
        An entry that fails the checks (size, versions) refuses the whole call before anything is
        stored.
        """
        docs = [self._commit_document(a.stream_id, a.expected_version, a.events, a.private) for a in appends]
        results: list[int | ConcurrencyError | None] = [None] * len(docs)
        for start in range(0, len(docs), APPEND_MANY_CHUNK):
            chunk = list(range(start, min(start + APPEND_MANY_CHUNK, len(docs))))
            with self._claim_lock:
                self._claim_many(docs, chunk, results)
            stored = [(docs[i], result) for i in chunk if isinstance(result := results[i], int)]
            if not stored:
                continue
            if any(position % HINT_EVERY == 0 for _, position in stored):
                self._raise_hint(max(position for _, position in stored))
            EVENTS_APPENDED.inc(sum(len(doc["events"]) for doc, _ in stored))
        return [result for result in results if result is not None]

    def _claim_many(self, docs: list[dict], indexes: list[int], results: list) -> None:
        """Insert `docs[i]` for `i` in `indexes` at consecutive free positions (ordered), each with its
        pointer; fills `results`."""
        pending = list(indexes)
        position = self._start_position() + 1
        retries = 0
        while pending:
            batch = []
            for offset, i in enumerate(pending):
                docs[i]["_id"] = position_key(position + offset)
                docs[i]["position"] = position + offset
                batch += [docs[i], pointer_document(docs[i]["stream_id"], docs[i]["first_version"], position + offset)]
            try:
                self.commits.insert_many(batch, ordered=True)
                inserted, refused = len(pending), False
            except BulkWriteError as exc:
                at = _refused_at(exc)
                # A refused pointer (odd index) was restored already: its commit is in, go on after it.
                inserted, refused = (at // 2 + 1, False) if at % 2 else (at // 2, True)
            for i in pending[:inserted]:
                results[i] = docs[i]["position"]
            if inserted:
                self._saw(position + inserted - 1)
            position += inserted
            pending = pending[inserted:]
            if not refused:
                continue
            doc = docs[pending[0]]
            stored = self.commit_at(position)
            if stored is not None and stored.get("commit_id") == doc["commit_id"]:
                # Our own insert, retried after a lost reply: its pointer may not have followed.
                self._write_pointer(doc["stream_id"], doc["first_version"], position)
                results[pending.pop(0)] = position
                self._saw(position)
                position += 1
                continue
            retries += 1
            if retries > self.max_position_retries:
                raise RuntimeError(f"could not claim positions for {len(pending)} commits")
            if stored is not None:
                position = self._end_of_prefix(position) + 1  # taken by another writer or a seal
                continue
            owner = self._stream_commit(doc["stream_id"], doc["first_version"])
            if owner is None:
                continue  # nothing explains the collision: look again
            if owner.get("commit_id") == doc["commit_id"]:
                results[pending.pop(0)] = owner["position"]  # ours after all (a retried insert that had landed)
                continue
            results[pending.pop(0)] = ConcurrencyError(doc["stream_id"], doc["first_version"] - 1)

    def _commit_document(self, stream_id: str, expected_version: int, events: Sequence[Envelope],
                         private: dict | None) -> dict:
        """One command's commit as stored (without its position), after every check that refuses it."""
        if not events:
            raise ValueError("nothing to append")
        if stream_id.startswith("$"):
            raise ValueError(f"stream ids starting with '$' are reserved: {stream_id}")
        for offset, event in enumerate(events, start=1):
            if event.aggregate_id != stream_id or event.aggregate_version != expected_version + offset:
                raise ValueError(
                    f"event {event.event_type} has aggregate {event.aggregate_id} v{event.aggregate_version}; "
                    f"expected {stream_id} v{expected_version + offset}"
                )
        raw_events = [event.to_dict() for event in events]
        total = 0
        for raw in raw_events:
            size = len(event_bytes(raw))
            total += size
            if size > self.max_event_bytes:
                raise EventTooLarge(raw["event_type"], size, self.max_event_bytes)
        private = {str(k): v for k, v in (private or {}).items() if v}
        unknown = set(private) - {raw["event_id"] for raw in raw_events}
        if unknown:
            raise ValueError(f"private data for events not in this commit: {sorted(unknown)}")
        if private:
            total += len(event_bytes(private))
        if total > MAX_COMMIT_BYTES:
            raise EventTooLarge("commit", total, MAX_COMMIT_BYTES)
        doc = {
            "stream_id": stream_id,
            "first_version": expected_version + 1,
            "last_version": expected_version + len(events),
            # Recognises our own insert when a retried write collides with itself.
            "commit_id": uuid.uuid4().hex,
            "events": raw_events,
        }
        if private:
            doc["private"] = private
        return doc

    def _claim(self, doc: dict, stream_id: str, expected_version: int) -> int:
        """Insert the commit at the next free position, its stream pointer right behind it; returns the position.

        One ordered insert of the two documents: the server stops at the first refusal, so the
        pointer is only ever written after its commit, and a refused commit writes nothing.
        """
        position = self._start_position() + 1
        unverified_collision = False
        for _ in range(self.max_position_retries):
            doc["_id"] = position_key(position)
            doc["position"] = position
            try:
                self.commits.insert_many([doc, pointer_document(stream_id, doc["first_version"], position)],
                                         ordered=True)
                break
            except BulkWriteError as exc:
                if _refused_at(exc) > 0:
                    break  # the commit is in; a reader or a conflict had already restored its pointer
                if not unverified_collision:
                    # Most collisions are another writer on the same position: try the next one
                    # at once and verify only if that collides too. Safe: if the stream index
                    # collided instead, it collides again at the next position (a stream version
                    # never frees up), so this insert cannot succeed and leave a hole.
                    unverified_collision = True
                    position += 1
                    continue
                unverified_collision = False
                stored = self.commit_at(position)
                if stored is not None and stored.get("commit_id") == doc["commit_id"]:
                    # Our own insert, retried after a lost reply: its pointer may not have followed.
                    self._write_pointer(stream_id, doc["first_version"], position)
                    break
                if stored is not None:
                    # The position was taken (by another writer or a seal): move to the end.
                    position = self._end_of_prefix(position) + 1
                    continue
                # The position is free, so the stream index refused: the version is taken.
                owner = self._stream_commit(stream_id, doc["first_version"])
                if owner is None:
                    continue  # nothing explains the refusal: look again
                if owner.get("commit_id") == doc["commit_id"]:
                    position = owner["position"]  # ours after all (a retried insert that had landed)
                    break
                raise ConcurrencyError(stream_id, expected_version) from exc
        else:
            raise RuntimeError(f"could not claim a position for {stream_id} after {self.max_position_retries} tries")
        self._saw(position)
        return position

    def _saw(self, position: int) -> None:
        with self._seen_lock:
            if position > self._seen:
                self._seen = position

    def _start_position(self) -> int:
        with self._seen_lock:
            seen = self._seen
        if seen:
            return seen
        # A fresh process: the hint, then forward to the end of what is written.
        return self.current_position()

    def _occupied(self, position: int) -> bool:
        return self.commits.find_one({"_id": position_key(position)}, {"_id": 1}) is not None

    def _end_of_prefix(self, occupied: int) -> int:
        """The last occupied position at or after `occupied` (positions fill as a prefix).

        Gallops (1, 2, 4, … ahead) with `_id` reads, then bisects: a few reads even when this
        process is far behind the others.
        """
        low, step = occupied, 1
        while self._occupied(low + step):
            low += step
            step *= 2
        high = low + step  # free
        while high - low > 1:
            middle = (low + high) // 2
            if self._occupied(middle):
                low = middle
            else:
                high = middle
        self._saw(low)
        return low

    def _raise_hint(self, position: int) -> None:
        # `$max` is not isolated on FerretDB, so a racing update may leave a smaller value:
        # harmless, every value written is a position that is really occupied.
        try:
            self.counters.update_one({"_id": HINT_ID}, {"$max": {"value": position}}, upsert=True)
        except DuplicateKeyError:
            pass  # two first upserts raced; the other one wrote a hint

    def _write_pointer(self, stream_id: str, first_version: int, position: int) -> None:
        """Restore a pointer its commit's insert did not write (its writer or the server stopped in between)."""
        try:
            self.commits.insert_one(pointer_document(stream_id, first_version, position))
        except DuplicateKeyError:
            pass  # already restored by another repair

    def _stream_commit(self, stream_id: str, first_version: int) -> dict | None:
        """The commit of this stream that starts at `first_version`, if any; restores a lost pointer.

        The field query is the one read that is not an `_id` look-up (a scan on FerretDB); it runs
        only on conflicts whose pointer is missing.
        """
        pointer = self.commits.find_one({"_id": stream_key(stream_id, first_version)})
        if pointer is not None:
            commit = self.commit_at(pointer["position"])
            if commit is not None and commit.get("stream_id") == stream_id:
                return commit
        commit = self.commits.find_one({"stream_id": stream_id, "first_version": first_version})
        if commit is not None and pointer is None:
            self._write_pointer(stream_id, first_version, commit["position"])
        return commit

    def current_position(self) -> int:
        """The last position written (or, after a legacy gap, taken): where the relay's work ends."""
        hint = self.counters.find_one({"_id": HINT_ID})
        start = max(int(hint["value"]) if hint else 0, self._seen)
        if not self._occupied(start + 1):
            return start
        return self._end_of_prefix(start + 1)

    def written_beyond(self, position: int, *, collection=None) -> bool:
        """Whether anything is written after `position` (so a missing `position` is a gap, not the end)."""
        if self.commit_at(position + 1, collection=collection) is not None:
            return True
        hint = (collection.database[COUNTERS] if collection is not None else self.counters).find_one({"_id": HINT_ID})
        return bool(hint) and int(hint["value"]) > position

    # -- reading -----------------------------------------------------------------------------

    def load(self, stream_id: str) -> LoadedStream:
        with self._prefix_lock:
            version, known, known_private, cached_at = self._prefixes.get(stream_id, (0, (), {}, 0.0))
        if version and time.monotonic() - cached_at > PREFIX_CACHE_MAX_AGE_S:
            version, known, known_private, cached_at = 0, (), {}, 0.0  # may hold text purged since
        events: list[Envelope] = list(known)
        private = dict(known_private)
        while True:
            pointer = self.commits.find_one({"_id": stream_key(stream_id, version + 1)})
            if pointer is None:
                applying = (_APPLYING.get() or {}).get((stream_id, version + 1))
                if applying is None:
                    break
                self._write_pointer(stream_id, version + 1, applying)  # its writer's insert is yet to land
                pointer = {"position": applying}
            commit = self.commits.find_one({"_id": position_key(pointer["position"])})
            if commit is None or commit.get("sealed") or commit.get("stream_id") != stream_id:
                break
            events.extend(Envelope(**raw) for raw in commit["events"])
            private.update(commit.get("private") or {})
            version = commit["last_version"]
        if version:
            with self._prefix_lock:
                self._prefixes[stream_id] = (version, tuple(events), private, cached_at or time.monotonic())
                self._prefixes.move_to_end(stream_id)
                while len(self._prefixes) > self._prefix_limit:
                    self._prefixes.popitem(last=False)
        return LoadedStream(stream_id=stream_id, version=version, events=events, private=dict(private))

    def forget_private(self, stream_id: str, fields: Sequence[str]) -> int:
        """Remove `fields` from the private part of every event of a stream; returns how many commits changed.

        Why: the log is append-only, but private text (notes, comments) has a retention period
        (README "Privacy"). Events are untouched, so positions, versions, what the relay published
        and every rebuilt view stay as they were, only without the text; folds never read private
        parts, so the stream still loads. The commits are found by the stream's pointers and
        changed by `_id` (the look-up FerretDB indexes); each `$unset` is idempotent, so a job
        interrupted half-way simply runs again.
        """
        changed, version = 0, 0
        while True:
            pointer = self.commits.find_one({"_id": stream_key(stream_id, version + 1)})
            if pointer is None:
                break
            commit = self.commit_at(pointer["position"])
            if commit is None or commit.get("sealed") or commit.get("stream_id") != stream_id:
                break
            unset = {f"private.{event_id}.{name}": "" for event_id, data in (commit.get("private") or {}).items()
                     for name in fields if name in (data or {})}
            if unset:
                self.commits.update_one({"_id": commit["_id"]}, {"$unset": unset})
                self._forget_recent(pointer["position"])
                changed += 1
            version = commit["last_version"]
        with self._prefix_lock:
            self._prefixes.pop(stream_id, None)
        return changed

    def commit_at(self, position: int, *, collection=None) -> dict | None:
        """The raw document at a position: a commit, a sealed placeholder, or None (not yet)."""
        return (self.commits if collection is None else collection).find_one({"_id": position_key(position)})

    def seal(self, position: int) -> dict | None:
        """Seal an empty position; returns the commit instead if one won the race.

        A DuplicateKeyError alone decides nothing (FerretDB does not say which index collided):
        the position is read back, and only a placeholder there counts as sealed.
        """
        for _ in range(3):
            try:
                self.commits.insert_one(sealed_placeholder(position))
                return None
            except DuplicateKeyError:
                doc = self.commit_at(position)
                if doc is None:
                    continue  # not our position that collided: try again
                return None if doc.get("sealed") else doc
        raise RuntimeError(f"could not seal position {position}: the stream index refuses its placeholder")

    def read_all(self, from_position: int = 1, *, limit: int | None = None) -> Iterator[Commit]:
        """Commits in global order from `from_position`, stopping at the first position not yet written.

        Read with majority read concern on a replica set: a view built from this (own-stream
        projections) never includes a commit that a failover rolls back.
        """
        if self._majority is None:
            self._majority = majority_reads(self.commits)
        position = max(1, from_position)
        count = 0
        while limit is None or count < limit:
            # A window of positions read side by side (`_id` look-ups, the one read FerretDB indexes;
            # a range filter would scan): a projector catching up after a bulk enrolment waits for
            # one round trip per window instead of one per commit. The first missing position still
            # ends the read: what lies beyond it is not returned, exactly as one by one.
            window = READ_WINDOW if limit is None else max(1, min(READ_WINDOW, limit - count))
            docs = self.committed_window(position, window)
            for doc in docs:
                if doc is None:
                    return
                self._saw(position)
                if not doc.get("sealed"):
                    count += 1
                    yield Commit(position, doc["stream_id"], [Envelope(**raw) for raw in doc["events"]],
                                 dict(doc.get("private") or {}))
                position += 1
                if limit is not None and count >= limit:
                    return

    def committed_window(self, first: int, size: int) -> list[dict | None]:
        """The documents at positions `first`.. `first + size - 1` as majority reads see them (None: not
        written yet), read side by side; those this process read in the last RECENT_MAX_AGE_S come
        from memory (read_all and the relay share them)."""
        if self._majority is None:
            self._majority = majority_reads(self.commits)
        now = time.monotonic()
        positions = range(first, first + size)
        with self._recent_lock:
            found = {p: entry[0] for p in positions
                     if (entry := self._recent.get(p)) is not None and now - entry[1] < RECENT_MAX_AGE_S}
        missing = [p for p in positions if p not in found]
        if len(missing) == 1:
            read = [self.commit_at(missing[0], collection=self._majority)]
        elif missing:
            with self._readers_lock:
                if self._readers is None:
                    self._readers = ThreadPoolExecutor(READ_WINDOW, thread_name_prefix="eventstore-read")
            read = list(self._readers.map(lambda p: self.commit_at(p, collection=self._majority), missing))
        else:
            read = []
        with self._recent_lock:
            for position, doc in zip(missing, read):
                if doc is not None:
                    found[position] = doc
                    self._recent[position] = (doc, now)
                    self._recent.move_to_end(position)
            while len(self._recent) > RECENT_COMMITS:
                self._recent.popitem(last=False)
        return [found.get(p) for p in positions]

    def _forget_recent(self, position: int) -> None:
        with self._recent_lock:
            self._recent.pop(position, None)
