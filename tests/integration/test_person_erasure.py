"""Erasure of a person (GDPR Art. 17, issue 13), on the real MongoDB: the mentee of
test_person_export's world (an active pairing, meetings with agendas and notes, goals, feedback,
kudos, notifications) is erased through `POST /v1/privacy/erasures`; the other services' events
are fed to the consuming projections and policies as the workers would.

Then every read-model collection of every service's database (and a rebuild of the own-stream
views) is scanned for the person's name, e-mail and each text they wrote or that was written to
them: zero hits. The event stores are scanned too but only reported: their commits and events still
hold published text (goal titles, shared comments) until crypto-shredding covers events too; the
sessions commits' private text is sealed per author and unreadable once the person's key is shredded.
"""
from __future__ import annotations

import json
import uuid

import pytest

from shared.erasure import FORMER_PARTICIPANT, stream_id
from shared.events.envelope import Envelope
from shared.eventstore import COMMITS
from shared.projector import rebuild_service
from tests.helpers import hris_upsert
from tests.integration.notifications.servers import person
from tests.integration.notifications.test_delivery_rules import feed
from tests.integration.test_person_export import (
    ADMIN, MENTOR, MENTOR_ZONE, PERSON, PERSON_WORDS, PERSON_ZONE, SERVICES, _auth, _ok, seeded_world,
)

pytestmark = pytest.mark.integration

# What must be gone: the person's name and e-mail (as the directories hold them), every text they
# wrote, and the words others wrote to or about them (a shared comment about them, a kudos note).
NAME, EMAIL = f"Person {PERSON}", f"{PERSON.lower()}@example.com"
GONE = (NAME, EMAIL, *PERSON_WORDS, "MENTOR SHARED COMMENT", "MENTOR KUDOS NOTE")


def _consume(context, envelope: Envelope) -> None:
    """What a service's consumer does with one record: each projection's handler, in order."""
    for projection in context.projections():
        handler = projection.handlers().get(envelope.event_type)
        if handler is not None:
            handler(envelope)


def _settle(contexts) -> None:
    """Every own-stream view includes every commit (notifications' projector is the test's to run)."""
    contexts["notifications"].projector.catch_up()
    for service in ("matching", "sessions", "feedback"):
        assert contexts[service].projector.wait_for(contexts[service].store.current_position(), timeout_s=30)


def _hits(database, *, store: bool) -> dict[str, list[str]]:
    """collection -> the GONE strings found in it; the event store's collection only when `store`."""
    found: dict[str, list[str]] = {}
    for name in database.list_collection_names():
        if (name == COMMITS) != store:
            continue
        text = "\n".join(json.dumps(doc, default=str, ensure_ascii=False) for doc in database[name].find())
        hit = [words for words in GONE if words in text]
        if hit:
            found[name] = hit
    return found


@pytest.fixture
def world(make_settings):
    with seeded_world(make_settings) as seeded:
        notifications = seeded.contexts["notifications"]
        for who in (MENTOR, PERSON):  # the sessions worker's directory (name, e-mail, time zone)
            _consume(seeded.contexts["sessions"], Envelope.from_hris(person(who)))
        # the mentor is told about the person's goals (their titles) and the person about kudos
        for service, kinds in (("sessions", {"GoalsRevised", "MeetingScheduled"}), ("feedback", {"KudosSent"})):
            for commit in seeded.contexts[service].store.read_all():
                for event in commit.events:
                    if event.event_type in kinds:
                        feed(notifications, event.to_dict())
        notifications.projector.catch_up()
        yield seeded


def test_an_erased_mentee_is_gone_from_every_read_model_and_stays_gone_after_a_rebuild(world):
    contexts = world.contexts
    mentor_inbox = _ok(world.client("notifications").get("/v1/me/notifications", headers=_auth(MENTOR)))["items"]
    assert any("Learn Rust" in json.dumps(item) for item in mentor_inbox)  # the scan below has something to find
    before = {service: _hits(contexts[service].database, store=False) for service in SERVICES}
    assert all(before.values()), before

    # An admin asks; asking again answers with the same request. Managers and others may not ask.
    body = {"employee_id": PERSON}
    assert world.client("matching").post("/v1/privacy/erasures", json=body, headers=_auth(MENTOR)).status_code == 403
    first = _ok(world.client("matching").post("/v1/privacy/erasures", json=body, headers=_auth(ADMIN, "admin")), 202)
    assert (first["employee_id"], first["status"], first["source"], first["requested_by"]) == (PERSON, "requested",
                                                                                              "api", ADMIN)
    status = world.client("matching").get(f"/v1/privacy/erasures/{PERSON}", headers=_auth(ADMIN, "admin"))
    assert status.status_code == 200 and status.get_json()["status"] == "requested"
    assert world.client("matching").get(f"/v1/privacy/erasures/{MENTOR}", headers=_auth(ADMIN, "admin")).status_code == 404
    # the worker's erasure processor (on the run processor's projector), then the other services
    matching = contexts["matching"]
    assert matching.run_projector.lease.acquire()
    matching.run_projector.catch_up()
    again = _ok(world.client("matching").post("/v1/privacy/erasures", json=body, headers=_auth(ADMIN, "admin")), 202)
    assert again["status"] == "erased" and again["requested_at"] == first["requested_at"]
    assert _ok(world.client("matching").get(f"/v1/privacy/erasures/{PERSON}", headers=_auth(ADMIN, "admin")))[
        "status"] == "erased"
    erased_by_matching = matching.store.load(stream_id(PERSON)).events[-1]
    hris_request = Envelope.from_hris({"event_id": str(uuid.uuid4()), "event_type": "EmployeeErasureRequested",
                                       "schema_version": 1, "occurred_at": "2026-03-02T10:00:00Z", "source": "workday",
                                       "data": {"employee_id": PERSON, "requested_at": "2026-03-02T10:00:00Z"}})
    for service in SERVICES:  # matching's PersonErased (twice: a redelivery), and the HRIS's request too
        for envelope in (erased_by_matching, erased_by_matching, hris_request):
            _consume(contexts[service], envelope)
    matching.run_projector.catch_up()

    # One PersonErased per service, naming itself; matching's after the request.
    for service in SERVICES:
        events = contexts[service].store.load(stream_id(PERSON)).events
        erased = [e for e in events if e.event_type == "PersonErased"]
        assert [(e.data["employee_id"], e.data["service"]) for e in erased] == [(PERSON, service)], service
    assert [e.event_type for e in matching.store.load(stream_id(PERSON)).events] == ["PersonErasureRequested",
                                                                                     "PersonErased"]

    # Matching follows the other services' PersonErased (its consumer, a redelivery included): the
    # status names each service's part until all four are done, and the list shows it complete.
    admin = _auth(ADMIN, "admin")
    midway = _ok(world.client("matching").get(f"/v1/privacy/erasures/{PERSON}", headers=admin))
    assert [(p["service"], p["status"]) for p in midway["services"]] == [
        ("matching", "erased"), ("sessions", "pending"), ("feedback", "pending"), ("notifications", "pending")]
    assert (midway["complete"], midway["overdue"]) == (False, False)
    for service in ("notifications", "feedback", "sessions"):
        published = contexts[service].store.load(stream_id(PERSON)).events[-1]
        for _ in range(2):
            _consume(matching, published)
    done = _ok(world.client("matching").get(f"/v1/privacy/erasures/{PERSON}", headers=admin))
    assert [p["service"] for p in done["services"] if p["status"] == "erased" and p["erased_at"]] == list(SERVICES)
    assert done["complete"] is True and done["requested_at"] == first["requested_at"]
    assert not [words for words in GONE if words in json.dumps(done)]  # ids and times only
    assert matching.projector.wait_for(matching.store.current_position(), timeout_s=30)
    listed = _ok(world.client("matching").get("/v1/privacy/erasures?limit=5", headers=admin))
    assert listed == {"items": [{"employee_id": PERSON, "source": "api", "requested_at": first["requested_at"],
                                 "requested_by": ADMIN, "complete": True}], "next": None}
    assert world.client("matching").get("/v1/privacy/erasures", headers=_auth(MENTOR)).status_code == 403

    # Nothing of the person in any read model; the partner's pairing and the counts are still there.
    _settle(contexts)
    after = {service: _hits(contexts[service].database, store=False) for service in SERVICES}
    assert after == dict.fromkeys(SERVICES, {}), after
    stored = {service: _hits(contexts[service].database, store=True) for service in SERVICES}
    print("event stores still holding the person's text (events; crypto-shredding's next step):", stored)
    assert not {"PERSON AGENDA", "PERSON NOTE"} & set(stored["sessions"].get(COMMITS, []))  # sealed at rest
    # ... and their key is gone: the partner still reads their own words, not the person's
    texts = {author: contexts["sessions"].meetings.texts(meeting_id)
             for author, (meeting_id, _) in world.ids["meetings"].items()}
    assert texts[PERSON].get("agenda") == "MENTOR AGENDA" and "notes" not in texts[PERSON]
    assert texts[MENTOR].get("notes") == "MENTOR NOTE" and "agenda" not in texts[MENTOR]
    # the person's weekly availability went with their key; the mentor's stays
    assert contexts["sessions"].availability.current(PERSON).weekly == []
    assert contexts["sessions"].availability.current(MENTOR).time_zone == MENTOR_ZONE
    assert PERSON_ZONE not in json.dumps(list(contexts["sessions"].database[COMMITS].find()), default=str)
    pairing = _ok(world.client("matching").get(f"/v1/pairings/{world.ids['pairing_id']}", headers=_auth(MENTOR)))
    assert (pairing["mentee_id"], pairing["status"]) == (PERSON, "active")
    stats = _ok(world.client("matching").get(f"/v1/cohorts/{world.ids['cohort_id']}/stats",
                                             headers=_auth(ADMIN, "admin")))
    assert (stats["enrolled"], stats["active"]) == (2, 1)
    assert world.client("matching").get(f"/v1/participants/{PERSON}", headers=_auth(MENTOR)).status_code == 404
    assert contexts["notifications"].directory.person(PERSON)["display_name"] == FORMER_PARTICIPANT
    mentor_inbox = _ok(world.client("notifications").get("/v1/me/notifications", headers=_auth(MENTOR)))["items"]
    assert mentor_inbox and not any(words in json.dumps(mentor_inbox) for words in GONE)
    assert any(FORMER_PARTICIPANT in json.dumps(item) for item in mentor_inbox)
    feedback = _ok(world.client("feedback").get("/v1/me/feedback", headers=_auth(MENTOR)))
    assert "PERSON PRIVATE COMMENT" not in json.dumps(feedback)

    # A late or replayed HRIS record does not bring the profile back; neither does a rebuild.
    late = Envelope.from_hris(hris_upsert(PERSON, occurred_at="2026-03-03T00:00:00Z", email=EMAIL))
    world.harness.directory.apply(late)
    for service in ("sessions", "notifications"):
        _consume(contexts[service], late)
    contexts["notifications"].people.apply_batch([late])
    for service in SERVICES:
        rebuild_service(contexts[service], None)
    _settle(contexts)
    rebuilt = {service: _hits(contexts[service].database, store=False) for service in SERVICES}
    assert rebuilt == dict.fromkeys(SERVICES, {}), rebuilt
    assert _ok(world.client("matching").get(f"/v1/cohorts/{world.ids['cohort_id']}/stats",
                                            headers=_auth(ADMIN, "admin")))["active"] == 1
    # ... and nothing new reaches the person: they are never a recipient again
    feed(contexts["notifications"], person(PERSON), hris=True)
    assert contexts["notifications"].directory.person(PERSON)["display_name"] == FORMER_PARTICIPANT
