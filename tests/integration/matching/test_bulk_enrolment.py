"""Bulk enrolment (issue 16): a JSON list or a CSV on `POST /v1/cohorts/{cohort_id}/enrollments`,
against the real MongoDB, with the views projector and the run processor running as in the worker."""
from __future__ import annotations

import pytest

from services.matching.adapters.bulk_enrolment import MAX_BULK_ROWS
from tests.integration.matching.conftest import ADMIN_H, token

pytestmark = pytest.mark.integration


def path(cohort_id: str) -> str:
    return f"/v1/cohorts/{cohort_id}/enrollments"


def listed(harness, cohort_id: str) -> dict:
    harness.settle()
    items = harness.client.get(path(cohort_id), query_string={"limit": 500}, headers=ADMIN_H).json["items"]
    return {item["employee_id"]: item for item in items}


def only_error(row: dict) -> dict:
    assert row["outcome"] == "error", row
    assert len(row["errors"]) == 1, row
    return row["errors"][0]


def test_a_mixed_list_enrols_the_good_rows_and_names_each_bad_rows_row_and_field(harness):
    for employee_id in ("B001", "B002", "B003", "B004"):
        harness.hire(employee_id)
    cohort_id = harness.cohort(status="enrolling")
    rows = [
        {"employee_id": "B001", "role": "mentor", "capacity": 2, "topics": ["python"]},
        {"employee_id": "B002", "role": "mentor", "topics": ["python"]},  # a mentor without capacity
        {"employee_id": "NOBODY", "role": "mentee", "topics": ["python"]},  # not in the HRIS
        {"employee_id": "B003", "role": "mentee", "topics": ["python"], "goals_summary": "Grow",
         "preferences": {"languages": ["english"]}},  # languages are 2-letter codes
        "not an object",
        {"employee_id": "B004", "role": "mentee", "topics": ["sql"], "preferences": {"languages": ["en"]}},
        {"employee_id": "B001", "role": "mentee", "topics": ["python"]},  # B001 again, in the same request
    ]
    answer = harness.client.post(path(cohort_id), json=rows, headers=ADMIN_H)
    assert answer.status_code == 200, answer.json
    by_row = {row["row"]: row for row in answer.json["rows"]}
    assert (answer.json["enrolled"], answer.json["already_enrolled"], answer.json["failed"]) == (2, 0, 5)
    assert [by_row[n]["outcome"] for n in (1, 6)] == ["enrolled", "enrolled"]
    assert only_error(by_row[2])["field"] == "capacity"
    assert only_error(by_row[3]) == {"code": "employee_unknown", "field": "employee_id",
                                     "message": "NOBODY is not an active employee known from the HRIS"}
    assert only_error(by_row[4])["field"] == "preferences.languages.0"
    assert only_error(by_row[5])["message"] == "each row must be an object"
    assert only_error(by_row[7]) == {"code": "duplicate_row", "field": "employee_id",
                                     "message": "B001 is already on row 1"}
    # nothing half-done: the good rows are whole enrolments, the bad rows left nothing behind
    enrolled = listed(harness, cohort_id)
    assert set(enrolled) == {"B001", "B004"}
    assert (enrolled["B001"]["role"], enrolled["B001"]["capacity"]) == ("mentor", 2)
    assert enrolled["B004"]["topics"] == ["sql"]
    assert enrolled["B001"]["enrollment_id"] == by_row[1]["enrollment_id"]


def test_a_repeated_request_is_idempotent(harness):
    for employee_id in ("R001", "R002", "R003"):
        harness.hire(employee_id)
    cohort_id = harness.cohort(status="enrolling")
    rows = [{"employee_id": e, "role": "mentee", "topics": ["python"]} for e in ("R001", "R002")]
    first = harness.client.post(path(cohort_id), json=rows, headers=ADMIN_H).json
    again = harness.client.post(path(cohort_id), json=[*rows, {"employee_id": "R003", "role": "mentee",
                                                               "topics": ["go"]}], headers=ADMIN_H)
    assert again.status_code == 200, again.json
    assert [row["outcome"] for row in again.json["rows"]] == ["already_enrolled", "already_enrolled", "enrolled"]
    assert [row["enrollment_id"] for row in again.json["rows"][:2]] == [row["enrollment_id"] for row in first["rows"]]
    assert set(listed(harness, cohort_id)) == {"R001", "R002", "R003"}
    # one by one, as before, the same people are refused as already enrolled
    assert harness.enroll(cohort_id, "R001", "mentee").status_code == 409


def test_a_csv_upload_keeps_text_as_written_and_names_bad_lines(harness):
    for employee_id in ("C001", "C002", "C003"):
        harness.hire(employee_id)
    cohort_id = harness.cohort(status="enrolling")
    text = ("\ufeffemployee_id,role,capacity,topics,goals_summary,same_timezone,languages\n"
            "C001,mentor,2,python;Führung,\"Zoë wants to grow, in Ærø\",yes,de;en\n"
            "C002,mentee,,=HYPERLINK(\"http://x.invalid\"),@SUM(A1),,\n"
            "\"=cmd|' /C calc'!A0\",mentee,,python,,,\n"
            "C003,mentor,two,python,,,\n")
    answer = harness.client.post(path(cohort_id), data=text.encode("utf-8"), headers={**ADMIN_H,
                                                                                       "Content-Type": "text/csv"})
    assert answer.status_code == 200, answer.json
    rows = answer.json["rows"]
    assert [(row["row"], row["line"], row["outcome"]) for row in rows] == [
        (1, 2, "enrolled"), (2, 3, "enrolled"), (3, 4, "error"), (4, 5, "error")]
    assert only_error(rows[2])["field"] == "employee_id"
    assert only_error(rows[3])["field"] == "capacity"
    enrolled = listed(harness, cohort_id)
    assert set(enrolled) == {"C001", "C002"}
    assert enrolled["C001"]["topics"] == ["python", "Führung"]
    # a formula-like cell is stored as the text it is (exports neutralise formulas where they write CSV)
    assert enrolled["C002"]["topics"] == ['=HYPERLINK("http://x.invalid")']
    enrolment = harness.context.views.enrollments.get(f"{cohort_id}|C001")
    assert enrolment["goals_summary"] == "Zoë wants to grow, in Ærø"
    assert enrolment["preferences"] == {"same_timezone": True, "languages": ["de", "en"]}


def test_a_csv_without_the_needed_columns_is_refused_whole(harness):
    cohort_id = harness.cohort(status="enrolling")
    answer = harness.client.post(path(cohort_id), data=b"employee_id,role\nC001,mentee\n",
                                 headers={**ADMIN_H, "Content-Type": "text/csv"})
    assert answer.status_code == 422, answer.json
    assert answer.json["code"] == "csv_header" and "topics" in answer.json["detail"]


def test_bulk_enrolment_is_for_admins_only(harness):
    harness.hire("P001")
    cohort_id = harness.cohort(status="enrolling")
    participant = token("P001", "participant")
    mine = [{"employee_id": "P001", "role": "mentee", "topics": ["python"]}]
    assert harness.client.post(path(cohort_id), json=mine, headers=participant).status_code == 403
    csv_upload = harness.client.post(path(cohort_id), data=b"employee_id,role,topics\nP001,mentee,python\n",
                                     headers={**participant, "Content-Type": "text/csv"})
    assert csv_upload.status_code == 403
    assert harness.client.post(path(cohort_id), json=mine).status_code == 401
    # the single route is unchanged: a participant still enrols themselves
    assert harness.client.post(path(cohort_id), json=mine[0], headers=participant).status_code == 201
    assert set(listed(harness, cohort_id)) == {"P001"}


def test_rows_over_the_cap_are_refused_and_nothing_is_enrolled(harness):
    harness.hire("X001")
    cohort_id = harness.cohort(status="enrolling")
    rows = [{"employee_id": "X001", "role": "mentee", "topics": ["t"]}] * (MAX_BULK_ROWS + 1)
    answer = harness.client.post(path(cohort_id), json=rows, headers=ADMIN_H)
    assert answer.status_code == 422, answer.json
    assert answer.json["code"] == "too_many_rows" and answer.json["errors"] == {"rows": [answer.json["detail"]]}
    assert listed(harness, cohort_id) == {}


def test_a_cohort_not_enrolling_refuses_the_whole_request(harness):
    harness.hire("Z001")
    cohort_id = harness.cohort(status="closed")
    answer = harness.client.post(path(cohort_id), json=[{"employee_id": "Z001", "role": "mentee", "topics": ["t"]}],
                                 headers=ADMIN_H)
    assert answer.status_code == 409 and answer.json["code"] == "cohort_not_enrolling"
    unknown = harness.client.post(path("coh-nope"), json=[{"employee_id": "Z001", "role": "mentee", "topics": ["t"]}],
                                  headers=ADMIN_H)
    assert unknown.status_code == 404 and unknown.json["code"] == "cohort_unknown"


def test_a_withdrawn_person_enrols_again_in_bulk_and_the_views_equal_a_rebuild(harness):
    """The views projector writes a run of bulk enrolments in one insert; a re-enrolment (a stream
    at version 2) goes the one-by-one way. Either way the views are what a rebuild makes of the store."""
    from shared.generations import physical
    from shared.projector import rebuild_service
    from services.matching.adapters.mongo import VIEW_COLLECTIONS

    people = [f"W{n:03d}" for n in range(30)]
    for employee_id in people:
        harness.hire(employee_id)
    cohort_id = harness.cohort(status="enrolling")
    rows = [{"employee_id": e, "role": "mentee", "topics": ["python"], "goals_summary": f"goal {e}"} for e in people]
    assert harness.client.post(path(cohort_id), json=rows, headers=ADMIN_H).json["enrolled"] == 30
    assert harness.client.post(f"{path(cohort_id)}/W007/withdraw", headers=ADMIN_H).status_code == 200
    again = harness.client.post(path(cohort_id), json=rows, headers=ADMIN_H).json
    assert (again["enrolled"], again["already_enrolled"]) == (1, 29)
    enrolled = listed(harness, cohort_id)
    assert len(enrolled) == 30 and all(row["status"] == "active" for row in enrolled.values())
    assert enrolled["W007"]["enrollment_id"] == again["rows"][7]["enrollment_id"]
    assert harness.context.views.enrollments.get(f"{cohort_id}|W012")["goals_summary"] == "goal W012"
    views = harness.context.views
    live = [sorted(documents.find({}), key=lambda d: d["_id"]) for documents in views.all()]
    report = rebuild_service(harness.context, None, grace_s=0)
    database = harness.context.database
    rebuilt = [sorted(database[physical(name, report.generation)].find({}), key=lambda d: d["_id"])
               for name in VIEW_COLLECTIONS]
    assert rebuilt == live


def test_people_the_views_do_not_list_yet_are_still_enrolled_once(harness, monkeypatch):
    """Only people the cohort's index lists have their stream read before the append; when the views
    are behind (here: they list no one), the store's (stream, version) guard refuses the second
    enrolment and the row is read and decided again: the first enrolment's id, a withdrawn person
    enrolled again, and no one enrolled twice."""
    for employee_id in ("S001", "S002", "S003"):
        harness.hire(employee_id)
    cohort_id = harness.cohort(status="enrolling")
    first = harness.client.post(path(cohort_id), json=[{"employee_id": e, "role": "mentee", "topics": ["go"]}
                                                       for e in ("S001", "S002")], headers=ADMIN_H).json
    assert harness.client.post(f"{path(cohort_id)}/S002/withdraw", headers=ADMIN_H).status_code == 200
    harness.settle()
    monkeypatch.setattr(harness.context.views.enrollment_index, "entries", lambda cohort_id, **_: {})
    rows = [{"employee_id": e, "role": "mentee", "topics": ["go"]} for e in ("S001", "S002", "S003")]
    again = harness.client.post(path(cohort_id), json=rows, headers=ADMIN_H)
    assert again.status_code == 200, again.json
    assert [row["outcome"] for row in again.json["rows"]] == ["already_enrolled", "enrolled", "enrolled"]
    assert again.json["rows"][0]["enrollment_id"] == first["rows"][0]["enrollment_id"]
    monkeypatch.undo()
    enrolled = listed(harness, cohort_id)
    assert {e: row["status"] for e, row in enrolled.items()} == {"S001": "active", "S002": "active", "S003": "active"}
    assert enrolled["S002"]["enrollment_id"] == again.json["rows"][1]["enrollment_id"]
    from services.matching.domain import enrollment as enrollments
    streams = [harness.context.store.load(enrollments.stream_id(cohort_id, e)) for e in ("S001", "S002", "S003")]
    assert [[event.event_type for event in stream.events] for stream in streams] == [
        ["ParticipantEnrolled"], ["ParticipantEnrolled", "EnrollmentWithdrawn", "ParticipantEnrolled"],
        ["ParticipantEnrolled"]]


def test_a_dry_run_checks_every_row_as_the_import_would_and_stores_nothing(harness):
    for employee_id in ("D001", "D002", "D003"):
        harness.hire(employee_id)
    cohort_id = harness.cohort(status="enrolling")
    assert harness.enroll(cohort_id, "D003", "mentee").status_code == 201
    harness.settle()
    csv = ("employee_id,role,capacity,topics\n"
           "D001,mentor,2,python\n"
           "D002,mentor,,python\n"        # a mentor without capacity
           "NOBODY,mentee,,python\n"      # not in the HRIS
           "D003,mentee,,python\n")       # enrolled already
    store, before = harness.context.store, harness.context.store.current_position()
    dry = harness.client.post(f"{path(cohort_id)}?dry_run=true", data=csv, content_type="text/csv", headers=ADMIN_H)
    assert dry.status_code == 200, dry.json
    assert dry.json["dry_run"] is True
    assert (dry.json["enrolled"], dry.json["already_enrolled"], dry.json["failed"]) == (1, 1, 2)
    assert [(r["line"], r["outcome"]) for r in dry.json["rows"]] == [
        (2, "enrolled"), (3, "error"), (4, "error"), (5, "already_enrolled")]
    assert "enrollment_id" not in dry.json["rows"][0]
    assert store.current_position() == before  # nothing stored
    assert set(listed(harness, cohort_id)) == {"D003"}
    # the import itself answers the same, row by row (with the enrolment ids now)
    real = harness.client.post(path(cohort_id), data=csv, content_type="text/csv", headers=ADMIN_H).json
    assert "dry_run" not in real
    assert [(r["line"], r["outcome"], r.get("errors")) for r in real["rows"]] == [
        (r["line"], r["outcome"], r.get("errors")) for r in dry.json["rows"]]
    assert set(listed(harness, cohort_id)) == {"D001", "D003"}
    # a dry run is for a list or a CSV: one enrolment body is refused rather than stored
    single = harness.client.post(f"{path(cohort_id)}?dry_run=true", json={"employee_id": "D002", "role": "mentee",
                                                                          "topics": ["python"]}, headers=ADMIN_H)
    assert single.status_code == 422 and single.json["code"] == "dry_run_single"
    assert harness.client.post(f"{path(cohort_id)}?dry_run=maybe", data=csv, content_type="text/csv",
                               headers=ADMIN_H).status_code == 422


def test_the_enrolments_list_pages_through_bulk_and_single_enrolments_in_order_with_filters(harness, monkeypatch):
    """The list reads the enrolments index (adapters/enrollment_index.py): every enrolment, bulk or
    one by one, withdrawn or revised, is on exactly one page, in employee id order, under every filter."""
    from services.matching.adapters.enrollment_index import EnrollmentIndex

    monkeypatch.setattr(EnrollmentIndex, "spread", 16)  # ~10 chunks for these 170 people, not one
    people = [f"L{n:04d}" for n in range(170)]
    for employee_id in people:
        harness.hire(employee_id)
    cohort_id = harness.cohort(status="enrolling")
    for employee_id in people[160:]:  # some one by one first, the file's people after
        assert harness.enroll(cohort_id, employee_id, "mentee").status_code == 201
    lines = "".join(f"{e},{'mentor' if n % 4 == 0 else 'mentee'},{2 if n % 4 == 0 else ''},python\n"
                    for n, e in enumerate(people[:160]))
    answer = harness.client.post(path(cohort_id), data="employee_id,role,capacity,topics\n" + lines,
                                 content_type="text/csv", headers=ADMIN_H)
    assert answer.json["enrolled"] == 160, answer.json
    for employee_id in ("L0003", "L0101", "L0165"):
        assert harness.client.post(f"{path(cohort_id)}/{employee_id}/withdraw", headers=ADMIN_H).status_code == 200
    assert harness.client.patch(f"{path(cohort_id)}/L0008", json={"capacity": 3}, headers=ADMIN_H).status_code == 200
    harness.settle()
    documents = sorted(harness.context.views.enrollments_of_cohort(cohort_id), key=lambda d: d["employee_id"])
    assert len(documents) == 170
    assert len(harness.context.views.enrollment_index.find({"cohort_id": cohort_id})) > 5  # a directory, chunks

    def walk(**query) -> list[dict]:
        items, cursor = [], None
        while True:
            page = harness.client.get(path(cohort_id), headers=ADMIN_H, query_string={
                "limit": 17, **query, **({"cursor": cursor} if cursor else {})})
            assert page.status_code == 200, page.json
            assert len(page.json["items"]) <= 17
            items += page.json["items"]
            cursor = page.json["next"]
            if cursor is None:
                return items

    for query in ({}, {"role": "mentor"}, {"status": "withdrawn"}, {"role": "mentee", "status": "active"},
                  {"q": "L01"}, {"q": "L00", "role": "mentor"}):
        expected = [d["employee_id"] for d in documents
                    if d["employee_id"].startswith(query.get("q", "")) and d["role"] == query.get("role", d["role"])
                    and d["status"] == query.get("status", d["status"])]
        assert [item["employee_id"] for item in walk(**query)] == expected, query
    rows = {item["employee_id"]: item for item in walk()}
    assert rows["L0003"]["status"] == "withdrawn" and rows["L0008"]["capacity"] == 3
    assert rows["L0004"] == {"cohort_id": cohort_id, "employee_id": "L0004", "role": "mentor", "capacity": 2,
                             "topics": ["python"], "status": "active", "paused": False,
                             "enrollment_id": answer.json["rows"][4]["enrollment_id"],
                             "enrolled_at": rows["L0004"]["enrolled_at"], "withdrawal_reason": None}
