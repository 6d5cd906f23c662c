"""The cohort-wide reads by `_id` (issue 16): a cohort's enrolments and pairings come from the keyed
indexes (adapters/enrollment_index.py, adapters/pairing_index.py), a person's pairings from their
`party_pairings`, and equal what a scan of the documents finds; the suggestions, a run, a closing
cohort, expiry and outcomes filter no collection on anything but `_id`."""
from __future__ import annotations

import random

from services.matching.adapters.mongo import ENROLLMENTS, NEVER_AGAIN, PAIRINGS, PARTICIPANTS
from services.matching.adapters.pairing_index import PairingIndex
from services.matching.application.commands import Actor
from tests.unit.matching.conftest import ADMIN, REQUEST
from tests.unit.matching.test_choice import _ask, _choosing


def scanned_pairings(matching, cohort_id: str) -> list[dict]:
    return sorted(matching.database[PAIRINGS].find({"cohort_id": cohort_id}), key=lambda d: d["_id"])


def enrol_people(matching, cohort_id: str, *, mentees: int, mentors: int) -> None:
    """Hire and enrol mentees E004.. and mentors M004.. (capacity 3) beside _choosing's first few."""
    for n in range(4, 4 + mentees):
        matching.hire(f"E{n:03d}", level=3)
        matching.enroll(cohort_id, f"E{n:03d}", "mentee")
    for n in range(4, 4 + mentors):
        matching.hire(f"M{n:03d}", level=8)
        matching.enroll(cohort_id, f"M{n:03d}", "mentor", capacity=3)


def a_busy_cohort(matching) -> str:
    """Requests, a run's proposals, answers of every kind, a withdrawal: pairings in every status."""
    cohort_id = _choosing(matching)
    enrol_people(matching, cohort_id, mentees=26, mentors=8)
    asked = _ask(matching, cohort_id, "E001", "M003")
    matching.commands.accept(asked["pairing_id"], Actor("M003", False), None, REQUEST)
    declined = _ask(matching, cohort_id, "E002", "M002")
    matching.commands.decline(declined["pairing_id"], Actor("M002", False), None, "no_time", REQUEST)
    matching.run(cohort_id)
    proposals = [doc for doc in matching.pairings(cohort_id).values() if doc["status"] == "proposed"]
    for doc in proposals[:6]:
        for who in (doc["mentor_id"], doc["mentee_id"]):
            matching.commands.accept(doc["_id"], Actor(who, False), None, REQUEST)
    matching.commands.end(proposals[0]["_id"], "by_admin", ADMIN, REQUEST)
    matching.commands.withdraw(cohort_id, "E010", "by_admin", ADMIN, REQUEST)
    matching.projector.catch_up()
    return cohort_id


def test_a_cohorts_pairings_and_enrolments_from_the_indexes_equal_a_scan(matching, monkeypatch):
    monkeypatch.setattr(PairingIndex, "spread", 2)  # several chunks for these few dozen (random) ids
    cohort_id = a_busy_cohort(matching)
    views = matching.views
    scanned = scanned_pairings(matching, cohort_id)
    assert {doc["status"] for doc in scanned} >= {"proposed", "active", "declined", "ended"}
    assert len(views.pairing_index.find({"cohort_id": cohort_id})) >= 4  # a directory and chunks
    assert views.pairings_of_cohort(cohort_id) == scanned
    assert [(e.pairing_id, e.mentor_id, e.mentee_id, e.status, e.answer_by)
            for e in views.pairing_entries(cohort_id)] == [
        (d["_id"], d["mentor_id"], d["mentee_id"], d["status"], d["answer_by"]) for d in scanned]
    assert [e.pairing_id for e in views.pairing_entries(cohort_id, statuses=("active", "ended"))] == [
        d["_id"] for d in scanned if d["status"] in ("active", "ended")]
    enrolments = sorted(matching.database[ENROLLMENTS].find({"cohort_id": cohort_id}), key=lambda d: d["_id"])
    assert any(doc["status"] == "withdrawn" for doc in enrolments)
    assert views.enrollments_of_cohort(cohort_id) == enrolments
    assert views.enrollments_of_cohort(cohort_id, role="mentor", status="active") == [
        d for d in enrolments if d["role"] == "mentor" and d["status"] == "active"]
    for person in ("E001", "M003", "E010", "M004", "nobody"):
        assert sorted(views.pairings_of_employee(person), key=lambda d: d["_id"]) == [
            d for d in scanned if person in (d["mentor_id"], d["mentee_id"])]
    other = matching.cohort(status="enrolling")  # a second cohort: a person's enrolments span cohorts
    matching.enroll(other, "E001", "mentee")
    matching.projector.catch_up()
    for person in ("E001", "E010", "M004", "nobody"):
        assert sorted(views.enrollments_of_employee(person), key=lambda d: d["_id"]) == sorted(
            matching.database[ENROLLMENTS].find({"employee_id": person}), key=lambda d: d["_id"])
    assert len(views.enrollments_of_employee("E001")) == 2


def test_the_pairings_list_pages_through_the_index_like_the_sorted_scan(matching, monkeypatch):
    monkeypatch.setattr(PairingIndex, "spread", 2)  # several chunks whatever the (random) ids
    cohort_id = a_busy_cohort(matching)
    scanned = scanned_pairings(matching, cohort_id)
    for status in (None, "proposed", "active", "declined", "expired"):
        for limit in (1, 3, 50):
            items, cursor, pages = [], None, 0
            while True:
                page, cursor = matching.views.pairings_page(cohort_id, status=status, party=None, after=cursor,
                                                            limit=limit)
                assert len(page) <= limit
                items, pages = items + page, pages + 1
                if cursor is None:
                    break
                assert pages < 500
            assert items == [d for d in scanned if status is None or d["status"] == status], (status, limit)


def test_suggestions_requests_runs_closing_expiry_and_outcomes_filter_nothing_but_ids(matching):
    cohort_id = a_busy_cohort(matching)
    matching.hire("E099", level=3)
    matching.enroll(cohort_id, "E099", "mentee")  # after the run: unpaired
    collections = [matching.database[name] for name in (ENROLLMENTS, PAIRINGS, PARTICIPANTS, NEVER_AGAIN)]
    found = matching.commands.suggestions(cohort_id, "E099", limit=5)
    assert found["items"] and found["can_request"]
    # one mentee's decision needs their pairs never to be proposed again: read by `_id`, the same pairs
    everyone = matching.commands.inputs.pairings_of(cohort_id).forbidden
    mine = matching.commands.inputs.pairings_of(cohort_id, mentee_id="E002").forbidden
    assert ("M002", "E002") in mine and {pair for pair in everyone if pair[1] == "E002"} == {
        pair for pair in mine if pair[1] == "E002"}
    for collection in collections:
        collection.scans.clear()
    found = matching.commands.suggestions(cohort_id, "E099", limit=5)
    _ask(matching, cohort_id, "E099", found["items"][0]["mentor_id"])
    assert collections[3].scans == []  # a run reads every mentee's list at once (below)
    collections = collections[:3]
    matching.run(cohort_id, dry_run=True)
    matching.clock.advance(days=8)
    assert matching.commands.expire_overdue() > 0
    matching.commands.change_cohort_status(cohort_id, "active", ADMIN, REQUEST)
    matching.commands.change_cohort_status(cohort_id, "closed", ADMIN, REQUEST)
    matching.work()
    assert {doc["status"] for doc in matching.pairings(cohort_id).values()} >= {"completed", "expired"}
    matching.terminate("E099", "2026-09-01T00:00:00Z")  # their enrolment withdrawn, found by `_id`
    matching.work()
    assert matching.views.enrollments.get(f"{cohort_id}|E099")["status"] == "withdrawn"
    assert [collection.scans for collection in collections] == [[], [], []]
    # outcomes: the cohorts' enrolments and pairings by `_id` (the directory is read whole on purpose:
    # every person's history is the comparison group, application/outcomes.py)
    program_id = matching.views.cohorts.get(cohort_id)["program_id"]
    from services.matching.application.outcomes import ProgramOutcomes

    assert ProgramOutcomes(matching.views, matching.participants.collection, matching.clock).of(program_id)["mentees"]
    assert [collection.scans for collection in collections[:2]] == [[], []]


def test_the_pairing_index_is_the_same_whatever_order_its_entries_were_saved_in():
    """Content-defined chunks: one entry at a time or all at once, in any order, the same documents."""
    from tests.unit.matching.fakes import MemoryDatabase

    entries = [(f"p{n:04d}", f"M{n % 7}", f"E{n}", random.Random(n).choice(["proposed", "active"]), "")
               for n in range(300)]

    def stored(order: list[int], save_every: int) -> dict:
        index = PairingIndex(MemoryDatabase()["index"])
        index.spread = 8
        writing = None
        for done, at in enumerate(order, start=1):
            writing = writing if writing is not None else index.writing("C")
            writing.put(entries[at], at + 1)
            if done % save_every == 0:
                writing.save()
                writing = None
        if writing is not None:
            writing.save()
        return {key: {k: v for k, v in doc.items() if k != "version"} for key, doc in index.collection.docs.items()}

    in_order = stored(list(range(300)), 1)
    assert len(in_order) > 10
    assert stored(random.Random(3).sample(range(300), 300), 1) == in_order
    assert stored(random.Random(4).sample(range(300), 300), 64) == in_order


def test_suggestions_mentors_are_built_once_then_refreshed_in_the_background_past_their_ttl():
    """Only a process's first call for a cohort waits for the build; a call past the TTL answers from
    the kept mentors at once while one rebuild runs, and the next call sees the rebuilt ones."""
    import threading

    from services.matching.application.inputs import CohortMentors, Taken
    from services.matching.domain.assignment import MentorCandidate

    class Inputs:
        def __init__(self):
            self.builds, self.release = 0, threading.Event()

        def mentors_for(self, cohort_id, taken):
            self.builds += 1
            if self.builds > 1:
                assert self.release.wait(5)
            return {"M1": MentorCandidate("M1", level=self.builds, capacity=2)}

    now = [0.0]
    inputs = Inputs()
    mentors = CohortMentors(inputs, ttl_s=60, clock=lambda: now[0])
    assert mentors.get("C", Taken())["M1"].level == 1 and inputs.builds == 1
    now[0] = 30
    assert mentors.get("C", Taken(seats={"M1": 1}))["M1"].seats_taken == 1 and inputs.builds == 1
    now[0] = 61
    assert mentors.get("C", Taken())["M1"].level == 1  # the kept entry, while the rebuild waits
    for _ in range(100):
        if inputs.builds == 2:
            break
        threading.Event().wait(0.02)
    assert mentors.get("C", Taken())["M1"].level == 1 and inputs.builds == 2  # one rebuild at a time
    inputs.release.set()
    for _ in range(100):
        if mentors.get("C", Taken())["M1"].level == 2:
            break
        threading.Event().wait(0.02)
    assert mentors.get("C", Taken())["M1"].level == 2 and inputs.builds == 2
