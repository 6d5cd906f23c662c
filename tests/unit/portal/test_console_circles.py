"""The console's cohort page and circle cohorts (issue 15): the format, and a circle cohort's circles
with their member counts from matching's `GET /v1/cohorts/{id}/circles`, in English and German."""
from __future__ import annotations

from services.portal.backend import ApiError
from tests.unit.portal.fakes import ADMIN, COHORT, MENTEE, MENTOR, PROGRAM, FakeBackend
from tests.unit.portal.test_pages import csrf, portal_app, sign_in

CIRCLE = "cir-0123456789abcdef0123456789abcdef"


class CirclesBackend(FakeBackend):
    """The fake API with matching's circles route (admins only, as matching answers it)."""

    def __init__(self):
        super().__init__()
        self.circles = [{"circle_id": CIRCLE, "cohort_id": COHORT, "mentor_id": MENTOR, "members": [
            {"mentee_id": MENTEE, "pairing_id": "pair-1", "status": "active"},
            {"mentee_id": "E008102", "pairing_id": "pair-2", "status": "proposed"},
            {"mentee_id": "E008103", "pairing_id": "pair-3", "status": "declined"}]}]

    def _get(self, service, path, body, params, claims):
        if path == f"/v1/cohorts/{COHORT}/circles":
            if "admin" not in claims.get("roles", []):
                raise ApiError(403, "Forbidden", "this needs a platform admin or a manager of the programme")
            return {"items": self.circles, "next": None}
        return super()._get(service, path, body, params, claims)


def test_a_circle_cohort_page_shows_its_format_and_circles_with_their_members_counted():
    app, backend, oidc = portal_app(CirclesBackend())
    admin, _ = sign_in(app, oidc, ADMIN, ("admin", "participant"))
    pair_page = admin.get(f"/console/cohorts/{COHORT}").get_data(as_text=True)
    assert "One-to-one pairs" in pair_page and 'id="h-circles"' not in pair_page
    assert not any(c[2].endswith("/circles") for c in backend.calls)  # a pair cohort asks for no circles

    backend.cohort.update(format="circle", circle_min_size=3, circle_max_size=6)
    page = admin.get(f"/console/cohorts/{COHORT}").get_data(as_text=True)
    assert "Circles: one mentor, a group of mentees" in page and "3 to 6 mentees per circle" in page
    assert 'id="h-circles"' in page and "Zoe Sato" in page  # the mentor, by name
    row = page.split("Zoe Sato", 1)[1].split("</tr>", 1)[0]
    assert "<td>2</td>" in row and "<td>1</td>" in row  # two open members (the declined one not), one active
    german = admin.get(f"/console/cohorts/{COHORT}", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Kreise" in german and "3 bis 6 Mentees je Kreis" in german and "Mitglieder" in german

    backend.circles = []
    assert "No circles yet" in admin.get(f"/console/cohorts/{COHORT}").get_data(as_text=True)


def test_the_format_and_circle_sizes_are_set_when_a_cohort_is_created_or_edited():
    app, backend, oidc = portal_app(CirclesBackend())
    admin, _ = sign_in(app, oidc, ADMIN, ("admin", "participant"))
    created = admin.post(f"/console/programs/{PROGRAM}", data={
        "csrf_token": csrf(admin, f"/console/programs/{PROGRAM}"), "name": "Circles", "starts_on": "2030-01-01",
        "ends_on": "2030-06-30", "format": "circle", "circle_min_size": "4", "circle_max_size": "6"})
    assert created.status_code == 302
    body = [c[3] for c in backend.calls if c[0] == "POST" and c[2] == f"/v1/programs/{PROGRAM}/cohorts"][-1]
    assert (body["format"], body["circle_min_size"], body["circle_max_size"]) == ("circle", 4, 6)
    saved = admin.post(f"/console/cohorts/{COHORT}/settings", data={
        "csrf_token": csrf(admin), "name": "Spring", "starts_on": "2030-01-01", "ends_on": "2030-06-30",
        "meeting_cadence_days": "14", "answer_deadline_days": "7", "format": "circle", "circle_min_size": "3",
        "circle_max_size": "5"})
    assert saved.status_code == 302
    patch = [c[3] for c in backend.calls if c[0] == "PATCH"][-1]
    assert (patch["format"], patch["circle_min_size"], patch["circle_max_size"]) == ("circle", 3, 5)
