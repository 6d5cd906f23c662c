"""The authorization matrix: every route of matching, sessions, feedback and notifications
(`app.url_map`) × every kind of caller, each cell's expected answer asserted (issue 12).

Callers: no token; a participant who is a party of the seeded pairing and meeting (`PARTY`, the
mentee); another participant who is not (`OTHER`); an `integration` token (a machine client: the
contract gives it Kafka only, so every route that asks who is calling refuses it with 403
`machine_client`, decided once in shared.http.auth); an admin; a
manager of the seeded programme (`MANAGER`) and a manager of another programme (`ELSEWHERE`), both
with a plain participant token: the services know them from `ProgramManagersSet`, each through its
own projection of matching's events (fed here as the workers would feed it).

What the services intend, read from their code and held consistent here:
- 401 without a token, everywhere but the unsubscribe link (its own signed token; a forged one is 400).
- 403 for every non-admin on an admin route; on a route inside a programme (its cohorts, runs,
  pairings, meetings, summaries, exports, chat channel) the programme's manager passes like an
  admin and a manager of another programme gets 403. Platform routes (creating programmes, naming
  managers) are 403 for both. Something no programme holds (an unknown event's deliveries) is
  nobody's scope but the platform admins'.
- 403 (`not_a_party`) for a non-party on a pairing's or a meeting's routes in all three services:
  pairing and meeting ids are random UUIDs, so the answer does not let anyone walk them; 404 where
  existence itself must not leak: a person's profile (404 for anyone but themselves, an open
  partner, admins and the managers of a programme the person is enrolled in, the same answer as
  for nobody).
- "allowed" is any 2xx, 404 (no such thing), 409 (not now) or 422 (the body): bodies here are the
  minimum, the point is who gets past the door.
- Never a 5xx; every error is application/problem+json.

A new route without an entry in EXPECTED fails with its name: decide who may call it, then add it.
"""
from __future__ import annotations

import os
import time
from dataclasses import dataclass
from datetime import timedelta

import pytest

from shared.clock import rfc3339, utcnow
from shared.events.envelope import Envelope
from shared.http.auth import mint_token
from tests.helpers import apply_consumed, start_projector
from tests.integration.feedback import support as feedback_support
from tests.integration.matching.conftest import ADMIN_H, EMPLOYEES, Harness
from tests.integration.sessions import _support as sessions_support

pytestmark = pytest.mark.integration

SERVICES = ("matching", "sessions", "feedback", "notifications")
# Operational and documentation routes: served without a token on purpose, not part of the matrix.
NOT_IN_MATRIX = {"/metrics", "/healthz", "/readyz", "/openapi.json", "/static/<path:filename>"}

MENTOR, PARTY, OTHER, ADMIN, INTEGRATION = "M001", "E002", "E003", "A000001", "svc-hris"
MANAGER, ELSEWHERE = "E001", "M002"  # managers of the seeded programme and of another one
CALLERS = ("none", "party", "other", "integration", "admin", "manager", "elsewhere")

OK = frozenset(range(200, 300)) | {404, 409, 422}
DENIED_401, DENIED_403, DENIED_404 = frozenset({401}), frozenset({403}), frozenset({404})


def _cells(**cells) -> dict:
    # A machine client is refused by every route behind a token (shared.http.auth.current_principal).
    return {"none": DENIED_401, "integration": DENIED_403, **cells}


PLATFORM_ONLY = _cells(party=DENIED_403, other=DENIED_403, admin=OK, manager=DENIED_403,
                       elsewhere=DENIED_403)
ADMIN_ONLY = _cells(party=DENIED_403, other=DENIED_403, admin=OK, manager=OK,
                    elsewhere=DENIED_403)  # platform admins and the programme's managers
ANY_EMPLOYEE = _cells(party=OK, other=OK, admin=OK, manager=OK, elsewhere=OK)
PARTY_OR_ADMIN = _cells(party=OK, other=DENIED_403, admin=OK, manager=OK,
                        elsewhere=DENIED_403)
PAIR_ONLY = _cells(party=OK, other=DENIED_403, admin=DENIED_403, manager=DENIED_403,
                   elsewhere=DENIED_403)  # admins and managers no exception
MENTEE_ONLY = _cells(party=OK, other=DENIED_403, admin=DENIED_403, manager=DENIED_403,
                    elsewhere=DENIED_403)  # mentee choice: the cohort's enrolled mentees (`PARTY`) only
SELF_OR_ADMIN = PARTY_OR_ADMIN  # "participants themselves": the path/body names the party
PROFILE = _cells(party=OK, other=DENIED_404, admin=OK, manager=OK,
                 elsewhere=DENIED_404)  # the managers of a programme the person is enrolled in see it too
ANY_MANAGER = _cells(party=DENIED_403, other=DENIED_403, admin=OK, manager=OK,
                     elsewhere=OK)  # each manager sees what concerns their own programmes
PERSON_OR_PLATFORM_ADMIN = _cells(party=OK, other=DENIED_403, admin=OK, manager=DENIED_403,
                                  elsewhere=DENIED_403)  # everything held about a person: not a programme's
# A circle (issue 15): its mentor, members (`PARTY` is one), admins and its programme's managers read
# its group meetings; only the mentor, admins and managers change them (a member: 403); anyone else
# gets 404, as for matching's circle (its existence is not shown).
CIRCLE_READ = _cells(party=OK, other=DENIED_404, admin=OK, manager=OK, elsewhere=DENIED_404)
CIRCLE_MANAGE = _cells(party=DENIED_403, other=DENIED_404, admin=OK, manager=OK, elsewhere=DENIED_404)
NO_PROGRAMME = PLATFORM_ONLY  # what no programme holds: platform admins only
LINK = {caller: frozenset({400}) for caller in CALLERS}  # the link's own token decides, not the JWT


# Bodies are minimal but valid where the service validates before it asks who is calling (a 422
# would hide whether a non-party got through).
MEETING = {"starts_at": "2030-01-08T10:00:00+00:00", "duration_minutes": 45}
AGREEMENT = {"expected_revision": 0, "cadence_days": 14, "channel": "video", "confidentiality": "between_us"}


@dataclass(frozen=True)
class Row:
    cells: dict
    body: object = None
    query: str = ""


# (service, method, rule) -> expected answers; ids in <...> are filled from the seeded data.
EXPECTED: dict[tuple[str, str, str], Row] = {
    ("matching", "POST", "/v1/programs"): Row(PLATFORM_ONLY, {}),
    ("matching", "GET", "/v1/programs"): Row(ANY_EMPLOYEE),
    ("matching", "PUT", "/v1/programs/<program_id>/managers"): Row(PLATFORM_ONLY, {}),
    ("matching", "GET", "/v1/me/managed-programs"): Row(ANY_EMPLOYEE),
    ("matching", "GET", "/v1/me/pairings"): Row(ANY_EMPLOYEE),
    ("matching", "POST", "/v1/programs/<program_id>/cohorts"): Row(ADMIN_ONLY, {}),
    ("matching", "GET", "/v1/programs/<program_id>/cohorts"): Row(ANY_EMPLOYEE),
    ("matching", "GET", "/v1/programs/<program_id>/outcomes"): Row(ADMIN_ONLY),
    ("matching", "GET", "/v1/cohorts/<cohort_id>"): Row(ANY_EMPLOYEE),
    ("matching", "PATCH", "/v1/cohorts/<cohort_id>"): Row(ADMIN_ONLY, {}),
    ("matching", "POST", "/v1/cohorts/<cohort_id>/duplicate"): Row(ADMIN_ONLY, {}),
    ("matching", "POST", "/v1/cohorts/<cohort_id>/status"): Row(ADMIN_ONLY, {}),
    ("matching", "GET", "/v1/cohorts/<cohort_id>/stats"): Row(ADMIN_ONLY),
    ("matching", "GET", "/v1/cohorts/<cohort_id>/enrollments"): Row(ADMIN_ONLY),
    ("matching", "POST", "/v1/cohorts/<cohort_id>/enrollments"): Row(
        SELF_OR_ADMIN, {"employee_id": PARTY, "role": "mentee", "topics": ["python"]}),
    ("matching", "PATCH", "/v1/cohorts/<cohort_id>/enrollments/<employee_id>"): Row(SELF_OR_ADMIN, {"paused": False}),
    ("matching", "POST", "/v1/cohorts/<cohort_id>/enrollments/<employee_id>/withdraw"): Row(SELF_OR_ADMIN),
    ("matching", "POST", "/v1/cohorts/<cohort_id>/matching-runs"): Row(ADMIN_ONLY, {"dry_run": True}),
    ("matching", "GET", "/v1/matching-runs/<run_id>"): Row(ADMIN_ONLY),
    ("matching", "POST", "/v1/cohorts/<cohort_id>/pairings"): Row(ADMIN_ONLY, {}),
    ("matching", "GET", "/v1/cohorts/<cohort_id>/pairings"): Row(ANY_EMPLOYEE),  # non-admins: their own only
    ("matching", "GET", "/v1/pairings/<pairing_id>"): Row(PARTY_OR_ADMIN),
    ("matching", "POST", "/v1/pairings/<pairing_id>/accept"): Row(PARTY_OR_ADMIN, {}),
    ("matching", "POST", "/v1/pairings/<pairing_id>/decline"): Row(PARTY_OR_ADMIN, {"role": "mentee"}),
    ("matching", "POST", "/v1/pairings/<pairing_id>/end"): Row(PARTY_OR_ADMIN, {"reason": "not_a_fit"}),
    # only the pair choose to stay in touch (nobody answers it for them); the party's 409: not completed
    ("matching", "POST", "/v1/pairings/<pairing_id>/stay-in-touch"): Row(PAIR_ONLY, {"stay_in_touch": True}),
    ("matching", "GET", "/v1/participants/<employee_id>"): Row(PROFILE),
    # circles (issue 15; the seeded circle: MENTOR's, with PARTY a member): its mentor, members and admins
    ("matching", "GET", "/v1/circles/<circle_id>"): Row(CIRCLE_READ),
    ("matching", "GET", "/v1/cohorts/<cohort_id>/circles"): Row(ADMIN_ONLY),
    # mentee choice (issue 15; the seeded cohort lets mentees choose): its mentee only, everyone else 403.
    # The matrix's withdrawal (an earlier command) has withdrawn the mentee by the time they ask: 403 then.
    ("matching", "GET", "/v1/cohorts/<cohort_id>/suggestions"): Row(MENTEE_ONLY),
    ("matching", "POST", "/v1/cohorts/<cohort_id>/requests"): Row({**MENTEE_ONLY, "party": OK | DENIED_403},
                                                                   {"mentor_id": MENTOR}),
    ("sessions", "GET", "/v1/pairings/<pairing_id>/meetings"): Row(PARTY_OR_ADMIN),
    ("sessions", "POST", "/v1/pairings/<pairing_id>/meetings"): Row(PARTY_OR_ADMIN, MEETING),
    ("sessions", "GET", "/v1/meetings/<meeting_id>"): Row(PARTY_OR_ADMIN),
    ("sessions", "GET", "/v1/meetings/<meeting_id>.ics"): Row(PARTY_OR_ADMIN),
    ("sessions", "POST", "/v1/meetings/<meeting_id>/reschedule"): Row(PARTY_OR_ADMIN, MEETING),
    ("sessions", "POST", "/v1/meetings/<meeting_id>/cancel"): Row(PARTY_OR_ADMIN, {"reason": "conflict"}),
    ("sessions", "POST", "/v1/meetings/<meeting_id>/complete"): Row(PARTY_OR_ADMIN, {"notes": None}),
    ("sessions", "POST", "/v1/meetings/<meeting_id>/no-show"): Row(PARTY_OR_ADMIN, {"absent_ids": [MENTOR]}),
    ("sessions", "POST", "/v1/meetings/<meeting_id>/dispute"): Row(PAIR_ONLY, {"reason": "x"}),
    ("sessions", "GET", "/v1/meetings/<meeting_id>/notes"): Row(PAIR_ONLY),
    ("sessions", "GET", "/v1/pairings/<pairing_id>/goals"): Row(PARTY_OR_ADMIN),
    ("sessions", "PUT", "/v1/pairings/<pairing_id>/goals"): Row(PARTY_OR_ADMIN, {"expected_revision": 0, "goals": []}),
    ("sessions", "GET", "/v1/pairings/<pairing_id>/goals/revisions"): Row(PARTY_OR_ADMIN),
    ("sessions", "POST", "/v1/pairings/<pairing_id>/goals/<goal_id>/achieve"): Row(PARTY_OR_ADMIN),
    # the agreement is the pair's own: admins read its terms, never write or confirm it for them
    ("sessions", "GET", "/v1/pairings/<pairing_id>/agreement"): Row(PARTY_OR_ADMIN),
    ("sessions", "PUT", "/v1/pairings/<pairing_id>/agreement"): Row(PAIR_ONLY, AGREEMENT),
    ("sessions", "POST", "/v1/pairings/<pairing_id>/agreement/confirm"): Row(PAIR_ONLY, {}),
    ("sessions", "GET", "/v1/cohorts/<cohort_id>/engagement"): Row(ADMIN_ONLY),
    # Availability (issue 15): each person's own; a pairing's slots for whoever may schedule its meetings.
    ("sessions", "GET", "/v1/me/availability"): Row(ANY_EMPLOYEE),
    ("sessions", "PUT", "/v1/me/availability"): Row(ANY_EMPLOYEE, {"weekly": [{"day": "mon", "start": "09:00",
                                                                            "end": "12:00"}]}),
    ("sessions", "GET", "/v1/pairings/<pairing_id>/slots"): Row(PARTY_OR_ADMIN),
    ("sessions", "POST", "/v1/pairings/<pairing_id>/series"): Row(PARTY_OR_ADMIN, dict(MEETING, count=2)),
    ("sessions", "GET", "/v1/series/<series_id>"): Row(PARTY_OR_ADMIN),
    ("sessions", "GET", "/v1/series/<series_id>.ics"): Row(PARTY_OR_ADMIN),
    ("sessions", "POST", "/v1/series/<series_id>/reschedule"): Row(PARTY_OR_ADMIN, MEETING),
    ("sessions", "POST", "/v1/series/<series_id>/cancel"): Row(PARTY_OR_ADMIN, {"reason": "conflict"}),
    ("sessions", "POST", "/v1/circles/<circle_id>/meetings"): Row(CIRCLE_MANAGE, MEETING),
    ("sessions", "GET", "/v1/circles/<circle_id>/meetings"): Row(CIRCLE_READ),
    ("sessions", "GET", "/v1/circles/<circle_id>/meetings/<group_meeting_id>"): Row(CIRCLE_READ),
    ("sessions", "GET", "/v1/circles/<circle_id>/meetings/<group_meeting_id>.ics"): Row(CIRCLE_READ),
    ("sessions", "POST", "/v1/circles/<circle_id>/meetings/<group_meeting_id>/reschedule"): Row(CIRCLE_MANAGE, MEETING),
    ("sessions", "POST", "/v1/circles/<circle_id>/meetings/<group_meeting_id>/cancel"): Row(
        CIRCLE_MANAGE, {"reason": "conflict"}),
    ("sessions", "POST", "/v1/circles/<circle_id>/meetings/<group_meeting_id>/held"): Row(
        CIRCLE_MANAGE, {"attendance": {PARTY: "present"}}),
    ("feedback", "POST", "/v1/pairings/<pairing_id>/feedback"): Row(PAIR_ONLY, {"rating": 4}),
    ("feedback", "POST", "/v1/pairings/<pairing_id>/kudos"): Row(PAIR_ONLY, {"note": "thanks"}),
    ("feedback", "GET", "/v1/me/feedback"): Row(ANY_EMPLOYEE),
    ("feedback", "GET", "/v1/me/feedback/summary"): Row(ANY_EMPLOYEE),
    ("feedback", "GET", "/v1/me/kudos"): Row(ANY_EMPLOYEE),
    ("feedback", "GET", "/v1/me/kudos/shared"): Row(ANY_EMPLOYEE),  # only what was shared with the caller
    ("feedback", "GET", "/v1/me/reviews"): Row(ANY_EMPLOYEE),
    ("feedback", "GET", "/v1/me/surveys"): Row(ANY_EMPLOYEE),
    ("feedback", "POST", "/v1/reviews/<review_id>/answers"): Row(ANY_EMPLOYEE, {}),  # answers only one's own
    ("feedback", "POST", "/v1/surveys/<survey_id>/answers"): Row(ANY_EMPLOYEE, {}),
    ("feedback", "GET", "/v1/cohorts/<cohort_id>/feedback/summary"): Row(ADMIN_ONLY),
    ("feedback", "GET", "/v1/cohorts/<cohort_id>/feedback/export.csv"): Row(ADMIN_ONLY),
    ("notifications", "GET", "/v1/me/notifications"): Row(ANY_EMPLOYEE),
    ("notifications", "POST", "/v1/me/notifications/<notification_id>/read"): Row(ANY_EMPLOYEE),
    ("notifications", "GET", "/v1/me/preferences"): Row(ANY_EMPLOYEE),
    ("notifications", "PUT", "/v1/me/preferences"): Row(ANY_EMPLOYEE, {}),
    ("notifications", "GET", "/v1/cohorts/<cohort_id>/chat-channel"): Row(ADMIN_ONLY),
    ("notifications", "PUT", "/v1/cohorts/<cohort_id>/chat-channel"): Row(ADMIN_ONLY, {}),
    ("notifications", "GET", "/v1/events/<event_id>/deliveries"): Row(NO_PROGRAMME),  # an unknown event
    # Subject access export (issue 13): the person or a platform admin; not their programme's managers.
    **{(service, "GET", "/v1/people/<employee_id>/export"): Row(PERSON_OR_PLATFORM_ADMIN) for service in SERVICES},
    # Erasure (issue 13): platform admins only; the empty body makes the admin's call a 422 (nobody erased).
    ("matching", "POST", "/v1/privacy/erasures"): Row(PLATFORM_ONLY, {}),
    ("matching", "GET", "/v1/privacy/erasures/<employee_id>"): Row(PLATFORM_ONLY),
    ("matching", "GET", "/v1/privacy/erasures"): Row(PLATFORM_ONLY),  # the list of erasures, with each one's progress
    ("notifications", "GET", "/v1/unsubscribe"): Row(LINK, query="token=forged"),
    ("notifications", "POST", "/v1/unsubscribe"): Row(LINK, query="token=forged"),
    # The audit trail (issue 12): every service serves its own; managers see their programmes' entries.
    ("matching", "GET", "/v1/audit"): Row(ANY_MANAGER),
    ("sessions", "GET", "/v1/audit"): Row(ANY_MANAGER),
    ("feedback", "GET", "/v1/audit"): Row(ANY_MANAGER),
    ("notifications", "GET", "/v1/audit"): Row(ANY_MANAGER),
}


def _headers(caller: str) -> dict:
    subject, roles = {"party": (PARTY, ["participant"]), "other": (OTHER, ["participant"]),
                      "integration": (INTEGRATION, ["integration"]), "admin": (ADMIN, ["admin"]),
                      "manager": (MANAGER, ["participant"]), "elsewhere": (ELSEWHERE, ["participant"])}[caller]
    return {"Authorization": "Bearer " + mint_token(os.environ["JWT_SECRET"], subject, roles)}


def _described(expected: frozenset) -> str:
    return "allowed: 2xx, 404, 409 or 422" if expected is OK else " or ".join(map(str, sorted(expected)))


def _routes(app) -> tuple[set, set]:
    """(method, rule) of the API, and the rules left out of the matrix."""
    api, other = set(), set()
    for rule in app.url_map.iter_rules():
        if rule.rule in NOT_IN_MATRIX:
            other.add(rule.rule)
            continue
        api.update((method, rule.rule) for method in rule.methods - {"HEAD", "OPTIONS"})
    return api, other


def _seed_matching(harness: Harness) -> dict:
    """A programme, a cohort in matching, mentor and mentee enrolled, a proposed pairing: all
    through the admin API (the HRIS records projected as the worker would)."""
    for employee_id, (level, dept, manager, tz) in EMPLOYEES.items():
        harness.hire(employee_id, level=level, department=dept, manager_id=manager, tz=tz)
    cohort_id = harness.cohort(status="matching")
    style = harness.client.patch(f"/v1/cohorts/{cohort_id}", json={"matching_style": "both"}, headers=ADMIN_H)
    assert style.status_code == 200, style.json
    assert harness.enroll(cohort_id, MENTOR, "mentor", capacity=2).status_code == 201
    assert harness.enroll(cohort_id, PARTY, "mentee").status_code == 201
    proposed = harness.client.post(f"/v1/cohorts/{cohort_id}/pairings", json={"mentor_id": MENTOR, "mentee_id": PARTY},
                                   headers=ADMIN_H)
    assert proposed.status_code == 201, proposed.json
    program_id = harness.client.get(f"/v1/cohorts/{cohort_id}", headers=ADMIN_H).json["program_id"]
    other_program = harness.client.post("/v1/programs", json={"name": "Sales mentoring"}, headers=ADMIN_H)
    for program, manager in ((program_id, MANAGER), (other_program.json["program_id"], ELSEWHERE)):
        named = harness.client.put(f"/v1/programs/{program}/managers", json={"managers": [manager]}, headers=ADMIN_H)
        assert named.status_code == 200, named.json
    run = harness.client.post(f"/v1/cohorts/{cohort_id}/matching-runs", json={"dry_run": True}, headers=ADMIN_H)
    assert run.status_code == 202, run.json
    return {"program_id": program_id, "cohort_id": cohort_id, "pairing_id": proposed.json["pairing_id"],
            "employee_id": PARTY, "run_id": run.json["run_id"], "circle_id": _seed_matching_circle(harness, program_id)}


def _seed_matching_circle(harness: Harness, program_id: str) -> str:
    """A circle cohort in the seeded programme: MENTOR's circle with PARTY proposed into it."""
    cohort = harness.client.post(f"/v1/programs/{program_id}/cohorts", headers=ADMIN_H, json={
        "name": "Circles", "starts_on": "2026-03-01", "ends_on": "2026-08-31", "format": "circle"})
    assert cohort.status_code == 201, cohort.json
    cohort_id = cohort.json["cohort_id"]
    assert harness.client.post(f"/v1/cohorts/{cohort_id}/status", json={"status": "enrolling"},
                               headers=ADMIN_H).status_code == 200
    assert harness.enroll(cohort_id, MENTOR, "mentor", capacity=3).status_code == 201
    assert harness.enroll(cohort_id, PARTY, "mentee").status_code == 201
    assert harness.client.post(f"/v1/cohorts/{cohort_id}/status", json={"status": "matching"},
                               headers=ADMIN_H).status_code == 200
    member = harness.client.post(f"/v1/cohorts/{cohort_id}/pairings", json={"mentor_id": MENTOR, "mentee_id": PARTY},
                                 headers=ADMIN_H)
    assert member.status_code == 201 and member.json["circle_id"], member.json
    harness.settle()
    return member.json["circle_id"]


def _seed_scopes(apps: dict, matching_store) -> None:
    """Who manages what, in sessions, feedback and notifications: matching's events applied to
    their ProgrammeScopes projections as their workers would apply them from Kafka."""
    from shared.scopes import ProgrammeScopes

    envelopes = [envelope for commit in matching_store.read_all() for envelope in commit.events]
    for name in ("sessions", "feedback", "notifications"):
        handlers = ProgrammeScopes(apps[name].extensions[name].database).handlers()
        for envelope in envelopes:
            if envelope.event_type in handlers:
                handlers[envelope.event_type](envelope)


def _seed_sessions(app, ids: dict) -> dict:
    """The pairing as the sessions worker projects matching's events, and a meeting the mentee
    schedules through the API."""
    from services.sessions.application.projections import PairingsProjection

    handlers = PairingsProjection(app.extensions["sessions"].database).handlers()
    pairing_id, cohort_id = ids["pairing_id"], ids["cohort_id"]
    for raw in [sessions_support.cohort_created(cohort_id),
                *sessions_support.activated_pairing(pairing_id, cohort_id, MENTOR, PARTY)]:
        envelope = Envelope.from_dict(raw)
        handlers[envelope.event_type](envelope)
    scheduled = app.test_client().post(f"/v1/pairings/{pairing_id}/meetings", headers=_headers("party"),
                            json={"starts_at": "2030-01-07T10:00:00+00:00", "duration_minutes": 45})
    assert scheduled.status_code == 201, scheduled.json
    series = app.test_client().post(f"/v1/pairings/{pairing_id}/series", headers=_headers("party"),
                                    json={"starts_at": rfc3339(utcnow() + timedelta(days=30)), "duration_minutes": 45,
                                          "count": 2})  # a series starts within a year
    assert series.status_code == 201, series.json
    # matching's seeded circle (issue 15): one path serves both services' circle routes, so sessions
    # learns the same circle id, with the seeded pairing as its member; and a group meeting of it
    circle_id = ids["circle_id"]
    _seed_sessions_circle(app, circle_id, pairing_id, cohort_id)
    group = app.test_client().post(f"/v1/circles/{circle_id}/meetings", headers=_headers("admin"),
                                   json={"starts_at": "2030-01-09T10:00:00+00:00", "duration_minutes": 60})
    assert group.status_code == 201, group.json
    return {**ids, "meeting_id": scheduled.json["meeting_id"], "series_id": series.json["series_id"],
            "circle_id": circle_id, "group_meeting_id": group.json["group_meeting_id"]}


def _seed_sessions_circle(app, circle_id: str, pairing_id: str, cohort_id: str) -> None:
    """The circles view as the sessions worker projects matching's PairingProposed (naming the circle)
    and PairingActivated from one partition."""
    from shared.consumer import RecordAt, consuming
    from services.sessions.application.projections import CirclesProjection

    handlers = CirclesProjection(app.extensions["sessions"].database).handlers()
    raws = sessions_support.activated_pairing(pairing_id, cohort_id, MENTOR, PARTY)
    raws[0]["data"]["circle_id"] = circle_id
    for offset, raw in enumerate(raws):
        envelope = Envelope.from_dict(raw)
        with consuming({envelope.event_id: RecordAt("mentoring.matching.v1", 0, offset)}):
            handlers[envelope.event_type](envelope)


def _seed_feedback(app, ids: dict) -> None:
    from services.feedback.application.projections import ProgrammeView

    view = ProgrammeView(app.extensions["feedback"].database)
    pairing_id, cohort_id = ids["pairing_id"], ids["cohort_id"]
    for raw in (feedback_support.cohort_created(cohort_id),
                feedback_support.pairing_proposed(pairing_id, cohort_id, MENTOR, PARTY),
                feedback_support.pairing_activated(pairing_id, cohort_id, MENTOR, PARTY),
                feedback_support.meeting_held(ids["meeting_id"], pairing_id, cohort_id, MENTOR, PARTY)):
        apply_consumed(view, Envelope.from_dict(raw))


def _path(rule: str, ids: dict) -> str:
    path = rule
    for name, value in {**ids, "review_id": "no-such-review", "survey_id": "no-such-survey",
                        "notification_id": "no-such-notification", "event_id": "no-such-event",
                        "goal_id": "no-such-goal"}.items():
        path = path.replace(f"<{name}>", value)
    assert "<" not in path, f"no seeded id for {rule}"
    return path


def test_every_route_answers_every_caller_as_the_matrix_says(make_settings):
    from services.feedback.api import create_app as feedback_app
    from services.notifications.api import create_app as notifications_app
    from services.sessions.api import create_app as sessions_app

    started = time.monotonic()
    harness = Harness(make_settings("matching"))
    halts = []
    try:
        apps = {"matching": harness.app, "sessions": sessions_app(make_settings("sessions")),
                "feedback": feedback_app(make_settings("feedback")),
                "notifications": notifications_app(make_settings("notifications"))}
        # The store projectors the workers run: commands answer once their views have the write
        # (read-your-writes), and would otherwise wait for it until their timeout.
        halts = [start_projector(apps[name].extensions[name]) for name in ("sessions", "feedback")]
        ids = _seed_matching(harness)
        _seed_scopes(apps, harness.context.store)
        ids = _seed_sessions(apps["sessions"], ids)
        _seed_feedback(apps["feedback"], ids)
        # The seeded mentee's whole record (not a card) reaches the manager of the programme they are
        # enrolled in; checked before the matrix's commands withdraw them.
        record = apps["matching"].test_client().get(f"/v1/participants/{PARTY}", headers=_headers("manager"))
        assert record.status_code == 200 and "manager_id" in record.json and "level" in record.json, record.json

        unlisted, wrong = [], []
        cells = 0
        for service in SERVICES:
            routes, left_out = _routes(apps[service])
            assert left_out == NOT_IN_MATRIX, f"{service}: the routes outside the matrix changed: {left_out}"
            unlisted += [f"{service} {method} {rule}" for method, rule in sorted(routes)
                         if (service, method, rule) not in EXPECTED]
            client = apps[service].test_client()
            # Reads first, then the commands: a withdrawal or a decline must not hide a read's answer.
            for method, rule in sorted(routes, key=lambda r: (r[0] != "GET", r[1])):
                row = EXPECTED.get((service, method, rule))
                if row is None:
                    continue
                path = _path(rule, ids) + (f"?{row.query}" if row.query else "")
                for caller in CALLERS:
                    headers = {} if caller == "none" else _headers(caller)
                    response = client.open(path, method=method, headers=headers,
                                           **({} if row.body is None else {"json": row.body}))
                    cells += 1
                    status = response.status_code
                    problem = status < 400 or response.content_type == "application/problem+json"
                    # The seeded ids are real: a party reading what names one gets it, not a 404.
                    seeded_read = method == "GET" and "<" in rule and caller == "party" and row.cells[caller] is OK
                    # A machine client's refusal comes from the one place that decides it (shared.http.auth).
                    machine_refused = caller == "integration" and status == 403
                    if (status >= 500 or status not in row.cells[caller] or not problem
                            or (seeded_read and not 200 <= status < 300)
                            or (machine_refused and response.get_json().get("code") != "machine_client")):
                        wrong.append(f"{service} {method} {path} as {caller}: {status} {response.content_type} "
                                     f"(expected {_described(row.cells[caller])})")
        assert not unlisted, ("routes with no entry in EXPECTED (decide who may call them and add them): "
                              + "; ".join(unlisted))
        stale = {key for key in EXPECTED if key[0] in SERVICES} - {
            (service, method, rule) for service in SERVICES for method, rule in _routes(apps[service])[0]}
        assert not stale, f"EXPECTED names routes that no longer exist: {sorted(stale)}"
        assert not wrong, "\n".join(wrong)
        assert cells == len(EXPECTED) * len(CALLERS)
        # The one listing open to every employee names only the caller's own pairings.
        for caller, sees in (("party", 1), ("other", 0), ("admin", 1), ("manager", 1), ("elsewhere", 0)):
            listed = apps["matching"].test_client().get(f"/v1/cohorts/{ids['cohort_id']}/pairings",
                                                        headers=_headers(caller))
            assert len(listed.json["items"]) == sees, (caller, listed.json)
        print(f"authorization matrix: {cells} cells in {time.monotonic() - started:.1f}s")
    finally:
        for halt in halts:
            halt()
        harness.close()
