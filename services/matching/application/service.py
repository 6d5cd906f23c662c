"""Command handlers and queries of the matching service.

Every command loads its aggregate, lets the pure domain decide, appends the events with the
loaded version (a conflict raises ConcurrencyError -> HTTP 409), then writes the read-model
snapshots synchronously (see adapters/repositories.py: version-guarded, so idempotent). The
worker's relay publishes the stored events; nothing here talks to Kafka.

Enrolment preferences (exclude list, preferred mentors, languages) and the goals summary are
personal and stay in the enrolment read model; events carry ids only.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import date, timedelta

from shared.aggregate import AggregateStore, Causation
from shared.clock import SystemClock, parse_rfc3339
from shared.events.envelope import Envelope
from shared.events.registry import EventRegistry
from shared.eventstore import EventStore
from shared.metrics import MATCHING_MATCHED_RATIO, MATCHING_RUN_DURATION
from services.matching.adapters.repositories import (
    CohortsRepository, EnrollmentsRepository, PairingsRepository, ProgramsRepository,
)
from services.matching.application.participants import ParticipantsRepository
from services.matching.domain import cohort as cohorts
from services.matching.domain import pairing as pairings
from services.matching.domain.assignment import (
    MenteeCandidate, MentorCandidate, assign, eligibility_violations, score_pair,
)
from services.matching.domain.cohort import CohortState
from services.matching.domain.errors import Invalid, InvalidState, NotFound
from services.matching.domain.pairing import PairingState
from services.matching.domain.rules import MatchingRules

PRODUCER = "matching"
SYSTEM = "system"
MAX_CHAIN = 32


@dataclass(frozen=True)
class Actor:
    subject: str
    is_admin: bool


def _new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


class MatchingService:
    def __init__(self, store: EventStore, registry: EventRegistry, *, participants: ParticipantsRepository,
                 programs: ProgramsRepository, cohorts_repo: CohortsRepository,
                 enrollments: EnrollmentsRepository, pairings_repo: PairingsRepository, clock=None):
        self.programs_store = AggregateStore(store, registry, producer=PRODUCER, aggregate_type="program")
        self.cohorts_store = AggregateStore(store, registry, producer=PRODUCER, aggregate_type="cohort")
        self.pairings_store = AggregateStore(store, registry, producer=PRODUCER, aggregate_type="pairing")
        self.participants = participants
        self.programs = programs
        self.cohorts = cohorts_repo
        self.enrollments = enrollments
        self.pairings = pairings_repo
        self.clock = clock or SystemClock()

    # ---------------------------------------------------------------- programmes and cohorts

    def create_program(self, name: str, description: str | None, actor: Actor, causation: Causation) -> str:
        program_id = _new_id("prg")
        envelopes = self.programs_store.append(program_id, 0, cohorts.create_program(
            program_id, name, description, actor.subject), causation)
        self.programs.put({"_id": program_id, "program_id": program_id, "name": name, "description": description,
                           "created_by": actor.subject, "version": envelopes[-1].aggregate_version})
        return program_id

    def create_cohort(self, program_id: str, *, name: str, starts_on: date, ends_on: date,
                      meeting_cadence_days: int, answer_deadline_days: int, rules: MatchingRules,
                      actor: Actor, causation: Causation) -> str:
        cohort_id = _new_id("coh")
        program_exists = self.programs_store.load(program_id).version > 0
        if not program_exists:
            raise NotFound("program_unknown", f"no programme {program_id}")
        events = cohorts.create_cohort(
            CohortState(), cohort_id=cohort_id, program_exists=program_exists, program_id=program_id, name=name,
            starts_on=starts_on, ends_on=ends_on, meeting_cadence_days=meeting_cadence_days,
            answer_deadline_days=answer_deadline_days, rules=rules.to_dict(), created_by=actor.subject)
        self._append_cohort(cohort_id, CohortState(), 0, events, causation)
        return cohort_id

    def change_cohort_status(self, cohort_id: str, status: str, actor: Actor, causation: Causation) -> dict:
        state, version = self._cohort(cohort_id)
        self._append_cohort(cohort_id, state, version, cohorts.change_status(state, status, actor.subject), causation)
        return self.cohorts.get(cohort_id)

    def _cohort(self, cohort_id: str) -> tuple[CohortState, int]:
        loaded = self.cohorts_store.load(cohort_id)
        state = CohortState.from_events(loaded.events)
        if not state.exists:
            raise NotFound("cohort_unknown", f"no cohort {cohort_id}")
        return state, loaded.version

    def _append_cohort(self, cohort_id: str, state: CohortState, version: int, events, causation,
                       enrollment_extra: dict | None = None) -> list[Envelope]:
        if not events:
            return []
        envelopes = self.cohorts_store.append(cohort_id, version, events, causation)
        for envelope in envelopes:
            state.apply(envelope.event_type, envelope.data)
        new_version = envelopes[-1].aggregate_version
        self.cohorts.put({
            "_id": cohort_id, "cohort_id": cohort_id, "program_id": state.program_id, "name": state.name,
            "status": state.status,
            "meeting_cadence_days": state.meeting_cadence_days, "answer_deadline_days": state.answer_deadline_days,
            "rules": state.rules, "runs": list(state.runs), "version": new_version,
            **self._cohort_dates(cohort_id, envelopes, version)})
        for envelope in envelopes:
            if envelope.event_type in ("ParticipantEnrolled", "EnrollmentWithdrawn"):
                self._put_enrollment(state, envelope, enrollment_extra or {})
        return envelopes

    def _cohort_dates(self, cohort_id: str, envelopes: list[Envelope], version: int) -> dict:
        if version == 0:
            data = envelopes[0].data
            return {"starts_on": data["starts_on"], "ends_on": data["ends_on"]}
        current = self.cohorts.get(cohort_id) or {}
        return {"starts_on": current.get("starts_on"), "ends_on": current.get("ends_on")}

    def _put_enrollment(self, state: CohortState, envelope: Envelope, extra: dict) -> None:
        employee_id = envelope.data["employee_id"]
        key = EnrollmentsRepository.key(state.cohort_id, employee_id)
        enrollment = state.enrollments[employee_id]
        current = self.enrollments.get(key) or {}
        doc = {
            "_id": key, "cohort_id": state.cohort_id, "enrollment_id": enrollment.enrollment_id,
            "employee_id": employee_id, "role": enrollment.role, "capacity": enrollment.capacity,
            "topics": enrollment.topics, "status": "active" if enrollment.active else "withdrawn",
            "preferences": extra.get("preferences", current.get("preferences") or {}),
            "goals_summary": extra.get("goals_summary", current.get("goals_summary")),
            "withdrawal_reason": envelope.data.get("reason"), "version": envelope.aggregate_version,
        }
        self.enrollments.put(doc)

    # ---------------------------------------------------------------- enrolment

    def enroll(self, cohort_id: str, body: dict, causation: Causation) -> dict:
        employee_id = body["employee_id"]
        profile = self.participants.get(employee_id)
        if profile is None or profile.get("status") != "active" or profile.get("profile_stamp") is None:
            raise Invalid("employee_unknown", f"{employee_id} is not an active employee known from the HRIS",
                          field="employee_id")
        state, version = self._cohort(cohort_id)
        enrollment_id = _new_id("enr")
        events = cohorts.enroll(state, enrollment_id=enrollment_id, employee_id=employee_id, role=body["role"],
                                capacity=int(body.get("capacity") or 0), topics=body.get("topics") or [])
        self._append_cohort(cohort_id, state, version, events, causation, enrollment_extra={
            "preferences": body.get("preferences") or {}, "goals_summary": body.get("goals_summary")})
        return {"enrollment_id": enrollment_id, "cohort_id": cohort_id, "employee_id": employee_id,
                "role": body["role"]}

    def withdraw(self, cohort_id: str, employee_id: str, reason: str, actor: Actor, causation: Causation) -> bool:
        """Withdraw an enrolment and end the person's open pairings in that cohort."""
        state, version = self._cohort(cohort_id)
        if state.active_enrollment(employee_id) is None:
            raise InvalidState("not_enrolled", f"{employee_id} is not enrolled in this cohort", field="employee_id")
        self._append_cohort(cohort_id, state, version, cohorts.withdraw(state, employee_id, reason), causation)
        end_reason = "by_admin" if reason == "by_admin" else "participant_left"
        for doc in self.pairings.of_employee(employee_id):
            if doc["cohort_id"] == cohort_id and doc["status"] in pairings.OPEN:
                self.end(doc["_id"], end_reason, Actor(actor.subject, True), causation)
        return True

    # ---------------------------------------------------------------- matching runs

    def _management_chain(self, employee_id: str, cache: dict) -> list[str]:
        chain: list[str] = []
        seen = {employee_id}
        current = self._profile(employee_id, cache)
        while current is not None and current.get("manager_id") and len(chain) < MAX_CHAIN:
            manager_id = current["manager_id"]
            if manager_id in seen:
                break
            seen.add(manager_id)
            chain.append(manager_id)
            current = self._profile(manager_id, cache)
        return chain

    def _profile(self, employee_id: str, cache: dict) -> dict | None:
        if employee_id not in cache:
            cache[employee_id] = self.participants.get(employee_id)
        return cache[employee_id]

    def _mentee_candidate(self, enrollment: dict, cache: dict) -> MenteeCandidate:
        employee_id = enrollment["employee_id"]
        profile = self._profile(employee_id, cache) or {}
        prefs = enrollment.get("preferences") or {}
        return MenteeCandidate(
            employee_id=employee_id, level=int(profile.get("level") or 0),
            languages=tuple(prefs.get("languages") or profile.get("languages") or ()),
            timezone=profile.get("timezone") or "UTC", department=profile.get("department") or "",
            management_chain=tuple(self._management_chain(employee_id, cache)),
            topics=tuple(enrollment.get("topics") or ()), exclude=tuple(prefs.get("exclude") or ()),
            preferred_mentors=tuple(prefs.get("preferred_mentors") or ()),
            active=profile.get("status") == "active")

    def _mentor_candidate(self, enrollment: dict, seats_taken: int, cache: dict) -> MentorCandidate:
        employee_id = enrollment["employee_id"]
        profile = self._profile(employee_id, cache) or {}
        prefs = enrollment.get("preferences") or {}
        return MentorCandidate(
            employee_id=employee_id, level=int(profile.get("level") or 0),
            languages=tuple(profile.get("languages") or ()), timezone=profile.get("timezone") or "UTC",
            department=profile.get("department") or "",
            management_chain=tuple(self._management_chain(employee_id, cache)),
            topics=tuple(enrollment.get("topics") or ()), skills=tuple(profile.get("skills") or ()),
            capacity=int(enrollment.get("capacity") or 0), seats_taken=seats_taken,
            exclude=tuple(prefs.get("exclude") or ()), active=profile.get("status") == "active")

    def _matching_inputs(self, cohort_id: str):
        """Mentors with their seats, unpaired mentees, and the pairs never to propose again."""
        cohort_pairings = self.pairings.of_cohort(cohort_id)
        seats: dict[str, int] = {}
        paired_mentees = set()
        forbidden = set()
        for doc in cohort_pairings:
            if doc["status"] in pairings.OPEN:
                seats[doc["mentor_id"]] = seats.get(doc["mentor_id"], 0) + 1
                paired_mentees.add(doc["mentee_id"])
            if doc["status"] in ("declined", "ended"):
                forbidden.add((doc["mentor_id"], doc["mentee_id"]))
        cache: dict = {}
        mentors, mentees = {}, {}
        for enrollment in self.enrollments.of_cohort(cohort_id):
            if enrollment["status"] != "active":
                continue
            if enrollment["role"] == "mentor":
                mentors[enrollment["employee_id"]] = self._mentor_candidate(
                    enrollment, seats.get(enrollment["employee_id"], 0), cache)
            elif enrollment["employee_id"] not in paired_mentees:
                mentees[enrollment["employee_id"]] = self._mentee_candidate(enrollment, cache)
        return mentors, mentees, forbidden

    def run_matching(self, cohort_id: str, *, mode: str, dry_run: bool, actor: Actor,
                     causation: Causation) -> dict:
        started = time.perf_counter()
        state, version = self._cohort(cohort_id)
        if state.status not in cohorts.MATCHABLE:
            raise InvalidState("cohort_not_matching", f"the cohort is {state.status}; a matching run needs one of "
                                                      f"{', '.join(cohorts.MATCHABLE)}")
        rules = MatchingRules.from_dict(state.rules)
        mentors, mentees, forbidden = self._matching_inputs(cohort_id)
        result = assign(list(mentors.values()), list(mentees.values()), rules, sorted(forbidden), mode)
        now = self.clock.now()
        answer_by = now + timedelta(days=state.answer_deadline_days)
        run_id = None if dry_run else _new_id("run")
        proposals = [{"pairing_id": None if dry_run else _new_id("par"), "mentor_id": p.mentor_id,
                      "mentee_id": p.mentee_id, "score": p.score, "reasons": list(p.reasons)}
                     for p in result.assignments]
        unmatched = [{"mentee_id": mentee_id, "reason": u.code, "detail": u.text}
                     for mentee_id, u in result.unmatched.items()]
        summary = {
            "run_id": run_id, "cohort_id": cohort_id, "mode": mode, "dry_run": dry_run,
            "input_hash": result.input_hash, "matched": result.totals.matched, "unmatched": unmatched,
            "total_score": result.totals.total_score, "proposals": proposals,
            "answer_by": None if dry_run else answer_by.isoformat().replace("+00:00", "Z"),
        }
        if dry_run:
            return summary
        events = cohorts.complete_run(
            state, run_id=run_id, mode=mode, input_hash=result.input_hash, matched=result.totals.matched,
            unmatched=[{"mentee_id": u["mentee_id"], "reason": u["reason"]} for u in unmatched],
            total_score=result.totals.total_score, pairing_ids=[p["pairing_id"] for p in proposals],
            started_by=actor.subject)
        # The run event first: it serialises concurrent runs of one cohort (the loser gets 409).
        self._append_cohort(cohort_id, state, version, events, causation)
        for proposal in proposals:
            self._propose(cohort_id, proposal, proposed_by="algorithm", run_id=run_id, answer_by=answer_by,
                          causation=causation)
        MATCHING_RUN_DURATION.observe(time.perf_counter() - started)
        if mentees:
            MATCHING_MATCHED_RATIO.labels(cohort_id).set(result.totals.matched / len(mentees))
        return summary

    def _propose(self, cohort_id: str, proposal: dict, *, proposed_by: str, run_id: str | None, answer_by,
                 causation: Causation) -> None:
        events = pairings.propose(
            pairing_id=proposal["pairing_id"], cohort_id=cohort_id, mentor_id=proposal["mentor_id"],
            mentee_id=proposal["mentee_id"], score=proposal["score"], reasons=proposal["reasons"],
            proposed_by=proposed_by, matching_run_id=run_id, answer_by=answer_by)
        self._append_pairing(PairingState(), 0, proposal["pairing_id"], events, causation)

    def propose_manually(self, cohort_id: str, mentor_id: str, mentee_id: str, actor: Actor,
                         causation: Causation) -> dict:
        state, _ = self._cohort(cohort_id)
        if state.status not in cohorts.MATCHABLE:
            raise InvalidState("cohort_not_matching", f"the cohort is {state.status}; proposing needs one of "
                                                      f"{', '.join(cohorts.MATCHABLE)}")
        for employee_id, role, field in ((mentor_id, "mentor", "mentor_id"), (mentee_id, "mentee", "mentee_id")):
            enrollment = state.active_enrollment(employee_id)
            if enrollment is None or enrollment.role != role:
                raise Invalid("not_enrolled", f"{employee_id} is not enrolled as a {role} in this cohort",
                              field=field)
        mentors, _, forbidden = self._matching_inputs(cohort_id)
        if any(doc["mentee_id"] == mentee_id and doc["status"] in pairings.OPEN
               for doc in self.pairings.of_employee(mentee_id) if doc["cohort_id"] == cohort_id):
            raise InvalidState("mentee_paired", f"{mentee_id} already has an open pairing in this cohort",
                               field="mentee_id")
        cache: dict = {}
        mentee = self._mentee_candidate(
            self.enrollments.get(EnrollmentsRepository.key(cohort_id, mentee_id)), cache)
        mentor = mentors[mentor_id]
        rules = MatchingRules.from_dict(state.rules)
        violations = eligibility_violations(mentor, mentee, rules, sorted(forbidden))
        if violations:
            raise RuleViolations(violations)
        score, reasons = score_pair(mentor, mentee, rules)
        answer_by = self.clock.now() + timedelta(days=state.answer_deadline_days)
        proposal = {"pairing_id": _new_id("par"), "mentor_id": mentor_id, "mentee_id": mentee_id,
                    "score": score, "reasons": reasons}
        self._propose(cohort_id, proposal, proposed_by=actor.subject, run_id=None, answer_by=answer_by,
                      causation=causation)
        return self.pairings.get(proposal["pairing_id"])

    # ---------------------------------------------------------------- pairing lifecycle

    def _pairing(self, pairing_id: str) -> tuple[PairingState, int]:
        loaded = self.pairings_store.load(pairing_id)
        state = PairingState.from_events(loaded.events)
        if not state.exists:
            raise NotFound("pairing_unknown", f"no pairing {pairing_id}")
        return state, loaded.version

    def _append_pairing(self, state: PairingState, version: int, pairing_id: str, events,
                        causation: Causation) -> list[Envelope]:
        if not events:
            return []
        envelopes = self.pairings_store.append(pairing_id, version, events, causation)
        for envelope in envelopes:
            state.apply(envelope.event_type, envelope.data)
        self.pairings.put({
            "_id": pairing_id, **state.fields(), "status": state.status, "score": state.score,
            "reasons": list(state.reasons), "proposed_by": state.proposed_by,
            "matching_run_id": state.matching_run_id, "answer_by": state.answer_by,
            "mentor_accepted": state.mentor_accepted, "mentee_accepted": state.mentee_accepted,
            "end_reason": state.end_reason, "decline_reason": state.decline_reason,
            "updated_at": envelopes[-1].occurred_at, "version": envelopes[-1].aggregate_version})
        return envelopes

    def accept(self, pairing_id: str, actor: Actor, role: str | None, causation: Causation) -> dict:
        state, version = self._pairing(pairing_id)
        events = pairings.accept(state, actor=actor.subject, is_admin=actor.is_admin, role=role,
                                 now=self.clock.now())
        self._append_pairing(state, version, pairing_id, events, causation)
        return self.pairings.get(pairing_id)

    def decline(self, pairing_id: str, actor: Actor, role: str | None, reason: str | None,
                causation: Causation) -> dict:
        state, version = self._pairing(pairing_id)
        events = pairings.decline(state, actor=actor.subject, is_admin=actor.is_admin, role=role, reason=reason)
        self._append_pairing(state, version, pairing_id, events, causation)
        return self.pairings.get(pairing_id)

    def end(self, pairing_id: str, reason: str, actor: Actor, causation: Causation) -> dict:
        state, version = self._pairing(pairing_id)
        events = pairings.end(state, reason=reason, ended_by=actor.subject, actor_is_admin=actor.is_admin,
                              actor_is_party=state.role_of(actor.subject) is not None)
        self._append_pairing(state, version, pairing_id, events, causation)
        return self.pairings.get(pairing_id)

    def expire_overdue(self) -> int:
        """Expire every proposal whose answer deadline has passed (the PeriodicJob's function)."""
        now = self.clock.now()
        expired = 0
        for doc in self.pairings.with_status("proposed"):
            if doc.get("answer_by") and parse_rfc3339(doc["answer_by"]) <= now:
                state, version = self._pairing(doc["_id"])
                events = pairings.expire(state, now)
                causation = Causation(correlation_id=f"expiry-{doc['_id']}", causation_id=None)
                if self._append_pairing(state, version, doc["_id"], events, causation):
                    expired += 1
        return expired

    # ---------------------------------------------------------------- reactions to other events

    def on_employee_terminated(self, envelope: Envelope) -> None:
        """EmployeeTerminated: withdraw every enrolment and end every open pairing (idempotent)."""
        employee_id = envelope.data["employee_id"]
        causation = Causation.from_event(envelope)
        system = Actor(SYSTEM, True)
        for enrollment in self.enrollments.of_employee(employee_id):
            if enrollment["status"] == "active":
                state, version = self._cohort(enrollment["cohort_id"])
                self._append_cohort(enrollment["cohort_id"], state, version,
                                    cohorts.withdraw(state, employee_id, "participant_left"), causation)
        for doc in self.pairings.of_employee(employee_id):
            if doc["status"] in pairings.OPEN:
                self.end(doc["_id"], "participant_left", system, causation)

    def on_feedback_given(self, envelope: Envelope) -> None:
        """FeedbackGiven with good_fit false ends the pairing as not a fit (idempotent)."""
        data = envelope.data
        if data.get("good_fit") is not False:
            return
        if self.pairings_store.load(data["pairing_id"]).version == 0:
            return
        self.end(data["pairing_id"], "not_a_fit", Actor(data["from_id"], True), Causation.from_event(envelope))

    # ---------------------------------------------------------------- queries

    def stats(self, cohort_id: str) -> dict:
        if self.cohorts.get(cohort_id) is None:
            raise NotFound("cohort_unknown", f"no cohort {cohort_id}")
        enrolled = [e for e in self.enrollments.of_cohort(cohort_id) if e["status"] == "active"]
        docs = self.pairings.of_cohort(cohort_id)
        proposed = [d for d in docs if d["status"] == "proposed"]
        active = [d for d in docs if d["status"] == "active"]
        open_mentees = {d["mentee_id"] for d in proposed + active}
        mentees = [e for e in enrolled if e["role"] == "mentee"]
        return {
            "cohort_id": cohort_id, "enrolled": len(enrolled),
            "mentors": len(enrolled) - len(mentees), "mentees": len(mentees),
            "proposed": len(proposed), "active": len(active),
            "unmatched": sum(1 for e in mentees if e["employee_id"] not in open_mentees),
            "waiting_for_answers": sum((not d["mentor_accepted"]) + (not d["mentee_accepted"]) for d in proposed),
        }


class RuleViolations(Exception):
    """A manual proposal breaks hard constraints (HTTP 422 naming each rule)."""

    def __init__(self, rules: list[str]):
        super().__init__(f"the pair breaks: {', '.join(rules)}")
        self.rules = rules
