"""My availability and the pairing page's common slots (issue 15), from a fake sessions API."""
from __future__ import annotations

import pytest

from services.portal.backend import ApiError
from tests.unit.portal.fakes import MEETING, MENTEE, MENTOR, PAIRING, FakeBackend
from tests.unit.portal.test_pages import csrf, portal_app, sign_in

SLOT = "2030-01-14T14:00:00.000Z"


class AvailabilityBackend(FakeBackend):
    """FakeBackend plus the availability and slots routes, answered as the sessions API does."""

    def __init__(self):
        super().__init__()
        self.weeks: dict[str, dict] = {}

    def _get(self, service, path, body, params, claims):
        if path == "/v1/me/availability":
            week = self.weeks.get(claims["sub"])
            return week or {"employee_id": claims["sub"], "weekly": [], "time_zone": "Europe/Berlin",
                            "time_zone_source": "hris", "version": 0, "updated_at": None}
        if path == f"/v1/pairings/{PAIRING}/slots":
            missing = [p for p in (MENTOR, MENTEE) if p not in self.weeks]
            items = [] if missing else [{"starts_at": SLOT, "ends_at": "2030-01-14T14:45:00.000Z", "local": {
                MENTOR: {"time_zone": "Europe/Berlin", "starts_at": "2030-01-14T15:00:00+01:00"},
                MENTEE: {"time_zone": "America/New_York", "starts_at": "2030-01-14T09:00:00-05:00"}}}]
            return {"pairing_id": PAIRING, "items": items, "missing_availability": missing}
        return super()._get(service, path, body, params, claims)

    def _post(self, service, path, body, params, claims):
        if path == f"/v1/pairings/{PAIRING}/series":
            self.meeting = dict(self.meeting, series_id="series-1", series_index=0)
            return {"series_id": "series-1", "pairing_id": PAIRING, "occurrences": [self.meeting]}
        if path == "/v1/series/series-1/cancel":
            self.meeting = dict(self.meeting, status="cancelled")
            return {"series_id": "series-1", "pairing_id": PAIRING, "occurrences": [self.meeting]}
        return super()._post(service, path, body, params, claims)

    def _put(self, service, path, body, params, claims):
        if path == "/v1/me/availability":
            for index, interval in enumerate(body["weekly"]):
                if interval["end"] != "24:00" and interval["end"] <= interval["start"]:
                    raise ApiError(422, "Unprocessable Entity", "an interval ends after it starts",
                                   errors={f"weekly.{index}.end": ["an interval ends after it starts"]})
            self.weeks[claims["sub"]] = {"employee_id": claims["sub"], "weekly": body["weekly"],
                                         "time_zone": body["time_zone"] or "Europe/Berlin",
                                         "time_zone_source": "chosen" if body["time_zone"] else "hris",
                                         "version": 1, "updated_at": None}
            return self.weeks[claims["sub"]]
        return super()._put(service, path, body, params, claims)


@pytest.fixture
def portal():
    return portal_app(AvailabilityBackend())


def test_a_person_saves_their_week_and_then_picks_a_common_slot_on_the_pairing_page(portal):
    app, backend, oidc = portal
    backend.pairing["status"] = "active"
    mentor, _ = sign_in(app, oidc, MENTOR)
    page = mentor.get("/availability").get_data(as_text=True)
    assert "My availability" in page and "Times are in Europe/Berlin." in page and "(from your HR record)" in page
    pairing = mentor.get(f"/pairings/{PAIRING}").get_data(as_text=True)
    assert "Set your weekly availability" in pairing and 'name="slot"' not in pairing

    token = csrf(mentor, "/availability")
    assert mentor.post("/availability", data={"mon.0.start": "09:00"}).status_code == 400  # no CSRF token
    refused = mentor.post("/availability", data={"csrf_token": token, "mon.0.start": "12:00", "mon.0.end": "09:00"})
    assert refused.status_code == 422
    assert 'value="12:00"' in refused.get_data(as_text=True)  # shown again as typed
    saved = mentor.post("/availability", data={"csrf_token": token, "mon.0.start": "15:00", "mon.0.end": "18:00",
                                               "mon.1.start": "20:00", "mon.1.end": "00:00",
                                               "fri.0.start": "08:00", "fri.0.end": "10:00"})
    assert saved.status_code == 302
    assert backend.weeks[MENTOR]["weekly"] == [{"day": "mon", "start": "15:00", "end": "18:00"},
                                               {"day": "mon", "start": "20:00", "end": "24:00"},
                                               {"day": "fri", "start": "08:00", "end": "10:00"}]
    again = mentor.get("/availability").get_data(as_text=True)
    assert 'value="15:00"' in again and 'value="20:00"' in again

    backend.weeks[MENTEE] = {"weekly": [{"day": "mon", "start": "09:00", "end": "12:00"}]}
    pairing = mentor.get(f"/pairings/{PAIRING}").get_data(as_text=True)
    assert f'value="{SLOT}"' in pairing and "Mon 14 Jan 15:00" in pairing  # the mentor's own clock
    scheduled = mentor.post(f"/pairings/{PAIRING}/meetings",
                            data={"csrf_token": token, "slot": SLOT, "starts_at": "", "duration_minutes": "45"})
    assert scheduled.status_code == 302
    body = [c for c in backend.calls if c[2] == f"/v1/pairings/{PAIRING}/meetings" and c[0] == "POST"][-1][3]
    assert body["starts_at"] == SLOT and body["duration_minutes"] == 45


@pytest.mark.parametrize("language", ["en", "de"])
def test_the_availability_page_renders_in_both_languages(portal, language):
    app, _, oidc = portal
    client, _ = sign_in(app, oidc, MENTEE)
    page = client.get("/availability", headers={"Accept-Language": language}).get_data(as_text=True)
    assert ("Meine Verfügbarkeit" in page) == (language == "de") and ("Montag" in page) == (language == "de")


def test_a_weekly_series_is_scheduled_from_the_form_and_cancelled_from_a_meeting_page(portal):
    app, backend, oidc = portal
    backend.pairing["status"] = "active"
    mentor, _ = sign_in(app, oidc, MENTOR)
    token = csrf(mentor, f"/pairings/{PAIRING}")
    scheduled = mentor.post(f"/pairings/{PAIRING}/meetings", data={
        "csrf_token": token, "starts_at": "2030-01-14T10:00", "duration_minutes": "45", "repeat_weeks": "2",
        "count": "5"})
    assert scheduled.headers["Location"] == f"/meetings/{MEETING}"
    body = [c for c in backend.calls if c[2] == f"/v1/pairings/{PAIRING}/series"][-1][3]
    assert (body["interval_weeks"], body["count"], body["starts_at"]) == (2, 5, "2030-01-14T09:00:00Z")
    page = mentor.get(f"/meetings/{MEETING}").get_data(as_text=True)
    assert "/series/series-1.ics" in page and "Cancel every meeting of the series still to come" in page
    cancelled = mentor.post("/series/series-1/cancel", data={"csrf_token": token, "reason": "conflict"})
    assert cancelled.headers["Location"] == f"/pairings/{PAIRING}" and backend.meeting["status"] == "cancelled"
