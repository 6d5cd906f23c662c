"""Mentee choice (issue 15): a mentee picks a mentor from their suggestions and asks them.

Pure: who may ask, and what asking is. A request is a proposal like any other pairing
(`PairingProposed` with `proposed_by` = the mentee, no matching run) which the mentee has accepted
by asking (`PairingAccepted`, role mentee, in the same commit): the mentor's accept makes it
active, their decline ends it, and until then it holds one of the mentor's seats, because every
open pairing does (application/inputs.py `Taken`), for runs, manual proposals and others'
suggestions alike. The mentee's message is personal text: it goes into the commit's private part,
never into the event (application/commands.py).
"""
from __future__ import annotations

import hashlib
from datetime import datetime

from shared.aggregate import NewEvent
from shared.errors import Conflict, Forbidden, Invalid
from shared.events.catalog import matching as ev

from services.matching.domain import pairing as pairings
from services.matching.domain.assignment import RULE_CAPACITY
from services.matching.domain.cohort import CohortState, require_matchable
from services.matching.domain.enrollment import EnrollmentState

CHOICE_STYLES = ("mentee_choice", "both")
MAX_MESSAGE = 2000


def require_choice(cohort: CohortState) -> None:
    """The cohort lets mentees choose (its `matching_style`); admin-run cohorts answer 409, and so
    do circle cohorts (a mentee asking one mentor has no natural meaning for a group: its admins
    run the optimiser or add members by hand)."""
    if cohort.is_circle:
        raise Conflict("circle_cohort", "this cohort mentors in circles, which its admins put together: mentees "
                                        "do not choose a mentor here")
    if cohort.matching_style not in CHOICE_STYLES:
        raise Conflict("mentee_choice_off", f"this cohort's mentors are matched by its admins (matching_style "
                                            f"{cohort.matching_style}); mentees do not choose here")


def require_mentee(enrollment: EnrollmentState, employee_id: str) -> None:
    if not enrollment.active or enrollment.role != "mentee":
        raise Forbidden("not_a_mentee", f"{employee_id} is not enrolled as a mentee in this cohort")


def request_id_for(cohort_id: str, mentee_id: str, pairings_so_far: int) -> str:
    """A request's pairing id, from the mentee's count of pairings when they asked: two requests
    sent at once compute the same id and the event store lets only one of them in (one open
    request per mentee even when the views have not seen the other yet)."""
    return "req-" + hashlib.sha256(f"{cohort_id}|{mentee_id}|{pairings_so_far}".encode()).hexdigest()[:32]


def request(cohort: CohortState, mentee: EnrollmentState, mentor: EnrollmentState, *, pairing_id: str,
            mentor_id: str, open_pairing: dict | None, violations: list[str], score: float, reasons: list[str],
            answer_by: datetime) -> list[NewEvent]:
    """The mentee `mentee` asks `mentor_id`: a proposal they already accepted, or the refusal.

    `open_pairing`: the mentee's open (proposed or active) pairing in the cohort, if any;
    `violations`: the hard rules the pair breaks (assignment.eligibility_violations, seats included).
    """
    require_choice(cohort)
    require_matchable(cohort, "a request to a mentor")
    require_mentee(mentee, str(mentee.employee_id))
    if mentee.paused:
        raise Conflict("paused", "your enrolment is paused: no new proposals", field="mentor_id")
    if open_pairing is not None:
        if open_pairing.get("status") == "proposed" and open_pairing.get("proposed_by") == mentee.employee_id:
            raise Conflict("request_open", f"you already asked {open_pairing.get('mentor_id')}: one request at a "
                                           "time (wait for the answer, or end that request first)",
                           field="mentor_id", pairing_id=open_pairing.get("pairing_id"))
        raise Conflict("mentee_paired", "you already have an open pairing in this cohort", field="mentor_id",
                       pairing_id=open_pairing.get("pairing_id"))
    if not mentor.active or mentor.role != "mentor":
        raise Invalid("mentor_unknown", f"{mentor_id} is not a mentor in this cohort", field="mentor_id")
    if mentor.paused:
        raise Invalid("mentor_paused", f"{mentor_id} takes no new mentees at the moment", field="mentor_id")
    if violations == [RULE_CAPACITY]:
        raise Invalid("no_seats_left", f"{mentor_id} has no seat left in this cohort", field="mentor_id")
    if violations:
        raise Invalid("not_eligible", f"this cohort's rules do not allow this pair: {', '.join(violations)}",
                      field="mentor_id", violated_rules=list(violations))
    proposed = pairings.propose(
        pairing_id=pairing_id, cohort_id=str(cohort.cohort_id), mentor_id=mentor_id,
        mentee_id=str(mentee.employee_id), score=score, reasons=reasons, proposed_by=str(mentee.employee_id),
        matching_run_id=None, answer_by=answer_by)
    accepted = NewEvent(ev.PAIRING_ACCEPTED, {
        "pairing_id": pairing_id, "cohort_id": cohort.cohort_id, "mentor_id": mentor_id,
        "mentee_id": mentee.employee_id, "accepted_by": mentee.employee_id, "role": "mentee"})
    return [*proposed, accepted]


def is_request(pairing: dict) -> bool:
    """A pairing a mentee asked for (mentee choice), not one a run or an admin proposed."""
    return bool(pairing.get("proposed_by")) and pairing.get("proposed_by") == pairing.get("mentee_id")
