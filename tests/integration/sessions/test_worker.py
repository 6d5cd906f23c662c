"""The sessions worker: ended pairings cancel their future meetings, idempotently; the risk
clock; the cohort engagement report, read from the engagement roster and equal to the report
computed by scanning the views, through redeliveries and a dispute; and a rebuild (Kafka-fed views
from the topics, own views from the event store, into a new generation) that ends in the same state."""
from __future__ import annotations

from datetime import timedelta

import pytest

from shared.clock import ManualClock, rfc3339, utcnow
from shared.kafka import make_producer
from shared.generations import live_database
from shared.metrics import PAIRS_AT_RISK
from shared.projector import rebuild_service
from services.sessions.api import create_app
from services.sessions.application.queries import roster_report
from tests.sessions_scanning_report import cohort_report
from services.sessions.worker import build_consumer
from tests.integration.sessions._support import (
    Feed, RunningConsumer, activated_pairing, cohort_created, envelope, headers, pairing_data, wait_for_pairing,
)
from tests.helpers import wait_until

pytestmark = pytest.mark.integration


def _stream_types(context, stream_id):
    return [e.event_type for e in context.store.load(stream_id).events]


VIEWS = ("pairings", "cohorts", "participants", "meetings", "engagement", "agreements", "programme_managers",
         "cohort_programmes", "busy_weeks", "busy_placements", "roster_pairs", "roster_meetings", "roster_held",
         "pairing_meetings", "circles", "circle_members", "availability_index")


def _projection_state(context):
    live = live_database(context.database, ttl_s=0)
    return {name: sorted(live[name].find({}), key=lambda d: d["_id"]) for name in VIEWS}


def _reports(context, cohort_id, now):
    """(the report from the roster, as the route serves it; the same report computed by scanning the views)"""
    return (roster_report(context.pairings, context.roster_pairs, context.roster_meetings, cohort_id, now),
            cohort_report(context.pairings, context.meetings_view, cohort_id, now, context.agreements_view))


def _schedule(client, pairing_id, party, starts_at, minutes) -> str:
    return client.post(f"/v1/pairings/{pairing_id}/meetings", headers=party, json={
        "starts_at": starts_at.isoformat(), "duration_minutes": minutes}).get_json()["meeting_id"]


def test_ending_a_pairing_cancels_future_meetings_once_and_rebuild_gives_the_same_state(make_settings):
    settings = make_settings("sessions")
    feed = Feed(settings)
    start = utcnow() - timedelta(days=20)
    clock = ManualClock(utcnow())
    app = create_app(settings, clock=clock)
    client = app.test_client()
    context = app.extensions["sessions"]
    mentor = headers(settings, "mentor-1")
    admin = headers(settings, "admin-1", "admin")
    feed.hris("mentor-1", timezone="Asia/Tokyo")
    circle_member = activated_pairing("p1", activated_at=rfc3339(start))
    circle_member[0]["data"]["circle_id"] = "circle-1"  # p1 is a circle's member: the circles view too (issue 15)
    feed.matching(cohort_created("c1", cadence=7), *circle_member,
                  *activated_pairing("p2", mentor="mentor-2", mentee="mentee-2", activated_at=rfc3339(start)))

    with RunningConsumer(settings) as worker:
        wait_for_pairing(context, "p1")
        wait_for_pairing(context, "p2")
        soon = clock.now() + timedelta(days=2)
        ids = [client.post("/v1/pairings/p1/meetings", headers=mentor,
                           json={"starts_at": (soon + timedelta(days=i)).isoformat(),
                                 "duration_minutes": 30}).get_json()["meeting_id"] for i in range(2)]

        # risk clock: p1 and p2 activated 20 days ago with a 7-day cadence and no meeting held
        assert context.risk.check_all(clock.now()) == {"c1": 2}
        assert context.risk.check_all(clock.now() + timedelta(hours=1)) == {"c1": 2}
        assert _stream_types(context, "p2") == ["PairingAtRisk"]  # once per lapse, not per check
        assert PAIRS_AT_RISK.labels("c1")._value.get() == 2

        # p2 holds a meeting -> back on track, with its event
        m2 = client.post("/v1/pairings/p2/meetings", headers=admin,
                         json={"starts_at": (clock.now() + timedelta(hours=1)).isoformat(), "duration_minutes": 90})
        clock.advance(hours=3)
        assert client.post(f"/v1/meetings/{m2.get_json()['meeting_id']}/complete", json={},
                           headers=admin).status_code == 200
        # the worker's policy (store projector, after the views) announces the recovery
        wait_until(lambda: _stream_types(context, "p2") == ["PairingAtRisk", "PairingBackOnTrack"],
                   message="back on track")
        wait_until(lambda: not context.engagement_view.at_risk("p2"), message="engagement view")
        assert context.risk.check_all(clock.now()) == {"c1": 1}

        # p2's pair agree on a 14-day cadence (the agreements view: the rebuild below must give it back)
        p2_mentor, p2_mentee = headers(settings, "mentor-2"), headers(settings, "mentee-2")
        assert client.put("/v1/pairings/p2/agreement", headers=p2_mentor, json={
            "expected_revision": 0, "cadence_days": 14, "channel": "phone",
            "confidentiality": "between_us"}).status_code == 200
        for party in (p2_mentor, p2_mentee):
            assert client.post("/v1/pairings/p2/agreement/confirm", headers=party,
                               json={"revision": 1}).status_code == 200
        assert context.agreements_view.cadence_of("p2") == 14

        # p2 holds two more meetings; the mentee disputes the last one: it no longer counts anywhere
        m3 = _schedule(client, "p2", p2_mentor, clock.now() + timedelta(hours=1), 30)
        m4 = _schedule(client, "p2", p2_mentor, clock.now() + timedelta(hours=2), 45)
        clock.advance(hours=3)
        for meeting_id in (m3, m4):
            assert client.post(f"/v1/meetings/{meeting_id}/complete", json={}, headers=p2_mentor).status_code == 200
        assert client.post(f"/v1/meetings/{m4}/dispute", json={"reason": "I was not there"},
                           headers=p2_mentee).status_code == 200
        # p2's proposal and activation arrive again (re-sent: old versions at new offsets): nothing changes
        applied = worker.runner.processed
        feed.matching(*activated_pairing("p2", mentor="mentor-2", mentee="mentee-2", activated_at=rfc3339(start)))
        feed.matching(cohort_created("c2", cadence=14), *activated_pairing("p3", cohort_id="c2", mentor="mentor-3",
                                                                         mentee="mentee-3"))
        wait_until(lambda: worker.runner.processed >= applied + 5, message="the records sent again")
        wait_until(lambda: context.projector.checkpoint() > context.store.current_position(), message="own views")
        for at in (clock.now(), clock.now() + timedelta(days=12)):
            from_roster, from_views = _reports(context, "c1", at)
            assert from_roster == from_views
        roster = {item["pairing_id"]: item for item in from_roster["items"]}
        assert (roster["p2"]["meetings_held"], roster["p2"]["mentoring_hours"]) == (2, 2.0)
        assert roster["p2"]["last_meeting_at"] == rfc3339(clock.now() - timedelta(hours=2))  # m3's, not m4's
        assert [i["pairing_id"] for i in _reports(context, "c2", clock.now())[0]["items"]] == ["p3"]

        report = client.get("/v1/cohorts/c1/engagement", headers=admin)
        assert report.status_code == 200
        by_pair = {item["pairing_id"]: item for item in report.get_json()["items"]}
        assert by_pair["p1"]["status"] == "at_risk" and by_pair["p2"]["status"] == "on_track"
        assert by_pair["p2"]["mentoring_hours"] == 2.0 and by_pair["p2"]["meetings_held"] == 2
        assert report.get_json()["summary"]["at_risk"] == 1
        assert client.get("/v1/cohorts/c1/engagement", headers=mentor).status_code == 403
        assert client.get("/v1/cohorts/zzz/engagement", headers=admin).status_code == 404

        # the pairing ends; the same PairingEnded arrives twice (redelivery)
        ended = envelope("PairingEnded", "pairing", "p1", 3, pairing_data("p1", reason="by_admin", ended_by="admin-1"),
                         occurred_at=rfc3339(utcnow()))
        feed.matching(ended, ended)
        wait_for_pairing(context, "p1", "ended")
        wait_until(lambda: all(_stream_types(context, m)[-1] == "MeetingCancelled" for m in ids),
                   message="future meetings cancelled")
        wait_until(lambda: all(context.meetings_view.get(m)["status"] == "cancelled" for m in ids),
                   message="meetings view")
        wait_until(lambda: [i["pairing_id"] for i in _reports(context, "c1", clock.now())[0]["items"]] == ["p2"],
                   message="the roster without the ended pairing")
        from_roster, from_views = _reports(context, "c1", clock.now())
        assert from_roster == from_views
        worker.stop()
    for meeting_id in ids:
        assert _stream_types(context, meeting_id) == ["MeetingScheduled", "MeetingCancelled"]
        cancelled = context.store.load(meeting_id).events[-1]
        assert cancelled.data["reason"] == "pairing_ended" and cancelled.causation_id == ended["event_id"]
    listing = client.get("/v1/pairings/p1/meetings", headers=mentor).get_json()
    assert {m["status"] for m in listing["items"]} == {"cancelled"}
    assert client.post("/v1/pairings/p1/meetings", headers=mentor, json={
        "starts_at": (utcnow() + timedelta(days=1)).isoformat(), "duration_minutes": 30}).status_code == 409

    # every record read again at its own offset (the watermarks lost, as after a crash before they
    # were saved): the partitions' roster documents recognise them, and no view changes
    before = _projection_state(context)
    context.database["consumer_positions"].delete_many({})
    with RunningConsumer(settings, context=context) as again:
        wait_until(lambda: again.runner.processed >= worker.runner.processed, timeout_s=60,
                   message="every record read again")
    assert _projection_state(context) == before

    # rebuild every view into a new generation: the same state, and no second cancellation
    # nobody named a programme manager or set their availability here: every other view holds something
    assert all(docs for view, docs in before.items() if view not in ("programme_managers", "availability_index"))
    report = rebuild_service(context, build_consumer(settings, make_producer(settings), context=context),
                             grace_s=0)
    assert report.generation == 1 and report.kafka_records >= 8 and report.store_events > 0
    assert set(report.collections) == set(VIEWS)
    assert _projection_state(context) == before
    assert context.database["meetings__g1"].count_documents({}) == len(before["meetings"])
    for meeting_id in ids:
        assert _stream_types(context, meeting_id) == ["MeetingScheduled", "MeetingCancelled"]
