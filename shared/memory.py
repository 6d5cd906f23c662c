"""An in-memory event store with the interface of shared.eventstore.EventStore, for unit tests.

Command handlers, projections and policies take the store as a port; in unit tests they get this
one and run in milliseconds without servers. It keeps the rules that matter to callers: optimistic
concurrency (ConcurrencyError), one commit per append with a global position, private data kept
beside the events and never in them, the size limit (EventTooLarge), reads in global order.
Integration tests always use the real store.
"""
from __future__ import annotations

import threading
from types import SimpleNamespace
from typing import Iterator, Sequence

from shared.events.envelope import Envelope
from shared.eventstore import (
    DEFAULT_MAX_EVENT_BYTES, MAX_COMMIT_BYTES, Commit, ConcurrencyError, EventTooLarge, LoadedStream, StreamAppend,
    event_bytes, sealed_placeholder,
)


class InMemoryEventStore:
    def __init__(self, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES):
        self.max_event_bytes = max_event_bytes
        self._commits: dict[int, dict] = {}  # position -> document (same shape as in MongoDB)
        self._versions: dict[str, int] = {}
        self._lock = threading.Lock()
        self.db = SimpleNamespace()  # nothing to index, no collections

    def ensure_indexes(self) -> None:
        pass

    def append(
        self, stream_id: str, expected_version: int, events: Sequence[Envelope], *, private: dict | None = None
    ) -> int:
        raw_events, private = self._check(stream_id, expected_version, events, private)
        with self._lock:
            if self._versions.get(stream_id, 0) != expected_version:
                raise ConcurrencyError(stream_id, expected_version)
            position = self._current()
            position += 1
            self._commits[position] = {
                "_id": f"p{position:015d}",
                "position": position,
                "stream_id": stream_id,
                "first_version": expected_version + 1,
                "last_version": expected_version + len(events),
                "events": raw_events,
                "private": private,
            }
            self._versions[stream_id] = expected_version + len(events)
            return position

    def _check(self, stream_id: str, expected_version: int, events: Sequence[Envelope],
               private: dict | None) -> tuple[list[dict], dict]:
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
        if total + (len(event_bytes(private)) if private else 0) > MAX_COMMIT_BYTES:
            raise EventTooLarge("commit", total, MAX_COMMIT_BYTES)
        return raw_events, private

    def append_many(self, appends: Sequence[StreamAppend]) -> list[int | ConcurrencyError]:
        """As EventStore.append_many: every entry checked first, then one commit each (a stale
        version refuses only its own entry)."""
        for entry in appends:
            self._check(entry.stream_id, entry.expected_version, entry.events, entry.private)
        results: list[int | ConcurrencyError] = []
        for entry in appends:
            try:
                results.append(self.append(entry.stream_id, entry.expected_version, entry.events,
                                           private=entry.private))
            except ConcurrencyError as exc:
                results.append(exc)
        return results

    def _current(self) -> int:
        return max(self._commits, default=0)

    def current_position(self) -> int:
        with self._lock:
            return self._current()

    def load(self, stream_id: str) -> LoadedStream:
        with self._lock:
            commits = [c for _, c in sorted(self._commits.items()) if c.get("stream_id") == stream_id]
        events: list[Envelope] = []
        private: dict = {}
        for commit in commits:
            events.extend(Envelope(**raw) for raw in commit["events"])
            private.update(commit.get("private") or {})
        return LoadedStream(stream_id=stream_id, version=events[-1].aggregate_version if events else 0,
                            events=events, private=private)

    def forget_private(self, stream_id: str, fields: Sequence[str]) -> int:
        """As EventStore.forget_private: the named private fields of the stream's events are removed."""
        changed = 0
        with self._lock:
            for commit in self._commits.values():
                if commit.get("stream_id") != stream_id:
                    continue
                private = commit.get("private") or {}
                kept = {event_id: {k: v for k, v in data.items() if k not in fields} for event_id, data in private.items()}
                if kept != private:
                    commit["private"] = kept
                    changed += 1
        return changed

    def commit_at(self, position: int, *, collection=None) -> dict | None:
        with self._lock:
            return self._commits.get(position)

    def committed_window(self, first: int, size: int) -> list[dict | None]:
        return [self.commit_at(position) for position in range(first, first + size)]

    def seal(self, position: int) -> dict | None:
        with self._lock:
            doc = self._commits.setdefault(position, sealed_placeholder(position))
        return None if doc.get("sealed") else doc

    def written_beyond(self, position: int, *, collection=None) -> bool:
        with self._lock:
            return self._current() > position

    def read_all(self, from_position: int = 1, *, limit: int | None = None) -> Iterator[Commit]:
        position, count = max(1, from_position), 0
        while limit is None or count < limit:
            doc = self.commit_at(position)
            if doc is None:
                break
            if not doc.get("sealed"):
                count += 1
                yield Commit(position, doc["stream_id"], [Envelope(**raw) for raw in doc["events"]],
                             dict(doc.get("private") or {}))
            position += 1
