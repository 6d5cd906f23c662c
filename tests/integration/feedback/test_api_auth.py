"""Authorization and validation per route (MongoDB only; the read models fed through the projections)."""
from __future__ import annotations

import csv
import io

import pytest

from shared.events.envelope import Envelope
from services.feedback.api import create_app
from services.feedback.application.projections import ProgrammeView
from services.feedback import bootstrap
from tests.helpers import apply_consumed
from tests.integration.feedback.support import auth, cohort_created, meeting_held, pairing_activated, pairing_proposed

pytestmark = pytest.mark.integration

ROUTES = [
    ("POST", "/v1/pairings/P1/feedback", {"rating": 4, "meeting_id": "MT1"}),
    ("GET", "/v1/me/feedback", None),
    ("GET", "/v1/me/feedback/summary", None),
    ("GET", "/v1/cohorts/C1/feedback/summary", None),
    ("GET", "/v1/cohorts/C1/feedback/export.csv", None),
    ("GET", "/v1/me/reviews", None),
    ("POST", "/v1/reviews/R1/answers", {"goal_progress": 3, "satisfaction": 3}),
    ("GET", "/v1/me/surveys", None),
    ("POST", "/v1/surveys/S1/answers", {"recommend_score": 8}),
    ("POST", "/v1/pairings/P1/kudos", {"note": "thanks"}),
    ("GET", "/v1/me/kudos", None),
]


@pytest.fixture
def app(make_settings):
    settings = make_settings("feedback")
    context = bootstrap.build(settings)
    view = ProgrammeView(context.database)
    for raw in (cohort_created(), pairing_proposed(), pairing_activated(), meeting_held()):
        apply_consumed(view, Envelope.from_dict(raw))
    return settings, create_app(settings).test_client()


@pytest.mark.parametrize("method,path,body", ROUTES)
def test_every_route_needs_a_valid_token(app, method, path, body):
    settings, client = app
    for headers in ({}, {"Authorization": "Bearer not-a-jwt"}):
        response = client.open(path, method=method, json=body, headers=headers)
        assert response.status_code == 401 and response.content_type == "application/problem+json"


@pytest.mark.parametrize("path", ["/v1/cohorts/C1/feedback/summary", "/v1/cohorts/C1/feedback/export.csv"])
def test_insight_is_for_admins_only(app, path):
    settings, client = app
    assert client.get(path, headers=auth(settings, "M1")).status_code == 403
    assert client.get(path, headers=auth(settings, "A1", "admin")).status_code == 200


def test_an_unknown_cohort_summary_is_not_found(app):
    settings, client = app
    assert client.get("/v1/cohorts/NOPE/feedback/summary", headers=auth(settings, "A1", "admin")).status_code == 404


@pytest.mark.parametrize("method,path,body", [r for r in ROUTES if r[0] == "POST"])
def test_unknown_fields_get_422_naming_the_field(app, method, path, body):
    settings, client = app
    response = client.post(path, json={**body, "surprise": 1}, headers=auth(settings, "E1"))
    assert response.status_code == 422 and "surprise" in response.json["errors"]


def test_only_the_pairs_parties_give_feedback_or_kudos_and_admins_are_no_exception(app):
    settings, client = app
    for subject, roles in (("X9", ("participant",)), ("A1", ("admin",))):
        headers = auth(settings, subject, *roles)
        assert client.post("/v1/pairings/P1/feedback", json={"rating": 4, "meeting_id": "MT1"},
                           headers=headers).status_code == 403
        assert client.post("/v1/pairings/P1/kudos", json={"note": "thanks"}, headers=headers).status_code == 403
    assert client.post("/v1/pairings/P404/kudos", json={"note": "thanks"}, headers=auth(settings, "E1")).status_code == 404
    assert client.post("/v1/pairings/P404/feedback", json={"rating": 3}, headers=auth(settings, "E1")).status_code == 404


def test_answers_to_unknown_reviews_and_surveys_are_not_found(app):
    settings, client = app
    assert client.post("/v1/reviews/R1/answers", json={"goal_progress": 3, "satisfaction": 3},
                       headers=auth(settings, "E1")).status_code == 404
    assert client.post("/v1/surveys/S1/answers", json={"recommend_score": 8}, headers=auth(settings, "E1")).status_code == 404


def test_rating_is_required_and_bounded(app):
    settings, client = app
    response = client.post("/v1/pairings/P1/feedback", json={"meeting_id": "MT1", "rating": 0}, headers=auth(settings, "E1"))
    assert response.status_code == 422 and "rating" in response.json["errors"]
    response = client.post("/v1/pairings/P1/feedback", json={"meeting_id": "MT1"}, headers=auth(settings, "E1"))
    assert response.status_code == 422 and "rating" in response.json["errors"]


def _project(context, *raws) -> None:
    view = ProgrammeView(context.database)
    for raw in raws:
        apply_consumed(view, Envelope.from_dict(raw))


def test_an_unknown_cohort_export_is_a_problem_not_found(app):
    settings, client = app
    for cohort_id in ("NOPE", "日本-Ωmega"):
        response = client.get(f"/v1/cohorts/{cohort_id}/feedback/export.csv", headers=auth(settings, "A1", "admin"))
        assert response.status_code == 404 and response.content_type == "application/problem+json"
        assert response.json["code"] == "cohort_not_found"


def test_a_non_ascii_cohort_exports_with_an_ascii_header_and_its_exact_name(app, make_settings):
    settings, client = app
    cohort_id = "日本-Ωmega ü"
    _project(bootstrap.build(settings), cohort_created(cohort_id),
             pairing_proposed("P9", cohort_id, "M9", "E9"))
    response = client.get(f"/v1/cohorts/{cohort_id}/feedback/export.csv", headers=auth(settings, "A1", "admin"))
    assert response.status_code == 200
    disposition = response.headers["Content-Disposition"]
    disposition.encode("ascii")  # what any WSGI server can send (gunicorn refused the raw name: 500)
    assert 'filename="cohort-' in disposition and disposition.endswith("-feedback.csv")
    assert "filename*=UTF-8''cohort-%E6%97%A5%E6%9C%AC-%CE%A9mega%20%C3%BC-feedback.csv" in disposition


def test_export_cells_that_look_like_formulas_are_neutralised_and_no_mean_is_exported(app):
    settings, client = app
    _project(bootstrap.build(settings), pairing_proposed("=HYPERLINK(\"http://x\")", "C1", "+1+cmd|' /C calc'!A0",
                                                         "@SUM(A1)"),
             pairing_proposed("-2+3", "C1", "\tM", "\rE"))
    response = client.get("/v1/cohorts/C1/feedback/export.csv", headers=auth(settings, "A1", "admin"))
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))
    assert "mean_rating" not in rows[0]
    cells = {value for row in rows for value in row.values()}
    assert {"'=HYPERLINK(\"http://x\")", "'+1+cmd|' /C calc'!A0", "'@SUM(A1)", "'-2+3", "'\tM", "'\rE"} <= cells
    assert not any(value and value[0] in "=+-@\t\r" for value in cells)
