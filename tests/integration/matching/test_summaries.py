"""On the real servers: a cohort's stats come from its summary document (one `_id` read), and the
summary always equals a recount of the cohort's enrolments and pairings: after enrolling,
withdrawing and every pairing status change, after every event is applied again (redelivery,
a replay from position 1), and after a crash between the summary's write and the pairing's."""
from __future__ import annotations

import pytest

from shared.projector import StoreProjector
from services.matching.application.projections import MatchingViews
from tests.integration.matching.conftest import ADMIN_H, token

pytestmark = pytest.mark.integration


def recount(harness, cohort_id: str) -> dict:
    """The stats as the API computed them before summaries: from every enrolment and pairing."""
    views = harness.context.views
    enrolled = [e for e in views.enrollments_of_cohort(cohort_id) if e["status"] == "active"]
    docs = views.pairings_of_cohort(cohort_id)
    proposed = [d for d in docs if d["status"] == "proposed"]
    active = [d for d in docs if d["status"] == "active"]
    completed = [d for d in docs if d["status"] == "completed"]
    open_mentees = {d["mentee_id"] for d in proposed + active + completed}
    mentees = [e for e in enrolled if e["role"] == "mentee"]
    return {
        "cohort_id": cohort_id, "enrolled": len(enrolled), "mentors": len(enrolled) - len(mentees),
        "mentees": len(mentees), "proposed": len(proposed), "active": len(active),
        "unmatched": sum(1 for e in mentees if e["employee_id"] not in open_mentees),
        "waiting_for_answers": sum((not d["mentor_accepted"]) + (not d["mentee_accepted"]) for d in proposed),
        "completed": len(completed),
    }


def stats(harness, cohort_id: str) -> dict:
    answer = harness.client.get(f"/v1/cohorts/{cohort_id}/stats", headers=ADMIN_H)
    assert answer.status_code == 200, answer.json
    return {name: value for name, value in answer.json.items() if name != "cohort"}  # the counts


def assert_summary_is_a_recount(harness, cohort_id: str) -> dict:
    harness.settle()
    shown = stats(harness, cohort_id)
    assert shown == recount(harness, cohort_id)
    return shown


def test_stats_follow_enrolment_withdrawal_and_every_pairing_change(harness):
    cohort_id = harness.populated_cohort()
    assert assert_summary_is_a_recount(harness, cohort_id) == {
        "cohort_id": cohort_id, "enrolled": 5, "mentors": 2, "mentees": 3, "proposed": 0, "active": 0,
        "unmatched": 3, "waiting_for_answers": 0, "completed": 0}
    harness.run(cohort_id)
    shown = assert_summary_is_a_recount(harness, cohort_id)
    assert shown["proposed"] == 3 and shown["unmatched"] == 0 and shown["waiting_for_answers"] == 6

    items = {p["mentee_id"]: p for p in harness.pairings(cohort_id)["items"]}
    client = harness.client
    e001, e002, e003 = items["E001"]["pairing_id"], items["E002"]["pairing_id"], items["E003"]["pairing_id"]
    assert client.post(f"/v1/pairings/{e002}/accept", json={}, headers=token("E002")).status_code == 200
    assert assert_summary_is_a_recount(harness, cohort_id)["waiting_for_answers"] == 5
    assert client.post(f"/v1/pairings/{e002}/accept", json={},
                       headers=token(items["E002"]["mentor_id"])).json["status"] == "active"
    shown = assert_summary_is_a_recount(harness, cohort_id)
    assert (shown["proposed"], shown["active"], shown["waiting_for_answers"]) == (2, 1, 4)
    declined = client.post(f"/v1/pairings/{e003}/decline", json={"role": "mentee"}, headers=ADMIN_H)
    assert declined.status_code == 200
    shown = assert_summary_is_a_recount(harness, cohort_id)
    assert (shown["proposed"], shown["unmatched"]) == (1, 1)
    assert client.post(f"/v1/pairings/{e002}/end", json={"reason": "completed"}, headers=token("E002")).status_code == 200
    assert assert_summary_is_a_recount(harness, cohort_id)["unmatched"] == 2
    # withdrawing ends the mentee's open proposal: one mentee fewer, and not an unmatched one
    assert client.post(f"/v1/cohorts/{cohort_id}/enrollments/E001/withdraw", headers=token("E001")).status_code == 200
    harness.settle()
    assert harness.context.views.pairings.get(e001)["status"] == "ended"
    shown = assert_summary_is_a_recount(harness, cohort_id)
    assert (shown["enrolled"], shown["mentees"], shown["proposed"], shown["unmatched"]) == (4, 2, 0, 2)
    harness.hire("E004", level=3)
    assert harness.enroll(cohort_id, "E004", "mentee").status_code == 201
    assert assert_summary_is_a_recount(harness, cohort_id)["unmatched"] == 3
    manual = client.post(f"/v1/cohorts/{cohort_id}/pairings", json={"mentor_id": "M001", "mentee_id": "E004"},
                         headers=ADMIN_H)
    assert manual.status_code == 201, manual.json
    shown = assert_summary_is_a_recount(harness, cohort_id)
    assert (shown["proposed"], shown["unmatched"], shown["waiting_for_answers"]) == (1, 2, 2)
    # an unknown cohort is still a 404, a cohort with nobody enrolled all zeros
    assert harness.client.get("/v1/cohorts/nope/stats", headers=ADMIN_H).status_code == 404
    empty = harness.cohort(status="enrolling")
    assert stats(harness, empty) == {"cohort_id": empty, "enrolled": 0, "mentors": 0, "mentees": 0, "proposed": 0,
                                     "active": 0, "unmatched": 0, "waiting_for_answers": 0, "completed": 0}


def _views_of(projector: StoreProjector) -> MatchingViews:
    projector._ensure_bound()
    return next(p for p in projector.projections if isinstance(p, MatchingViews))


def test_redelivery_replay_and_a_crash_between_writes_count_nothing_twice(harness):
    cohort_id = harness.populated_cohort()
    harness.run(cohort_id)
    before = assert_summary_is_a_recount(harness, cohort_id)
    summary = harness.context.views.summaries.get(cohort_id)

    # every event applied again, from position 1 (a replay; a redelivery is one event of it)
    harness.worker.close()
    replay = StoreProjector(harness.context, [MatchingViews(harness.context.database)], name="summary-replay")
    assert replay.catch_up() > 0
    assert harness.context.views.summaries.get(cohort_id) == summary
    assert stats(harness, cohort_id) == before == recount(harness, cohort_id)

    # a crash after the summary's write, before the pairing's: the commit is applied again
    pid = next(p for p in harness.pairings(cohort_id)["items"] if p["mentee_id"] == "E002")["pairing_id"]
    harness.context.commands.wait_timeout_s = 0.1  # no worker: the answer comes from the aggregate
    assert harness.client.post(f"/v1/pairings/{pid}/decline", json={"role": "mentee"},
                               headers=ADMIN_H).json["status"] == "declined"
    projector = harness.context.projector
    views = _views_of(projector).views
    put = views.pairings.put

    def crash(doc):
        raise RuntimeError("the worker died here")

    views.pairings.put = crash
    with pytest.raises(RuntimeError):
        projector.catch_up()
    assert harness.context.views.summaries.get(cohort_id)["proposed"] == before["proposed"] - 1  # written first
    assert harness.context.views.pairings.get(pid)["status"] == "proposed"  # not yet
    views.pairings.put = put
    assert projector.catch_up() > 0
    after = stats(harness, cohort_id)
    assert after == recount(harness, cohort_id)
    assert (after["proposed"], after["unmatched"]) == (before["proposed"] - 1, before["unmatched"] + 1)
    # and the same commit delivered once more changes nothing
    again = StoreProjector(harness.context, [MatchingViews(harness.context.database)], name="summary-replay-2")
    again.catch_up()
    assert stats(harness, cohort_id) == after


def test_bulk_enrolments_are_counted_once_even_after_a_crash_between_the_insert_and_the_count(harness):
    """A run of first enrolments reaches the views in one insert (apply_batch); the summary counts
    them once, and a crash after that insert and before the count is repaired when applied again."""
    people = [f"B{n:03d}" for n in range(12)]
    for employee_id in people:
        harness.hire(employee_id)
    cohort_id = harness.cohort(status="enrolling")
    rows = [{"employee_id": e, "role": "mentee" if n % 3 else "mentor", "topics": ["python"],
             **({} if n % 3 else {"capacity": 2})} for n, e in enumerate(people)]
    assert harness.client.post(f"/v1/cohorts/{cohort_id}/enrollments", json=rows[:6], headers=ADMIN_H).json["enrolled"] == 6
    first = assert_summary_is_a_recount(harness, cohort_id)
    assert (first["enrolled"], first["mentors"]) == (6, 2)

    projector = harness.context.projector
    views = _views_of(projector)
    count = views._count_first_enrolments

    def crash(inserted):
        raise RuntimeError("the worker died here")

    views._count_first_enrolments = crash
    harness.context.commands.wait_timeout_s = 0.1
    harness.worker.close()
    assert harness.client.post(f"/v1/cohorts/{cohort_id}/enrollments", json=rows[6:], headers=ADMIN_H).json["enrolled"] == 6
    # the batch inserts the six documents and dies before counting them; the projector then applies
    # the same commits one by one, which finds each document written by its own event and counts it
    assert projector.catch_up() > 0
    assert all(harness.context.views.enrollments.get(f"{cohort_id}|{e}") for e in people[6:])
    views._count_first_enrolments = count
    assert stats(harness, cohort_id) == recount(harness, cohort_id)
    assert stats(harness, cohort_id)["enrolled"] == 12
    replay = StoreProjector(harness.context, [MatchingViews(harness.context.database)], name="bulk-replay")
    assert replay.catch_up() > 0
    assert stats(harness, cohort_id) == recount(harness, cohort_id)
