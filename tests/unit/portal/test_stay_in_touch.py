"""A completed pairing's page (issue 15): "Completed", each party's answer to staying in touch, the
form that sends it, and scheduling only once both said yes."""
from __future__ import annotations

import pytest

from tests.unit.portal.fakes import MENTOR, PAIRING, FakeBackend
from tests.unit.portal.test_pages import csrf, portal_app, sign_in

STAY = f"/v1/pairings/{PAIRING}/stay-in-touch"


class CompletedBackend(FakeBackend):
    def __init__(self):
        super().__init__()
        self.pairing.update(status="completed", mentor_accepted=True, mentee_accepted=True,
                            completed_at="2030-06-30T17:00:00Z", mentor_stays_in_touch=True,
                            mentee_stays_in_touch=None, staying_in_touch=False)

    def _post(self, service, path, body, params, claims):
        if path == STAY:
            role = "mentor" if claims["sub"] == MENTOR else "mentee"
            self.pairing[f"{role}_stays_in_touch"] = body["stay_in_touch"]
            self.pairing["staying_in_touch"] = bool(self.pairing["mentor_stays_in_touch"]
                                                    and self.pairing["mentee_stays_in_touch"])
            return self.pairing
        return super()._post(service, path, body, params, claims)


@pytest.fixture
def portal():
    return portal_app(CompletedBackend())


def test_the_mentee_sees_completed_the_mentors_yes_and_saying_yes_too_opens_scheduling_again(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc)  # the mentee
    page = client.get(f"/pairings/{PAIRING}").get_data(as_text=True)
    assert ">completed<" in page and "Stay in touch?" in page
    assert "would like to stay in touch." in page  # the mentor's answer
    assert "Your answer:" not in page and 'id="schedule"' not in page  # not answered; no meetings yet
    german = client.get(f"/pairings/{PAIRING}", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert ">abgeschlossen<" in german and "In Kontakt bleiben?" in german and "möchte in Kontakt bleiben." in german

    answer = client.post(f"/pairings/{PAIRING}/stay-in-touch",
                         data={"csrf_token": csrf(client, f"/pairings/{PAIRING}"), "stay_in_touch": "yes"})
    assert answer.status_code == 302
    assert [call[3] for call in backend.calls if call[0] == "POST" and call[2] == STAY] == [{"stay_in_touch": True}]
    page = client.get(f"/pairings/{PAIRING}").get_data(as_text=True)
    assert "You both want to stay in touch: keep planning meetings." in page
    assert "Your answer: yes." in page and 'id="schedule"' in page


def test_the_form_needs_its_csrf_token(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc)
    refused = client.post(f"/pairings/{PAIRING}/stay-in-touch", data={"stay_in_touch": "yes"})
    assert refused.status_code == 400
    assert not [call for call in backend.calls if call[0] == "POST" and call[2] == STAY]
