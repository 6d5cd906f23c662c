"""Real Kafka, MongoDB, SMTP and webhook receiver: the right message to the right person, once."""
from __future__ import annotations

import json
import threading
import time
from datetime import timedelta

import pytest
from kafka import KafkaProducer
from prometheus_client import REGISTRY

from shared import topics
from shared.clock import rfc3339, utcnow
from shared.http.auth import mint_token
from shared.projector import rebuild_service
from shared.relay import EventRelay
from services.notifications import bootstrap
from services.notifications.api import create_app
from services.notifications.worker import build_consumer
from tests.helpers import decode, projecting, read_topic, wait_until
from tests.integration.notifications.servers import SmtpSink, WebhookSink, envelope, person
from shared.kafka import connection_options

pytestmark = pytest.mark.integration

PAIRING = {"pairing_id": "P1", "cohort_id": "C1", "mentor_id": "M1", "mentee_id": "E1"}


def publish(settings, contract_topic: str, records: list[dict]) -> None:
    producer = KafkaProducer(**connection_options(settings))
    name = topics.resolve(contract_topic, settings.kafka_topic_prefix)
    for record in records:
        key = record.get("aggregate_id") or record["data"]["employee_id"]
        producer.send(name, key=key.encode(), value=json.dumps(record).encode())
    producer.flush()
    producer.close()


class Running:
    """A worker replica on threads: the consumer runner, and the context's sender pool if given."""

    def __init__(self, runner, senders=None):
        self.runner = runner
        self.senders = senders
        self.thread = threading.Thread(target=self.runner.run, daemon=True)

    def __enter__(self):
        if self.senders is not None:
            self.senders.start()
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.runner.stop()
        self.thread.join(timeout=30)
        if self.senders is not None:
            self.senders.stop()


def crash_sender_thread(sender, when, *, hook: str = "after_send") -> list:
    """Make the sender thread that meets `when(delivery)` die there (SimulatedCrash); returns the crashes."""
    crashes: list = []

    def hook_fn(delivery):
        if not crashes and when(delivery):
            crashes.append((delivery["_id"], time.monotonic()))
            raise SimulatedCrash(delivery["_id"])

    setattr(sender, hook, hook_fn)
    return crashes


class SimulatedCrash(BaseException):
    """Not an Exception: nothing in the worker catches it, as with a killed process."""


def token(settings, subject, *roles):
    return {"Authorization": f"Bearer {mint_token(settings.jwt_secret, subject, list(roles) or ['participant'])}"}


def pairing_events():
    answer_by = rfc3339(utcnow() + timedelta(days=7))
    starts_at = rfc3339(utcnow() + timedelta(days=3))
    return [
        envelope("PairingProposed", {**PAIRING, "score": 0.82, "reasons": ["Both work on Python"],
                                     "proposed_by": "algorithm", "matching_run_id": "R1", "answer_by": answer_by},
                 producer="matching", aggregate_type="pairing", aggregate_id="P1"),
        envelope("PairingAtRisk", {**PAIRING, "last_meeting_at": None, "days_without_meeting": 30,
                                   "detected_at": rfc3339(utcnow())},
                 producer="sessions", aggregate_type="pairing-engagement", aggregate_id="P1"),
    ], envelope("MeetingScheduled", {**PAIRING, "meeting_id": "MT1", "organizer_id": "E1", "starts_at": starts_at,
                                     "duration_minutes": 45, "timezone": "Europe/Berlin"},
                producer="sessions", aggregate_type="meeting", aggregate_id="MT1")


def counter(channel, outcome):
    return REGISTRY.get_sample_value("mentoring_notification_deliveries_total",
                                     {"channel": channel, "outcome": outcome}) or 0.0


def check_inbox(client, settings):
    """E1's three in-app notifications: pages, the unread count, marking read (theirs only)."""
    inbox = client.get("/v1/me/notifications?limit=2", headers=token(settings, "E1")).get_json()
    assert inbox["unread_count"] == 3 and len(inbox["items"]) == 2 and inbox["next"]
    rest = client.get(f"/v1/me/notifications?limit=2&cursor={inbox['next']}", headers=token(settings, "E1")).get_json()
    assert len(rest["items"]) == 1 and rest["next"] is None
    assert {i["notification_id"] for i in inbox["items"]}.isdisjoint({i["notification_id"] for i in rest["items"]})
    read = client.post(f"/v1/me/notifications/{rest['items'][0]['notification_id']}/read", headers=token(settings, "E1"))
    assert read.status_code == 200 and read.get_json()["read"] is True
    assert client.get("/v1/me/notifications", headers=token(settings, "E1")).get_json()["unread_count"] == 2
    unread = client.get("/v1/me/notifications?unread=true&limit=5", headers=token(settings, "E1")).get_json()
    assert unread["unread_count"] == 2 and len(unread["items"]) == 2 and unread["next"] is None
    first_unread = client.get("/v1/me/notifications?unread=true&limit=1", headers=token(settings, "E1")).get_json()
    assert first_unread["unread_count"] == 2 and len(first_unread["items"]) == 1 and first_unread["next"]
    assert client.post(f"/v1/me/notifications/{rest['items'][0]['notification_id']}/read",
                       headers=token(settings, "M1")).status_code == 404


def test_each_person_told_once_on_each_channel_and_a_replay_sends_nothing_twice(make_settings):
    with SmtpSink() as smtp, WebhookSink() as hooks:
        settings = make_settings("notifications", smtp_url=smtp.url, environment="development")  # loopback hooks
        context = bootstrap.build(settings)
        context.ensure_indexes()
        client = create_app(settings).test_client()
        answer = client.put("/v1/me/preferences", headers=token(settings, "M1"),
                            json={"chat_webhook_url": hooks.url("/hooks/m1")})
        assert answer.status_code == 200, answer.get_json()
        sent_before = counter("email", "sent")

        publish(settings, topics.HRIS_EMPLOYEES, [person("M1", languages=("de", "en"), timezone="Europe/Berlin"),
                                                  person("E1"), person("A1")])
        cohort = envelope("CohortCreated", {"cohort_id": "C1", "program_id": "PR1", "name": "Spring",
                                            "starts_on": "2026-03-01", "ends_on": "2026-09-01", "status": "enrolling",
                                            "meeting_cadence_days": 14, "answer_deadline_days": 7, "rules": {},
                                            "created_by": "A1"},
                          producer="matching", aggregate_type="cohort", aggregate_id="C1")
        publish(settings, topics.MATCHING, [cohort])
        (proposed, at_risk), scheduled = pairing_events()
        with Running(build_consumer(settings, context=context), context.senders) as first:
            wait_until(lambda: first.runner.processed >= 4, message="directory built")
            publish(settings, topics.MATCHING, [proposed])
            publish(settings, topics.SESSIONS, [at_risk, scheduled])
            # proposal: M1, E1; at risk: M1, E1, A1; meeting: M1, E1
            wait_until(lambda: len(smtp.messages) >= 7, message="7 emails")
            wait_until(lambda: first.runner.processed >= 7, message="all records processed")
            wait_until(lambda: context.deliveries.backlog() == 0, message="every delivery final")
        assert smtp.connections <= context.settings.notifications_sender_threads  # one kept connection per thread

        mentor_mail = smtp.to("m1@example.com")
        subjects = {m["Subject"] for m in mentor_mail}
        assert "Ihr Mentoring-Vorschlag: Person E1" in subjects  # the mentor reads German
        assert "Zeit für ein Treffen mit Person E1" in subjects
        assert any(s.startswith("Mentoring-Treffen mit Person E1: ") and s.endswith(("CET", "CEST"))
                   for s in subjects), subjects
        invite = next(m for m in smtp.to("e1@example.com") if m["Subject"].startswith("Mentoring meeting"))
        ics = next(part for part in invite.walk() if part.get_content_type() == "text/calendar").get_content()
        assert "UID:MT1@mentoring" in ics and "mailto:m1@example.com" in ics and "METHOD:REQUEST" in ics
        assert "/v1/unsubscribe?token=" in invite.get_body(("plain",)).get_content()
        admin_mail = smtp.to("a1@example.com")
        assert [m["Subject"] for m in admin_mail] == ["A pairing is at risk: Person M1 and Person E1"]
        assert len(smtp.to("e1@example.com")) == 3 and len(mentor_mail) == 3
        assert len(hooks.at("/hooks/m1")) == 3 and all("text" in body for body in hooks.at("/hooks/m1"))

        with projecting(context):
            check_inbox(client, settings)

        # outcomes: 7 emails + 3 chat + 7 in-app, each once, through the event store and relay; and
        # the one in-app notification E1 marked read
        relay = EventRelay(settings, context.store, _producer(settings))
        relay.publish_pending()
        records = [decode(r) for r in read_topic(settings, topics.NOTIFICATIONS, expect=18)]
        outcomes = [o for o in records if o["event_type"] != "NotificationRead"]
        assert len(outcomes) == 17 and {o["event_type"] for o in outcomes} == {"NotificationSent"}
        assert len({o["data"]["notification_id"] for o in outcomes}) == 17
        assert [(o["data"]["recipient_id"], o["aggregate_version"]) for o in records
                if o["event_type"] == "NotificationRead"] == [("E1", 2)]
        assert counter("email", "sent") - sent_before == 7

        log = client.get(f"/v1/events/{proposed['event_id']}/deliveries", headers=token(settings, "A1", "admin"))
        assert log.status_code == 200
        assert sorted((d["recipient_id"], d["channel"], d["status"]) for d in log.get_json()["items"]) == [
            ("E1", "email", "sent"), ("E1", "inapp", "sent"), ("M1", "chat", "sent"), ("M1", "email", "sent"),
            ("M1", "inapp", "sent")]
        assert client.get(f"/v1/events/{proposed['event_id']}/deliveries", headers=token(settings, "E1")).status_code == 403

        # replay every topic from the start into a fresh consumer group: nothing is sent again
        position = context.store.current_position()
        with Running(build_consumer(settings, group_id="notifications-replay-check")) as replay:
            wait_until(lambda: replay.runner.processed >= 7, message="replay processed everything")
        assert len(smtp.messages) == 7 and len(hooks.posts) == 3
        assert context.store.current_position() == position
        assert context.deliveries.backlog() == 0

        # a rebuild (shadow generation, swapped in) gives the same views and people, and tells nobody
        def views():
            database = context.directory.database
            return {name: sorted(database[name].find({}), key=lambda doc: doc["_id"])
                    for name in ("people", "cohorts", "pairings", "meetings")}

        before = views()
        report = rebuild_service(context, build_consumer(settings, context=context))
        assert report.generation >= 1 and report.skipped == ["notifications-routing", "notifications-erasures"]
        time.sleep(1.1)  # readers cache the live generation for a second
        assert context.directory.database.generations.live(fresh=True)[0] == report.generation
        assert views() == before and before["pairings"] and before["meetings"] and len(before["people"]) == 3
        assert len(smtp.messages) == 7 and context.store.current_position() == position


def _producer(settings):
    from shared.kafka import make_producer

    return make_producer(settings)


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_worker_killed_between_send_and_record_sends_at_most_one_duplicate(make_settings):
    with SmtpSink() as smtp:
        settings = make_settings("notifications", smtp_url=smtp.url, notifications_sender_threads=1,
                                 notifications_claim_ttl_s=2.0, notifications_sweep_interval_s=0.2)
        publish(settings, topics.HRIS_EMPLOYEES, [person("M1"), person("E1")])
        crashing = bootstrap.build(settings)
        crashing.ensure_indexes()
        crashes = crash_sender_thread(crashing.sender, lambda d: d["channel"] == "email")
        (proposed, _), _ = pairing_events()
        with Running(build_consumer(settings, context=crashing), crashing.senders) as first:
            wait_until(lambda: first.runner.processed >= 2, message="people known")
            publish(settings, topics.MATCHING, [proposed])
            wait_until(lambda: crashes, message="the sender died")
            wait_until(lambda: first.runner.processed >= 3, message="the consumer went on")
            time.sleep(0.5)
            assert first.thread.is_alive()  # the consumer never waits for a sender
        assert len(smtp.messages) == 1  # sent, never recorded
        killed_at = crashes[0][0]
        assert crashing.deliveries.get(killed_at)["status"] == "queued"

        restarted = bootstrap.build(settings)
        with Running(build_consumer(settings, context=restarted), restarted.senders):
            wait_until(lambda: len(smtp.messages) >= 3, message="the restarted worker's emails")
            wait_until(lambda: all(d["status"] == "sent" for d in restarted.deliveries.collection.find({}))
                       and restarted.deliveries.collection.count_documents({}) == 4, message="4 deliveries sent")
            wait_until(lambda: restarted.deliveries.backlog() == 0, message="queue empty")

        to_mentor, to_mentee = smtp.to("m1@example.com"), smtp.to("e1@example.com")
        assert killed_at == f"{proposed['event_id']}|M1|email"
        assert len(to_mentor) == 2, "exactly one duplicate for the one send the crash left unrecorded"
        assert to_mentor[0]["Message-ID"] == to_mentor[1]["Message-ID"]
        assert len(to_mentee) == 1
        # the restarted worker's retry waited for the dead sender's claim to expire
        resent_at = [at for at, mid in smtp.arrivals if mid == to_mentor[0]["Message-ID"]][1]
        assert resent_at - crashes[0][1] >= 2.0 * 0.9
        assert restarted.deliveries.get(killed_at)["claim"] >= 2  # 2, or later if a loaded machine let one run short
        sent = [e for c in restarted.store.read_all() for e in c.events if e.event_type == "NotificationSent"]
        assert len(sent) == 4 and len({e.data["notification_id"] for e in sent}) == 4
