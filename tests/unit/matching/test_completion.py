"""Issue 15: at a cohort's close its active pairs are completed (not ended), once, and each party
may choose to stay in touch; a completed pair may be matched again in a later cohort."""
import pytest

from shared.errors import Conflict, Forbidden
from shared.events.catalog import matching as ev
from services.matching.application.commands import Actor
from services.matching.application.projections import stats_of
from tests.unit.matching.conftest import ADMIN, REQUEST


def _active_pair(matching):
    """A cohort with one active pairing (M001-E001) and one unanswered proposal (M002-E002)."""
    matching.hire("M001", level=7)
    matching.hire("M002", level=7)
    matching.hire("E001", level=3)
    matching.hire("E002", level=3)
    cohort_id = matching.cohort(status="enrolling")
    matching.enroll(cohort_id, "M001", "mentor", capacity=1)
    matching.enroll(cohort_id, "M002", "mentor", capacity=1)
    matching.enroll(cohort_id, "E001", "mentee")
    matching.enroll(cohort_id, "E002", "mentee")
    matching.commands.change_cohort_status(cohort_id, "matching", ADMIN, REQUEST)
    active = matching.commands.propose_manually(cohort_id, "M001", "E001", ADMIN, REQUEST)["pairing_id"]
    proposed = matching.commands.propose_manually(cohort_id, "M002", "E002", ADMIN, REQUEST)["pairing_id"]
    matching.commands.accept(active, Actor("E001", False), None, REQUEST)
    matching.commands.accept(active, Actor("M001", False), None, REQUEST)
    matching.commands.change_cohort_status(cohort_id, "active", ADMIN, REQUEST)
    return cohort_id, active, proposed


def _close(matching, cohort_id):
    matching.commands.change_cohort_status(cohort_id, "closed", ADMIN, REQUEST)
    matching.work()


def test_closing_completes_active_pairs_once_even_when_the_closing_is_processed_twice(matching):
    cohort_id, active, proposed = _active_pair(matching)
    _close(matching, cohort_id)
    closing = next(e for e in matching.store.load(cohort_id).events
                   if e.event_type == ev.COHORT_STATUS_CHANGED and e.data["status"] == "closed")
    matching.processor.cohort_status_changed(closing)  # the closing again: a replay, a second replica
    assert matching.commands.complete_pairings_of_cohort(closing) == 0
    assert matching.types(active).count(ev.PAIRING_COMPLETED) == 1
    assert ev.PAIRING_ENDED not in matching.types(active)
    assert matching.types(proposed)[-1] == ev.PAIRING_PROPOSED  # only active pairs complete

    pairings = matching.pairings(cohort_id)
    assert pairings[active]["status"] == "completed"
    assert pairings[active]["completed_at"] == closing.occurred_at
    assert pairings[active]["staying_in_touch"] is False
    stats = stats_of(cohort_id, matching.views.summaries.get(cohort_id))
    assert (stats["active"], stats["completed"], stats["unmatched"]) == (0, 1, 0)
    # each party's own list shows it completed, and it is no longer open: the mentor's seat is free
    mine, _ = matching.views.pairings_of_party_page("E001", status="completed", after=None, limit=10)
    assert [p["pairing_id"] for p in mine] == [active]
    assert matching.commands.inputs.pairings_of(cohort_id).seats == {"M002": 1}


def test_stay_in_touch_needs_a_completed_pairing_and_a_party(matching):
    cohort_id, active, _ = _active_pair(matching)
    with pytest.raises(Conflict) as refused:
        matching.commands.stay_in_touch(active, True, Actor("E001", False), REQUEST)
    assert refused.value.code == "not_completed"
    _close(matching, cohort_id)
    for outsider in (Actor("E002", False), ADMIN):
        with pytest.raises(Forbidden):
            matching.commands.stay_in_touch(active, True, outsider, REQUEST)

    answer = matching.commands.stay_in_touch(active, True, Actor("E001", False), REQUEST)
    assert (answer["mentee_stays_in_touch"], answer["mentor_stays_in_touch"], answer["staying_in_touch"]) == (
        True, None, False)
    matching.commands.stay_in_touch(active, True, Actor("E001", False), REQUEST)  # the same again: nothing
    assert matching.types(active).count(ev.STAY_IN_TOUCH_CHOSEN) == 1
    answer = matching.commands.stay_in_touch(active, True, Actor("M001", False), REQUEST)
    assert answer["staying_in_touch"] is True
    last = matching.store.load(active).events[-1]
    assert (last.data["employee_id"], last.data["role"], last.data["staying_in_touch"]) == ("M001", "mentor", True)
    answer = matching.commands.stay_in_touch(active, False, Actor("M001", False), REQUEST)  # a change of mind
    assert answer["staying_in_touch"] is False
    assert matching.pairings(cohort_id)[active]["mentor_stays_in_touch"] is False


def test_a_completed_pair_may_be_matched_again_in_a_later_cohort(matching):
    cohort_id, active, _ = _active_pair(matching)
    _close(matching, cohort_id)
    later = matching.cohort(status="enrolling")
    matching.enroll(later, "M001", "mentor", capacity=1)
    matching.enroll(later, "E001", "mentee")
    matching.commands.change_cohort_status(later, "matching", ADMIN, REQUEST)
    again = matching.commands.propose_manually(later, "M001", "E001", ADMIN, REQUEST)
    assert again["status"] == "proposed"


def test_a_completed_partner_still_sees_the_others_card_an_ended_one_does_not():
    from services.matching.application.partners import are_open_partners

    assert are_open_partners({"pairings": [{"pairing_id": "p", "status": "completed", "version": 4}]})
    assert not are_open_partners({"pairings": [{"pairing_id": "p", "status": "ended", "version": 4}]})


def test_a_completed_pairings_mentee_counts_among_the_programmes_participants(matching):
    from datetime import datetime, timezone

    from shared.clock import ManualClock
    from services.matching.adapters.mongo import PARTICIPANTS
    from services.matching.application.outcomes import ProgramOutcomes

    cohort_id, _, _ = _active_pair(matching)
    _close(matching, cohort_id)
    program_id = matching.views.cohorts.get(cohort_id)["program_id"]
    answer = ProgramOutcomes(matching.views, matching.database[PARTICIPANTS],
                             ManualClock(datetime(2026, 9, 15, tzinfo=timezone.utc))).of(program_id)
    assert answer["closed_cohorts"] == [cohort_id] and answer["mentees"] == 1  # E001; E002's proposal is no part
