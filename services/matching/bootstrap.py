"""Wiring: builds the matching service's parts from Settings (used by the API, worker and CLI)."""
from __future__ import annotations

from dataclasses import dataclass, field

from shared.clock import SystemClock
from shared.config import Settings
from shared.directory import DirectoryRepository
from shared.erasure import PersonEraser
from shared.events.catalog import default_registry
from shared.eventstore import EventStore
from shared.generations import live_database
from shared.lease import server_now
from shared.mongo import database_for
from shared.projector import StoreProjector
from shared.scopes import ProgrammeScopeReader, ProgrammeScopes

from services.matching.adapters.mongo import PARTICIPANTS, RunProgress, Views
from services.matching.adapters.seats import SEAT_CLAIMS
from services.matching.application.commands import MatchingCommands
from services.matching.application.erasure import (
    ErasureCommands, ErasureProcessor, ErasureRequestPolicy, erase_person,
)
from services.matching.application.erasure_progress import ErasureList, ErasureProgress, ErasureStatus
from services.matching.application.outcomes import ProgramOutcomes
from services.matching.application.partners import PartnersProjection, PartnersRepository
from services.matching.application.policies import NotAFitPolicy, TerminationPolicy
from services.matching.application.projections import MatchingViews, participants_projection
from services.matching.application.runs import RunProcessor

SERVICE = "matching"
CONSUMER_GROUP = "matching-worker"
EXPIRY_INTERVAL_S = 60.0
VIEWS_PROJECTOR = "matching-own"  # = shared.worker.projector_for's name: API and worker share its checkpoint
RUNS_PROJECTOR = "matching-runs"


@dataclass
class MatchingContext:
    settings: Settings
    database: object
    store: EventStore
    clock: object
    views: Views  # readers' handle: follows the live generation after a rebuild
    participants: DirectoryRepository
    progress: RunProgress
    partners: PartnersRepository  # who is whose open partner (participant profiles)
    scopes: ProgrammeScopeReader  # who manages which programme (shared.scopes)
    commands: MatchingCommands = field(init=False)
    erasures: ErasureCommands = field(init=False)  # GDPR Art. 17 requests (application/erasure.py)
    erasure_status: ErasureStatus = field(init=False)  # their progress in every service (application/erasure_progress.py)
    projector: StoreProjector = field(init=False)  # the views (own-stream projections)
    run_projector: StoreProjector = field(init=False)  # the run processor (a process manager)
    outcomes: ProgramOutcomes = field(init=False)  # GET /v1/programs/{id}/outcomes (application/outcomes.py)

    def __post_init__(self):
        self.projector = StoreProjector(self, self.own_projections(), name=VIEWS_PROJECTOR, registry=registry())
        self.commands = MatchingCommands(self.store, registry(), views=self.views, participants=self.participants,
                                         projector=self.projector, clock=self.clock,
                                         wait_timeout_s=self.settings.matching_wait_timeout_s,
                                         seat_claims=self.database[SEAT_CLAIMS], server_now=lambda: server_now(self.database))
        self.erasures = ErasureCommands(self.store, registry(), self.clock)
        self.outcomes = ProgramOutcomes(self.views, self.participants.collection, self.clock)
        self.erasure_status = ErasureStatus(live_database(self.database), self.erasures.status, self.clock,
                                            overdue_s=self.settings.erasure_overdue_s)
        eraser = PersonEraser(service=SERVICE, store=self.store, registry=registry(), database=self.database,
                              clock=self.clock,
                              erase=lambda person, at: erase_person(self.views, self.participants, self.store, person, at))
        # The erasure processor shares the run processor's projector (its lease: one replica at a time).
        self.run_projector = StoreProjector(
            self, [RunProcessor(self.commands, self.progress), ErasureProcessor(eraser, self.commands.wait_for_head)],
            name=RUNS_PROJECTOR, registry=registry())

    def projections(self) -> list:
        """Kafka-fed: the HRIS directory, the reactions to HRIS and feedback events, erasure progress."""
        return [participants_projection(self.database), TerminationPolicy(self.commands),
                NotAFitPolicy(self.commands), ErasureRequestPolicy(self.erasures), ErasureProgress(self.database)]

    def own_projections(self) -> list:
        """Fed from the service's own event store: the views, the partners view, programme scopes,
        the list of erasure requests."""
        return [MatchingViews(self.database), PartnersProjection(self.database),
                ProgrammeScopes(self.database, topics=()), ErasureList(self.database)]

    def ensure_indexes(self) -> None:
        self.store.ensure_indexes()
        Views(self.database).ensure_indexes()
        ProgrammeScopeReader(self.database).ensure_indexes()


def build(settings: Settings | None = None, *, clock=None) -> MatchingContext:
    settings = settings or Settings.from_env(SERVICE)
    database = database_for(settings)
    live = live_database(database)
    return MatchingContext(settings=settings, database=database, store=EventStore(database),
                           clock=clock or SystemClock(), views=Views(live),
                           participants=DirectoryRepository(live, PARTICIPANTS), progress=RunProgress(database),
                           partners=PartnersRepository(live), scopes=ProgrammeScopeReader(live))


def registry():
    return default_registry()
