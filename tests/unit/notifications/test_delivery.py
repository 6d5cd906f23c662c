"""Enqueue, claims and retries with in-memory fakes: each delivery sent once across replicas."""
from __future__ import annotations

from datetime import timedelta

import pytest

from shared.clock import rfc3339
from services.notifications.adapters.channels import build_email
from services.notifications.application.delivery import Source
from services.notifications.domain import delivery as d
from services.notifications.domain.routing import route
from tests.unit.notifications.fakes import FakeChannel, World, transient

PAIRING = {"pairing_id": "P1", "cohort_id": "C1", "mentor_id": "M", "mentee_id": "E", "score": 0.5, "reasons": [],
           "proposed_by": "algorithm", "matching_run_id": None, "answer_by": "2030-01-01T00:00:00Z"}


class Crash(BaseException):
    """A killed process: nothing catches it."""


def proposal(world: World, event_id: str = "ev1"):
    source = Source(event_id, "PairingProposed", rfc3339(world.clock.now()), 1, event_id)
    return route("PairingProposed", event_id, PAIRING), source


def test_enqueue_names_deliveries_deterministically_and_a_redelivery_adds_nothing():
    world = World()
    handed: list = []
    enqueuer = world.enqueuer(handoff=lambda doc, people: handed.append(doc))
    intents, source = proposal(world)
    new = enqueuer.notify(intents, source)
    assert sorted(doc["_id"] for doc in new) == ["ev1|E|email", "ev1|E|inapp", "ev1|M|email", "ev1|M|inapp"]
    assert all(doc["status"] == d.QUEUED for doc in new) and len(handed) == 4
    assert set(world.deliveries.queue) == {doc["_id"] for doc in new}
    assert enqueuer.notify(intents, source) == [] and len(handed) == 4  # redelivered: nothing new
    assert world.email.sent == []  # the consumer never sends


def test_quiet_hours_and_digest_wait_in_the_queue_instead_of_being_handed_off():
    world = World(preferences={"M": {"digest": True}, "E": {"quiet_hours": {"start": "00:00", "end": "23:59"}}})
    handed: list = []
    world.enqueuer(handoff=lambda doc, people: handed.append(doc)).notify(*proposal(world))
    statuses = {doc["_id"]: doc["status"] for doc in world.deliveries.docs.values()}
    # a proposal is urgent: no digest for M; E's quiet hours hold email, not the inbox
    assert statuses == {"ev1|M|email": d.QUEUED, "ev1|M|inapp": d.QUEUED, "ev1|E|email": d.DEFERRED,
                        "ev1|E|inapp": d.QUEUED}
    assert sorted(doc["_id"] for doc in handed) == ["ev1|E|inapp", "ev1|M|email", "ev1|M|inapp"]


def test_old_events_notify_nobody_unless_asked():
    world = World()
    intents, source = proposal(world)
    world.clock.advance(hours=73)
    assert world.enqueuer().notify(intents, source) == []
    assert len(world.enqueuer().notify(intents, source, check_age=False)) == 4


def test_two_replicas_given_the_same_deliveries_send_each_once():
    world = World()
    new = world.enqueuer().notify(*proposal(world))
    first, second = world.sender("replica-1"), world.sender("replica-2")
    assert first.process([dict(doc) for doc in new]) == 4
    assert second.process([dict(doc) for doc in new]) == 0  # its copies are stale: claims say taken
    assert len(world.email.sent) == 2 and len(world.inapp.sent) == 2
    assert {c["owner"] for c in world.deliveries.claims.values()} == {"replica-1"}
    assert all(doc["status"] == d.SENT and doc["claim"] == 1 for doc in world.deliveries.docs.values())
    assert world.deliveries.queue == {}
    assert len(world.outcomes.events()) == 4


def test_a_claim_held_by_a_dead_sender_is_taken_over_only_after_it_expires():
    world = World()
    (doc, *_) = [doc for doc in world.enqueuer().notify(*proposal(world)) if doc["_id"] == "ev1|M|email"]

    def die(delivery):
        raise Crash(delivery["_id"])

    with pytest.raises(Crash):
        world.sender("dying", before_send=die).process([dict(doc)])
    survivor = world.sender("survivor")
    assert survivor.process([world.deliveries.get(doc["_id"])]) == 0
    world.server_clock.advance(seconds=world.config.claim_ttl_s - 1)
    assert survivor.process([world.deliveries.get(doc["_id"])]) == 0 and world.email.sent == []
    world.server_clock.advance(seconds=2)
    assert survivor.process([world.deliveries.get(doc["_id"])]) == 1
    assert len(world.email.sent) == 1
    stored = world.deliveries.get(doc["_id"])
    assert stored["status"] == d.SENT and stored["claim"] == 2 and stored["attempts"] == 1


def test_a_stale_copy_met_after_the_claim_expired_rereads_and_sends_nothing():
    world = World()
    new = world.enqueuer().notify(*proposal(world))
    stale = [dict(doc) for doc in new]
    world.sender("fast").process([dict(doc) for doc in new])
    world.server_clock.advance(seconds=world.config.claim_ttl_s + 1)  # every claim 1 has expired by now
    assert world.sender("slow").process(stale) == 0
    assert len(world.email.sent) == 2 and len(world.outcomes.events()) == 4


def test_a_send_that_outlived_its_claim_is_not_recorded_over_its_successor():
    world = World()
    (doc,) = [doc for doc in world.enqueuer().notify(*proposal(world)) if doc["_id"] == "ev1|M|email"]
    successor = world.sender("successor")

    def slow_send(delivery):
        # the send took longer than the claim: the successor claimed and sent meanwhile
        world.server_clock.advance(seconds=world.config.claim_ttl_s + 1)
        assert successor.process([world.deliveries.get(delivery["_id"])]) == 1

    world.sender("slow", after_send=slow_send).process([dict(doc)])
    stored = world.deliveries.get(doc["_id"])
    assert stored["claim"] == 2 and [h["outcome"] for h in stored["history"]] == [d.SENT]
    assert len(world.email.sent) == 2  # the documented duplicate, recorded once


def test_a_sender_killed_after_its_sends_but_before_its_bookkeeping_causes_no_second_email():
    world = World()
    new = world.enqueuer().notify(*proposal(world))
    dying = world.sender("dying")

    def die(batch):
        raise Crash("killed before the batch's bookkeeping")

    dying.flush = die
    with pytest.raises(Crash):
        dying.process([dict(doc) for doc in new])
    assert len(world.email.sent) == 2 and len(world.deliveries.queue) == 4 and world.outcomes.events() == []
    world.server_clock.advance(seconds=world.config.claim_ttl_s + 1)
    assert world.sender("survivor").process([world.deliveries.get(doc["_id"]) for doc in new]) == 4
    assert len(world.email.sent) == 2, "the sent marks say the emails went out: no second send"
    # the in-app inbox is put again (unmarked: it is keyed by notification id, so nothing doubles)
    assert len({message.notification_id for message in world.inapp.sent}) == 2
    stored = [world.deliveries.get(doc["_id"]) for doc in new]
    assert {doc["status"] for doc in stored} == {d.SENT} and {doc["claim"] for doc in stored} == {2}
    assert len(world.outcomes.events()) == 4 and world.deliveries.queue == {}


def test_a_batch_records_every_outcome_once_one_bad_delivery_among_good_ones():
    world = World(people=("M", "E", "X"))
    world.directory.people["X"]["email"] = "x@example.com\r\nBcc: victim@example.com"
    world.email.failures = [transient()]  # the first email of the batch: try later
    sources = [proposal(world, f"ev{i}") for i in range(5)]
    docs = [doc for intents, source in sources for doc in world.enqueuer().notify(intents, source)]
    assert world.sender("s").process([world.deliveries.get(doc["_id"]) for doc in docs]) == 20
    statuses = [world.deliveries.get(doc["_id"])["status"] for doc in docs]
    assert statuses.count(d.RETRY) == 1 and statuses.count(d.SENT) == 19
    assert len(world.email.sent) == 9 and len(world.outcomes.events()) == 19
    assert set(world.deliveries.queue) == {doc["_id"] for doc in docs if world.deliveries.get(doc["_id"])["status"] == d.RETRY}


def test_transient_failures_back_off_then_fail_with_one_outcome_event():
    world = World()
    (doc,) = [doc for doc in world.enqueuer().notify(*proposal(world)) if doc["_id"] == "ev1|M|email"]
    world.email.failures = [transient(), transient(), transient()]
    sender = world.sender("s")
    start = world.clock.now()
    sender.process([world.deliveries.get(doc["_id"])])
    stored = world.deliveries.get(doc["_id"])
    assert stored["status"] == d.RETRY and stored["due_at"] == start + timedelta(seconds=60)
    assert world.deliveries.queue[doc["_id"]]["due_at"] == start + timedelta(seconds=60)
    assert sender.process([stored]) == 0  # not due yet
    world.clock.advance(seconds=60)
    sender.process([world.deliveries.get(doc["_id"])])
    assert world.deliveries.get(doc["_id"])["due_at"] == world.clock.now() + timedelta(seconds=120)
    world.clock.advance(seconds=120)
    sender.process([world.deliveries.get(doc["_id"])])
    stored = world.deliveries.get(doc["_id"])
    assert stored["status"] == d.FAILED and stored["attempts"] == 3 and stored["claim"] == 3
    assert [h["outcome"] for h in stored["history"]] == [d.RETRY, d.RETRY, d.FAILED]
    assert doc["_id"] not in world.deliveries.queue
    failed = [e for e in world.outcomes.events() if e.event_type == "NotificationFailed"]
    assert len(failed) == 1 and failed[0].data["error"].startswith("retries_exhausted")


def test_the_sweep_hands_over_due_entries_once_and_finishes_bookkeeping_of_final_ones():
    world = World()
    new = world.enqueuer().notify(*proposal(world))  # no hand-off: only the queue knows
    pool = world.pool(world.sender("s"))
    assert pool.sweep() == 4 and pool.sweep() == 0  # in flight locally: not handed twice
    assert pool.drain() == 4 and world.deliveries.queue == {}
    # a crash after "sent" but before the outcome and the dequeue: the sweep completes it, sends nothing
    world.deliveries.queue[new[0]["_id"]] = {"_id": new[0]["_id"], "due_at": world.clock.now()}
    world.outcomes.streams.clear()
    assert pool.process_queue() == 0
    assert world.deliveries.queue == {} and len(world.outcomes.events()) == 1
    assert len(world.email.sent) + len(world.inapp.sent) == 4


def test_hand_off_never_blocks_the_consumer():
    world = World()
    pool = world.pool(world.sender("s"), max_local=2)
    docs = world.enqueuer(handoff=pool.submit).notify(*proposal(world))
    assert pool.backlog() == 2 and len(docs) == 4  # the rest waits for the sweep
    assert pool.process_queue() == 4


def test_a_channel_turned_off_before_sending_cancels_the_delivery():
    world = World()
    new = world.enqueuer().notify(*proposal(world))
    world.preferences.docs["M"] = {"email_enabled": False}
    world.sender("s").process(new)
    assert world.deliveries.get("ev1|M|email")["status"] == d.CANCELLED
    assert len(world.email.sent) == 1 and world.deliveries.queue == {}


def test_digest_deliveries_go_out_as_one_message_when_due():
    world = World(preferences={"M": {"digest": True, "digest_hour": 8}})
    enqueuer = world.enqueuer()
    for event_id in ("k1", "k2"):
        source = Source(event_id, "KudosSent", rfc3339(world.clock.now()), 1, event_id)
        enqueuer.notify(route("KudosSent", event_id, {"kudos_id": event_id, "pairing_id": "P1", "cohort_id": "C1",
                                                       "from_id": "E", "to_id": "M"}), source)
    pool = world.pool(world.sender("s"))
    pool.process_queue()
    assert world.email.sent == []
    world.clock.advance(hours=24)
    pool.process_queue()
    assert len(world.email.sent) == 1 and world.email.sent[0].category == "digest"
    assert {world.deliveries.get(f"{k}|M|email")["status"] for k in ("k1", "k2")} == {d.SENT}


def test_a_delivery_without_a_template_fails_and_a_channel_bug_is_retried_without_stopping_the_batch():
    world = World()
    new = world.enqueuer().notify(*proposal(world))
    broken = next(doc for doc in new if doc["_id"] == "ev1|M|email")
    world.deliveries.docs[broken["_id"]]["category"] = "no_such_category"
    world.inapp.failures = [RuntimeError("bug")]
    world.sender("s").process([world.deliveries.get(doc["_id"]) for doc in new])
    statuses = {key: doc["status"] for key, doc in world.deliveries.docs.items()}
    assert statuses["ev1|M|email"] == d.FAILED and world.deliveries.docs["ev1|M|email"]["error"].startswith("no_template")
    assert sorted(statuses.values()).count(d.RETRY) == 1 and sorted(statuses.values()).count(d.SENT) == 2


class BuildsEmail(FakeChannel):
    """The email channel up to the wire: builds the real email (headers and all), then records it."""

    def send(self, message):
        build_email(message, "mentoring@example.com")
        super().send(message)


HOSTILE_NAME = "Mal\r\nBcc: victim@evil.example"


def test_a_header_injection_fails_that_delivery_for_good_and_the_next_ones_go_out():
    world = World(people=("M", "E", "X"))
    world.directory.people["M"]["display_name"] = HOSTILE_NAME  # HRIS data, as stored
    world.email = BuildsEmail()
    new = world.enqueuer().notify(*proposal(world))
    world.sender("s").process([world.deliveries.get(doc["_id"]) for doc in new])
    broken = world.deliveries.get("ev1|M|email")
    assert broken["status"] == d.FAILED and broken["attempts"] == 1
    assert broken["error"].startswith("invalid_header") and "display name" in broken["error"]
    assert "ev1|M|email" not in world.deliveries.queue  # no retries to come: the queue is free
    assert [m.recipient_id for m in world.email.sent] == ["E"]
    assert world.deliveries.get("ev1|M|inapp")["status"] == d.SENT
    failed = [e for e in world.outcomes.events() if e.event_type == "NotificationFailed"]
    assert [e.data["error"][:14] for e in failed] == ["invalid_header"]

    # a digest whose recipient's name would inject headers: failed with the reason, the next digest goes
    world.preferences.docs.update({"M": {"digest": True, "digest_hour": 8}, "X": {"digest": True, "digest_hour": 8}})
    enqueuer = world.enqueuer()
    for event_id, to_id in (("k1", "M"), ("k2", "X")):
        source = Source(event_id, "KudosSent", rfc3339(world.clock.now()), 1, event_id)
        enqueuer.notify(route("KudosSent", event_id, {"kudos_id": event_id, "pairing_id": "P1", "cohort_id": "C1",
                                                       "from_id": "E", "to_id": to_id}), source)
    world.clock.advance(hours=24)
    world.pool(world.sender("s")).process_queue()
    assert world.deliveries.get("k1|M|email")["status"] == d.FAILED
    assert world.deliveries.get("k1|M|email")["error"].startswith("invalid_header")
    assert world.deliveries.get("k2|X|email")["status"] == d.SENT and world.deliveries.queue == {}
