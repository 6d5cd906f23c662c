"""Across cohorts: a declined proposal or a not-a-fit pairing is never proposed again; a pair that
completed their mentoring may be matched again in a later cohort."""
import pytest

from shared.errors import Conflict, Invalid
from services.matching.application.commands import Actor
from tests.unit.matching.conftest import ADMIN, REQUEST


def _cohort_with(matching, mentees):
    cohort_id = matching.cohort(status="enrolling")
    matching.enroll(cohort_id, "M001", "mentor", capacity=3)
    for mentee in mentees:
        matching.enroll(cohort_id, mentee, "mentee")
    matching.commands.change_cohort_status(cohort_id, "matching", ADMIN, REQUEST)
    return cohort_id


def _proposed(matching, cohort_id):
    return {p["mentee_id"]: p for p in matching.pairings(cohort_id).values() if p["status"] == "proposed"}


def test_declined_and_not_a_fit_pairs_are_never_proposed_again_and_completed_ones_may_be(matching):
    matching.hire("M001", level=7)
    for mentee in ("E001", "E002", "E003"):
        matching.hire(mentee, level=3)
    first = _cohort_with(matching, ("E001", "E002", "E003"))
    matching.run(first)
    proposed = _proposed(matching, first)
    assert set(proposed) == {"E001", "E002", "E003"}
    matching.commands.decline(proposed["E001"]["pairing_id"], Actor("E001", False), None, "no_time", REQUEST)
    for mentee, reason in (("E002", "completed"), ("E003", "not_a_fit")):
        pairing_id = proposed[mentee]["pairing_id"]
        matching.commands.accept(pairing_id, Actor(mentee, False), None, REQUEST)
        matching.commands.accept(pairing_id, Actor("M001", False), None, REQUEST)
        matching.commands.end(pairing_id, reason, ADMIN, REQUEST)
    matching.work()

    later = _cohort_with(matching, ("E001", "E002", "E003"))
    result = matching.run(later)
    assert set(_proposed(matching, later)) == {"E002"}  # completed: may meet again
    assert {u["mentee_id"] for u in result["unmatched"]} >= {"E001", "E003"}
    for mentee in ("E001", "E003"):  # an admin cannot force them together either
        with pytest.raises((Conflict, Invalid)):
            matching.commands.propose_manually(later, "M001", mentee, ADMIN, REQUEST)
