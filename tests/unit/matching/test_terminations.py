"""HRIS terminations: effects apply once, only to what existed before the termination, and survive a rebuild."""
from __future__ import annotations

from datetime import datetime, timezone

from shared.events.catalog import matching as ev
from services.matching.application.commands import Actor
from tests.unit.matching.conftest import ADMIN, REQUEST


def test_a_terminated_employee_is_withdrawn_and_their_pairings_end_once(matching):
    cohort_id = matching.populated()
    matching.run(cohort_id)
    m001 = [pid for pid, doc in matching.pairings(cohort_id).items() if doc["mentor_id"] == "M001"]
    assert len(m001) == 2
    termination = matching.terminate("M001", "2026-03-03T00:00:00Z")
    matching.deliver(termination)  # redelivered
    pairings = matching.pairings(cohort_id)
    for pid in m001:
        assert matching.types(pid) == [ev.PAIRING_PROPOSED, ev.PAIRING_ENDED]
        assert pairings[pid]["end_reason"] == "participant_left"
    assert all(doc["status"] == "proposed" for pid, doc in pairings.items() if pid not in m001)
    assert matching.types(f"{cohort_id}|M001") == [ev.PARTICIPANT_ENROLLED, ev.ENROLLMENT_WITHDRAWN]


def test_a_replayed_termination_never_ends_a_rehired_persons_new_pairing(matching):
    cohort_id = matching.populated()
    matching.run(cohort_id)
    old = {pid for pid, doc in matching.pairings(cohort_id).items() if doc["mentee_id"] == "E002"}
    termination = matching.terminate("E002", "2026-03-03T00:00:00Z")
    assert all(matching.pairings(cohort_id)[pid]["status"] == "ended" for pid in old)
    # rehired later; enrols again and is paired again
    matching.clock.set(datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc))
    matching.hire("E002", level=3, occurred_at="2026-03-09T00:00:00Z")
    matching.enroll(cohort_id, "E002", "mentee")
    matching.hire("M003", level=8, occurred_at="2026-03-09T00:00:00Z")  # the ended pair is not proposed again
    matching.enroll(cohort_id, "M003", "mentor", capacity=1)
    rerun = matching.run(cohort_id)
    new = [p["pairing_id"] for p in rerun["proposals"] if p["mentee_id"] == "E002"]
    assert len(new) == 1
    matching.commands.accept(new[0], Actor("E002", False), None, REQUEST)
    position = matching.store.current_position()
    # the old termination again: redelivered, folded into a batch, replayed by a rebuild
    for _ in range(3):
        matching.deliver(termination)
    assert matching.store.current_position() == position  # nothing new decided
    assert matching.pairings(cohort_id)[new[0]]["status"] == "proposed"
    assert matching.views.enrollments.get(f"{cohort_id}|E002")["status"] == "active"
    assert matching.participants.get("E002")["status"] == "active"  # the older record does not win either
    # and a rebuild of the views from the store keeps it so
    matching.views_projection.reset()
    matching.projector.rewind()
    assert matching.pairings(cohort_id)[new[0]]["status"] == "proposed"
    assert all(matching.pairings(cohort_id)[pid]["status"] == "ended" for pid in old)


def test_a_late_termination_still_ends_what_existed_before_it(matching):
    cohort_id = matching.populated()
    matching.run(cohort_id)
    e003 = next(pid for pid, doc in matching.pairings(cohort_id).items() if doc["mentee_id"] == "E003")
    matching.hire("E003", level=3, occurred_at="2026-03-09T00:00:00Z")  # a newer record arrived first
    matching.terminate("E003", "2026-03-05T00:00:00Z")
    assert matching.pairings(cohort_id)[e003]["status"] == "ended"
    assert matching.participants.get("E003")["status"] == "active"


def test_a_terminated_person_cannot_enrol(matching):
    import pytest

    from shared.errors import Invalid

    matching.hire("E100")
    cohort_id = matching.cohort(status="enrolling")
    matching.terminate("E100", "2026-02-01T00:00:00Z")
    with pytest.raises(Invalid) as refused:
        matching.enroll(cohort_id, "E100", "mentee")
    assert refused.value.field == "employee_id"
    assert ADMIN.is_admin
