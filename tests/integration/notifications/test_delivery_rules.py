"""Retries with backoff, permanent failures, reminders, digest and unsubscribe, on real MongoDB, SMTP and
webhook servers; events are fed straight into the projections' handlers, and the senders run on the
test's thread (`drain`, `process_queue`); Kafka and sender threads are covered in test_once/test_replicas."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from urllib.parse import urlparse

import pytest

from shared.clock import ManualClock, parse_rfc3339, rfc3339, utcnow
from services.notifications import bootstrap
from services.notifications.api import create_app
from services.notifications.application.links import unsubscribe_token
from tests.integration.notifications.servers import SmtpSink, WebhookSink, envelope, person
from tests.integration.notifications.test_once import PAIRING, pairing_events, token

pytestmark = pytest.mark.integration


def apply(context, raw: dict, *, hris: bool = False):
    """What the consumer does with one record: each projection's handler, in order (views, then routing)."""
    decoded = bootstrap.registry().decode(json.dumps(raw).encode(), inbound_hris=hris)
    for projection in context.projections():
        handler = projection.handlers().get(decoded.event_type)
        if handler is not None:
            handler(decoded)
    return decoded


def feed(context, raw: dict, *, hris: bool = False):
    """Consume one record, then let the senders send what it enqueued (on this thread)."""
    decoded = apply(context, raw, hris=hris)
    context.senders.drain()
    return decoded


def outcome_events(context):
    return [e for c in context.store.read_all() for e in c.events]


def statuses(context, event_id):
    return {(d["recipient_id"], d["channel"]): d["status"] for d in context.deliveries.for_event(event_id)}


def kudos(to_id):
    return envelope("KudosSent", {"kudos_id": f"K-{to_id}", "pairing_id": "P1", "cohort_id": "C1",
                                  "from_id": "E1" if to_id == "M1" else "M1", "to_id": to_id},
                    producer="feedback", aggregate_type="kudos", aggregate_id=f"K-{to_id}")


def test_transient_failures_retry_with_backoff_and_permanent_ones_are_recorded(make_settings):
    with SmtpSink() as smtp, WebhookSink() as hooks:
        # development mode: the webhook receiver is on loopback, over http
        settings = make_settings("notifications", smtp_url=smtp.url, notifications_retry_base_s=60,
                                 notifications_max_attempts=3, environment="development")
        clock = ManualClock(utcnow())
        context = bootstrap.build(settings, clock=clock)
        context.ensure_indexes()
        client = create_app(settings).test_client()
        for who in ("M1", "E1"):
            feed(context, person(who), hris=True)
            assert client.put("/v1/me/preferences", headers=token(settings, who),
                              json={"chat_webhook_url": hooks.url(f"/hooks/{who.lower()}")}).status_code == 200
        smtp.replies = ["451 4.3.0 try again later"]
        hooks.statuses = {"/hooks/m1": [503, 503], "/hooks/e1": [404]}

        (proposed, _), _ = pairing_events()
        feed(context, proposed)
        event_id = proposed["event_id"]
        assert statuses(context, event_id) == {("M1", "email"): "retry", ("M1", "chat"): "retry", ("M1", "inapp"): "sent",
                                               ("E1", "email"): "sent", ("E1", "chat"): "failed", ("E1", "inapp"): "sent"}
        assert [rcpts for rcpts, _ in smtp.messages] == [["e1@example.com"]]

        assert context.senders.process_queue() == 0  # not due yet
        clock.advance(seconds=61)
        context.senders.process_queue()
        assert len(smtp.to("m1@example.com")) == 1 and statuses(context, event_id)[("M1", "email")] == "sent"
        assert statuses(context, event_id)[("M1", "chat")] == "retry"  # second 503: backoff doubles to 120 s
        clock.advance(seconds=61)
        assert context.senders.process_queue() == 0
        clock.advance(seconds=60)
        context.senders.process_queue()
        assert statuses(context, event_id)[("M1", "chat")] == "sent" and len(hooks.at("/hooks/m1")) == 1

        events = outcome_events(context)
        failed = [e for e in events if e.event_type == "NotificationFailed"]
        assert len(failed) == 1 and failed[0].data["recipient_id"] == "E1" and failed[0].data["channel"] == "chat"
        assert failed[0].data["error"].startswith("webhook_404") and failed[0].data["source_event_id"] == event_id
        assert sum(e.event_type == "NotificationSent" for e in events) == 5

        log = client.get(f"/v1/events/{event_id}/deliveries", headers=token(settings, "A9", "admin")).get_json()
        mentor_chat = next(d for d in log["items"] if d["recipient_id"] == "M1" and d["channel"] == "chat")
        assert [h["outcome"] for h in mentor_chat["history"]] == ["retry", "retry", "sent"] and mentor_chat["attempts"] == 3


def test_reminder_digest_unsubscribe_and_preference_validation(make_settings):
    with SmtpSink() as smtp:
        settings = make_settings("notifications", smtp_url=smtp.url)
        clock = ManualClock(utcnow())
        context = bootstrap.build(settings, clock=clock)
        context.ensure_indexes()
        client = create_app(settings).test_client()
        for who in ("M1", "E1"):
            feed(context, person(who), hris=True)

        # the 24-hours-before reminder, once, from the periodic job
        _, scheduled = pairing_events()
        feed(context, scheduled)
        assert len(smtp.messages) == 2
        assert context.reminders.send_due() == 0
        clock.set(parse_rfc3339(scheduled["data"]["starts_at"]) - timedelta(hours=23))
        assert context.reminders.send_due() == 1
        assert context.reminders.send_due() == 0
        context.senders.drain()
        reminders = [m for _, m in smtp.messages if m["Subject"].startswith("Reminder: mentoring meeting")]
        assert sorted(m["To"] for m in reminders) == ["Person E1 <e1@example.com>", "Person M1 <m1@example.com>"]
        clock.set(utcnow())

        # unsubscribe through an email: the link in its text and its RFC 8058 one-click header
        mail = smtp.to("e1@example.com")[0]
        assert mail["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
        link = urlparse(mail["List-Unsubscribe"].strip("<>"))
        unsubscribe = f"{link.path}?{link.query}"
        assert unsubscribe in mail.get_body(("plain",)).get_content()

        def email_on():
            return (context.preferences.get("E1") or {}).get("email_enabled", True)

        expired = unsubscribe_token(context.config.link_secret, "E1", utcnow() - timedelta(seconds=1))
        forged = unsubscribe_token("not-our-key", "E1", utcnow() + timedelta(days=1))
        for bad in (expired, forged, "E1.forged", "garbage", "%C3%A9.1.x", "...", link.query[len("token="):] + "x"):
            for method in (client.get, client.post):
                refused = method(f"/v1/unsubscribe?token={bad}")
                assert refused.status_code == 400 and refused.mimetype == "application/problem+json", (bad, method)
        assert client.get(f"/v1/unsubscribe?token={expired}").get_json()["code"] == "expired_unsubscribe_link"
        page = client.get(unsubscribe)  # mail scanners and link previews GET links: nothing changes
        assert page.status_code == 200 and page.mimetype == "text/html" and '<form method="post"' in page.text
        assert email_on()
        one_click = client.post(unsubscribe, data={"List-Unsubscribe": "One-Click"})
        assert one_click.get_json() == {"employee_id": "E1", "email_enabled": False} and not email_on()
        clicked = client.post(unsubscribe, headers={"Accept": "text/html,*/*;q=0.8"})  # the page's button
        assert clicked.status_code == 200 and "You are unsubscribed" in clicked.text
        before = len(smtp.messages)
        feed(context, kudos("E1"))
        assert len(smtp.messages) == before
        context.projector.catch_up()  # the worker's inbox index
        assert client.get("/v1/me/notifications", headers=token(settings, "E1")).get_json()["items"][0]["category"] == "kudos"

        # daily digest: non-urgent messages wait for the digest hour, then go out as one email
        assert client.put("/v1/me/preferences", headers=token(settings, "M1"),
                          json={"digest": True, "digest_hour": 8}).status_code == 200
        first, second = kudos("M1"), envelope("GoalsRevised", {**PAIRING, "revision": 1, "revised_by": "E1", "goals": [
            {"goal_id": "G1", "title": "Public speaking", "status": "open", "target_date": None, "progress": 10}]},
            producer="sessions", aggregate_type="pairing-goals", aggregate_id="P1")
        feed(context, first)
        feed(context, second)
        assert len(smtp.messages) == before
        context.senders.process_queue()
        assert len(smtp.messages) == before
        clock.advance(hours=24)
        context.senders.process_queue()
        digests = [m for m in smtp.to("m1@example.com") if m["Subject"].startswith("Your mentoring digest")]
        assert len(digests) == 1 and digests[0]["Subject"] == "Your mentoring digest: 2 updates"
        body = digests[0].get_body(("plain",)).get_content()
        assert "Person E1 sent you kudos" in body and "Public speaking" in body
        assert statuses(context, first["event_id"])[("M1", "email")] == "sent"

        # validation and auth
        bad = client.put("/v1/me/preferences", headers=token(settings, "M1"), json={"digest": True, "sms": True})
        assert bad.status_code == 422 and "sms" in bad.get_json()["errors"]
        assert bad.headers["Content-Type"].startswith("application/problem+json")
        bad_quiet = client.put("/v1/me/preferences", headers=token(settings, "M1"),
                               json={"quiet_hours": {"start": "25:00", "end": "07:00"}})
        assert bad_quiet.status_code == 422 and "quiet_hours" in bad_quiet.get_json()["errors"]
        bad_category = client.put("/v1/me/preferences", headers=token(settings, "M1"),
                                  json={"channels": {"no_such_category": {"email": False}}})
        assert bad_category.status_code == 422
        assert client.get("/v1/me/notifications").status_code == 401
        saved = client.get("/v1/me/preferences", headers=token(settings, "M1")).get_json()
        assert saved["digest"] is True and saved["email_enabled"] is True


def test_a_cohort_chat_channel_hears_what_the_admins_hear(make_settings):
    with SmtpSink() as smtp, WebhookSink() as hooks:
        settings = make_settings("notifications", smtp_url=smtp.url, environment="development")  # loopback hooks
        context = bootstrap.build(settings)
        context.ensure_indexes()
        client = create_app(settings).test_client()
        for who in ("M1", "E1", "A9"):
            feed(context, person(who), hris=True)
        feed(context, envelope("CohortCreated", {"cohort_id": "C1", "program_id": "PR1", "name": "Cohort", "starts_on": "2026-01-01",
                                                 "ends_on": "2026-12-31", "status": "active", "meeting_cadence_days": 14,
                                                 "answer_deadline_days": 7, "rules": {}, "created_by": "A9"},
                               producer="matching", aggregate_type="cohort", aggregate_id="C1"))
        admin = token(settings, "A9", "admin")
        refused_when_saved = ("https://169.254.169.254/latest/meta-data/", "https://10.0.0.1/hook",  # refused, unsent
                              "https://[fd00::1]/hook", "http://[::ffff:10.0.0.1]/hook", "https://0.0.0.0/hook")  # refused
        for hostile in refused_when_saved:
            refused = client.put("/v1/cohorts/C1/chat-channel", headers=admin, json={"chat_webhook_url": hostile})
            assert refused.status_code == 422 and "chat_webhook_url" in refused.get_json()["errors"], hostile
            refused = client.put("/v1/me/preferences", headers=token(settings, "E1"), json={"chat_webhook_url": hostile})
            assert refused.status_code == 422 and "chat_webhook_url" in refused.get_json()["errors"], hostile
        assert client.get("/v1/cohorts/C1/chat-channel", headers=admin).get_json() == {"chat_webhook_url": None}
        channel = {"chat_webhook_url": hooks.url("/hooks/cohort-c1")}
        assert client.put("/v1/cohorts/C1/chat-channel", headers=token(settings, "E1"), json=channel).status_code == 403
        assert client.put("/v1/cohorts/C1/chat-channel", headers=token(settings, "A9", "admin"), json=channel).status_code == 200
        assert client.get("/v1/cohorts/C1/chat-channel", headers=token(settings, "A9", "admin")).get_json() == channel

        (proposed, at_risk), _ = pairing_events()
        feed(context, proposed)
        assert hooks.at("/hooks/cohort-c1") == []  # the pair's own proposal is not the cohort's business
        feed(context, at_risk)
        feed(context, at_risk)  # redelivered: still one post
        posts = hooks.at("/hooks/cohort-c1")
        assert len(posts) == 1 and "at risk" in json.dumps(posts[0]).lower()
        assert len(smtp.to("a9@example.com")) == 1  # the admin is still told in person
        assert not [m for rcpts, m in smtp.messages if any(r.startswith("cohort:") for r in rcpts)]


def test_a_closing_cohort_and_an_achieved_goal_prompt_the_mentee_to_say_thank_you_once(make_settings):
    with SmtpSink() as smtp:
        settings = make_settings("notifications", smtp_url=smtp.url)
        context = bootstrap.build(settings)
        context.ensure_indexes()
        for who in ("M1", "E1", "A9"):
            feed(context, person(who), hris=True)
        (proposed, _at_risk), _ = pairing_events()
        feed(context, proposed)
        feed(context, envelope("PairingActivated", {**PAIRING, "activated_at": rfc3339(utcnow())}, producer="matching",
                               aggregate_type="pairing", aggregate_id="P1", version=3))
        closed = envelope("CohortStatusChanged", {"cohort_id": "C1", "program_id": "PR1", "status": "closed",
                                                  "previous_status": "active", "changed_by": "A9"},
                          producer="matching", aggregate_type="cohort", aggregate_id="C1", version=5)
        feed(context, closed)
        feed(context, closed)  # redelivered: one prompt
        prompts = [m for m in smtp.to("e1@example.com") if "thank" in m["Subject"].lower()]
        assert [m["Subject"] for m in prompts] == ["Your mentoring cohort is closing: a word of thanks for Person M1?"]
        assert "/pairings/P1/kudos" in prompts[0].get_body(("plain",)).get_content()
        assert not [m for m in smtp.to("m1@example.com") if "thank" in m["Subject"].lower()]  # mentors are not asked
        feed(context, envelope("GoalAchieved", {**PAIRING, "goal_id": "G1", "revision": 2, "achieved_by": "E1"},
                               producer="sessions", aggregate_type="pairing-goals", aggregate_id="P1", version=2))
        assert [m["Subject"] for m in smtp.to("e1@example.com") if "goal" in m["Subject"].lower()] == [
            "A goal achieved: would you like to thank Person M1?"]


def test_the_fifth_held_meeting_prompts_the_mentee_to_say_thank_you_once(make_settings):
    with SmtpSink() as smtp:
        settings = make_settings("notifications", smtp_url=smtp.url)
        context = bootstrap.build(settings)
        context.ensure_indexes()
        for who in ("M1", "E1"):
            feed(context, person(who), hris=True)

        def held(n: int) -> dict:
            return envelope("MeetingHeld", {**PAIRING, "meeting_id": f"MT{n}", "held_at": rfc3339(utcnow()),
                                            "duration_minutes": 30, "attendees": ["M1", "E1"]},
                            producer="sessions", aggregate_type="meeting", aggregate_id=f"MT{n}", version=2)

        # the first four, as four consumers would number them: at the same time (each its own partition)
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(lambda n: apply(context, held(n)), range(1, 5)))
        fifth = held(5)
        for raw in (fifth, fifth, held(6)):  # the fifth redelivered, then a sixth
            feed(context, raw)

        def prompts(address: str) -> list[str]:
            return [m["Subject"] for m in smtp.to(address) if "thank" in m["Subject"].lower()]

        assert prompts("e1@example.com") == ["Your fifth mentoring meeting: would you like to thank Person M1?"]
        assert prompts("m1@example.com") == []  # mentors are not asked
        numbers = sorted(doc["_id"] for doc in context.database["held_meeting_ordinals"].find({}))
        assert numbers == [f"P1|{n}" for n in range(1, 6)]


def test_moving_a_whole_series_emails_each_party_once(make_settings):
    with SmtpSink() as smtp:
        settings = make_settings("notifications", smtp_url=smtp.url)
        context = bootstrap.build(settings)
        context.ensure_indexes()
        for who in ("M1", "E1"):
            feed(context, person(who), hris=True)
        start = utcnow() + timedelta(days=7)
        ids = [f"S1-{n}" for n in range(3)]
        for n, meeting_id in enumerate(ids):  # each occurrence's own move, as sessions stores it
            feed(context, envelope("MeetingRescheduled", {
                **PAIRING, "meeting_id": meeting_id, "organizer_id": "M1", "starts_at": rfc3339(start + timedelta(weeks=n)),
                "duration_minutes": 45, "timezone": "Europe/London", "rescheduled_by": "M1", "moved_with_series": True},
                producer="sessions", aggregate_type="meeting", aggregate_id=meeting_id, version=2))
        feed(context, envelope("MeetingSeriesRescheduled", {
            **PAIRING, "series_id": "S1", "organizer_id": "M1", "starts_at": rfc3339(start), "duration_minutes": 45,
            "timezone": "Europe/London", "interval_weeks": 1, "meeting_ids": ids, "rescheduled_by": "M1"},
            producer="sessions", aggregate_type="meeting-series", aggregate_id="series|S1", version=2))
        for address in ("e1@example.com", "m1@example.com"):
            [message] = smtp.to(address)
            assert message["Subject"].startswith("Recurring mentoring meetings moved with Person ")
            body = message.get_body(("plain",)).get_content()
            assert "the 2 after it move by the same shift, every 1 week(s)" in body and "/meetings/S1-0" in body
