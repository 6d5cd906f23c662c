"""Command handlers of the matching service: load the aggregate, let the domain decide, append.

Request handlers never write a view. When the answer (or the caller's next read) needs a view to
include what was just appended, they wait for the views' checkpoint to pass the commit's position
(`views_projector.wait_for`); otherwise they answer from the aggregate itself. Decisions come from
aggregates: a cohort's status from the cohort stream, double enrolment from the enrolment stream
(`{cohort_id}|{employee_id}`), a pairing's answers from the pairing stream. Only whole-cohort
inputs (who is unpaired, seats taken) are read from the views, after waiting for them to catch up.

Enrolment preferences and the goals summary are personal: they are stored in the enrolment's
commit (`private`, never published), atomic with the event, and reach the enrolment view from there.
"""
from __future__ import annotations

import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from shared.aggregate import AggregateStore, Appended, Causation
from shared.clock import SystemClock, parse_rfc3339
from shared.errors import Conflict, DomainError, Invalid, NotFound
from shared.events.catalog import matching as ev
from shared.events.envelope import Envelope
from shared.events.registry import EventRegistry
from shared.eventstore import ConcurrencyError

from services.matching.adapters.mongo import Views
from services.matching.adapters.seats import SeatClaims
from services.matching.application.inputs import CohortMentors, MatchingInputs, RuleViolations, Taken
from services.matching.application.partners import card_of
from services.matching.application.projections import cohort_format, pairing_document
from services.matching.domain import choice
from services.matching.domain import cohort as cohorts
from services.matching.domain import enrollment as enrollments
from services.matching.domain import pairing as pairings
from services.matching.domain import program as programs
from services.matching.domain import run as runs
from services.matching.domain.assignment import eligibility_violations, score_pair, suggest_mentors
from services.matching.domain.circles import circle_id_for, circle_seats
from services.matching.domain.cohort import CohortState
from services.matching.domain.enrollment import EnrollmentState
from services.matching.domain.pairing import PairingState
from services.matching.domain.rules import MatchingRules
from services.matching.domain.run import RunState

log = logging.getLogger(__name__)

PRODUCER = "matching"
SYSTEM = "system"
# A bulk enrolment reads each row's profile and enrolment stream by `_id` (the one look-up FerretDB
# v1 indexes; an `$in` of 500 ids scans and took 1.9 s) on this many connections at once.
BULK_READERS = 8


@dataclass(frozen=True)
class Actor:
    subject: str
    is_admin: bool


class Checkpointed(Protocol):
    """The views' projector as commands see it (shared.projector.StoreProjector)."""

    def wait_for(self, position: int, timeout_s: float = 2.0) -> bool: ...


def _active_employee(profile: dict | None) -> bool:
    """An active employee whose HRIS record (not only a status) arrived."""
    return profile is not None and profile.get("status") == "active" and profile.get("profile_stamp") is not None


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


def _row_error(code: str, message: str, field: str | None) -> dict:
    return {"outcome": "error", "errors": [{"code": code, "field": field, "message": message}]}


class MatchingCommands:
    def __init__(self, store, registry: EventRegistry, *, views: Views, participants, projector: Checkpointed,
                 clock=None, wait_timeout_s: float = 5.0, seat_claims=None, server_now=None):
        def aggregate(aggregate_type: str) -> AggregateStore:
            return AggregateStore(store, registry, producer=PRODUCER, aggregate_type=aggregate_type)

        self.store = store
        self.programs = aggregate(ev.PROGRAM)
        self.cohorts = aggregate(ev.COHORT)
        self.enrollments = aggregate(ev.ENROLLMENT)
        self.runs = aggregate(ev.MATCHING_RUN)
        self.pairings = aggregate(ev.PAIRING)
        self.views = views
        self.participants = participants
        self.projector = projector
        self.clock = clock or SystemClock()
        self.wait_timeout_s = wait_timeout_s
        self.inputs = MatchingInputs(views, participants)
        self.cohort_mentors = CohortMentors(self.inputs)  # suggestions' slow part, per process (inputs.py)
        # A mentor's seats, claimed by unique inserts before a request or manual proposal is appended
        # (adapters/seats.py): the views alone let two of them take the last seat at once.
        self.seats = SeatClaims(seat_claims, now=server_now or self.clock.now, holds=self._holds_seat) \
            if seat_claims is not None else None

    # ---------------------------------------------------------------- helpers

    def _append(self, aggregates: AggregateStore, stream_id: str, version: int, events, causation: Causation,
                **kwargs) -> Appended:
        if not events:
            return Appended()
        return aggregates.append(stream_id, version, events, causation, occurred_at=self.clock.now(), **kwargs)

    def _wait(self, appended: Appended | int) -> bool:
        """Read-your-writes: wait until the views include the given commit (or the store's head)."""
        position = appended if isinstance(appended, int) else appended.position
        if not position:
            return True
        caught_up = self.projector.wait_for(position, timeout_s=self.wait_timeout_s)
        if not caught_up:
            log.warning("matching views did not reach position %s within %.1fs", position, self.wait_timeout_s)
        return caught_up

    def wait_for_head(self) -> bool:
        """Before a decision over a whole cohort: the views include everything stored so far."""
        return self._wait(self.store.current_position())

    def cohort(self, cohort_id: str) -> tuple[CohortState, int]:
        loaded = self.cohorts.load(cohort_id)
        state = CohortState.from_events(loaded.events)
        if not state.exists:
            raise NotFound("cohort_unknown", f"no cohort {cohort_id}")
        return state, loaded.version

    def enrollment(self, cohort_id: str, employee_id: str) -> tuple[EnrollmentState, int]:
        loaded = self.enrollments.load(enrollments.stream_id(cohort_id, employee_id))
        return EnrollmentState.from_events(loaded.events), loaded.version

    def pairing(self, pairing_id: str) -> tuple[PairingState, int]:
        loaded = self.pairings.load(pairing_id)
        state = PairingState.from_events(loaded.events)
        if not state.exists:
            raise NotFound("pairing_unknown", f"no pairing {pairing_id}")
        return state, loaded.version

    def run(self, run_id: str) -> tuple[RunState, int]:
        loaded = self.runs.load(run_id)
        return RunState.from_events(loaded.events), loaded.version

    # ---------------------------------------------------------------- programmes and cohorts

    def create_program(self, name: str, description: str | None, actor: Actor, causation: Causation) -> str:
        program_id = new_id("prg")
        appended = self._append(self.programs, program_id, 0,
                                cohorts.create_program(program_id, name, description, actor.subject), causation)
        self._wait(appended)
        return program_id

    def set_program_managers(self, program_id: str, managers: list[str], actor: Actor,
                             causation: Causation) -> dict:
        """Name the programme's managers (the whole list): each an active employee known from the HRIS."""
        unknown = sorted({employee_id for employee_id in managers if not _active_employee(
            self.participants.get(employee_id))})
        if unknown:
            raise Invalid("employee_unknown", f"not active employees known from the HRIS: {', '.join(unknown)}",
                          field="managers")
        loaded = self.programs.load(program_id)
        state = programs.ProgramState.from_events(loaded.events)
        try:
            appended = self._append(self.programs, program_id, loaded.version,
                                    programs.set_managers(state, managers, set_by=actor.subject), causation)
        except ConcurrencyError as exc:
            raise Conflict("program_changed", "the programme changed meanwhile; try again") from exc
        self._wait(appended)
        current = programs.ProgramState.from_events([*loaded.events, *appended])
        return {"program_id": program_id, "managers": list(current.managers)}

    def create_cohort(self, program_id: str, *, name: str, starts_on, ends_on, meeting_cadence_days: int,
                      answer_deadline_days: int, rules: MatchingRules, actor: Actor, causation: Causation,
                      max_mentor_capacity: int | None = None, matching_style: str = "admin_run",
                      format: str = "pair", circle_min_size: int = ev.DEFAULT_CIRCLE_MIN_SIZE,
                      circle_max_size: int = ev.DEFAULT_CIRCLE_MAX_SIZE) -> dict:
        if self.programs.load(program_id).version == 0:
            raise NotFound("program_unknown", f"no programme {program_id}")
        cohort_id = new_id("coh")
        events = cohorts.create_cohort(
            CohortState(), cohort_id=cohort_id, program_exists=True, program_id=program_id, name=name,
            starts_on=starts_on, ends_on=ends_on, meeting_cadence_days=meeting_cadence_days,
            answer_deadline_days=answer_deadline_days, rules=rules.to_dict(), created_by=actor.subject,
            max_mentor_capacity=max_mentor_capacity, matching_style=matching_style, format=format,
            circle_min_size=circle_min_size, circle_max_size=circle_max_size)
        self._wait(self._append(self.cohorts, cohort_id, 0, events, causation))
        return self.cohort_document(cohort_id)

    def change_cohort_status(self, cohort_id: str, status: str, actor: Actor, causation: Causation) -> dict:
        state, version = self.cohort(cohort_id)
        self._wait(self._append(self.cohorts, cohort_id, version, cohorts.change_status(state, status, actor.subject),
                                causation))
        return self.cohort_document(cohort_id)

    def revise_cohort(self, cohort_id: str, changes: dict, actor: Actor, causation: Causation) -> dict:
        """PATCH a cohort's settings: one CohortRevised with only what changed (nothing if nothing did)."""
        state, version = self.cohort(cohort_id)
        if "rules" in changes:
            changes = {**changes, "rules": MatchingRules.from_dict(changes["rules"] or {}).to_dict()}
        self._wait(self._append(self.cohorts, cohort_id, version, cohorts.revise(state, changes, actor.subject),
                                causation))
        return self.cohort_document(cohort_id)

    def duplicate_cohort(self, cohort_id: str, *, name: str, starts_on, ends_on, actor: Actor,
                         causation: Causation) -> dict:
        """The next intake of a cohort: same programme and settings, new name and dates, no enrolments."""
        source, _ = self.cohort(cohort_id)
        new_cohort_id = new_id("coh")
        events = cohorts.duplicate(source, cohort_id=new_cohort_id, name=name, starts_on=starts_on, ends_on=ends_on,
                                   created_by=actor.subject)
        self._wait(self._append(self.cohorts, new_cohort_id, 0, events, causation))
        return self.cohort_document(new_cohort_id)

    def cohort_document(self, cohort_id: str) -> dict:
        """The cohort view, or (if the views lag) the same shape from the aggregate."""
        doc = self.views.cohorts.get(cohort_id)
        state, version = self.cohort(cohort_id)
        if doc is not None and doc.get("version", 0) >= version:
            return {**cohort_format(doc), **doc}
        return {"_id": cohort_id, "cohort_id": cohort_id, "program_id": state.program_id, "name": state.name,
                "format": state.format, "circle_min_size": state.circle_min_size,
                "circle_max_size": state.circle_max_size,
                "status": state.status, "starts_on": str(state.starts_on), "ends_on": str(state.ends_on),
                "meeting_cadence_days": state.meeting_cadence_days,
                "answer_deadline_days": state.answer_deadline_days, "rules": state.rules,
                "max_mentor_capacity": state.max_mentor_capacity, "matching_style": state.matching_style,
                "runs": (doc or {}).get("runs", []), "version": version}

    # ---------------------------------------------------------------- enrolment

    def enroll(self, cohort_id: str, body: dict, causation: Causation) -> dict:
        employee_id = body["employee_id"]
        if not _active_employee(self.participants.get(employee_id)):
            raise Invalid("employee_unknown", f"{employee_id} is not an active employee known from the HRIS",
                          field="employee_id")
        cohort, _ = self.cohort(cohort_id)
        state, version = self.enrollment(cohort_id, employee_id)
        enrollment_id = new_id("enr")
        events = enrollments.enroll(cohort, state, enrollment_id=enrollment_id, employee_id=employee_id,
                                    role=body["role"], capacity=int(body.get("capacity") or 0),
                                    topics=body.get("topics") or [])
        private = {"preferences": body.get("preferences") or {}, "goals_summary": body.get("goals_summary")}
        try:
            appended = self._append(self.enrollments, enrollments.stream_id(cohort_id, employee_id), version, events,
                                    causation, private={0: private})
        except ConcurrencyError as exc:
            raise Conflict("already_enrolled", f"{employee_id} was enrolled in this cohort at the same time") from exc
        self._wait(appended)
        return {"enrollment_id": enrollment_id, "cohort_id": cohort_id, "employee_id": employee_id,
                "role": body["role"]}

    def enroll_many(self, cohort_id: str, rows: list[tuple[int, dict]], causation: Causation, *,
                    dry_run: bool = False) -> dict[int, dict]:
        """Bulk enrolment (admins): each row all-or-nothing on its own stream; a bad row stops no other.

        `rows`: (row number, validated body). The cohort is loaded and checked once (an unknown or
        closed cohort refuses the whole request); profiles, and the enrolment streams of the people
        the views already list in the cohort, are read by `_id` side by side; every new enrolment's
        commit goes to the store in a few multi-stream appends (`append_many`: each stream's own
        commit, the same guarantees as one by one); the views are waited for once. Returns, by row
        number, `{"outcome": "enrolled" | "already_enrolled" | "error", ...}`; an error names `code`,
        `field` and `message`. A repeated request finds every row enrolled ("already_enrolled", the
        first enrolment's id).

        `dry_run`: every check against the cohort's current state, nothing stored; a row that would
        be enrolled answers "enrolled" without an enrollment id (the console imports a file only
        when no row is refused, so a file is never half-imported).
        """
        cohort, _ = self.cohort(cohort_id)
        enrollments.require_enrollable(cohort)
        outcomes: dict[int, dict] = {}
        first_row: dict[str, int] = {}
        unique: list[tuple[int, dict]] = []
        for row, body in rows:
            employee_id = body["employee_id"]
            if employee_id in first_row:
                outcomes[row] = _row_error("duplicate_row", f"{employee_id} is already on row {first_row[employee_id]}",
                                           "employee_id")
                continue
            first_row[employee_id] = row
            unique.append((row, body))

        # Only people the views know in this cohort (any status) have their enrolment stream read
        # first: everyone else is appended as a first enrolment, and the store's (stream, version)
        # guard refuses it if the views were behind (then that row is read and decided again).
        known = set() if dry_run else set(self.views.enrollment_index.entries(cohort_id))
        profiles: dict[int, dict | None] = {}
        loaded: set[int] = set()

        def read(item: tuple[int, dict]):
            row, employee_id = item[0], item[1]["employee_id"]
            profile = profiles[row] if row in profiles else self.participants.get(employee_id)
            if dry_run or row in loaded or employee_id in known:
                return profile, self.enrollment(cohort_id, employee_id)
            return profile, (EnrollmentState(), 0)

        todo, last = unique, 0
        while todo:
            with ThreadPoolExecutor(BULK_READERS) as pool:
                reads = list(pool.map(read, todo))
            appends, pending = [], []
            for (row, body), (profile, (state, version)) in zip(todo, reads):
                profiles[row] = profile
                employee_id = body["employee_id"]
                if not _active_employee(profile):
                    outcomes[row] = _row_error("employee_unknown",
                                               f"{employee_id} is not an active employee known from the HRIS",
                                               "employee_id")
                    continue
                if state.active:
                    outcomes[row] = {"outcome": "already_enrolled", "enrollment_id": state.enrollment_id,
                                     "role": state.role}
                    continue
                enrollment_id = new_id("enr")
                try:
                    events = enrollments.enroll(cohort, state, enrollment_id=enrollment_id, employee_id=employee_id,
                                                role=body["role"], capacity=int(body.get("capacity") or 0),
                                                topics=body.get("topics") or [])
                except DomainError as error:
                    outcomes[row] = _row_error(error.code, error.message, error.field)
                    continue
                private = {"preferences": body.get("preferences") or {}, "goals_summary": body.get("goals_summary")}
                appends.append((enrollments.stream_id(cohort_id, employee_id), version, events, {0: private}))
                pending.append((row, body, enrollment_id))
            if dry_run:
                return {**outcomes, **{row: {"outcome": "enrolled", "role": body["role"]} for row, body, _ in pending}}
            results = self.enrollments.append_many(appends, causation, occurred_at=self.clock.now()) if appends else []
            todo = []
            for (row, body, enrollment_id), result in zip(pending, results):
                if isinstance(result, ConcurrencyError):
                    if row not in loaded:  # appended unread (or read before someone else's enrolment): read it now
                        loaded.add(row)
                        todo.append((row, body))
                        continue
                    state, _ = self.enrollment(cohort_id, body["employee_id"])  # enrolled meanwhile by someone else
                    outcomes[row] = ({"outcome": "already_enrolled", "enrollment_id": state.enrollment_id,
                                      "role": state.role} if state.active else
                                     _row_error("enrollment_changed", f"{body['employee_id']}'s enrolment changed "
                                                                      "meanwhile; send the row again", "employee_id"))
                    continue
                outcomes[row] = {"outcome": "enrolled", "enrollment_id": enrollment_id, "role": body["role"]}
                last = max(last, result.position)
        self._wait(last)
        return outcomes

    def revise_enrollment(self, cohort_id: str, employee_id: str, *, capacity: int | None, paused: bool | None,
                          actor: Actor, causation: Causation) -> dict:
        """A mentor's capacity and/or pausing someone: never ends a pairing (runs skip the paused)."""
        cohort, _ = self.cohort(cohort_id)
        state, version = self.enrollment(cohort_id, employee_id)
        if not state.active:
            raise NotFound("not_enrolled", f"{employee_id} is not enrolled in this cohort")
        events = enrollments.revise(cohort, state, capacity=capacity, paused=paused, revised_by=actor.subject)
        try:
            appended = self._append(self.enrollments, enrollments.stream_id(cohort_id, employee_id), version, events,
                                    causation)
        except ConcurrencyError as exc:
            raise Conflict("enrollment_changed", f"{employee_id}'s enrolment changed meanwhile; try again") from exc
        self._wait(appended)
        return self.enrollment_document(cohort_id, employee_id)

    def enrollment_document(self, cohort_id: str, employee_id: str) -> dict:
        """The enrolment view, or (if the views lag) what the aggregate knows."""
        doc = self.views.enrollments.get(Views.enrollment_key(cohort_id, employee_id))
        state, version = self.enrollment(cohort_id, employee_id)
        if doc is not None and doc.get("version", 0) >= version:
            return doc
        return {**(doc or {}), "cohort_id": cohort_id, "employee_id": employee_id,
                "enrollment_id": state.enrollment_id, "role": state.role, "capacity": state.capacity,
                "topics": list(state.topics), "paused": state.paused,
                "status": "active" if state.active else "withdrawn", "enrolled_at": state.enrolled_at,
                "version": version}

    def withdraw(self, cohort_id: str, employee_id: str, reason: str, actor: Actor, causation: Causation) -> dict:
        """Withdraw an enrolment, then end the person's open pairings in that cohort.

        The run processor does the second step again from `EnrollmentWithdrawn`, so a crash in
        between leaves no open pairing behind.
        """
        self.cohort(cohort_id)
        state, version = self.enrollment(cohort_id, employee_id)
        if not state.active:
            raise Conflict("not_enrolled", f"{employee_id} is not enrolled in this cohort", field="employee_id")
        appended = self._append(self.enrollments, enrollments.stream_id(cohort_id, employee_id), version,
                                enrollments.withdraw(state, reason), causation)
        self.end_pairings_after_withdrawal(cohort_id, employee_id, reason, appended[-1].occurred_at, causation)
        self._wait(appended)
        doc = self.views.enrollments.get(Views.enrollment_key(cohort_id, employee_id)) or {}
        return {**doc, "enrollment_id": state.enrollment_id, "cohort_id": cohort_id, "employee_id": employee_id,
                "role": state.role}

    def end_pairings_after_withdrawal(self, cohort_id: str, employee_id: str, reason: str, withdrawn_at: str,
                                      causation: Causation) -> int:
        """End the open pairings (proposed before the withdrawal) of a withdrawn person in one cohort."""
        self.wait_for_head()
        end_reason = "by_admin" if reason == "by_admin" else "participant_left"
        ended = 0
        for doc in self.views.pairings_of_employee(employee_id):
            if doc["cohort_id"] != cohort_id or doc["status"] not in pairings.OPEN:
                continue

            def decide(events):
                state = PairingState.from_events(events)
                if state.proposed_at and parse_rfc3339(state.proposed_at) > parse_rfc3339(withdrawn_at):
                    return []  # proposed after the withdrawal (a new enrolment's)
                return pairings.end(state, reason=end_reason, ended_by=SYSTEM, actor_is_admin=True)

            ended += self._react(self.pairings, doc["_id"], decide, causation)
        return ended

    def _react(self, aggregates: AggregateStore, stream_id: str, decide, causation: Causation,
               tries: int = 5) -> int:
        """A reaction's append (1 if it changed anything): load the stream, decide, append.

        Reactions race with people and with each other (a withdrawal's request and the run
        processor both end the same pairing): on a conflict the stream is loaded again and the
        decision taken again on what it now holds (usually `[]`: someone already did it).
        """
        for attempt in range(tries):
            loaded = aggregates.load(stream_id)
            events = decide(loaded.events)
            if not events:
                return 0
            try:
                self._append(aggregates, stream_id, loaded.version, events, causation)
                return 1
            except ConcurrencyError:
                if attempt == tries - 1:
                    raise
        return 0

    def _holds_seat(self, pairing_id: str, mentor_id: str) -> bool | None:
        """Whether a seat's holder still holds it: its stream says open, with this mentor (a request
        refused because the same pairing id was taken by the mentee's other request holds nothing);
        None: no such stream (yet)."""
        loaded = self.pairings.load(pairing_id)
        if not loaded.events:
            return None
        state = PairingState.from_events(loaded.events)
        return state.status in pairings.OPEN and state.mentor_id == mentor_id

    def _propose_on_a_seat(self, cohort_id: str, mentor_id: str, capacity: int, taken: Taken, pairing_id: str,
                           events, causation: Causation, **append) -> Appended:
        """Append a new pairing's proposal once it holds one of the mentor's seats (422
        `no_seats_left` when another took the last one first); a refused append gives the seat back."""
        seat = None
        if self.seats is not None:
            seat = self.seats.claim(cohort_id, mentor_id, pairing_id, capacity,
                                    holders=taken.holders.get(mentor_id, ()))
            if seat is None:
                raise Invalid("no_seats_left", f"{mentor_id} has no seat left in this cohort", field="mentor_id")
        try:
            return self._append(self.pairings, pairing_id, 0, events, causation, **append)
        except Exception:
            if seat is not None and not self._holds_seat(pairing_id, mentor_id):
                self.seats.release(cohort_id, mentor_id, pairing_id, seat)
            raise

    # ---------------------------------------------------------------- matching runs

    def request_run(self, cohort_id: str, *, mode: str, dry_run: bool, actor: Actor, causation: Causation) -> dict:
        """Start a matching run: the worker computes it (202 + `GET /v1/matching-runs/{run_id}`)."""
        cohort, _ = self.cohort(cohort_id)
        run_id = new_id("run")
        appended = self._append(self.runs, run_id, 0, runs.request(cohort, run_id=run_id, mode=mode, dry_run=dry_run,
                                                                     requested_by=actor.subject), causation)
        self._wait(appended)
        return {"run_id": run_id, "cohort_id": cohort_id, "mode": mode, "dry_run": dry_run, "status": "running"}

    # ---------------------------------------------------------------- manual proposals

    def propose_manually(self, cohort_id: str, mentor_id: str, mentee_id: str, actor: Actor,
                         causation: Causation) -> dict:
        state, _ = self.cohort(cohort_id)
        cohorts.require_matchable(state, "proposing")
        capacities: dict[str, int] = {}
        for employee_id, role, field in ((mentor_id, "mentor", "mentor_id"), (mentee_id, "mentee", "mentee_id")):
            enrollment, _ = self.enrollment(cohort_id, employee_id)
            capacities[employee_id] = enrollment.capacity
            if not enrollment.active or enrollment.role != role:
                raise Invalid("not_enrolled", f"{employee_id} is not enrolled as a {role} in this cohort", field=field)
            if enrollment.paused:
                raise Conflict("paused", f"{employee_id} is paused in this cohort: no new proposals", field=field)
        self.wait_for_head()
        taken = self.inputs.pairings_of(cohort_id, mentee_id=mentee_id)
        if mentee_id in taken.paired_mentees:
            raise Conflict("mentee_paired", f"{mentee_id} already has an open pairing in this cohort",
                           field="mentee_id")
        mentor, mentee = self.inputs.pair(cohort_id, mentor_id, mentee_id, taken)
        if state.is_circle:  # the mentee joins the mentor's circle, within its seats (domain/circles.py)
            mentor = circle_seats(mentor, state.circle_max_size)
        rules = MatchingRules.from_dict(state.rules)
        violations = eligibility_violations(mentor, mentee, rules, sorted(taken.forbidden))
        if violations:
            raise RuleViolations(violations)
        score, reasons = score_pair(mentor, mentee, rules)
        pairing_id = new_id("par")
        events = pairings.propose(
            pairing_id=pairing_id, cohort_id=cohort_id, mentor_id=mentor_id, mentee_id=mentee_id, score=score,
            reasons=reasons, proposed_by=actor.subject, matching_run_id=None,
            answer_by=self.clock.now() + timedelta(days=state.answer_deadline_days),
            circle_id=circle_id_for(cohort_id, mentor_id) if state.is_circle else None)
        # the seats to claim from: in a circle cohort, the mentor's circle's (at most its maximum size)
        seats = min(capacities[mentor_id], state.circle_max_size) if state.is_circle else capacities[mentor_id]
        appended = self._propose_on_a_seat(cohort_id, mentor_id, seats, taken, pairing_id, events, causation)
        return self._pairing_answer(PairingState(), pairing_id, appended)

    # ---------------------------------------------------------------- mentee choice (issue 15)

    def _choosing_mentee(self, cohort_id: str, mentee_id: str) -> tuple[CohortState, EnrollmentState]:
        cohort, _ = self.cohort(cohort_id)
        enrollment, _ = self.enrollment(cohort_id, mentee_id)
        choice.require_mentee(enrollment, mentee_id)  # who asks first: others learn nothing of the cohort
        choice.require_choice(cohort)
        return cohort, enrollment

    def _mentee_document(self, cohort_id: str, mentee_id: str) -> dict:
        return self.views.enrollments.get(Views.enrollment_key(cohort_id, mentee_id)) or {"employee_id": mentee_id}

    def _open_pairing_of(self, cohort_id: str, mentee_id: str) -> dict | None:
        """The mentee's open pairing in the cohort (one `_id` read of the openings, one per pairing)."""
        opening = self.views.mentee_openings.get(Views.enrollment_key(cohort_id, mentee_id)) or {}
        for pairing_id in opening.get("pairings") or ():
            doc = self.views.pairings.get(pairing_id)
            if doc is not None and doc["status"] in pairings.OPEN:
                return doc
        return None

    def suggestions(self, cohort_id: str, mentee_id: str, *, limit: int) -> dict:
        """The mentee's best mentors to ask: eligible under the cohort's hard rules, with a seat
        left (requests and proposals hold theirs), ranked by the optimiser's own score."""
        cohort, enrollment = self._choosing_mentee(cohort_id, mentee_id)
        self.wait_for_head()
        taken = self.inputs.pairings_of(cohort_id, mentee_id=mentee_id)
        mentors = self.cohort_mentors.get(cohort_id, taken)
        mentee = self.inputs.mentee_of(self._mentee_document(cohort_id, mentee_id), mentors)
        found, eligible = suggest_mentors(list(mentors.values()), mentee, MatchingRules.from_dict(cohort.rules),
                                          sorted(taken.forbidden), limit=limit)
        with ThreadPoolExecutor(BULK_READERS) as pool:
            records = list(pool.map(self.participants.get, [s.mentor_id for s in found]))
        open_pairing = self._open_pairing_of(cohort_id, mentee_id)
        return {
            "cohort_id": cohort_id, "mentee_id": mentee_id, "eligible": eligible,
            "open_pairing_id": open_pairing["_id"] if open_pairing else None,
            "paused": enrollment.paused, "can_request": (cohort.status in cohorts.MATCHABLE and open_pairing is None
                                                         and not enrollment.paused),
            "items": [{"mentor_id": s.mentor_id, "score": s.score, "reasons": list(s.reasons),
                       "seats_left": s.seats_left, "card": card_of(record)} for s, record in zip(found, records)],
        }

    def request_mentor(self, cohort_id: str, mentee_id: str, mentor_id: str, message: str | None,
                       causation: Causation) -> dict:
        """A mentee asks a mentor (domain/choice.py): a proposal holding one of the mentor's seats,
        answered by the mentor through accept or decline. The message stays in the commit's private
        part; the pairing view shows it to the pair."""
        cohort, mentee_enrollment = self._choosing_mentee(cohort_id, mentee_id)
        mentor_enrollment, _ = self.enrollment(cohort_id, mentor_id)
        self.wait_for_head()
        mine = (self.views.party_pairings.get(mentee_id) or {}).get("pairings") or []
        open_pairing = self._open_pairing_of(cohort_id, mentee_id)
        if open_pairing is not None and self._asked_by(open_pairing, mentee_id, causation):
            state, _ = self.pairing(open_pairing["_id"])  # the same request again: its first answer
            return self._pairing_answer(state, open_pairing["_id"], Appended())
        taken = self.inputs.pairings_of(cohort_id, mentee_id=mentee_id)
        if open_pairing is None and mentee_id in taken.paired_mentees:  # the openings lag the pairings
            open_pairing = {"status": "active"}
        violations: list[str] = []
        score: float = 0.0
        reasons: list[str] = []
        if mentor_enrollment.active and mentor_enrollment.role == "mentor":
            mentor, mentee = self.inputs.pair(cohort_id, mentor_id, mentee_id, taken)
            rules = MatchingRules.from_dict(cohort.rules)
            violations = eligibility_violations(mentor, mentee, rules, sorted(taken.forbidden))
            score, reasons = score_pair(mentor, mentee, rules)
        pairing_id = choice.request_id_for(cohort_id, mentee_id, len(mine))
        events = choice.request(
            cohort, mentee_enrollment, mentor_enrollment, pairing_id=pairing_id, mentor_id=mentor_id,
            open_pairing=open_pairing, violations=violations, score=score, reasons=reasons,
            answer_by=self.clock.now() + timedelta(days=cohort.answer_deadline_days))
        try:
            appended = self._propose_on_a_seat(cohort_id, mentor_id, mentor_enrollment.capacity, taken, pairing_id,
                                               events, causation, private={0: {"message": message}} if message else None)
        except ConcurrencyError as exc:
            raise Conflict("request_open", "another request of yours was sent at the same moment: one request at "
                                           "a time", field="mentor_id") from exc
        return self._pairing_answer(PairingState(), pairing_id, appended)

    def _asked_by(self, pairing: dict, mentee_id: str, causation: Causation) -> bool:
        """The open pairing is this very request, sent again (same X-Request-ID)."""
        if not choice.is_request(pairing) or pairing["mentee_id"] != mentee_id:
            return False
        loaded = self.pairings.load(pairing["_id"])
        return bool(loaded.events) and loaded.events[0].correlation_id == causation.correlation_id

    # ---------------------------------------------------------------- pairing lifecycle

    def _pairing_answer(self, state: PairingState, pairing_id: str, appended: Appended) -> dict:
        """The pairing after the command, from the aggregate (the views catch up; we wait briefly)."""
        if appended:
            for envelope in appended:
                state.apply(envelope.event_type, envelope.data)
                if envelope.event_type == ev.PAIRING_PROPOSED:
                    state.proposed_at = envelope.occurred_at
            self._wait(appended)
            return pairing_document(state, version=appended[-1].aggregate_version,
                                    updated_at=appended[-1].occurred_at)
        loaded = self.pairings.load(pairing_id)
        last = loaded.events[-1] if loaded.events else None
        return pairing_document(state, version=loaded.version, updated_at=last.occurred_at if last else None)

    def accept(self, pairing_id: str, actor: Actor, role: str | None, causation: Causation) -> dict:
        state, version = self.pairing(pairing_id)
        events = pairings.accept(state, actor=actor.subject, is_admin=actor.is_admin, role=role, now=self.clock.now())
        return self._pairing_answer(state, pairing_id, self._append(self.pairings, pairing_id, version, events,
                                                                    causation))

    def decline(self, pairing_id: str, actor: Actor, role: str | None, reason: str | None,
                causation: Causation) -> dict:
        state, version = self.pairing(pairing_id)
        events = pairings.decline(state, actor=actor.subject, is_admin=actor.is_admin, role=role, reason=reason)
        return self._pairing_answer(state, pairing_id, self._append(self.pairings, pairing_id, version, events,
                                                                    causation))

    def end(self, pairing_id: str, reason: str, actor: Actor, causation: Causation) -> dict:
        state, version = self.pairing(pairing_id)
        events = pairings.end(state, reason=reason, ended_by=actor.subject, actor_is_admin=actor.is_admin,
                              actor_is_party=state.role_of(actor.subject) is not None)
        return self._pairing_answer(state, pairing_id, self._append(self.pairings, pairing_id, version, events,
                                                                    causation))

    def stay_in_touch(self, pairing_id: str, stay_in_touch: bool, actor: Actor, causation: Causation) -> dict:
        """A party of a completed pairing chooses whether to stay in touch (docs/api-pairings-completion.md)."""
        state, version = self.pairing(pairing_id)
        events = pairings.choose_stay_in_touch(state, actor=actor.subject, stay_in_touch=stay_in_touch)
        return self._pairing_answer(state, pairing_id, self._append(self.pairings, pairing_id, version, events,
                                                                    causation))

    def complete_pairings_of_cohort(self, envelope: Envelope) -> int:
        """CohortStatusChanged to `closed`: every active pairing of the cohort becomes completed.

        The views only find candidates (after including everything stored so far); each pairing's
        own stream decides (`pairings.complete`: only an active one), appended at the version it
        was loaded at, so a second processing of the closing, or another replica doing the same,
        completes nothing twice."""
        data = envelope.data
        if data["status"] != "closed":
            return 0
        if not self.wait_for_head():
            raise RuntimeError("matching views are behind the event store; completing the cohort later")
        causation = Causation.from_event(envelope)
        completed = 0
        for entry in self.views.pairing_entries(data["cohort_id"], statuses=("active",)):
            completed += self._react(self.pairings, entry.pairing_id, lambda events: pairings.complete(
                PairingState.from_events(events), completed_at=envelope.occurred_at,
                closed_cohort_event_id=envelope.event_id), causation)
        return completed

    def expire_overdue(self) -> int:
        """Expire every proposal whose answer deadline has passed (the worker's periodic job).

        The views only find candidates (each cohort's proposals and their deadlines, from its pairing
        index: never a scan of every pairing); each pairing's own stream decides.
        """
        now = self.clock.now()
        expired = 0
        overdue = [entry.pairing_id for cohort_id in self.views.cohort_ids()
                   for entry in self.views.pairing_entries(cohort_id, statuses=("proposed",))
                   if entry.answer_by and parse_rfc3339(entry.answer_by) <= now]
        for pairing_id in overdue:
            state, version = self.pairing(pairing_id)
            causation = Causation(correlation_id=f"expiry-{pairing_id}", causation_id=None)
            try:
                expired += bool(self._append(self.pairings, pairing_id, version, pairings.expire(state, now),
                                             causation))
            except ConcurrencyError:
                continue  # answered meanwhile: the next tick decides again
        return expired

    # ---------------------------------------------------------------- reactions (application/policies.py)

    def apply_termination(self, envelope: Envelope) -> int:
        """EmployeeTerminated: withdraw the person's enrolments and end their open pairings — only
        those that began before the termination's `occurred_at`, so a replayed or late termination
        never touches what a rehired person has since. Each effect is an event in a stream whose
        state says it happened: applying the termination again (redelivery, rebuild) changes nothing.
        """
        employee_id = envelope.data["employee_id"]
        terminated_at = envelope.occurred_at
        causation = Causation.from_event(envelope)
        if not self.wait_for_head():
            raise RuntimeError("matching views are behind the event store; retrying the termination later")
        changed = 0
        for doc in self.views.enrollments_of_employee(employee_id):
            changed += self._react(
                self.enrollments, enrollments.stream_id(doc["cohort_id"], employee_id),
                lambda events: enrollments.withdraw_on_termination(EnrollmentState.from_events(events),
                                                                   terminated_at), causation)
        for doc in self.views.pairings_of_employee(employee_id):
            if doc["status"] not in pairings.OPEN:
                continue
            changed += self._react(self.pairings, doc["_id"], lambda events: pairings.end_on_termination(
                PairingState.from_events(events), employee_id=employee_id, terminated_at=terminated_at), causation)
        return changed

    def apply_not_a_fit(self, envelope: Envelope) -> int:
        """FeedbackGiven with `good_fit: false` ends the pairing as not a fit (ending twice changes nothing)."""
        data = envelope.data
        if data.get("good_fit") is not False:
            return 0

        def decide(events):
            if not events:
                return []  # a pairing this service never made
            return pairings.end(PairingState.from_events(events), reason="not_a_fit", ended_by=data["from_id"],
                                actor_is_admin=True)

        return self._react(self.pairings, data["pairing_id"], decide, Causation.from_event(envelope))
