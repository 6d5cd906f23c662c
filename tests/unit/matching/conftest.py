"""The matching service on in-memory adapters: event store, database, projectors, a manual clock."""
from __future__ import annotations

import uuid
from datetime import date, datetime, timezone

import pytest

from shared.aggregate import Causation
from shared.clock import ManualClock, rfc3339
from shared.directory import DirectoryRepository
from shared.events.catalog import default_registry
from shared.events.catalog.hris import EMPLOYEE_TERMINATED, EMPLOYEE_UPSERTED
from shared.events.envelope import Envelope
from shared.memory import InMemoryEventStore

from services.matching.adapters.mongo import PARTICIPANTS, VIEW_COLLECTIONS, RunProgress, Views
from services.matching.adapters.seats import SEAT_CLAIMS
from services.matching.application.commands import Actor, MatchingCommands
from services.matching.application.policies import NotAFitPolicy, TerminationPolicy
from services.matching.application.projections import MatchingViews, participants_projection
from services.matching.application.runs import RunProcessor
from services.matching.domain.rules import MatchingRules
from tests.unit.matching.fakes import MemoryDatabase, SyncProjector

ADMIN = Actor("A000001", True)
REQUEST = Causation(correlation_id="req-1", causation_id=None)
START = datetime(2026, 3, 2, 9, 0, tzinfo=timezone.utc)


def hris(event_type: str, employee_id: str, occurred_at: str, **data) -> Envelope:
    body = {"employee_id": employee_id, **data}
    if event_type == EMPLOYEE_TERMINATED:
        body.setdefault("terminated_on", occurred_at[:10])
    return Envelope.from_hris({"event_id": str(uuid.uuid4()), "event_type": event_type, "schema_version": 1,
                               "occurred_at": occurred_at, "source": "workday", "data": body})


class Matching:
    """One matching service in memory; `work()` is what the worker's threads would do."""

    def __init__(self):
        self.store = InMemoryEventStore()
        self.database = MemoryDatabase()
        self.clock = ManualClock(START)
        self.registry = default_registry()
        self.views_projection = MatchingViews(self.database)
        self.views = Views(self.database)
        self.projector = SyncProjector(self.store, [self.views_projection])
        self.directory = participants_projection(self.database)
        self.participants = DirectoryRepository(self.database, PARTICIPANTS)
        self.commands = MatchingCommands(self.store, self.registry, views=self.views, participants=self.participants,
                                         projector=self.projector, clock=self.clock, wait_timeout_s=0.01,
                                         seat_claims=self.database[SEAT_CLAIMS])
        self.processor = RunProcessor(self.commands, RunProgress(self.database))
        self.runs = SyncProjector(self.store, [self.processor])
        self.terminations = TerminationPolicy(self.commands)
        self.not_a_fit = NotAFitPolicy(self.commands)

    # -- the outside world ---------------------------------------------------------------------
    def hire(self, employee_id: str, *, level=5, department="Engineering", manager_id=None, tz="Europe/London",
             occurred_at="2026-01-01T00:00:00Z", languages=("en",)):
        self.directory.apply(hris(EMPLOYEE_UPSERTED, employee_id, occurred_at, level=level, department=department,
                                  manager_id=manager_id, timezone=tz, languages=list(languages)))

    def terminate(self, employee_id: str, occurred_at: str) -> Envelope:
        envelope = hris(EMPLOYEE_TERMINATED, employee_id, occurred_at)
        self.deliver(envelope)
        return envelope

    def deliver(self, envelope: Envelope) -> None:
        """What the consumer runner does with an HRIS record: the directory, then the policy."""
        self.directory.apply(envelope)
        if envelope.event_type == EMPLOYEE_TERMINATED:
            self.terminations.terminated(envelope)

    def work(self) -> None:
        """The worker: views and run processor until nothing is left to do."""
        while self.runs.catch_up() or self.projector.catch_up():
            pass

    # -- admin steps ---------------------------------------------------------------------------
    def cohort(self, status="matching", **rules) -> str:
        program_id = self.commands.create_program("P", None, ADMIN, REQUEST)
        cohort = self.commands.create_cohort(
            program_id, name="C", starts_on=date(2026, 3, 1), ends_on=date(2026, 8, 31), meeting_cadence_days=14,
            answer_deadline_days=7, rules=MatchingRules.from_dict(rules), actor=ADMIN, causation=REQUEST)
        for step in ("enrolling", "matching", "active", "closed"):
            self.commands.change_cohort_status(cohort["cohort_id"], step, ADMIN, REQUEST)
            if step == status:
                break
        return cohort["cohort_id"]

    def enroll(self, cohort_id: str, employee_id: str, role: str, *, capacity=None, topics=("python",), **extra):
        body = {"employee_id": employee_id, "role": role, "topics": list(topics), **extra}
        if capacity is not None:
            body["capacity"] = capacity
        return self.commands.enroll(cohort_id, body, REQUEST)

    def run(self, cohort_id: str, *, dry_run=False, mode="maximize_score") -> dict:
        accepted = self.commands.request_run(cohort_id, mode=mode, dry_run=dry_run, actor=ADMIN, causation=REQUEST)
        self.work()
        return self.result(accepted["run_id"])

    def result(self, run_id: str) -> dict:
        from services.matching.application.runs import run_summary

        self.projector.catch_up()
        run = self.views.runs.get(run_id)
        proposals, unmatched = self.views.run_result(run)
        return run_summary(run, proposals, unmatched, RunProgress(self.database).get(run_id))

    def pairings(self, cohort_id: str) -> dict[str, dict]:
        self.projector.catch_up()
        return {doc["_id"]: doc for doc in self.views.pairings_of_cohort(cohort_id)}

    def types(self, stream_id: str) -> list[str]:
        return [event.event_type for event in self.store.load(stream_id).events]

    def view_state(self) -> dict:
        self.projector.catch_up()
        return self.database.snapshot(*VIEW_COLLECTIONS)

    def populated(self, **rules) -> str:
        self.hire("M001", level=7)
        self.hire("M002", level=7, department="Sales")
        self.hire("E001", level=3, manager_id="M001")
        self.hire("E002", level=3)
        self.hire("E003", level=3, department="Finance", tz="America/New_York")
        cohort_id = self.cohort(**rules)
        self.enroll(cohort_id, "M001", "mentor", capacity=2, topics=["python", "leadership"])
        self.enroll(cohort_id, "M002", "mentor", capacity=1, topics=["sales"])
        for mentee in ("E001", "E002", "E003"):
            self.enroll(cohort_id, mentee, "mentee")
        return cohort_id

    @staticmethod
    def at(moment: datetime) -> str:
        return rfc3339(moment)


@pytest.fixture
def matching() -> Matching:
    return Matching()
