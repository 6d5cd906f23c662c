"""Mentee choice in the portal (issue 15): a mentee chooses a mentor and asks them; the mentor reads
the request (message, goals summary) on the proposal."""
from __future__ import annotations

from tests.unit.portal.fakes import COHORT, MENTOR, PAIRING
from tests.unit.portal.test_pages import csrf, portal, sign_in  # noqa: F401 - the fixture

__all__ = ["portal"]


def test_a_mentee_chooses_a_mentor_and_the_mentor_reads_the_request(portal):  # noqa: F811
    app, backend, oidc = portal
    backend.cohort.update(status="matching", matching_style="both")
    mentee, _ = sign_in(app, oidc)
    assert f"/cohorts/{COHORT}/choose" in mentee.get("/").get_data(as_text=True)
    page = mentee.get(f"/cohorts/{COHORT}/choose").get_data(as_text=True)
    assert "Choose a mentor" in page and "Zoe Sato" in page and "goals mention: feedback" in page
    assert "Seats left: 2" in page and "82%" in page and 'name="mentor_id" value="' + MENTOR in page
    assert "Mentor:in wählen" in mentee.get(f"/cohorts/{COHORT}/choose",
                                             headers={"Accept-Language": "de"}).get_data(as_text=True)

    refused = mentee.post(f"/cohorts/{COHORT}/requests", data={"mentor_id": MENTOR, "message": "Hi"})
    assert refused.status_code == 400  # no CSRF token, no request
    asked = mentee.post(f"/cohorts/{COHORT}/requests",
                        data={"csrf_token": csrf(mentee), "mentor_id": MENTOR, "message": "  Please help me <b>  "})
    assert asked.status_code == 302 and asked.headers["Location"] == f"/pairings/{PAIRING}"
    sent = [call for call in backend.calls if call[2] == f"/v1/cohorts/{COHORT}/requests"]
    assert [call[3] for call in sent] == [{"mentor_id": MENTOR, "message": "Please help me <b>"}]

    mentor, _ = sign_in(app, oidc, MENTOR)
    proposal = mentor.get(f"/pairings/{PAIRING}").get_data(as_text=True)
    assert "Please help me &lt;b&gt;" in proposal and "Grow in feedback" in proposal and "Accept this match" in proposal


def test_an_admin_run_cohort_says_so_instead_of_suggestions(portal):  # noqa: F811
    app, backend, oidc = portal
    mentee, _ = sign_in(app, oidc)
    assert f"/cohorts/{COHORT}/choose" not in mentee.get("/").get_data(as_text=True)
    page = mentee.get(f"/cohorts/{COHORT}/choose").get_data(as_text=True)
    assert "admins match mentors and mentees" in page and "Ask this mentor" not in page
