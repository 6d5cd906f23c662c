"""Event-sourced aggregates on top of the event store.

A service's domain decides (pure functions: state + command -> new events as (type, data));
`AggregateStore.append` validates each event's data against its registered schema, wraps it in
the contract envelope with the next aggregate versions and the request's correlation, and stores
the lot atomically. The relay publishes them later.

Private data (text that must never reach Kafka: notes, unshared comments) is passed as
`private={event_id_or_index: {...}}`; it is stored inside the same commit document, atomic with
the events, and read back by own-stream projections (`shared.projector.private_of`).

`load` returns events at the current schema version (older stored versions are upcast), so
domain code only ever sees the newest shape of each event.
"""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from shared.events.envelope import Envelope, new_event
from shared.events.registry import EventRegistry
from shared.eventstore import ConcurrencyError, EventStore, LoadedStream, StreamAppend


@dataclass(frozen=True)
class Causation:
    """Where new events come from: the request (or the event) that caused them."""

    correlation_id: str
    causation_id: str | None
    # who acted (the request's caller); stamped into each event's data as `actor_id` where its
    # schema has that field. None: the system (reactions, jobs).
    actor_id: str | None = None

    @classmethod
    def from_event(cls, envelope: Envelope) -> "Causation":
        return cls(correlation_id=envelope.correlation_id, causation_id=envelope.event_id)


@dataclass(frozen=True)
class NewEvent:
    event_type: str
    data: dict


class Appended(list):
    """The envelopes an append stored (a list), and the commit's global `position`.

    `position` is what a request handler waits for (`StoreProjector.wait_for`) when its answer
    needs a view to include the append; 0 when nothing was appended.
    """

    position: int = 0

    def __init__(self, envelopes=(), position: int = 0):
        super().__init__(envelopes)
        self.position = position


class AggregateStore:
    def __init__(self, store: EventStore, registry: EventRegistry, *, producer: str, aggregate_type: str,
                 sealer=None):
        self.store = store
        self.registry = registry
        self.producer = producer
        self.aggregate_type = aggregate_type
        # shared.shredding.Sealer: private parts sealed under their author's key (None: stored as given)
        self.sealer = sealer

    def load(self, aggregate_id: str) -> LoadedStream:
        loaded = self.store.load(aggregate_id)
        if self.sealer is not None and loaded.private:
            loaded = dataclasses.replace(loaded, private=self.sealer.open_all(loaded.private))
        events = [self.registry.to_current(event) for event in loaded.events]
        if all(new is old for new, old in zip(events, loaded.events)):
            return loaded
        return dataclasses.replace(loaded, events=events)

    def append(
        self,
        aggregate_id: str,
        expected_version: int,
        new_events: Sequence[NewEvent],
        causation: Causation,
        *,
        occurred_at: datetime | None = None,
        private: dict | None = None,
    ) -> Appended:
        """Store the events after `expected_version`; returns them with the commit's position.

        `private` maps an event (its index in `new_events`, or its event_id once known) to private
        fields stored in the commit document (never published); see the module docstring.
        """
        envelopes = self._envelopes(aggregate_id, expected_version, new_events, causation, occurred_at)
        if not envelopes:
            return Appended()
        by_event_id = self._sealed(_private_by_event_id(private, envelopes), causation)
        if by_event_id:
            position = self.store.append(aggregate_id, expected_version, envelopes, private=by_event_id)
        else:
            position = self.store.append(aggregate_id, expected_version, envelopes)
        return Appended(envelopes, position or 0)

    def append_many(
        self,
        appends: Sequence[tuple[str, int, Sequence[NewEvent], dict | None]],
        causation: Causation | Sequence[Causation],
        *,
        occurred_at: datetime | None = None,
    ) -> list[Appended | ConcurrencyError]:
        """Many aggregates' first (or next) commits, each as `append` would store it, in few round
        trips (`EventStore.append_many`). `appends`: (aggregate_id, expected_version, new_events,
        private) with at least one event each; `causation`: one for all (a bulk command) or one per
        entry (outcomes of separate deliveries). Per entry, in order: its Appended or the
        ConcurrencyError that refused only that one."""
        causations = [causation] * len(appends) if isinstance(causation, Causation) else list(causation)
        if len(causations) != len(appends):
            raise ValueError("one causation per entry, or one for all")
        entries, envelopes_of = [], []
        for (aggregate_id, expected_version, new_events, private), cause in zip(appends, causations):
            envelopes = self._envelopes(aggregate_id, expected_version, new_events, cause, occurred_at)
            if not envelopes:
                raise ValueError(f"nothing to append for {aggregate_id}")
            entries.append(StreamAppend(aggregate_id, expected_version, envelopes,
                                        self._sealed(_private_by_event_id(private, envelopes), cause) or None))
            envelopes_of.append(envelopes)
        results = self.store.append_many(entries)
        return [result if isinstance(result, ConcurrencyError) else Appended(envelopes, result)
                for envelopes, result in zip(envelopes_of, results)]

    def _sealed(self, by_event_id: dict, causation: Causation) -> dict:
        """Private parts as stored: sealed under the actor's key when this store seals (shared.shredding)."""
        if self.sealer is None or not by_event_id:
            return by_event_id
        sealed = {event_id: self.sealer.seal(fields, causation.actor_id) for event_id, fields in by_event_id.items()}
        return {event_id: fields for event_id, fields in sealed.items() if fields}

    def _envelopes(self, aggregate_id: str, expected_version: int, new_events: Sequence[NewEvent],
                   causation: Causation, occurred_at: datetime | None) -> list[Envelope]:
        """The envelopes of new events after `expected_version`, each validated against its schema."""
        envelopes = []
        for offset, event in enumerate(new_events, start=1):
            version = self.registry.current_version(event.event_type)
            data = event.data
            if causation.actor_id and "actor_id" not in data:
                data = {**data, "actor_id": causation.actor_id}  # a schema without the field drops it
            data = self.registry.validate_data(event.event_type, version, data)
            envelopes.append(
                new_event(
                    event_type=event.event_type,
                    schema_version=version,
                    producer=self.producer,
                    aggregate_type=self.aggregate_type,
                    aggregate_id=aggregate_id,
                    aggregate_version=expected_version + offset,
                    data=data,
                    correlation_id=causation.correlation_id,
                    causation_id=causation.causation_id,
                    occurred_at=occurred_at,
                )
            )
        return envelopes


def _private_by_event_id(private: dict | None, envelopes: list[Envelope]) -> dict:
    """`private` keyed by index (int) or event_id (str) -> keyed by event_id; empty entries dropped."""
    if not private:
        return {}
    ids = {envelope.event_id for envelope in envelopes}
    out = {}
    for key, fields in private.items():
        if not fields:
            continue
        if isinstance(key, int):
            out[envelopes[key].event_id] = dict(fields)
        elif key in ids:
            out[key] = dict(fields)
        else:
            raise ValueError(f"private data for an event not in this append: {key!r}")
    return out
