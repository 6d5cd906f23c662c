"""Wiring: builds the matching service's parts from Settings (used by the API, worker and CLI)."""
from __future__ import annotations

from dataclasses import dataclass

from shared.config import Settings
from shared.events.catalog import default_registry
from shared.eventstore import EventStore
from shared.mongo import database_for
from services.matching.application.participants import ParticipantsProjection, ParticipantsRepository

SERVICE = "matching"
CONSUMER_GROUP = "matching-worker"


@dataclass
class MatchingContext:
    settings: Settings
    database: object
    store: EventStore
    participants: ParticipantsRepository

    def projections(self) -> list:
        return [ParticipantsProjection(self.participants)]


def build(settings: Settings | None = None) -> MatchingContext:
    settings = settings or Settings.from_env(SERVICE)
    database = database_for(settings)
    store = EventStore(database)
    return MatchingContext(
        settings=settings,
        database=database,
        store=store,
        participants=ParticipantsRepository(database),
    )


def registry():
    return default_registry()
