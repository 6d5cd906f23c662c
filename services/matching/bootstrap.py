"""Wiring: builds the matching service's parts from Settings (used by the API, worker and CLI)."""
from __future__ import annotations

from dataclasses import dataclass

from shared.clock import SystemClock
from shared.config import Settings
from shared.events.catalog import default_registry
from shared.eventstore import EventStore
from shared.mongo import database_for
from services.matching.adapters.repositories import (
    CohortsRepository, EnrollmentsRepository, PairingsRepository, ProgramsRepository,
)
from services.matching.application.feedback import FeedbackFitProjection
from services.matching.application.participants import ParticipantsProjection, ParticipantsRepository
from services.matching.application.service import MatchingService

SERVICE = "matching"
CONSUMER_GROUP = "matching-worker"
EXPIRY_INTERVAL_S = 60.0


@dataclass
class MatchingContext:
    settings: Settings
    database: object
    store: EventStore
    participants: ParticipantsRepository
    service: MatchingService

    def projections(self) -> list:
        return [
            ParticipantsProjection(self.participants, on_terminated=self.service.on_employee_terminated),
            FeedbackFitProjection(self.service),
        ]

    def ensure_indexes(self) -> None:
        self.store.ensure_indexes()
        self.service.enrollments.ensure_indexes()
        self.service.pairings.ensure_indexes()


def build(settings: Settings | None = None, clock=None) -> MatchingContext:
    settings = settings or Settings.from_env(SERVICE)
    database = database_for(settings)
    store = EventStore(database)
    participants = ParticipantsRepository(database)
    service = MatchingService(
        store, registry(), participants=participants, programs=ProgramsRepository(database),
        cohorts_repo=CohortsRepository(database), enrollments=EnrollmentsRepository(database),
        pairings_repo=PairingsRepository(database), clock=clock or SystemClock())
    return MatchingContext(settings=settings, database=database, store=store, participants=participants,
                           service=service)


def registry():
    return default_registry()
