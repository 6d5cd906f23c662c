"""On the real servers (issue 16): a cohort's lists (adapters/cohort_lists.py), fed by the worker's
consumer from every partition of matching's and sessions' topics and by its store projector, equal
what a scan of the documents finds; the summary and the CSV export built from them equal the ones
built from scans; a rebuild writes the same lists."""
from __future__ import annotations

import csv
import io
import uuid
from datetime import date, timedelta

import pytest

from shared import topics
from shared.aggregate import Causation
from shared.generations import live_database
from shared.projector import rebuild_service
from services.feedback.adapters.cohort_lists import OWN_LISTS, PROGRAMME_LISTS, CohortList
from services.feedback.api import create_app
from services.feedback.application.queries import FeedbackQueries
from tests.helpers import wait_until
from tests.integration.feedback.support import (
    RunningWorker, _pairing_fields, auth, cohort_created, days_later, envelope, meeting_held, pairing_activated,
    pairing_proposed, publish,
)
from tests.unit.feedback.test_keyed_reads import ScanningModels

pytestmark = pytest.mark.integration

PAIRS = [(f"P{n:02d}", "C1" if n < 9 else "C2", f"M{n % 4}", f"E{n:02d}") for n in range(12)]
LISTS = {"pairings": "fb_pairings", "members": "fb_members", "meetings": "fb_meetings", "feedback": "fb_feedback",
         "reviews": "fb_reviews", "surveys": "fb_surveys"}


def _enrolled(cohort_id: str, employee_id: str, role: str) -> dict:
    return envelope("ParticipantEnrolled", "enrollment", f"{cohort_id}-{employee_id}", 1, {
        "cohort_id": cohort_id, "enrollment_id": f"{cohort_id}-{employee_id}", "employee_id": employee_id,
        "role": role, "capacity": 3 if role == "mentor" else 1, "topics": ["python"]}, producer="matching")


def _seed(settings) -> None:
    matching = [cohort_created("C1"), cohort_created("C2")]
    sessions = []
    for pairing_id, cohort_id, mentor, mentee in PAIRS:
        matching += [_enrolled(cohort_id, mentor, "mentor"), _enrolled(cohort_id, mentee, "mentee"),
                     pairing_proposed(pairing_id, cohort_id, mentor, mentee),
                     pairing_activated(pairing_id, cohort_id, mentor, mentee)]
        sessions.append(meeting_held(f"MT-{pairing_id}", pairing_id, cohort_id, mentor, mentee))
    matching.append(envelope("PairingEnded", "pairing", "P02", 3, {
        **_pairing_fields("P02", "C1", "M2", "E02"), "reason": "not_a_fit", "ended_by": "A1"}, producer="matching"))
    sessions.append(envelope("MeetingDisputed", "meeting", "MT-P01", 3, {
        "meeting_id": "MT-P01", "pairing_id": "P01", "cohort_id": "C1", "mentor_id": "M1", "mentee_id": "E01",
        "disputed_by": "M1", "disputed_status": "held", "recorded_by": "E01",
        "disputed_at": "2026-01-11T10:00:00.000Z"}, producer="sessions"))
    publish(settings, topics.MATCHING, matching)
    publish(settings, topics.SESSIONS, sessions)


def _scanned(models, name: str, cohort_id: str) -> list[dict]:
    rows = getattr(models.lists, name)
    docs = getattr(models, name).find({"cohort_id": cohort_id})
    return [rows.row_of(doc) for doc in sorted(docs, key=lambda d: str(d[rows.key]))]


def _lists(context) -> dict:
    live = live_database(context.database, ttl_s=0)
    return {name: sorted(live[name].find({}), key=lambda d: d["_id"]) for name in PROGRAMME_LISTS + OWN_LISTS}


def test_a_cohorts_lists_from_every_partition_equal_scans_and_give_the_same_summary_and_export(
        make_settings, monkeypatch):
    monkeypatch.setattr(CohortList, "spread", 2)  # several chunks per partition for these few rows
    settings = make_settings("feedback")
    _seed(settings)
    with RunningWorker(settings) as worker:
        models = worker.context.models
        wait_until(lambda: len(models.pairings_of_cohort("C1")) == 9 and len(models.held_meetings_of_cohort("C1")) == 8
                   and models.pairing("P02")["status"] == "ended", message="every partition's records applied")
        client = create_app(settings).test_client()
        for pairing_id, _, mentor, mentee in PAIRS:
            for who, rating in ((mentee, 4), (mentor, 3)):
                response = client.post(f"/v1/pairings/{pairing_id}/feedback", headers=auth(settings, who),
                                        json={"rating": rating, "meeting_id": f"MT-{pairing_id}",
                                              "good_fit": None if pairing_id == "P02" else pairing_id != "P03"})
                assert response.status_code == 201, response.json
        assert worker.context.commands.request_due_reviews(worker.context.clock.now() + timedelta(days=60)) > 0
        assert worker.context.commands.request_surveys("C1", _cause()) > 0
        assert worker.context.projector.wait_for(worker.context.store.current_position(), timeout_s=30)  # its thread

        partitions = {doc["_id"] for doc in models.lists.pairings.find({}) if "chunks" in doc}
        assert len({key for key in partitions if key.startswith("C1|")}) >= 2  # the records came on several
        for cohort_id in ("C1", "C2"):
            for name in LISTS:
                assert getattr(models.lists, name).rows(cohort_id) == _scanned(models, name, cohort_id), name
        assert {m["meeting_id"] for m in models.held_meetings_of_cohort("C1")} == {
            f"MT-{p}" for p, c, _, _ in PAIRS if c == "C1"} - {"MT-P01"}

        for person in ("M1", "E01", "E10", "nobody"):  # a person's lists (the /v1/me routes)
            for read, collection, field in ((models.feedback_about, models.feedback, "about_id"),
                                            (models.reviews_of, models.reviews, "employee_id"),
                                            (models.surveys_of, models.surveys, "employee_id")):
                assert sorted(read(person), key=str) == sorted(
                    ({k: v for k, v in d.items() if k != "_id"} for d in collection.find({field: person})), key=str)
        assert len(client.get("/v1/me/feedback", headers=auth(settings, "M1")).json["items"]) == 3

        by_scans = FeedbackQueries(ScanningModels(live_database(worker.context.database)))
        after_all = date.today() + timedelta(days=2)
        assert worker.context.queries.release("C1", after_all, None) == by_scans.release("C1", after_all, None)
        admin = auth(settings, "A1", "admin")
        summary = days_later(settings, 2).get("/v1/cohorts/C1/feedback/summary", headers=admin).json
        assert summary["feedback"]["ratings"] == 18 and summary["feedback"]["held_meetings"] == 8
        assert summary["reviews"]["requested"] > 0 and summary["survey"]["requested"] > 0
        exported = client.get("/v1/cohorts/C1/feedback/export.csv", headers=admin)
        rows = list(csv.DictReader(io.StringIO(exported.get_data(as_text=True))))
        assert rows == [{k: str(v) for k, v in row.items()} for row in by_scans.export_rows("C1")]
        assert [(r["pairing_id"], r["status"], r["meetings_held"]) for r in rows][:3] == [
            ("P00", "active", "1"), ("P01", "active", "0"), ("P02", "ended", "1")]

        before = _lists(worker.context)
        report = rebuild_service(worker.context, worker.runner, grace_s=0)
        assert report.generation == 1
        assert _lists(worker.context) == before


def _cause() -> Causation:
    return Causation(correlation_id=str(uuid.uuid4()), causation_id=str(uuid.uuid4()))
