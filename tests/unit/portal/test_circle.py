"""My circle (issue 15): the mentor and members as cards, the circle's meetings, the mentor's forms
(schedule, move, cancel, held with who came) sending what the sessions API takes, a member seeing
the meetings and the calendar link only, and the pairing page linking to its circle."""
from __future__ import annotations

import pytest

from services.portal.backend import ApiError
from tests.unit.portal.fakes import COHORT, MENTEE, MENTOR, PAIRING, FakeBackend, person
from tests.unit.portal.test_pages import csrf, portal_app, sign_in

CIRCLE, OTHER_MENTEE, GROUP = "circ-1", "E008102", "gm-1"
MEETINGS = f"/v1/circles/{CIRCLE}/meetings"


class CircleBackend(FakeBackend):
    def __init__(self):
        super().__init__()
        self.pairing.update(status="active", circle_id=CIRCLE)
        self.circle = {"circle_id": CIRCLE, "cohort_id": COHORT, "mentor_id": MENTOR, "members": [
            {"mentee_id": MENTEE, "pairing_id": PAIRING, "status": "active"},
            {"mentee_id": OTHER_MENTEE, "pairing_id": "pair-2", "status": "active"}]}
        self.group = {"group_meeting_id": GROUP, "circle_id": CIRCLE, "cohort_id": COHORT, "mentor_id": MENTOR,
                      "organizer_id": MENTOR, "starts_at": "2030-01-10T09:00:00Z", "ends_at": "2030-01-10T10:00:00Z",
                      "duration_minutes": 60, "timezone": "Europe/Berlin", "sequence": 0, "status": "scheduled",
                      "agenda": "Giving feedback", "members": [
                          {"mentee_id": MENTEE, "pairing_id": PAIRING, "meeting_id": "m-1", "status": "scheduled",
                           "attended": None},
                          {"mentee_id": OTHER_MENTEE, "pairing_id": "pair-2", "meeting_id": "m-2",
                           "status": "scheduled", "attended": None}]}

    def _get(self, service, path, body, params, claims):
        in_circle = claims["sub"] in {MENTOR, MENTEE, OTHER_MENTEE}
        if path == f"/v1/circles/{CIRCLE}":
            if not in_circle:
                raise ApiError(404, "Not Found", "no such circle")
            return self.circle
        if path == MEETINGS:
            return {"items": [self.group]}
        if path == f"/v1/participants/{OTHER_MENTEE}":
            return person(OTHER_MENTEE, "Ivo Berg")
        if path == f"{MEETINGS}/{GROUP}.ics":
            return "BEGIN:VCALENDAR\r\nUID:gm-1@sessions.mentoring\r\nEND:VCALENDAR\r\n"
        return super()._get(service, path, body, params, claims)

    def _post(self, service, path, body, params, claims):
        if path.startswith(MEETINGS):
            if claims["sub"] != MENTOR:
                raise ApiError(403, "Forbidden", "only the circle's mentor schedules or changes its meetings")
            return self.group
        return super()._post(service, path, body, params, claims)


@pytest.fixture
def portal():
    return portal_app(CircleBackend())


def _posted(backend, path):
    return [call[3] for call in backend.calls if call[0] == "POST" and call[2] == path]


def test_the_mentor_sees_the_members_and_records_who_came_and_schedules_for_the_circle(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc, MENTOR)
    page = client.get(f"/circles/{CIRCLE}").get_data(as_text=True)
    assert "Mentoring circle of Zoe Sato" in page and "Uma Lopez" in page and "Ivo Berg" in page
    assert "Giving feedback" in page and f"/circles/{CIRCLE}/meetings/{GROUP}.ics" in page
    assert f'name="attendance.{OTHER_MENTEE}" value="absent"' in page and 'id="schedule"' in page

    token = csrf(client, f"/circles/{CIRCLE}")
    client.post(f"/circles/{CIRCLE}/meetings/{GROUP}/held",
                data={"csrf_token": token, f"attendance.{MENTEE}": "present", f"attendance.{OTHER_MENTEE}": "absent"})
    assert _posted(backend, f"{MEETINGS}/{GROUP}/held") == [{"attendance": {MENTEE: "present", OTHER_MENTEE: "absent"}}]
    done = client.post(f"/circles/{CIRCLE}/meetings", data={"csrf_token": token, "starts_at": "2030-02-01T10:00",
                                                            "duration_minutes": "60", "agenda": "Careers"})
    assert done.status_code == 302
    assert _posted(backend, MEETINGS) == [{"starts_at": "2030-02-01T09:00:00Z", "duration_minutes": 60,
                                           "agenda": "Careers"}]  # 10:00 in Berlin
    assert "Every member and you get one invitation." in client.get(f"/circles/{CIRCLE}").get_data(as_text=True)
    german = client.get(f"/circles/{CIRCLE}", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Mentoring-Kreis von Zoe Sato" in german and "Wir haben uns getroffen: Wer war da?" in german


def test_a_member_sees_the_meetings_and_calendar_but_no_forms_and_an_outsider_gets_404(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc)  # the mentee, a member
    page = client.get(f"/circles/{CIRCLE}").get_data(as_text=True)
    assert "Circle meetings" in page and "Ivo Berg" in page and 'id="schedule"' not in page
    assert "attendance." not in page
    ics = client.get(f"/circles/{CIRCLE}/meetings/{GROUP}.ics")
    assert ics.mimetype == "text/calendar" and b"UID:gm-1@sessions.mentoring" in ics.data
    assert f'href="/circles/{CIRCLE}"' in client.get(f"/pairings/{PAIRING}").get_data(as_text=True)
    outsider, _ = sign_in(app, oidc, "E009999")
    assert outsider.get(f"/circles/{CIRCLE}").status_code == 404
