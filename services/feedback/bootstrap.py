"""Wiring: builds the feedback service's parts from Settings (used by the API, worker and CLI)."""
from __future__ import annotations

from dataclasses import dataclass

from shared.clock import SystemClock
from shared.config import Settings
from shared.events.catalog import default_registry
from shared.eventstore import EventStore
from shared.mongo import database_for
from services.feedback.adapters.mongo import PrivateNotes, ReadModels
from services.feedback.application.commands import FeedbackService
from services.feedback.application.projections import FeedbackView, ProgrammeView

SERVICE = "feedback"
CONSUMER_GROUP = "feedback-worker"


@dataclass
class FeedbackContext:
    settings: Settings
    database: object
    store: EventStore
    models: ReadModels
    notes: PrivateNotes
    service: FeedbackService

    def projections(self) -> list:
        return [ProgrammeView(self.models, on_cohort_closed=self.service.on_cohort_closed), FeedbackView(self.models)]

    def ensure_indexes(self) -> None:
        self.store.ensure_indexes()
        self.models.ensure_indexes()
        self.notes.ensure_indexes()


def build(settings: Settings | None = None, clock=None) -> FeedbackContext:
    settings = settings or Settings.from_env(SERVICE)
    database = database_for(settings)
    store = EventStore(database)
    models = ReadModels(database)
    notes = PrivateNotes(database)
    service = FeedbackService(store, registry(), models, notes, clock or SystemClock())
    return FeedbackContext(settings=settings, database=database, store=store, models=models, notes=notes,
                           service=service)


def registry():
    return default_registry()
