"""Wiring: builds the sessions service's parts from Settings (used by the API, worker and CLI)."""
from __future__ import annotations

from dataclasses import dataclass, field

from shared import topics
from shared.aggregate import AggregateStore
from shared.clock import SystemClock
from shared.config import Settings
from shared.directory import DirectoryRepository
from shared.events.catalog import default_registry
from shared.events.catalog.sessions import (
    CIRCLE_MEETINGS, MEETING, MEETING_SERIES, PAIRING_AGREEMENT, PAIRING_ENGAGEMENT, PAIRING_GOALS, PERSON_AVAILABILITY,
)
from shared.erasure import ErasurePolicy, PersonEraser
from shared.eventstore import EventStore
from shared.generations import live_database
from shared.scopes import ProgrammeScopeReader, ProgrammeScopes
from shared.shredding import PersonKeys, Sealer
from shared.mongo import database_for
from shared.projector import StoreProjector
from services.sessions.adapters.mongo import (
    AgreementsRepository, AvailabilityIndex, BusyTimesRepository, EngagementRepository, LegacyMeetingTexts,
    MeetingsRepository, PairingsRepository,
)
from services.sessions.adapters.circles import CirclesView
from services.sessions.adapters.roster import RosterMeetings, RosterPairs
from services.sessions.application.commands import (
    AgreementCommands, EngagementCommands, GoalCommands, MeetingCommands,
)
from services.sessions.application.policies import (
    BackOnTrackWhenMeetingHeld, CancelMeetingsWhenPairingEnds, RiskCheck,
)
from services.sessions.application.availability import AvailabilityCommands
from services.sessions.application.erasure import SessionsEraser
from services.sessions.application.series import SeriesCommands
from services.sessions.application.circles import CircleCommands
from services.sessions.application.retention import ForgetAvailability, ForgetMeetingTexts
from services.sessions.application.projections import (
    AgreementsProjection, AvailabilityIndexProjection, BusyTimesProjection, CirclesProjection, EngagementProjection,
    MeetingsProjection, PairingsProjection, RosterMeetingsProjection, RosterPairsProjection, participants_projection,
)

SERVICE = "sessions"
CONSUMER_GROUP = "sessions-worker"
RISK_CHECK_INTERVAL_S = 300.0
# How long the ended-pairing policy lets the meetings view catch up with the store: short, so a
# burst of PairingEnded never stalls the consumer; what it misses, the periodic sweep cancels.
SETTLE_TIMEOUT_S = 0.5


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
    clock: object
    # readers: they follow the live generation of each read model (shared.generations)
    participants: DirectoryRepository = field(init=False)
    pairings: PairingsRepository = field(init=False)
    meetings_view: MeetingsRepository = field(init=False)
    engagement_view: EngagementRepository = field(init=False)
    agreements_view: AgreementsRepository = field(init=False)
    busy_view: BusyTimesRepository = field(init=False)  # scheduled meetings per person and week (slots)
    roster_pairs: RosterPairs = field(init=False)  # the engagement roster (domain/roster.py)
    roster_meetings: RosterMeetings = field(init=False)
    circles_view: CirclesView = field(init=False)  # circles' member pairings (issue 15)
    # command handlers and the periodic risk check
    meetings: MeetingCommands = field(init=False)
    goals: GoalCommands = field(init=False)
    agreements: AgreementCommands = field(init=False)
    engagement: EngagementCommands = field(init=False)
    availability: AvailabilityCommands = field(init=False)  # weekly availability and common slots (issue 15)
    series: SeriesCommands = field(init=False)  # recurring meetings (issue 15)
    circles: CircleCommands = field(init=False)  # circles' group meetings (issue 15)
    risk: RiskCheck = field(init=False)
    retention: ForgetMeetingTexts = field(init=False)
    availability_retention: ForgetAvailability = field(init=False)  # weekly availability (issue 15)
    projector: StoreProjector = field(init=False)
    eraser: PersonEraser = field(init=False)  # GDPR Art. 17 (application/erasure.py)
    sealer: Sealer = field(init=False)  # private text sealed per author (shared.shredding)

    def __post_init__(self):
        registry = default_registry()
        live = live_database(self.database)
        now = _ClockRef(self)
        self.participants = DirectoryRepository(live)
        self.pairings = PairingsRepository(live)
        self.meetings_view = MeetingsRepository(live)
        self.engagement_view = EngagementRepository(live)
        self.agreements_view = AgreementsRepository(live)
        self.busy_view = BusyTimesRepository(live)
        self.roster_pairs = RosterPairs(live)
        self.roster_meetings = RosterMeetings(live)
        self.circles_view = CirclesView(live)

        keys = PersonKeys(self.database)
        self.sealer = Sealer(keys)

        def aggregates(aggregate_type: str) -> AggregateStore:
            return AggregateStore(self.store, registry, producer=SERVICE, aggregate_type=aggregate_type,
                                  sealer=self.sealer)

        self.meetings = MeetingCommands(aggregates(MEETING), self.pairings, now, LegacyMeetingTexts(self.database))
        self.goals = GoalCommands(aggregates(PAIRING_GOALS))
        self.agreements = AgreementCommands(aggregates(PAIRING_AGREEMENT), now)
        self.engagement = EngagementCommands(aggregates(PAIRING_ENGAGEMENT), now)
        self.series = SeriesCommands(aggregates(MEETING_SERIES), self.meetings, aggregates(MEETING), now)
        self.circles = CircleCommands(aggregates(CIRCLE_MEETINGS), self.meetings, aggregates(MEETING), self.pairings,
                                      self.circles_view, self.meetings_view, now)
        self.availability = AvailabilityCommands(aggregates(PERSON_AVAILABILITY), self.participants, self.busy_view,
                                                 now)
        self.risk = RiskCheck(self.pairings, self.meetings_view, self.engagement_view, self.engagement,
                              self.meetings, now, self.roster_meetings)
        self.retention = ForgetMeetingTexts(self.pairings, self.meetings_view, self.store, self.database, now,
                                            self.settings.retention_private_text_days)
        self.availability_retention = ForgetAvailability(self.pairings, AvailabilityIndex(live), self.store,
                                                         self.database, now, self.settings.retention_availability_days)
        self.projector = StoreProjector(self, self.own_projections(), name=f"{SERVICE}-own", registry=registry)
        scrub = SessionsEraser(self.participants, self.meetings_view, live, keys)
        self.eraser = PersonEraser(service=SERVICE, store=self.store, registry=registry, database=self.database,
                                   clock=now, erase=scrub.erase)

    def projections(self) -> list:
        """Fed by the consumer group (Kafka): views first, then the policy that reads them."""
        settle = lambda: self.projector.wait_for(self.store.current_position(), timeout_s=SETTLE_TIMEOUT_S)  # noqa: E731
        return [participants_projection(self.database), PairingsProjection(self.database),
                RosterPairsProjection(self.database), CirclesProjection(self.database), ProgrammeScopes(self.database),
                CancelMeetingsWhenPairingEnds(self.meetings_view, self.meetings, settle, pairings=self.pairings),
                ErasurePolicy(self.eraser, name="sessions-erasures", topics=(topics.HRIS_EMPLOYEES, topics.MATCHING),
                              on_hris=True)]

    def own_projections(self) -> list:
        """Fed from this service's event store (shared.projector), in this order for each commit."""
        return [MeetingsProjection(self.database), EngagementProjection(self.database),
                AgreementsProjection(self.database), BusyTimesProjection(self.database),
                AvailabilityIndexProjection(self.database),
                RosterMeetingsProjection(self.database),
                BackOnTrackWhenMeetingHeld(self.pairings, self.meetings_view, self.engagement_view,
                                           self.engagement, _ClockRef(self), self.agreements_view)]

    def ensure_indexes(self) -> None:
        self.store.ensure_indexes()
        PairingsRepository(self.database).ensure_indexes()
        MeetingsRepository(self.database).ensure_indexes()
        ProgrammeScopeReader(self.database).ensure_indexes()
        AgreementsRepository(self.database).ensure_indexes()


def build(settings: Settings | None = None, *, clock=None) -> SessionsContext:
    settings = settings or Settings.from_env(SERVICE)
    database = database_for(settings)
    return SessionsContext(settings=settings, database=database,
                           store=EventStore(database, max_event_bytes=settings.max_event_bytes),
                           clock=clock or SystemClock())


def registry():
    return default_registry()
