"""Event-sourced aggregates on top of the event store.

A service's domain decides (pure functions: state + command -> new events as (type, data));
`AggregateStore.append` validates each event's data against its registered schema, wraps it in
the contract envelope with the next aggregate versions and the request's correlation, and stores
the lot atomically. The relay publishes them later.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from shared.events.envelope import Envelope, new_event
from shared.events.registry import EventRegistry
from shared.eventstore import EventStore, LoadedStream


@dataclass(frozen=True)
class Causation:
    """Where new events come from: the request (or the event) that caused them."""

    correlation_id: str
    causation_id: str | None

    @classmethod
    def from_event(cls, envelope: Envelope) -> "Causation":
        return cls(correlation_id=envelope.correlation_id, causation_id=envelope.event_id)


@dataclass(frozen=True)
class NewEvent:
    event_type: str
    data: dict


class AggregateStore:
    def __init__(self, store: EventStore, registry: EventRegistry, *, producer: str, aggregate_type: str):
        self.store = store
        self.registry = registry
        self.producer = producer
        self.aggregate_type = aggregate_type

    def load(self, aggregate_id: str) -> LoadedStream:
        return self.store.load(aggregate_id)

    def append(
        self,
        aggregate_id: str,
        expected_version: int,
        new_events: Sequence[NewEvent],
        causation: Causation,
        *,
        occurred_at: datetime | None = None,
    ) -> list[Envelope]:
        envelopes = []
        for offset, event in enumerate(new_events, start=1):
            version = self.registry.current_version(event.event_type)
            data = self.registry.validate_data(event.event_type, version, event.data)
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
        if envelopes:
            self.store.append(aggregate_id, expected_version, envelopes)
        return envelopes
