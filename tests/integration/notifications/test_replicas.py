"""Two worker replicas on one database, real Kafka, MongoDB and SMTP: each message goes out once.

Replicas are two contexts built from the same settings (as two processes would be), each with its
consumer runner in the one consumer group and its own sender pool; claims are all that keeps them
from sending the same delivery twice.
"""
from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest

from shared import topics
from shared.clock import rfc3339, utcnow
from services.notifications import bootstrap
from services.notifications.worker import build_consumer
from tests.helpers import wait_until
from tests.integration.notifications.servers import SmtpSink, envelope, person
from tests.integration.notifications.test_delivery_rules import apply
from tests.integration.notifications.test_once import Running, crash_sender_thread, publish

pytestmark = [pytest.mark.integration,
              pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")]


def proposals(count: int, *, start: int = 0) -> list[dict]:
    answer_by = rfc3339(utcnow() + timedelta(days=7))
    return [envelope("PairingProposed", {"pairing_id": f"P{i}", "cohort_id": "C1", "mentor_id": f"M{i}",
                                         "mentee_id": f"E{i}", "score": 0.5, "reasons": [], "proposed_by": "algorithm",
                                         "matching_run_id": None, "answer_by": answer_by},
                     producer="matching", aggregate_type="pairing", aggregate_id=f"P{i}")
            for i in range(start, start + count)]


def people(count: int) -> list[dict]:
    return [person(f"{role}{i}") for i in range(count) for role in ("M", "E")]


def all_final(context, expected: int) -> bool:
    return (context.deliveries.collection.count_documents({"status": "sent"}) == expected
            and context.deliveries.backlog() == 0)


def test_two_replicas_deliver_each_message_exactly_once(make_settings):
    pairs = 30
    with SmtpSink() as smtp:
        settings = make_settings("notifications", smtp_url=smtp.url, notifications_sender_threads=3,
                                 notifications_sweep_interval_s=0.1, notifications_send_batch=5)
        first, second = bootstrap.build(settings), bootstrap.build(settings)
        first.ensure_indexes()
        # Every hand-off goes to BOTH replicas' senders, and both sweep all the time: the worst case
        # (a redelivery after a rebalance, a replica finding another's work in the queue).
        for one, other in ((first, second), (second, first)):
            one.enqueuer.handoff = lambda doc, people, one=one, other=other: (one.senders.submit(dict(doc), people),
                                                                              other.senders.submit(dict(doc)))
        publish(settings, topics.HRIS_EMPLOYEES, people(pairs))
        with Running(build_consumer(settings, context=first), first.senders) as a, \
                Running(build_consumer(settings, context=second), second.senders) as b:
            wait_until(lambda: a.runner.processed + b.runner.processed >= 2 * pairs, message="people known")
            publish(settings, topics.MATCHING, proposals(pairs))
            wait_until(lambda: all_final(first, 4 * pairs), timeout_s=60, message="every delivery sent")
            time.sleep(0.5)  # anything sent twice would show up by now

        ids = Counter(message["Message-ID"] for _, message in smtp.messages)
        assert len(ids) == 2 * pairs and set(ids.values()) == {1}, ids.most_common(3)
        owners = {doc["owner"] for doc in first.deliveries.claims.find({})}
        assert owners == {first.sender.owner, second.sender.owner}  # both replicas really worked
        outcomes = [e for c in first.store.read_all() for e in c.events]
        assert len(outcomes) == 4 * pairs and len({e.data["notification_id"] for e in outcomes}) == 4 * pairs


def test_a_sender_killed_mid_claim_is_taken_over_only_after_its_claim_expires(make_settings):
    ttl = 4.0
    with SmtpSink() as smtp:
        settings = make_settings("notifications", smtp_url=smtp.url, notifications_sender_threads=1,
                                 notifications_claim_ttl_s=ttl, notifications_sweep_interval_s=0.1)
        dying, survivor = bootstrap.build(settings), bootstrap.build(settings)
        dying.ensure_indexes()
        for raw in people(1):
            apply(dying, raw, hris=True)
        # The dying replica claims the mentor's email (maybe in a batch with others), then its
        # sender thread dies before sending it.
        crashes = crash_sender_thread(dying.sender, lambda d: d["_id"].endswith("|M0|email"), hook="before_send")
        dying.senders.start()
        survivor.senders.start()
        try:
            (proposal,) = proposals(1)
            apply(dying, proposal)
            wait_until(lambda: crashes, message="the sender died holding its claim")
            killed_id, crashed_at = crashes[0]
            killed_message_id = f"<{survivor.deliveries.get(killed_id)['notification_id']}@mentoring.notifications>"
            time.sleep(ttl / 2)
            # the survivor sweeps the due entry every 0.1 s, but the claim is live
            assert killed_message_id not in {mid for _, mid in smtp.arrivals}
            wait_until(lambda: all_final(survivor, 4), timeout_s=60, message="taken over")
        finally:
            dying.senders.stop()
            survivor.senders.stop()
        (arrival,) = [at for at, mid in smtp.arrivals if mid == killed_message_id]
        assert arrival - crashed_at >= ttl * 0.9
        assert len(smtp.messages) == 2 and len({m["Message-ID"] for _, m in smtp.messages}) == 2
        killed = survivor.deliveries.get(killed_id)
        # claim 2 (or a later one, if a loaded machine let claim 2 run short before the send started)
        assert killed["status"] == "sent" and killed["claim"] >= 2 and killed["attempts"] == 1
        winner = survivor.deliveries.claim(f"{killed_id}|attempt{killed['claim']}")
        assert winner["owner"] == survivor.sender.owner
        assert {c["owner"] for c in survivor.deliveries.claims.find({"attempt": 2})} == {survivor.sender.owner}


def test_the_consumer_keeps_polling_while_smtp_is_slow(make_settings):
    events = 12
    with SmtpSink(delay_s=1.0) as smtp:
        settings = make_settings("notifications", smtp_url=smtp.url, notifications_sender_threads=1)
        context = bootstrap.build(settings)
        context.ensure_indexes()
        publish(settings, topics.HRIS_EMPLOYEES, people(events))
        with Running(build_consumer(settings, context=context), context.senders) as worker:
            wait_until(lambda: worker.runner.processed >= 2 * events, message="people known")
            started = time.monotonic()
            publish(settings, topics.MATCHING, proposals(events))
            wait_until(lambda: worker.runner.processed >= 3 * events, timeout_s=15, message="all proposals consumed")
            consumed_in = time.monotonic() - started
            # 24 emails at 1 s each on one thread: the consumer was done long before the mail server
            assert len(smtp.messages) < 2 * events / 2, (consumed_in, len(smtp.messages))
            assert consumed_in < 2 * events * smtp.delay_s / 2
            wait_until(lambda: len(smtp.messages) >= 3, timeout_s=10, message="the senders keep sending")
