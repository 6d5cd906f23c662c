"""A cohort's journey through the web app, in a real browser (issue 14).

An admin sets up a programme and a cohort, uploads the enrolments as CSV, runs a matching dry
run, reviews it and publishes it. A mentee follows the proposal email's link, signs in at the
IdP (Keycloak) and accepts; the mentor accepts from the home page; the mentor schedules a
meeting and marks it held; the mentee gives feedback and a thank-you; the admin sees the pair on
the cohort's health page. Every page is screenshotted into tests/artifacts/ and checked with
axe-core: no serious or critical violation anywhere.
"""
from __future__ import annotations

import csv
import io
import re
import time
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.browser.conftest import ADMIN, ARTIFACTS, CHROMIUM, CHROMIUM_FLAGS, PASSWORD, axe_script

pytestmark = pytest.mark.e2e


class Pages:
    """Screenshots and axe-core over every page the journey opens."""

    def __init__(self):
        self.script = axe_script()
        self.violations: dict[str, list] = {}
        self.shots: list[str] = []
        ARTIFACTS.mkdir(parents=True, exist_ok=True)

    def check(self, page, name: str) -> None:
        page.wait_for_load_state("load")
        page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        self.shots.append(name)
        page.add_script_tag(path=str(self.script))
        found = page.evaluate("async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
                              ".map(v => ({id: v.id, impact: v.impact, help: v.help, "
                              "nodes: v.nodes.slice(0, 3).map(n => n.target.join(' '))}))")
        bad = [v for v in found if v["impact"] in ("serious", "critical")]
        if bad:
            self.violations[name] = bad


def sign_in(page, employee_id: str) -> None:
    """Keycloak's login form (the IdP's page, not ours)."""
    page.wait_for_selector("#username", timeout=30000)
    page.fill("#username", employee_id)
    page.fill("#password", PASSWORD)
    page.click("#kc-login")


def submit(page, button_text: str) -> None:
    with page.expect_navigation():
        page.get_by_role("button", name=button_text).click()


def wait_for_text(page, text: str, timeout_s: float = 60, reload: bool = True) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in page.content():
        assert time.monotonic() < deadline, f"{text!r} never appeared on {page.url}"
        time.sleep(1)
        if reload:
            page.reload()


def until_accepted(page, fill, button_text: str, success: str, timeout_s: float = 60) -> None:
    """Fill and send a form until the page confirms it: the service behind it may learn of what
    the form refers to (an activated pairing, a held meeting) a moment later, over Kafka."""
    deadline = time.monotonic() + timeout_s
    back = page.url
    while True:
        fill()
        submit(page, button_text)
        if success in page.content():
            return
        assert time.monotonic() < deadline, f"{success!r} never confirmed on {page.url}:\n{page.content()[:3000]}"
        time.sleep(1)
        page.goto(back)


def enrolment_csv(lines: list[dict]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["employee_id", "role", "capacity", "topics", "languages", "same_timezone"])
    for line in lines:
        prefs = line.get("preferences") or {}
        writer.writerow([line["employee_id"], line["role"], line.get("capacity") or "", ";".join(line["topics"]),
                         ";".join(prefs.get("languages") or []), "yes" if prefs.get("same_timezone") else ""])
    return out.getvalue().encode()


def proposal_email(stack, timeout_s: float = 150):
    """The first proposal email to a mentee, and the mentee's employee id."""
    by_email = {p["email"]: eid for eid, p in stack.people.items()}
    mentees = {line["employee_id"] for line in stack.enrolments if line["role"] == "mentee"}
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for message in stack.smtp.messages():
            recipient = by_email.get(str(message["To"]).split("<")[-1].rstrip(">").strip())
            body = message.get_body(preferencelist=("plain",)).get_content()
            match = re.search(r"(http://\S+/pairings/\S+\?action=accept)", body)
            if recipient in mentees and match:
                return recipient, match.group(1)
        time.sleep(0.5)
    log = (stack.logs / "notifications-worker.log").read_text(errors="replace")[-3000:]
    raise AssertionError(f"no proposal email reached a mentee; got {[m['Subject'] for m in stack.smtp.messages()]}"
                         f"\nnotifications worker:\n{log}")


@pytest.mark.timeout(900)
def test_a_cohort_journey_in_the_browser(stack):
    from playwright.sync_api import sync_playwright

    pages = Pages()
    started = time.monotonic()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_FLAGS)
        try:
            _journey(browser, stack, pages)
        finally:
            browser.close()
    print(f"\nbrowser journey: {time.monotonic() - started:.0f} s, {len(pages.shots)} pages checked")
    assert not pages.violations, pages.violations


def _journey(browser, stack, pages: Pages) -> None:
    portal = stack.portal
    context = {"bypass_csp": True, "viewport": {"width": 1280, "height": 900}, "locale": "en-US"}

    # -- the admin: programme, cohort, CSV enrolment, dry run -> review -> publish ------------------
    admin = browser.new_context(**context).new_page()
    admin.goto(f"{portal}/console/")
    sign_in(admin, ADMIN)
    admin.wait_for_url(f"{portal}/console/")
    admin.fill("#name", "Engineering mentoring")
    admin.fill("#description", "Grow together across teams")
    submit(admin, "Create programme")
    today = datetime.now().date()
    admin.fill("#name", "Spring cohort")
    admin.fill("#starts_on", today.isoformat())
    admin.fill("#ends_on", (today + timedelta(days=180)).isoformat())
    pages.check(admin, "console-program")
    program_url = admin.url
    submit(admin, "Create cohort")
    cohort_url = admin.url
    pages.check(admin, "console-cohort")
    submit(admin, "Move to enrolling")
    admin.get_by_role("link", name="Enrolments").first.click()
    admin.set_input_files("#file", files=[{"name": "enrolments.csv", "mimeType": "text/csv",
                                           "buffer": enrolment_csv(stack.enrolments)}])
    submit(admin, "Upload")
    assert f"{len(stack.enrolments)} enrolments imported" in admin.content(), admin.content()[:3000]
    pages.check(admin, "console-enrolments")
    admin.goto(cohort_url)
    submit(admin, "Move to matching")
    admin.get_by_role("link", name="Matching").first.click()
    pages.check(admin, "console-matching")
    submit(admin, "Run a dry run")
    admin.wait_for_selector("text=Publish the proposals", timeout=90000)
    pages.check(admin, "console-dry-run-review")
    assert "Proposed pairs" in admin.content()
    submit(admin, "Publish the proposals")
    admin.wait_for_selector("text=The proposals are out", timeout=90000)
    pages.check(admin, "console-published")

    # -- the mentee follows the proposal email's link, signs in, accepts ---------------------------
    mentee_id, accept_url = proposal_email(stack)
    mentee = browser.new_context(**context).new_page()
    mentee.goto(accept_url)
    sign_in(mentee, mentee_id)
    mentee.wait_for_url(re.compile(r".*/pairings/[^/?]+\?action=accept$"))
    pairing_url = mentee.url.split("?")[0]
    pages.check(mentee, "participant-proposal")
    submit(mentee, "Accept this match")
    assert "You accepted" in mentee.content()

    # -- the mentor signs in at home, sees the proposal, accepts ----------------------------------

    mentor = browser.new_context(**context).new_page()
    mentor.goto(f"{portal}/")
    pairing_id = pairing_url.rsplit("/", 1)[1]
    mentor_id = _mentor_of(stack, pairing_id)
    sign_in(mentor, mentor_id)
    mentor.wait_for_url(f"{portal}/")
    wait_for_text(mentor, "Proposals to answer")
    pages.check(mentor, "participant-home-proposal")
    mentor.goto(pairing_url)
    submit(mentor, "Accept this match")
    wait_for_text(mentor, "Schedule a meeting", timeout_s=30)
    pages.check(mentor, "participant-pairing")

    # -- the mentor schedules a meeting and marks it held --------------------------------------------
    zone = ZoneInfo(stack.people[mentor_id].get("timezone") or "UTC")
    start = (datetime.now(zone) + timedelta(days=2)).replace(hour=10, minute=0, second=0, microsecond=0)

    def schedule():
        mentor.fill("#starts_at", start.strftime("%Y-%m-%dT%H:%M"))
        mentor.fill("#agenda", "Getting to know each other")

    until_accepted(mentor, schedule, "Schedule", "Meeting scheduled")
    pages.check(mentor, "participant-meeting")
    held = datetime.now(zone) - timedelta(minutes=50)
    mentor.fill("#held_at", held.strftime("%Y-%m-%dT%H:%M"))
    mentor.fill("#held-duration", "45")
    mentor.fill("#notes", "Talked about negotiation")
    submit(mentor, "Mark as held")
    assert "Marked as held" in mentor.content(), mentor.content()[:3000]
    pages.check(mentor, "participant-meeting-held")

    # -- the mentee gives feedback and a thank-you ------------------------------------------------
    mentee.goto(f"{portal}/")
    wait_for_text(mentee, "Give feedback on the meeting of", timeout_s=60)
    pages.check(mentee, "participant-home")
    mentee.get_by_role("link", name=re.compile("Give feedback on the meeting of")).first.click()
    mentee.wait_for_load_state("load")
    pages.check(mentee, "participant-feedback")

    def rate():
        mentee.check("input[name=rating][value='5']")
        mentee.check("input[name=good_fit][value=yes]")
        mentee.fill("#comment", "Very helpful first meeting")

    until_accepted(mentee, rate, "Send feedback", "Thank you for your feedback")
    until_accepted(mentee, lambda: mentee.fill("#note", "Thank you for your time and advice!"), "Send kudos",
                   "Your thank-you is on its way")
    mentee.goto(f"{pairing_url}/goals")
    mentee.fill("#title_0", "Negotiate my next project's scope")
    submit(mentee, "Save goals")
    assert "Goals saved" in mentee.content()
    pages.check(mentee, "participant-goals")
    for path, name in (("/inbox", "participant-inbox"), ("/preferences", "participant-preferences"),
                       ("/enrol", "participant-enrol"), ("/availability", "participant-availability")):
        assert mentee.goto(f"{portal}{path}").ok, path  # the page, not an error
        pages.check(mentee, name)
    mentor.goto(f"{portal}/kudos")
    wait_for_text(mentor, "Thank you for your time and advice!", timeout_s=60)
    pages.check(mentor, "participant-kudos")

    # -- the admin sees the pair on the health page -------------------------------------------------
    admin.goto(cohort_url + "/health")
    mentee_name = stack.people[mentee_id]["display_name"]
    wait_for_text(admin, mentee_name, timeout_s=60)
    assert admin.locator("svg.chart").count() == 2
    pages.check(admin, "console-health")
    for suffix, name in (("/chat", "console-chat"),):
        admin.goto(cohort_url + suffix)
        pages.check(admin, name)
    admin.goto(f"{portal}/console/")
    pages.check(admin, "console-programmes")
    admin.goto(f"{portal}/console/deliveries")
    pages.check(admin, "console-deliveries")
    assert admin.goto(f"{program_url}/outcomes").ok
    assert "Did the programme make a difference?" in admin.content()  # no cohort closed yet: no figures
    pages.check(admin, "console-outcomes")
    assert admin.goto(f"{portal}/console/privacy/").ok
    assert "Privacy: erase a person" in admin.content()
    pages.check(admin, "console-privacy")

    # -- a mentoring circle (issue 15): the mentor schedules for the circle, a member sees it ------
    circle_id, circle_mentor, members = _a_circle(stack, program_url.rstrip("/").rsplit("/", 1)[1])
    leader = browser.new_context(**context).new_page()
    leader.goto(f"{portal}/circles/{circle_id}")
    sign_in(leader, circle_mentor)
    leader.wait_for_url(f"{portal}/circles/{circle_id}")
    pages.check(leader, "participant-circle")
    circle_zone = ZoneInfo(stack.people[circle_mentor].get("timezone") or "UTC")
    circle_start = (datetime.now(circle_zone) + timedelta(days=3)).replace(hour=11, minute=0, second=0, microsecond=0)

    def schedule_for_the_circle():
        leader.fill("#starts_at", circle_start.strftime("%Y-%m-%dT%H:%M"))
        leader.fill("#agenda", "How we give each other feedback")

    until_accepted(leader, schedule_for_the_circle, "Schedule for every active member", "Circle meeting scheduled")
    pages.check(leader, "participant-circle-scheduled")
    member = browser.new_context(**context).new_page()
    member.goto(f"{portal}/circles/{circle_id}")
    sign_in(member, members[0])
    member.wait_for_url(f"{portal}/circles/{circle_id}")
    wait_for_text(member, "How we give each other feedback", timeout_s=60)
    pages.check(member, "participant-circle-member")

    # -- a mentee chooses a mentor (issue 15): suggestions with reasons, a request with a message ---
    choosing = _enrolled_cohort(stack, program_url.rstrip("/").rsplit("/", 1)[1], "Choose your mentor",
                                matching_style="mentee_choice")
    chooser_id = [line["employee_id"] for line in stack.enrolments if line["role"] == "mentee"][-1]
    chooser = browser.new_context(**context).new_page()
    chooser.goto(f"{portal}/cohorts/{choosing}/choose")
    sign_in(chooser, chooser_id)
    chooser.wait_for_url(f"{portal}/cohorts/{choosing}/choose")
    wait_for_text(chooser, "Ask this mentor", timeout_s=60)
    pages.check(chooser, "participant-choose")
    chooser.locator("textarea[name=message]").first.fill("I would like to learn how you plan a quarter")
    with chooser.expect_navigation():  # one form per suggestion: the best-ranked mentor's
        chooser.get_by_role("button", name="Ask this mentor").first.click()
    wait_for_text(chooser, "Your request is on its way", reload=False, timeout_s=30)
    assert "I would like to learn how you plan a quarter" in chooser.content()  # "what your mentor reads"
    pages.check(chooser, "participant-request-sent")

    # -- German, chosen from the browser's language ----------------------------------------------
    german = browser.new_context(**dict(context, locale="de-DE", extra_http_headers={"Accept-Language": "de"}))
    page = german.new_page()
    page.goto(f"{portal}/")
    sign_in(page, mentee_id)
    page.wait_for_url(f"{portal}/")
    assert "Was jetzt Ihre Aufmerksamkeit braucht" in page.content()
    pages.check(page, "participant-home-de")

    # -- a phone's width -------------------------------------------------------------------------
    phone = browser.new_context(**dict(context, viewport={"width": 390, "height": 844}))
    page = phone.new_page()
    page.goto(pairing_url)
    sign_in(page, mentee_id)
    page.wait_for_url(pairing_url)
    pages.check(page, "participant-pairing-phone")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the pairing page scrolls sideways on a phone ({width}px)"

    # -- sign out ends the IdP session too --------------------------------------------------------
    submit(page, "Sign out")
    page.wait_for_url(f"{portal}/signed-out")
    page.goto(f"{portal}/")
    page.wait_for_selector("#username", timeout=30000)  # asked to sign in again at the IdP


def _api(stack):
    """The matching API as a given person (an admin by default), for what the journey sets up
    outside the pages it tests."""
    import requests

    from shared.http.auth import mint_token

    def call(method: str, path: str, who: str = ADMIN, roles=("admin", "participant"), **body):
        token = mint_token(stack.settings["matching"].jwt_secret, who, list(roles))
        response = requests.request(method, f"{stack.apis['matching']}{path}", json=body or None, timeout=30,
                                    headers={"Authorization": f"Bearer {token}"})
        assert response.status_code < 300, (method, path, response.status_code, response.text)
        return response.json()

    return call


def _enrolled_cohort(stack, program_id: str, name: str, **settings) -> str:
    """Another cohort of the same people, enrolled and open for matching."""
    call = _api(stack)
    today = datetime.now().date()
    cohort_id = call("POST", f"/v1/programs/{program_id}/cohorts", name=name, starts_on=today.isoformat(),
                     ends_on=(today + timedelta(days=180)).isoformat(), **settings)["cohort_id"]
    call("POST", f"/v1/cohorts/{cohort_id}/status", status="enrolling")
    for line in stack.enrolments:
        call("POST", f"/v1/cohorts/{cohort_id}/enrollments", **{k: v for k, v in line.items() if k != "cohort_id"})
    call("POST", f"/v1/cohorts/{cohort_id}/status", status="matching")
    return cohort_id


def _a_circle(stack, program_id: str) -> tuple[str, str, list[str]]:
    """A circle cohort of the same people, matched and accepted through the APIs (the console's
    matching pages are the first journey's): (circle id, its mentor, its active members)."""
    call = _api(stack)
    cohort_id = _enrolled_cohort(stack, program_id, "Circles", format="circle", circle_min_size=1,
                                 circle_max_size=4)
    run_id = call("POST", f"/v1/cohorts/{cohort_id}/matching-runs", mode="maximize_coverage")["run_id"]
    deadline = time.monotonic() + 120
    while call("GET", f"/v1/matching-runs/{run_id}")["status"] == "running":
        assert time.monotonic() < deadline, "the circle cohort's run did not finish"
        time.sleep(1)
    circles = call("GET", f"/v1/cohorts/{cohort_id}/circles")["items"]
    circle = max(circles, key=lambda c: (len(c["members"]), c["circle_id"]))
    for member in circle["members"]:
        call("POST", f"/v1/pairings/{member['pairing_id']}/accept", who=circle["mentor_id"], roles=("participant",))
        call("POST", f"/v1/pairings/{member['pairing_id']}/accept", who=member["mentee_id"], roles=("participant",))
    return circle["circle_id"], circle["mentor_id"], [m["mentee_id"] for m in circle["members"]]


def _mentor_of(stack, pairing_id: str) -> str:
    import requests

    from shared.http.auth import mint_token

    token = mint_token(stack.settings["matching"].jwt_secret, ADMIN, ["admin"])
    response = requests.get(f"{stack.apis['matching']}/v1/pairings/{pairing_id}",
                            headers={"Authorization": f"Bearer {token}"}, timeout=10)
    response.raise_for_status()
    return response.json()["mentor_id"]
