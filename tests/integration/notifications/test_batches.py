"""Senders working in batches on real MongoDB and SMTP: one refused message among many on one kept
connection fails alone, and a batch's outcome events go in with one ordered insert that keeps
positions a gap-free prefix (an outcome recorded before is not recorded twice)."""
from __future__ import annotations

from datetime import timedelta

import pytest

from shared.eventstore import ConcurrencyError
from shared.aggregate import Causation, NewEvent
from shared.clock import rfc3339, utcnow
from shared.events.catalog.notifications import NOTIFICATION_SENT
from services.notifications import bootstrap
from tests.integration.notifications.servers import SmtpSink, envelope, person
from tests.integration.notifications.test_delivery_rules import apply, outcome_events

pytestmark = pytest.mark.integration


def proposals(count: int) -> list[dict]:
    answer_by = rfc3339(utcnow() + timedelta(days=7))
    return [envelope("PairingProposed", {"pairing_id": f"P{i}", "cohort_id": "C1", "mentor_id": f"M{i}",
                                         "mentee_id": f"E{i}", "score": 0.5, "reasons": [], "proposed_by": "algorithm",
                                         "matching_run_id": None, "answer_by": answer_by},
                     producer="matching", aggregate_type="pairing", aggregate_id=f"P{i}")
            for i in range(count)]


def test_one_refused_email_in_a_batch_fails_alone_on_the_kept_connection(make_settings):
    with SmtpSink() as smtp:
        context = bootstrap.build(make_settings("notifications", smtp_url=smtp.url))
        context.ensure_indexes()
        for i in range(5):
            apply(context, person(f"M{i}"), hris=True)
            apply(context, person(f"E{i}"), hris=True)
        smtp.replies.append("550 5.1.1 mailbox unavailable")  # the first message of the batch
        for raw in proposals(5):
            apply(context, raw)  # enqueued and handed to the senders (not sent yet: no threads run)
        assert context.senders.drain() == 20  # one batch of 20 on this thread
        emails = context.deliveries.collection.find({"channel": "email"})
        outcomes = sorted(doc["status"] for doc in emails)
    assert outcomes == ["failed"] + ["sent"] * 9
    assert len(smtp.messages) == 9 and smtp.connections == 1  # refused once, the connection kept
    events = outcome_events(context)
    assert sorted(e.event_type for e in events) == ["NotificationFailed"] + ["NotificationSent"] * 19
    assert context.deliveries.backlog() == 0


def test_a_batch_of_outcome_events_keeps_positions_gap_free_and_records_none_twice(make_settings):
    context = bootstrap.build(make_settings("notifications"))
    context.ensure_indexes()
    outcomes = context.sender.outcomes
    cause = Causation(correlation_id="c", causation_id="e")

    def sent(notification_id: str):
        return (notification_id, 0, [NewEvent(NOTIFICATION_SENT, {
            "notification_id": notification_id, "recipient_id": "M1", "channel": "email", "category": "kudos_received",
            "source_event_id": "e", "source_event_type": "KudosSent"})], cause)

    stream, expected, events, causation = sent("n2")
    first = outcomes.append(stream, expected, events, causation)
    batch = [sent(f"n{i}") for i in range(6)]
    appended = outcomes.append_many([(stream, expected, events, None) for stream, expected, events, _ in batch],
                                    [causation for *_, causation in batch])
    assert isinstance(appended[2], ConcurrencyError)  # n2 was recorded already
    positions = [a.position for a in appended if not isinstance(a, ConcurrencyError)]
    assert positions == list(range(first.position + 1, first.position + 6))
    commits = list(context.store.read_all())
    assert [c.position for c in commits] == list(range(1, len(commits) + 1))
    assert sorted(c.stream_id for c in commits) == sorted(f"n{i}" for i in range(6))
    assert [context.store.load(f"n{i}").version for i in range(6)] == [1] * 6
