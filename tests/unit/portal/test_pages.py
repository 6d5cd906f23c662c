"""Every portal page renders from the services' answers (a fake API client), in English and
German; sign-in, CSRF, the session cookie, CSV import and goal conflicts behave."""
from __future__ import annotations

import re

import pytest

from shared.config import Settings
from services.portal.api import create_app
from services.portal.sessions import COOKIE, MemoryStore
from tests.unit.portal.fakes import ADMIN, COHORT, MEETING, MENTEE, MENTOR, PAIRING, PROGRAM, FakeBackend, FakeOidc


def portal_app(backend):
    """The portal on a fake API client (`backend`), signing in at a fake IdP: (app, backend, oidc)."""
    oidc = FakeOidc()
    settings = Settings(service_name="portal", environment="development", jwt_secret="x",
                        oidc_issuer="https://idp.example/realms/mentoring")
    app = create_app(settings, backend=backend, oidc=oidc, store=MemoryStore())
    app.testing = True
    return app, backend, oidc


@pytest.fixture
def portal():
    return portal_app(FakeBackend())


def sign_in(app, oidc, subject=MENTEE, roles=("participant",), next_path="/"):
    client = app.test_client()
    oidc.next_user = (subject, list(roles))
    response = client.get(next_path)
    if response.status_code == 302 and "/login" in response.headers["Location"]:
        client.get(response.headers["Location"])
        response = client.get("/auth/callback?code=c&state=s")
    return client, response


def csrf(client, path="/"):
    page = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)


def test_a_signed_out_visitor_is_sent_to_sign_in_and_lands_on_the_page_the_link_named(portal):
    app, backend, oidc = portal
    client = app.test_client()
    first = client.get(f"/pairings/{PAIRING}?action=accept")
    assert first.status_code == 302 and first.headers["Location"].startswith("/login")
    to_idp = client.get(first.headers["Location"])
    assert to_idp.headers["Location"].startswith("https://idp.example/auth")
    back = client.get("/auth/callback?code=c&state=s")
    assert back.headers["Location"] == f"/pairings/{PAIRING}?action=accept"
    cookie = back.headers["Set-Cookie"]
    assert f"{COOKIE}=" in cookie and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    page = client.get(back.headers["Location"]).get_data(as_text=True)
    assert "Zoe Sato" in page and "shares 2 topics" in page and "Accept this match" in page


def test_next_never_leaves_the_site(portal):
    app, _, oidc = portal
    client = app.test_client()
    client.get("/login?next=//evil.example/x")
    assert client.get("/auth/callback?code=c").headers["Location"] == "/"


def test_the_session_cookie_is_secure_outside_development():
    settings = Settings(service_name="portal", environment="production", jwt_secret="x", oidc_issuer="https://i")
    app = create_app(settings, backend=FakeBackend(), oidc=FakeOidc(), store=MemoryStore())
    client = app.test_client()
    client.get("/login")
    assert "Secure" in client.get("/auth/callback?code=c").headers["Set-Cookie"]


def test_every_form_post_needs_the_csrf_token(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc)
    refused = client.post(f"/pairings/{PAIRING}/accept", data={})
    assert refused.status_code == 400
    assert not any(call[2].endswith("/accept") for call in backend.calls)
    accepted = client.post(f"/pairings/{PAIRING}/accept", data={"csrf_token": csrf(client)})
    assert accepted.status_code == 302
    assert backend.pairing["mentee_accepted"] is True


def test_the_journey_pages_render_for_both_parties(portal):
    app, backend, oidc = portal
    mentee, _ = sign_in(app, oidc)
    mentee.post(f"/pairings/{PAIRING}/accept", data={"csrf_token": csrf(mentee)})
    mentor, _ = sign_in(app, oidc, MENTOR)
    mentor.post(f"/pairings/{PAIRING}/accept", data={"csrf_token": csrf(mentor)})
    assert backend.pairing["status"] == "active"
    page = mentor.get(f"/pairings/{PAIRING}").get_data(as_text=True)
    assert "Schedule a meeting" in page and "Uma Lopez" in page
    token = csrf(mentor)
    scheduled = mentor.post(f"/pairings/{PAIRING}/meetings",
                            data={"csrf_token": token, "starts_at": "2030-01-10T10:00", "duration_minutes": "45"})
    assert scheduled.headers["Location"] == f"/meetings/{MEETING}"
    body = [c for c in backend.calls if c[2] == f"/v1/pairings/{PAIRING}/meetings" and c[0] == "POST"][0][3]
    assert body["starts_at"] == "2030-01-10T09:00:00Z"  # 10:00 in Berlin, the person's zone
    assert "Mark as held" in mentor.get(f"/meetings/{MEETING}").get_data(as_text=True)
    mentor.post(f"/meetings/{MEETING}/complete", data={"csrf_token": token})
    assert backend.meeting["status"] == "held"
    assert mentor.get(f"/pairings/{PAIRING}/feedback?meeting_id={MEETING}").status_code == 200
    sent = mentor.post(f"/pairings/{PAIRING}/feedback",
                       data={"csrf_token": token, "rating": "5", "good_fit": "yes", "meeting_id": MEETING})
    assert sent.status_code == 302
    mentor.post(f"/pairings/{PAIRING}/kudos", data={"csrf_token": token, "note": "Thank you!"})
    posted = {(c[0], c[2]) for c in backend.calls}
    assert ("POST", f"/v1/pairings/{PAIRING}/feedback") in posted and ("POST", f"/v1/pairings/{PAIRING}/kudos") in posted
    ics = mentor.get(f"/meetings/{MEETING}.ics")
    assert ics.mimetype == "text/calendar" and b"VCALENDAR" in ics.data


@pytest.mark.parametrize("path", [
    "/", f"/pairings/{PAIRING}", f"/pairings/{PAIRING}?action=decline", f"/meetings/{MEETING}",
    f"/pairings/{PAIRING}/goals", f"/pairings/{PAIRING}/feedback", f"/pairings/{PAIRING}/kudos", "/kudos/k1",
    "/kudos/shared",
    "/reviews/r1", "/enrol", "/inbox", "/preferences",
    "/console/", f"/console/programs/{PROGRAM}", f"/console/cohorts/{COHORT}", f"/console/cohorts/{COHORT}/enrolments",
    f"/console/cohorts/{COHORT}/matching", "/console/runs/run-1", f"/console/cohorts/{COHORT}/health",
    f"/console/cohorts/{COHORT}/chat", "/console/deliveries?event_id=ev-1", f"/console/programs/{PROGRAM}/outcomes",
])
@pytest.mark.parametrize("language", ["en", "de"])
def test_every_page_renders_in_english_and_german(portal, path, language):
    app, _, oidc = portal
    client, _ = sign_in(app, oidc, ADMIN, ("admin", "participant"))
    response = client.get(path, headers={"Accept-Language": language})
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    page = response.get_data(as_text=True)
    assert f'<html lang="{language}">' in page
    assert ("Abmelden" in page) == (language == "de")


def test_the_console_is_for_admins_and_programme_managers_only(portal):
    app, _, oidc = portal
    client, home = sign_in(app, oidc)
    assert client.get("/console/").status_code == 403
    assert "/console/" not in client.get("/").get_data(as_text=True)  # no link to it either


def test_a_programme_manager_reaches_the_console_for_their_programme_only(portal):
    app, backend, oidc = portal
    backend.managers = {PROGRAM: [MENTOR], "prog-2": [MENTEE]}  # plain participant tokens, both
    manager, _ = sign_in(app, oidc, MENTOR)
    assert 'href="/console/"' in manager.get("/").get_data(as_text=True)
    listing = manager.get("/console/").get_data(as_text=True)
    assert "Programmes you manage" in listing and "Engineering mentoring" in listing
    assert "New programme" not in listing  # creating programmes is the platform admins'
    assert manager.get(f"/console/cohorts/{COHORT}/enrolments").status_code == 200
    assert manager.get(f"/console/programs/{PROGRAM}").status_code == 200

    elsewhere, _ = sign_in(app, oidc, MENTEE)
    listing = elsewhere.get("/console/").get_data(as_text=True)
    assert "Engineering mentoring" not in listing  # not theirs: not listed
    refused = elsewhere.get(f"/console/cohorts/{COHORT}/enrolments").get_data(as_text=True)  # the API refuses it
    assert "a manager of the programme" in refused and MENTOR not in refused


def test_a_stale_goal_revision_is_explained_and_the_edit_kept(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc)
    backend.goal_conflict = True
    response = client.post(f"/pairings/{PAIRING}/goals", data={
        "csrf_token": csrf(client), "expected_revision": "0", "rows": "0", "title_0": "Learn to negotiate",
        "status_0": "open"})
    page = response.get_data(as_text=True)
    assert response.status_code == 409
    assert "Someone changed the goals" in page and 'value="Learn to negotiate"' in page


def test_a_csv_with_bad_lines_imports_nothing_and_names_each_line(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc, ADMIN, ("admin", "participant"))
    text = ("employee_id,role,capacity,topics\n"
            f"{MENTOR},mentor,2,python;feedback\n"
            f"{MENTEE},mentee,3,python\n"
            ",mentee,,python\n"
            "E999999,mentee,,python\n")
    import io

    response = client.post(f"/console/cohorts/{COHORT}/enrolments", content_type="multipart/form-data", data={
        "csrf_token": csrf(client), "form": "csv", "file": (io.BytesIO(text.encode()), "people.csv")})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Line 3" in page and "Line 4" in page
    assert backend.enrolled == []


def test_a_csv_line_the_api_refuses_is_named_and_nothing_is_imported(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc, ADMIN, ("admin", "participant"))
    backend.refuse_enrolment_of = MENTEE
    text = f"employee_id,role,capacity,topics\n{MENTOR},mentor,2,python\n{MENTEE},mentee,,python\n"
    import io

    response = client.post(f"/console/cohorts/{COHORT}/enrolments", content_type="multipart/form-data", data={
        "csrf_token": csrf(client), "form": "csv", "file": (io.BytesIO(text.encode()), "people.csv")})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Line 3: employee_id: not an active employee" in page
    assert "Nothing was imported" in page
    assert backend.enrolled == [] and backend.withdrawn == []
    # the matching service's dry run saw the whole file; the import itself was never sent
    sent = [call[2] for call in backend.calls if call[0] == "POST" and "/enrollments" in call[2]]
    assert sent == [f"/v1/cohorts/{COHORT}/enrollments?dry_run=true"]


def test_a_good_csv_is_imported(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc, ADMIN, ("admin", "participant"))
    text = f"employee_id,role,capacity,topics,languages\n{MENTOR},mentor,2,python;feedback,en;de\n{MENTEE},mentee,,python,\n"
    import io

    response = client.post(f"/console/cohorts/{COHORT}/enrolments", content_type="multipart/form-data", data={
        "csrf_token": csrf(client), "form": "csv", "file": (io.BytesIO(text.encode()), "people.csv")})
    assert response.status_code == 302
    assert backend.enrolled[0] == {"employee_id": MENTOR, "role": "mentor", "topics": ["python", "feedback"],
                                   "capacity": 2, "preferences": {"languages": ["en", "de"]}}
    # one bulk request for the whole file, no call per line
    sent = [call for call in backend.calls if call[0] == "POST" and "/enrollments" in call[2]]
    assert [call[2] for call in sent] == [f"/v1/cohorts/{COHORT}/enrollments?dry_run=true",
                                          f"/v1/cohorts/{COHORT}/enrollments"]  # the dry run, then the import
    assert [body["employee_id"] for body in sent[1][3]] == [MENTOR, MENTEE] and sent[0][3] == sent[1][3]


def test_a_dry_run_is_polled_then_reviewed_then_published(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc, ADMIN, ("admin", "participant"))
    token = csrf(client)
    started = client.post(f"/console/cohorts/{COHORT}/matching", data={"csrf_token": token, "mode": "maximize_score"})
    assert started.headers["Location"].startswith("/console/runs/run-1")
    backend.run["status"] = "running"
    assert "in progress" in client.get("/console/runs/run-1").get_data(as_text=True)
    backend.run["status"] = "completed"
    review = client.get("/console/runs/run-1").get_data(as_text=True)
    assert "Publish the proposals" in review and "Zoe Sato" in review
    client.post(f"/console/cohorts/{COHORT}/matching", data={"csrf_token": token, "mode": "maximize_score",
                                                             "publish": "yes"})
    runs = [c[3] for c in backend.calls if c[2] == f"/v1/cohorts/{COHORT}/matching-runs"]
    assert runs == [{"mode": "maximize_score", "dry_run": True}, {"mode": "maximize_score", "dry_run": False}]


def test_the_older_synchronous_run_answer_is_reviewed_at_once(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc, ADMIN, ("admin", "participant"))
    backend._post_original = backend._post

    def synchronous(service, path, body, params, claims):
        if path.endswith("/matching-runs"):
            return {**backend.run, "run_id": None}
        return backend._post_original(service, path, body, params, claims)

    backend._post = synchronous
    page = client.post(f"/console/cohorts/{COHORT}/matching", data={"csrf_token": csrf(client)})
    assert page.status_code == 200 and "Publish the proposals" in page.get_data(as_text=True)


def test_health_draws_charts_and_links_the_pairs_at_risk(portal):
    app, _, oidc = portal
    client, _ = sign_in(app, oidc, ADMIN, ("admin", "participant"))
    page = client.get(f"/console/cohorts/{COHORT}/health").get_data(as_text=True)
    assert page.count("<svg") == 2 and f'href="/pairings/{PAIRING}"' in page


def test_sign_out_ends_the_idp_session(portal):
    app, _, oidc = portal
    client, _ = sign_in(app, oidc)
    response = client.post("/logout", data={"csrf_token": csrf(client)})
    assert response.headers["Location"].startswith("https://idp.example/logout") and oidc.logged_out
    assert client.get("/").status_code == 302


def test_every_email_link_path_is_a_portal_page(portal):
    """The paths services/notifications puts in messages (application/delivery.py build_message)."""
    app, _, oidc = portal
    client, _ = sign_in(app, oidc)
    for path in (f"/pairings/{PAIRING}", f"/pairings/{PAIRING}?action=accept", f"/pairings/{PAIRING}?action=decline",
                 f"/meetings/{MEETING}", f"/pairings/{PAIRING}/feedback?meeting_id={MEETING}",
                 f"/pairings/{PAIRING}/goals", "/reviews/r1", "/kudos/k1", "/kudos/shared/k2"):
        assert client.get(path).status_code == 200, path


def test_every_text_has_a_german_translation():
    from pathlib import Path

    from services.portal.i18n_de import GERMAN

    root = Path(__file__).resolve().parents[3] / "services" / "portal"
    pattern = re.compile(r'_\(\s*"((?:[^"\\]|\\.)*)"')
    texts = set()
    for path in list((root / "templates").rglob("*.html")) + list(root.rglob("*.py")):
        texts |= set(pattern.findall(path.read_text()))
    missing = sorted(t for t in texts if t not in GERMAN)
    assert not missing, missing


# -- programme management (issue 15) ---------------------------------------------------------------------

def _admin(portal):
    app, backend, oidc = portal
    client, _ = sign_in(app, oidc, ADMIN, ("admin", "participant"))
    return client, backend


def test_programmes_and_cohorts_are_listed_from_the_api(portal):
    client, backend = _admin(portal)
    assert "Engineering mentoring" in client.get("/console/").get_data(as_text=True)
    page = client.get(f"/console/programs/{PROGRAM}").get_data(as_text=True)
    assert "Engineering mentoring" in page and "Spring cohort" in page
    asked = {c[2] for c in backend.calls if c[0] == "GET"}
    assert {"/v1/programs", f"/v1/programs/{PROGRAM}/cohorts"} <= asked
    # a participant's enrol page offers the enrolling cohorts the API lists
    app, _, oidc = portal
    mentee, _ = sign_in(app, oidc)
    assert "Spring cohort" in mentee.get("/enrol").get_data(as_text=True)
    backend.cohort["status"] = "active"
    assert "Spring cohort" not in mentee.get("/enrol").get_data(as_text=True)


def test_cohort_settings_are_edited_through_patch_keeping_the_rules_not_shown(portal):
    client, backend = _admin(portal)
    page = client.get(f"/console/cohorts/{COHORT}").get_data(as_text=True)
    for field in ("edit-name", "edit-starts_on", "edit-ends_on", "edit-cadence", "edit-deadline", "edit-max",
                  "edit-style", "rule-gap", "rule-cross", "dup-name", "dup-starts_on", "dup-ends_on"):
        assert f'<label for="{field}"' in page, field
    saved = client.post(f"/console/cohorts/{COHORT}/settings", data={
        "csrf_token": csrf(client), "name": "Spring 2030", "starts_on": "2030-01-01", "ends_on": "2030-07-31",
        "meeting_cadence_days": "21", "answer_deadline_days": "5", "max_mentor_capacity": "3",
        "matching_style": "both", "min_level_gap": "2", "cross_department": "malus",
        "require_shared_language": "on", "require_active": "on"})
    assert saved.status_code == 302
    patch = [c[3] for c in backend.calls if c[0] == "PATCH"][-1]
    assert patch["name"] == "Spring 2030" and patch["meeting_cadence_days"] == 21 and patch["max_mentor_capacity"] == 3
    assert patch["matching_style"] == "both"
    assert patch["rules"]["min_level_gap"] == 2 and patch["rules"]["cross_department"] == "malus"
    assert patch["rules"]["require_shared_language"] is True and patch["rules"]["exclude_management_chain"] is False
    assert patch["rules"]["weights"]["topics"] == 0.7  # not on the form: kept as the cohort had it
    page = client.get(f"/console/cohorts/{COHORT}").get_data(as_text=True)
    assert "Spring 2030" in page and "Both: admins run it, mentees may choose" in page
    no_max = client.post(f"/console/cohorts/{COHORT}/settings", data={
        "csrf_token": csrf(client), "name": "Spring 2030", "starts_on": "2030-01-01", "ends_on": "2030-07-31",
        "meeting_cadence_days": "21", "answer_deadline_days": "5", "max_mentor_capacity": ""})
    assert no_max.status_code == 302 and [c[3] for c in backend.calls if c[0] == "PATCH"][-1]["max_mentor_capacity"] is None
    refused = client.post(f"/console/cohorts/{COHORT}/settings", follow_redirects=True, data={
        "csrf_token": csrf(client), "name": "Spring 2030", "starts_on": "2030-07-01", "ends_on": "2030-01-31",
        "meeting_cadence_days": "21", "answer_deadline_days": "5"})
    assert "ends_on: must be after starts_on" in refused.get_data(as_text=True)
    german = client.get(f"/console/cohorts/{COHORT}", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Einstellungen speichern" in german and "Kohorte duplizieren" in german


def test_the_next_intake_is_created_and_opened(portal):
    client, backend = _admin(portal)
    created = client.post(f"/console/cohorts/{COHORT}/duplicate", data={
        "csrf_token": csrf(client), "name": "Autumn cohort", "starts_on": "2030-09-01", "ends_on": "2031-02-28"})
    assert created.status_code == 302 and created.headers["Location"] == "/console/cohorts/coh-2"
    assert ("POST", "matching", f"/v1/cohorts/{COHORT}/duplicate",
            {"name": "Autumn cohort", "starts_on": "2030-09-01", "ends_on": "2031-02-28"}) in backend.calls


def test_the_enrolment_table_filters_pages_and_edits_capacity_and_pause(portal):
    client, backend = _admin(portal)
    backend.enrolment_page = 1
    first = client.get(f"/console/cohorts/{COHORT}/enrolments").get_data(as_text=True)
    assert MENTOR in first and MENTEE not in first  # one per page here
    cursor = re.search(r'href="([^"]*cursor=[^"]+)"', first).group(1).replace("&amp;", "&")
    second = client.get(cursor).get_data(as_text=True)
    assert MENTEE in second and MENTOR not in second and "First page" in second
    backend.enrolment_page = 50
    filtered = client.get(f"/console/cohorts/{COHORT}/enrolments?role=mentee&status=active&q=E008")
    page = filtered.get_data(as_text=True)
    assert MENTEE in page and MENTOR not in page
    listed = [c for c in backend.calls if c[2] == f"/v1/cohorts/{COHORT}/enrollments" and c[0] == "GET"]
    assert listed  # the filters go to the API (the fake applies them as the API does)
    for label in ('for="q"', 'for="role-filter"', 'for="status-filter"', 'for="cap-1"', 'for="pause-1"'):
        assert label in client.get(f"/console/cohorts/{COHORT}/enrolments").get_data(as_text=True), label

    saved = client.post(f"/console/cohorts/{COHORT}/enrolments/{MENTOR}", data={
        "csrf_token": csrf(client), "role": "mentor", "capacity": "1", "paused": "on", "back_role": "mentor"})
    assert saved.status_code == 302 and saved.headers["Location"].endswith("/enrolments?role=mentor")
    assert ("PATCH", "matching", f"/v1/cohorts/{COHORT}/enrollments/{MENTOR}",
            {"paused": True, "capacity": 1}) in backend.calls
    shown = client.get(f"/console/cohorts/{COHORT}/enrolments?role=mentor").get_data(as_text=True)
    assert 'id="pause-1" name="paused" checked' in shown and 'name="capacity" type="number" min="1" max="50" value="1"' in shown
    client.post(f"/console/cohorts/{COHORT}/enrolments/{MENTEE}", data={"csrf_token": csrf(client), "role": "mentee",
                                                                      "capacity": "4"})
    assert ("PATCH", "matching", f"/v1/cohorts/{COHORT}/enrollments/{MENTEE}", {"paused": False}) in backend.calls
    refused = client.post(f"/console/cohorts/{COHORT}/enrolments/{MENTOR}", follow_redirects=True, data={
        "csrf_token": csrf(client), "role": "mentor", "capacity": "9"})
    assert "capacity: at most 3" in refused.get_data(as_text=True)
    assert client.post(f"/console/cohorts/{COHORT}/enrolments/{MENTOR}", data={"role": "mentor",
                                                                              "capacity": "1"}).status_code == 400


def test_a_profile_an_admin_saw_is_never_shown_to_someone_the_api_hides_it_from(portal):
    import jwt
    from flask import g

    from services.portal.views.common import profile

    app, _backend, _oidc = portal
    stranger = "E009999"
    with app.test_request_context("/"):
        for subject, roles, sees_name in ((ADMIN, ["admin"], True), (stranger, ["participant"], False),
                                          (MENTOR, ["participant"], True)):
            g.token = jwt.encode({"sub": subject, "roles": roles}, "k" * 32, algorithm="HS256")
            g.user = {"employee_id": subject, "roles": roles}
            shown = profile(MENTEE)
            assert ("display_name" in shown) is sees_name, subject


def test_a_programmes_outcomes_show_mentees_against_their_comparison_and_hide_small_figures(portal):
    client, _ = _admin(portal)
    assert "/outcomes" in client.get(f"/console/programs/{PROGRAM}").get_data(as_text=True)
    page = client.get(f"/console/programs/{PROGRAM}/outcomes").get_data(as_text=True)
    assert "<strong>50 %</strong>" in page and "<strong>20 %</strong>" in page and "n = 80" in page
    assert "(25 %–75 %, n = 12)" in page and "+1 without comparable colleagues" in page
    assert page.count('<span class="muted">fewer than 5 people</span>') == 4  # the 12-month row: too few yet
    app, _, oidc = portal
    mentee, _ = sign_in(app, oidc)
    assert mentee.get(f"/console/programs/{PROGRAM}/outcomes").status_code == 403


def test_a_pairing_without_goals_gets_a_first_draft_from_the_goals_summary_saved_only_when_the_user_saves(portal):
    app, backend, oidc = portal
    backend.pairing["goals_summary"] = ("- Get better at public speaking\n- delegate more; Prepare for a team lead role. "
                                        "Public speaking!\n- Learn the budget process")
    client, _ = sign_in(app, oidc)
    page = client.get(f"/pairings/{PAIRING}/goals").get_data(as_text=True)
    assert "A first draft from the goals summary" in page
    titles = re.findall(r'id="title_\d+" name="title_\d+" value="([^"]*)"', page)
    assert titles == ["Get better at public speaking", "Delegate more", "Prepare for a team lead role", ""]
    assert backend.goals["revision"] == 0  # offered, not saved

    saved = client.post(f"/pairings/{PAIRING}/goals", data={
        "csrf_token": csrf(client), "expected_revision": "0", "rows": "3", "title_0": "Speak at the all-hands",
        "status_0": "open", "title_1": "", "status_1": "open", "title_2": "Prepare for a team lead role",
        "status_2": "open", "title_3": "", "status_3": "open"})
    assert saved.status_code == 302
    assert [g["title"] for g in backend.goals["goals"]] == ["Speak at the all-hands", "Prepare for a team lead role"]
    again = client.get(f"/pairings/{PAIRING}/goals").get_data(as_text=True)
    assert "A first draft" not in again  # goals exist now: the editor shows them, no draft


def test_no_draft_without_a_goals_summary():
    from services.portal.goal_draft import draft_goal_titles

    assert draft_goal_titles(None) == [] and draft_goal_titles("  ") == []
    assert draft_goal_titles("Lead a team of five, and hire two") == ["Lead a team of five, and hire two"]
    assert len(draft_goal_titles("x " * 300)[0]) <= 200
