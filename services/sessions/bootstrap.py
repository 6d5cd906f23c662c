"""Wiring: builds the sessions service's parts from Settings (used by the API, worker and CLI)."""
from __future__ import annotations

from dataclasses import dataclass

from shared.aggregate import AggregateStore
from shared.clock import SystemClock
from shared.config import Settings
from shared.events.catalog import default_registry
from shared.eventstore import EventStore
from shared.mongo import database_for
from services.sessions.adapters.repositories import (
    EngagementHints, MeetingsView, MeetingTextsRepository, PairingsRepository, ParticipantsRepository,
)
from services.sessions.application.engagement import EngagementService
from services.sessions.application.goals import GoalsService
from services.sessions.application.meetings import MeetingService
from services.sessions.application.projections import PairingsProjection, ParticipantsProjection

SERVICE = "sessions"
CONSUMER_GROUP = "sessions-worker"
RISK_CHECK_INTERVAL_S = 300.0


class _ClockRef:
    """The context's clock, looked up at call time so tests can swap `context.clock`."""

    def __init__(self, context: "SessionsContext"):
        self.context = context

    def now(self):
        return self.context.clock.now()


@dataclass
class SessionsContext:
    settings: Settings
    database: object
    store: EventStore
    participants: ParticipantsRepository
    pairings: PairingsRepository
    meetings_view: MeetingsView
    texts: MeetingTextsRepository
    clock: object
    meetings: MeetingService = None
    goals: GoalsService = None
    engagement: EngagementService = None

    def projections(self) -> list:
        return [ParticipantsProjection(self.participants),
                PairingsProjection(self.pairings, on_pairing_ended=self.meetings.cancel_for_ended_pairing)]

    def ensure_indexes(self) -> None:
        self.store.ensure_indexes()
        self.pairings.ensure_indexes()
        self.meetings_view.ensure_indexes()


def build(settings: Settings | None = None, clock=None) -> SessionsContext:
    settings = settings or Settings.from_env(SERVICE)
    database = database_for(settings)
    store = EventStore(database)
    registry = default_registry()
    context = SessionsContext(
        settings=settings, database=database, store=store,
        participants=ParticipantsRepository(database), pairings=PairingsRepository(database),
        meetings_view=MeetingsView(database), texts=MeetingTextsRepository(database),
        clock=clock or SystemClock(),
    )
    now = _ClockRef(context)
    context.engagement = EngagementService(
        AggregateStore(store, registry, producer=SERVICE, aggregate_type="pairing-engagement"),
        context.pairings, context.meetings_view, EngagementHints(database), now)
    context.goals = GoalsService(AggregateStore(store, registry, producer=SERVICE, aggregate_type="pairing-goals"))
    context.meetings = MeetingService(
        AggregateStore(store, registry, producer=SERVICE, aggregate_type="meeting"),
        context.meetings_view, context.texts, context.pairings, now,
        after_held=context.engagement.after_meeting_held)
    return context


def registry():
    return default_registry()
