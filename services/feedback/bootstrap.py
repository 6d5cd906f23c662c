"""Wiring: builds the feedback service's parts from Settings (used by the API, worker and CLI)."""
from __future__ import annotations

from dataclasses import dataclass, field

from shared.clock import SystemClock
from shared import topics
from shared.config import Settings
from shared.erasure import ErasurePolicy, PersonEraser
from shared.events.catalog import default_registry
from shared.eventstore import EventStore
from shared.generations import live_database
from shared.scopes import ProgrammeScopeReader, ProgrammeScopes
from shared.keys import purpose_key
from shared.mongo import database_for
from shared.projector import StoreProjector
from services.feedback.adapters.mongo import ReadModels
from services.feedback.adapters.snapshots import SnapshotStore
from services.feedback.application.commands import FeedbackCommands
from services.feedback.application.erasure import FeedbackEraser
from services.feedback.application.policies import SurveysWhenCohortCloses
from services.feedback.application.projections import FeedbackView, KudosView, ProgrammeView, people_projection
from services.feedback.application.queries import FeedbackQueries
from services.feedback.application.retention import ForgetFeedbackTexts

SERVICE = "feedback"
CONSUMER_GROUP = "feedback-worker"


class _ClockRef:
    """The context's clock, looked up at call time so tests can swap `context.clock`."""

    def __init__(self, context: "FeedbackContext"):
        self.context = context

    def now(self):
        return self.context.clock.now()


@dataclass
class FeedbackContext:
    settings: Settings
    database: object
    store: EventStore
    clock: object
    models: ReadModels = field(init=False)  # readers: follow the live generation of each view
    commands: FeedbackCommands = field(init=False)
    queries: FeedbackQueries = field(init=False)
    projector: StoreProjector = field(init=False)
    retention: ForgetFeedbackTexts = field(init=False)
    eraser: PersonEraser = field(init=False)  # GDPR Art. 17 (application/erasure.py)

    def __post_init__(self):
        registry = default_registry()
        self.models = ReadModels(live_database(self.database))
        self.commands = FeedbackCommands(self.store, registry, self.models, _ClockRef(self),
                                         pseudonym_key=pseudonym_key(self.settings))
        self.projector = StoreProjector(self, self.own_projections(), name=f"{SERVICE}-own", registry=registry)
        self.retention = ForgetFeedbackTexts(self.models, self.store, live_database(self.database), _ClockRef(self),
                                             self.settings.retention_private_text_days)
        scrub = FeedbackEraser(self.models, self.store, live_database(self.database))
        self.eraser = PersonEraser(service=SERVICE, store=self.store, registry=registry, database=self.database,
                                   clock=_ClockRef(self), erase=scrub.erase)
        self.queries = FeedbackQueries(self.models, SnapshotStore(self.database), _ClockRef(self), self._settle)

    def projections(self) -> list:
        """Fed by the consumer group (Kafka): the view first, then the policy that reads it."""
        return [ProgrammeView(self.database), people_projection(self.database), ProgrammeScopes(self.database),
                SurveysWhenCohortCloses(self.commands),
                ErasurePolicy(self.eraser, name="feedback-erasures", topics=(topics.MATCHING,), on_hris=False)]

    def own_projections(self) -> list:
        """Fed from this service's event store (shared.projector)."""
        return [FeedbackView(self.database), KudosView(self.database)]

    def _settle(self) -> None:
        """Before a day's summary is computed: the views include everything stored so far."""
        self.projector.wait_for(self.store.current_position(), timeout_s=self.settings.read_your_writes_timeout_s)

    def ensure_indexes(self) -> None:
        self.store.ensure_indexes()
        ReadModels(self.database).ensure_indexes()
        SnapshotStore(self.database).ensure_indexes()
        ProgrammeScopeReader(self.database).ensure_indexes()


def build(settings: Settings | None = None, *, clock=None) -> FeedbackContext:
    settings = settings or Settings.from_env(SERVICE)
    database = database_for(settings)
    return FeedbackContext(settings=settings, database=database,
                           store=EventStore(database, max_event_bytes=settings.max_event_bytes),
                           clock=clock or SystemClock())


def registry():
    return default_registry()


def pseudonym_key(settings: Settings) -> str:
    """The key of respondents' pseudonyms; the service does not start without one (an empty key
    would make every pseudonym a plain hash of the employee id, which anyone can recompute)."""
    return purpose_key(settings.feedback_pseudonym_secret, settings.jwt_secret,
                       purpose=b"mentoring feedback: pseudonyms", setting="FEEDBACK_PSEUDONYM_SECRET",
                       use="keys respondents' pseudonyms")
