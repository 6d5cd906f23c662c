"""A cohort's lists read by `_id` (issue 16; adapters/cohort_lists.py): each equals what a scan of the
documents finds, whatever the partitions the events came on, and the daily summary, the CSV export and
the closing survey filter no collection on anything but `_id`."""
from __future__ import annotations

from datetime import date, timedelta

import pytest

from shared.events.catalog.matching import ENROLLMENT_WITHDRAWN, PAIRING_ENDED
from shared.events.catalog.sessions import MEETING_DISPUTED
from shared.memory import InMemoryEventStore
from services.feedback.adapters.cohort_lists import CohortList
from services.feedback.adapters.mongo import ReadModels
from services.feedback.adapters.snapshots import SnapshotStore
from services.feedback.application.queries import FeedbackQueries
from services.feedback.domain.rules import GiveFeedback
from tests.unit.feedback.programme import active_pairing, consume, enrolled, held_meeting
from tests.unit.feedback.test_application import context, request

LISTS = {"pairings": "fb_pairings", "members": "fb_members", "meetings": "fb_meetings", "feedback": "fb_feedback",
         "reviews": "fb_reviews", "surveys": "fb_surveys"}


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    monkeypatch.setattr(CohortList, "spread", 2)  # several chunks for a few dozen rows


def a_busy_cohort(store=None):
    """C1 (P1 and MT1 from `context`) with 12 more pairings on 3 partitions, their members and held
    meetings (one disputed, one pairing ended, one member withdrawn), feedback, reviews, surveys;
    C2 beside it with its own."""
    ctx = context(store)
    db = ctx.database
    enrolled(db, "C1", "M1", "mentor")
    enrolled(db, "C1", "E1", "mentee")
    for n in range(12):
        cohort = "C1" if n < 10 else "C2"
        mentor, mentee, part = f"M{2 + n % 4}", f"E{10 + n}", n % 3
        enrolled(db, cohort, mentor, "mentor", partition=part)
        enrolled(db, cohort, mentee, "mentee", partition=(n + 1) % 3)
        active_pairing(db, f"P{10 + n}", cohort, mentor, mentee, partition=part)
        held_meeting(db, f"MT{10 + n}", f"P{10 + n}", cohort, mentor, mentee, partition=(n + 2) % 3)
    consume(db, MEETING_DISPUTED, "meeting", "MT11", 3, {
        "meeting_id": "MT11", "pairing_id": "P11", "cohort_id": "C1", "disputed_by": "M3", "disputed_status": "held"},
        producer="sessions", partition=0)  # a key's records share a partition: MT11's is 0
    consume(db, PAIRING_ENDED, "pairing", "P12", 3, {
        "pairing_id": "P12", "cohort_id": "C1", "mentor_id": "M4", "mentee_id": "E12", "reason": "not_a_fit"},
        partition=2)
    consume(db, ENROLLMENT_WITHDRAWN, "enrollment", "C1|E13", 2, {
        "cohort_id": "C1", "employee_id": "E13", "role": "mentee"}, partition=1)
    for n in range(12):
        meeting, mentor, mentee = f"MT{10 + n}", f"M{2 + n % 4}", f"E{10 + n}"
        ctx.commands.give_feedback(GiveFeedback(f"P{10 + n}", mentee, 1 + n % 5, meeting_id=meeting), request())
        if n % 2:
            ctx.commands.give_feedback(GiveFeedback(f"P{10 + n}", mentor, 4, meeting_id=meeting, good_fit=n % 4 == 1),
                                       request())
    ctx.commands.give_feedback(GiveFeedback("P1", "E1", 5), request())  # a rating of the pairing, no meeting
    assert ctx.commands.request_due_reviews() > 0
    ctx.projector.catch_up()
    for review in db["fb_reviews"].find({})[::3]:
        ctx.commands.submit_review(review["review_id"], review["employee_id"], 4, 3, request())
    assert ctx.commands.request_surveys("C1", request()) > 0
    ctx.projector.catch_up()
    for survey in db["fb_surveys"].find({})[::2]:
        ctx.commands.answer_survey(survey["survey_id"], survey["employee_id"], 9, request())
    ctx.projector.catch_up()
    return ctx


def scanned(ctx, name: str, cohort_id: str) -> list[dict]:
    rows = getattr(ctx.models.lists, name)
    return [rows.row_of(doc) for doc in sorted(ctx.database[LISTS[name]].find({"cohort_id": cohort_id}),
                                                 key=lambda d: str(d[rows.key]))]


def test_each_cohort_list_equals_a_scan_of_its_documents():
    ctx = a_busy_cohort()
    lists = ctx.models.lists
    for cohort_id in ("C1", "C2", "unknown"):
        for name in LISTS:
            assert getattr(lists, name).rows(cohort_id) == scanned(ctx, name, cohort_id), (cohort_id, name)
    assert len(lists.pairings.find({})) > 3 * 3  # per partition: a directory and chunks
    assert {d["_id"] for d in lists.pairings.find({}) if "chunks" in d} >= {"C1|0", "C1|1", "C1|2"}
    rows = {name: scanned(ctx, name, "C1") for name in LISTS}
    assert {r["status"] for r in rows["pairings"]} == {"active", "ended"}
    assert any(r["disputed_status"] == "held" for r in rows["meetings"])
    assert any(r["submitted"] for r in rows["reviews"]) and any(not r["submitted"] for r in rows["reviews"])
    assert any(r["answered"] for r in rows["surveys"]) and any(not r["answered"] for r in rows["surveys"])
    assert [m["employee_id"] for m in ctx.models.enrolled_members("C1")] == [
        r["employee_id"] for r in rows["members"] if r["enrolled"]]
    assert "E13" not in {m["employee_id"] for m in ctx.models.enrolled_members("C1")}
    assert {m["meeting_id"] for m in ctx.models.held_meetings_of_cohort("C1")} == {
        r["meeting_id"] for r in rows["meetings"] if r["held_at"]} - {"MT11"}


def test_a_redelivered_record_and_a_rebuild_write_the_same_lists():
    store = InMemoryEventStore()
    ctx = a_busy_cohort(store)
    names = ("fb_cohort_pairings", "fb_cohort_meetings", "fb_cohort_feedback", "fb_cohort_reviews", "fb_person_feedback")
    before = {name: sorted(ctx.database[name].find({}), key=lambda d: d["_id"]) for name in names}
    held_meeting(ctx.database, "MT10", "P10", "C1", "M2", "E10", partition=2)  # MT10's record again, later
    consume(ctx.database, MEETING_DISPUTED, "meeting", "MT11", 3, {
        "meeting_id": "MT11", "pairing_id": "P11", "cohort_id": "C1", "disputed_by": "M3", "disputed_status": "held"},
        producer="sessions", partition=0)
    rebuilt = context(store)  # the store's own events into an empty database
    rebuilt.projector.catch_up()
    after = {name: sorted(ctx.database[name].find({}), key=lambda d: d["_id"]) for name in names}
    assert after == before
    for name in ("fb_cohort_feedback", "fb_cohort_reviews", "fb_person_feedback"):
        assert sorted(rebuilt.database[name].find({}), key=lambda d: d["_id"]) == before[name]


def test_a_persons_lists_equal_a_scan_and_their_own_routes_filter_nothing_but_ids():
    ctx = a_busy_cohort()
    for n in range(4):
        ctx.commands.send_kudos(f"P{10 + n}", f"E{10 + n}", f"thanks {n}", request())
    ctx.projector.catch_up()
    db, models = ctx.database, ctx.models
    people = ["M1", "E1", "M2", "M3", "E10", "E11", "E13", "nobody"]
    for collection in db.collections.values():
        collection.scans.clear()
    for person in people:
        for read, name, field in ((models.feedback_about, "fb_feedback", "about_id"),
                                  (models.reviews_of, "fb_reviews", "employee_id"),
                                  (models.surveys_of, "fb_surveys", "employee_id"),
                                  (models.kudos_to, "fb_kudos", "to_id")):
            keyed = sorted(read(person), key=str)
            assert keyed == sorted(({k: v for k, v in d.items() if k != "_id"} for d in db[name].docs.values()
                                    if d.get(field) == person), key=str), (person, name)
        ctx.queries.feedback_about(person), ctx.queries.personal_summary(person), ctx.queries.kudos_for(person)
        ctx.queries.reviews_of(person), ctx.queries.surveys_of(person)
    assert {name for name, c in db.collections.items() if c.scans} == {"kudos_notes"}  # the legacy notes only
    assert len(models.feedback_about("M2")) == 3 and len(models.kudos_to("M2")) == 1
    assert models.reviews_of("E10") and models.surveys_of("E10")


def test_the_summary_the_export_and_the_closing_survey_filter_nothing_but_ids():
    ctx = a_busy_cohort()
    expected_rows = sorted(ctx.queries.export_rows("C1"), key=lambda r: r["pairing_id"])
    assert [r["meetings_held"] for r in expected_rows if r["pairing_id"] == "P11"] == [0]  # disputed
    assert sum(r["ratings"] for r in expected_rows) == len(scanned(ctx, "feedback", "C1"))
    for collection in ctx.database.collections.values():
        collection.scans.clear()
    first = ctx.queries.cohort_summary("C1")  # the day's first read: the whole release
    ctx.clock.advance(days=40)  # a month on: found by its month's marker
    later = ctx.queries.cohort_summary("C1")
    assert ctx.queries.export_rows("C1") == expected_rows
    assert ctx.queries.cohort_summary("unknown") is None
    ctx.commands.request_surveys("C1", request())
    ctx.commands.give_feedback(GiveFeedback("P1", "M1", 4), request())  # the pairing's rating: it had a meeting
    assert {name: c.scans for name, c in ctx.database.collections.items() if c.scans} == {}
    assert first["feedback"]["held_meetings"] == len(ctx.models.held_meetings_of_cohort("C1")) == 10
    assert later["as_of"] == "2026-03-13T00:00:00Z"
    snapshots = SnapshotStore(ctx.database)
    previous = snapshots.get("C1", date(2026, 2, 1))
    assert snapshots.latest_before("C1", date(2026, 3, 13)) == previous
    by_scans = FeedbackQueries(ScanningModels(ctx.database))
    after_all = date.today() + timedelta(days=2)  # the in-memory store stamps events with the wall clock
    for day, before in ((date(2026, 2, 1), None), (date(2026, 3, 13), previous), (after_all, previous),
                        (after_all, None)):
        assert ctx.queries.release("C1", day, before) == by_scans.release("C1", day, before)
    released = ctx.queries.release("C1", after_all, None)["summary"]
    assert released["feedback"]["ratings"] == 16 and released["reviews"]["submitted"] > 0
    assert released["survey"]["answered"] > 0 and released["good_fit"]["respondents"] > 0
    assert ctx.queries.export_rows("C1") == by_scans.export_rows("C1")


class ScanningModels(ReadModels):
    """The reads as they were: `{cohort_id}` and person filters (a scan on FerretDB v1), whole documents."""

    def _scan(self, collection, cohort_id: str) -> list[dict]:
        return sorted(collection.find({"cohort_id": cohort_id}), key=lambda d: d["_id"])

    def pairings_of_cohort(self, cohort_id: str) -> list[dict]:
        return self._scan(self.pairings, cohort_id)

    def enrolled_members(self, cohort_id: str) -> list[dict]:
        return [d for d in self._scan(self.members, cohort_id) if d.get("enrolled")]

    def held_meetings_of_cohort(self, cohort_id: str) -> list[dict]:
        return [d for d in self._scan(self.meetings, cohort_id) if d.get("held_at") and d.get("disputed_status") != "held"]

    def feedback_of_cohort(self, cohort_id: str) -> list[dict]:
        return self._scan(self.feedback, cohort_id)

    def reviews_of_cohort(self, cohort_id: str) -> list[dict]:
        return self._scan(self.reviews, cohort_id)

    def surveys_of_cohort(self, cohort_id: str) -> list[dict]:
        return self._scan(self.surveys, cohort_id)

    def feedback_about(self, employee_id: str) -> list[dict]:
        return [{k: v for k, v in d.items() if k != "_id"} for d in self.feedback.find({"about_id": employee_id})]

    def reviews_of(self, employee_id: str) -> list[dict]:
        return [{k: v for k, v in d.items() if k != "_id"} for d in self.reviews.find({"employee_id": employee_id})]


def test_the_latest_snapshot_before_a_day_is_found_by_month_markers():
    ctx = context()
    snapshots = SnapshotStore(ctx.database)
    stored = [date(2025, 11, 30), date(2026, 1, 2), date(2026, 1, 17), date(2026, 3, 1), date(2026, 3, 9)]
    for day in stored:
        snapshots.put_once("C1", day, {"summary": {"day": day.isoformat()}, "units": {}})
    snapshots.put_once("C2", date(2026, 2, 1), {"summary": {}, "units": {}})
    day = date(2025, 11, 1)
    while day < date(2026, 4, 15):
        earlier = [d for d in stored if d < day]
        found = snapshots.latest_before("C1", day)
        assert (found or {}).get("day") == (max(earlier).isoformat() if earlier else None), day
        day += timedelta(days=1)
    assert snapshots.latest_before("C3", date(2026, 3, 1)) is None
    # months marked from snapshots stored before the markers existed (migrate's backfill)
    ctx.database["summary_snapshot_months"].drop()
    snapshots.ensure_indexes()
    snapshots.ensure_indexes()  # once is enough: the second finds the backfill done
    assert snapshots.latest_before("C1", date(2026, 2, 20))["day"] == "2026-01-17"
    assert snapshots.latest_before("C1", date(2025, 12, 25))["day"] == "2025-11-30"


def test_a_snapshot_stored_as_sub_documents_by_an_earlier_version_is_still_released_against():
    ctx = context()
    snapshots = SnapshotStore(ctx.database)
    units = {"feedback": {"figures": {"overall": {"ratings": 5}}, "basis": {"mentees": {"F1": "E1", "F2": "E2"}}}}
    ctx.database["summary_snapshots"].insert_one({
        "_id": "C1|2026-01-31", "cohort_id": "C1", "day": "2026-01-31", "summary": {"feedback": {"ratings": 5}},
        "units": [{"name": "feedback", "figures": {"overall": {"ratings": 5}},
                   "basis": [{"cell": "mentees", "items": [{"item": "F1", "person": "E1"},
                                                           {"item": "F2", "person": "E2"}]}]}]})
    snapshots.ensure_indexes()  # migrate marks its month
    assert snapshots.latest_before("C1", date(2026, 2, 1)) == {
        "summary": {"feedback": {"ratings": 5}}, "units": units, "day": "2026-01-31"}
    stored = snapshots.put_once("C1", date(2026, 2, 1), {"summary": {"feedback": {"ratings": 7}}, "units": units})
    assert stored["units"] == units and isinstance(ctx.database["summary_snapshots"].find_one(
        {"_id": "C1|2026-02-01"})["units"], str)  # one JSON string: one value for FerretDB to read
    assert snapshots.published("C1", date(2026, 2, 1)) == {"feedback": {"ratings": 7}}
