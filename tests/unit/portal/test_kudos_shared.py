"""Issue 15 in the portal: the kudos form offers sharing with the mentor's manager to the mentee
only, and the manager's page lists the thank-yous shared with them, in English and German."""
from __future__ import annotations

import pytest

from services.portal.backend import ApiError
from tests.unit.portal.fakes import ADMIN, MENTEE, MENTOR, PAIRING, FakeBackend
from tests.unit.portal.test_pages import csrf, portal_app, sign_in

SHARE = "Also share this thank-you with"


@pytest.fixture
def portal():
    return portal_app(FakeBackend())


def _kudos_posts(backend):
    return [c[3] for c in backend.calls if c[0] == "POST" and c[2] == f"/v1/pairings/{PAIRING}/kudos"]


def test_only_the_mentee_is_offered_to_share_and_only_the_mentees_choice_is_sent(portal):
    app, backend, oidc = portal
    mentee, _ = sign_in(app, oidc, MENTEE)
    form = mentee.get(f"/pairings/{PAIRING}/kudos").get_data(as_text=True)
    assert f"{SHARE} Zoe Sato&#39;s manager" in form and 'name="share_with_manager"' in form
    german = mentee.get(f"/pairings/{PAIRING}/kudos", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Dieses Dankeschön auch mit der Führungskraft von Zoe Sato teilen" in german
    sent = mentee.post(f"/pairings/{PAIRING}/kudos",
                       data={"csrf_token": csrf(mentee), "note": "Thank you!", "share_with_manager": "on"})
    assert sent.status_code == 302
    mentor, _ = sign_in(app, oidc, MENTOR)
    assert SHARE not in mentor.get(f"/pairings/{PAIRING}/kudos").get_data(as_text=True)
    mentor.post(f"/pairings/{PAIRING}/kudos",
                data={"csrf_token": csrf(mentor), "note": "Thanks back", "share_with_manager": "on"})
    assert _kudos_posts(backend) == [{"note": "Thank you!", "share_with_manager": True}, {"note": "Thanks back"}]


def test_a_mentor_without_a_manager_is_explained_and_the_note_is_kept_to_send_unshared(portal, monkeypatch):
    app, backend, oidc = portal
    post = backend._post

    def refuse_sharing(service, path, body, params, claims):
        if path.endswith("/kudos") and body.get("share_with_manager"):
            raise ApiError(422, "Unprocessable Entity", "no manager", code="no_manager")
        return post(service, path, body, params, claims)

    monkeypatch.setattr(backend, "_post", refuse_sharing)
    mentee, _ = sign_in(app, oidc, MENTEE)
    page = mentee.post(f"/pairings/{PAIRING}/kudos", data={"csrf_token": csrf(mentee), "note": "Thank you!",
                                                          "share_with_manager": "on"})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and "no manager on record" in text and ">Thank you!</textarea>" in text


@pytest.mark.parametrize("language, heading, line", [
    ("en", "Thank-yous shared with you", "Uma Lopez thanked Zoe Sato"),
    ("de", "Mit Ihnen geteilte Dankeschöns", "Uma Lopez dankt Zoe Sato"),
])
def test_the_manager_reads_the_thank_yous_shared_with_them(portal, language, heading, line):
    app, backend, oidc = portal
    manager, _ = sign_in(app, oidc, ADMIN)
    page = manager.get("/kudos/shared/k2", headers={"Accept-Language": language})
    text = page.get_data(as_text=True)
    assert page.status_code == 200 and heading in text and line in text and "She opened doors for me" in text
    assert 'class="card focus" id="kudos-k2"' in text  # the one the notification named
    assert ("GET", "feedback", "/v1/me/kudos/shared", None) in backend.calls


def test_a_reviews_progress_per_goal_goes_into_the_review_answer_too(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc, MENTEE)
    client.post("/reviews/r1", data={"csrf_token": csrf(client), "goal_progress": "4", "satisfaction": "5",
                                     "progress_g1": "70", "progress_g2": ""})
    [body] = [c[3] for c in backend.calls if c[0] == "POST" and c[2] == "/v1/reviews/r1/answers"]
    assert body == {"goal_progress": 4, "satisfaction": 5, "goals": [{"goal_id": "g1", "progress": 70}]}


def test_an_answered_review_shows_the_progress_per_goal_it_recorded(portal, monkeypatch):
    app, backend, oidc = portal
    get = backend._get

    def answered(service, path, body, params, claims):
        found = get(service, path, body, params, claims)
        if path == "/v1/me/reviews":
            found = {**found, "items": [{**found["items"][0], "submitted": True,
                                         "goals": [{"goal_id": "g9", "progress": 55}]}]}
        return found

    monkeypatch.setattr(backend, "_get", answered)
    client, _ = sign_in(app, oidc, MENTEE)
    page = client.get("/reviews/r1").get_data(as_text=True)
    assert "You have answered this review." in page and "g9: 55 %" in page


def test_a_manager_reaches_the_thank_yous_shared_with_them_from_the_navigation(portal):
    app, _, oidc = portal
    manager, _ = sign_in(app, oidc, ADMIN)
    home = manager.get("/").get_data(as_text=True)
    assert 'href="/kudos">Thank-yous</a>' in home
    received = manager.get("/kudos").get_data(as_text=True)
    assert 'href="/kudos/shared">Thank-yous shared with you as a mentor&#39;s manager</a>' in received
    assert "Uma Lopez thanked Zoe Sato" in manager.get("/kudos/shared").get_data(as_text=True)
