"""The pairing page's agreement (edit, confirm) and goals' milestones and action items (tick done, add,
mark achieved), against a fake sessions API: what the person sees, what the portal sends, and how a
conflicting edit is explained."""
from __future__ import annotations

import pytest

from services.portal.backend import ApiError
from tests.unit.portal.fakes import MENTEE, MENTOR, PAIRING, FakeBackend
from tests.unit.portal.test_pages import csrf, portal_app, sign_in

AGREEMENT = f"/v1/pairings/{PAIRING}/agreement"
GOALS = f"/v1/pairings/{PAIRING}/goals"


class AgreementBackend(FakeBackend):
    """The fake services, with an active pairing, an agreement and a goal with items."""

    def __init__(self):
        super().__init__()
        self.pairing.update(status="active", mentor_accepted=True, mentee_accepted=True)
        self.agreement = {"pairing_id": PAIRING, "revision": 2, "cadence_days": 21, "channel": "video",
                          "confidentiality": "between_us", "revised_by": MENTOR, "revised_at": "2030-01-02T00:00:00Z",
                          "expectations": {MENTOR: ["Bring one question each time"],
                                           MENTEE: ["Honest feedback on my talks"]},
                          "confirmed_by": [MENTOR], "confirmed": False,
                          "in_force": {"revision": 1, "cadence_days": 28, "channel": "video",
                                       "confidentiality": "between_us", "confirmed_at": "2030-01-01T00:00:00Z"}}
        self.goals = {"pairing_id": PAIRING, "revision": 3, "revised_by": MENTEE, "revised_at": None, "goals": [{
            "goal_id": "g1", "title": "Give a conference talk", "status": "open", "target_date": None, "progress": 40,
            "milestones": [{"item_id": "i1", "text": "Submit the abstract", "owner_id": MENTEE, "due_on": "2030-03-01",
                            "done": False}],
            "action_items": [{"item_id": "i2", "text": "Introduce me to the committee", "owner_id": MENTOR,
                              "due_on": None, "done": True}]}]}
        self.stale_agreement = False

    def _get(self, service, path, body, params, claims):
        if path == AGREEMENT:
            return self.agreement
        return super()._get(service, path, body, params, claims)

    def _put(self, service, path, body, params, claims):
        if path == AGREEMENT:
            if self.stale_agreement:
                raise ApiError(409, "Conflict", "stale", code="stale_revision", extra={"current_revision": 3})
            self.agreement = {**self.agreement, "revision": self.agreement["revision"] + 1, "confirmed_by": []}
            return self.agreement
        return super()._put(service, path, body, params, claims)

    def _post(self, service, path, body, params, claims):
        if path == f"{AGREEMENT}/confirm":
            if body.get("revision") != self.agreement["revision"]:
                raise ApiError(409, "Conflict", "stale", code="stale_revision")
            self.agreement["confirmed_by"].append(claims["sub"])
            self.agreement["confirmed"] = len(self.agreement["confirmed_by"]) == 2
            return self.agreement
        return super()._post(service, path, body, params, claims)


@pytest.fixture
def portal():
    return portal_app(AgreementBackend())


def _sent(backend, method, path):
    return [call[3] for call in backend.calls if call[0] == method and call[2] == path]


def test_the_pairing_page_shows_the_agreement_and_the_goals_items(portal):
    app, _, oidc = portal
    client, _ = sign_in(app, oidc)
    page = client.get(f"/pairings/{PAIRING}").get_data(as_text=True)
    assert "Our agreement" in page and "waiting for confirmation" in page and "every 21 days" in page
    assert "Honest feedback on my talks" in page and "Bring one question each time" in page
    assert "Confirm this agreement" in page  # the mentor confirmed; the mentee has not
    assert "revision 1 stays in force (every 28 days)" in page
    assert "meet every 28 days" in page  # the agreed cadence, not the cohort's 14
    assert 'textarea id="agreement-expectations" name="expectations" rows="3">Honest feedback on my talks<' in page
    assert "Submit the abstract" in page and 'id="done-i1" name="done" >' in page
    assert 'id="done-i2" name="done" checked' in page and "Mark as achieved" in page
    german = client.get(f"/pairings/{PAIRING}", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Unsere Vereinbarung" in german and "Diese Vereinbarung bestätigen" in german and "Meilensteine" in german


def test_the_mentor_who_confirmed_sees_whom_they_wait_for(portal):
    app, _, oidc = portal
    client, _ = sign_in(app, oidc, MENTOR)
    page = client.get(f"/pairings/{PAIRING}").get_data(as_text=True)
    assert "Confirm this agreement" not in page and "Waiting for Uma Lopez to confirm" in page


def test_saving_the_agreement_sends_the_terms_and_my_own_expectations(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc)
    form = {"expected_revision": "2", "cadence_days": "14", "channel": "in_person", "confidentiality": "open",
            "expectations": "Honest feedback on my talks\n\n  Meet at the office  \n"}
    assert client.post(f"/pairings/{PAIRING}/agreement", data=form).status_code == 400  # no CSRF token
    saved = client.post(f"/pairings/{PAIRING}/agreement", data={**form, "csrf_token": csrf(client)})
    assert saved.status_code == 302 and saved.headers["Location"].endswith(f"/pairings/{PAIRING}#h-agreement")
    assert _sent(backend, "PUT", AGREEMENT) == [{
        "expected_revision": 2, "cadence_days": 14, "channel": "in_person", "confidentiality": "open",
        "expectations": ["Honest feedback on my talks", "Meet at the office"]}]
    assert "It is in force once both of you have confirmed it" in client.get(f"/pairings/{PAIRING}").get_data(as_text=True)


def test_a_stale_agreement_edit_is_explained(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc)
    backend.stale_agreement = True
    client.post(f"/pairings/{PAIRING}/agreement", data={
        "csrf_token": csrf(client), "expected_revision": "1", "cadence_days": "14", "channel": "video",
        "confidentiality": "between_us", "expectations": ""})
    page = client.get(f"/pairings/{PAIRING}").get_data(as_text=True)
    assert "Your partner changed the agreement while you were editing" in page


def test_confirming_names_the_revision_read_and_both_confirming_puts_it_in_force(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc)
    client.post(f"/pairings/{PAIRING}/agreement/confirm", data={"csrf_token": csrf(client), "revision": "1"})
    assert "The agreement changed since you read it" in client.get(f"/pairings/{PAIRING}").get_data(as_text=True)
    client.post(f"/pairings/{PAIRING}/agreement/confirm", data={"csrf_token": csrf(client), "revision": "2"})
    assert _sent(backend, "POST", f"{AGREEMENT}/confirm") == [{"revision": 1}, {"revision": 2}]
    assert "You both confirmed: the agreement is in force." in client.get(f"/pairings/{PAIRING}").get_data(as_text=True)


def test_ticking_an_item_done_revises_the_goals_keeping_everything_else(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc)
    client.post(f"/pairings/{PAIRING}/goals/g1/items/i1", data={"csrf_token": csrf(client), "expected_revision": "3",
                                                                 "done": "on"})
    [body] = _sent(backend, "PUT", GOALS)
    assert body["expected_revision"] == 3
    [goal] = body["goals"]
    assert goal["title"] == "Give a conference talk" and goal["progress"] == 40
    assert goal["milestones"][0] == {"item_id": "i1", "text": "Submit the abstract", "owner_id": MENTEE,
                                     "due_on": "2030-03-01", "done": True}
    assert goal["action_items"][0]["done"] is True  # untouched


def test_an_item_ticked_on_a_stale_page_is_explained_and_nothing_is_sent(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc)
    client.post(f"/pairings/{PAIRING}/goals/g1/items/i2", data={"csrf_token": csrf(client), "expected_revision": "2"})
    assert _sent(backend, "PUT", GOALS) == []
    assert "Someone changed the goals while you were editing." in client.get(f"/pairings/{PAIRING}").get_data(as_text=True)


def test_adding_an_action_item_and_marking_a_goal_achieved(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc)
    client.post(f"/pairings/{PAIRING}/goals/g1/items", data={
        "csrf_token": csrf(client), "expected_revision": "3", "kind": "action_items", "text": "  Rehearse with the team ",
        "owner_id": MENTOR, "due_on": "2030-02-15"})
    [body] = _sent(backend, "PUT", GOALS)
    assert body["goals"][0]["action_items"][-1] == {"text": "Rehearse with the team", "owner_id": MENTOR,
                                                    "due_on": "2030-02-15", "done": False}
    assert len(body["goals"][0]["milestones"]) == 1
    achieved = client.post(f"/pairings/{PAIRING}/goals/g1/achieve", data={"csrf_token": csrf(client)})
    assert achieved.headers["Location"].endswith("#goal-g1")
    assert _sent(backend, "POST", f"{GOALS}/g1/achieve") == [{}]


def test_a_progress_review_shows_the_goals_and_records_progress_per_goal(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc)
    page = client.get("/reviews/r1").get_data(as_text=True)
    assert "Give a conference talk" in page and "1 of 2 steps done" in page
    assert 'name="progress_g1" type="number" min="0" max="100" value="40"' in page
    answer = {"csrf_token": csrf(client), "goal_progress": "4", "satisfaction": "5", "pairing_id": PAIRING,
              "goals_revision": "3"}
    client.post("/reviews/r1", data={**answer, "progress_g1": "40"})  # unchanged: no goals revision
    assert _sent(backend, "PUT", GOALS) == []
    client.post("/reviews/r1", data={**answer, "progress_g1": "70"})
    assert [c[2] for c in backend.calls if c[0] == "POST" and c[2] == "/v1/reviews/r1/answers"] == [
        "/v1/reviews/r1/answers"] * 2
    [body] = _sent(backend, "PUT", GOALS)
    assert body["expected_revision"] == 3 and body["goals"][0]["progress"] == 70
    assert body["goals"][0]["milestones"][0]["text"] == "Submit the abstract"  # the rest of the goal unchanged
