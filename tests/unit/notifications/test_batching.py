"""What batching and connection reuse must not change for a recipient: one failure in a batch is
retried alone, a dropped SMTP connection loses and doubles nothing, a crash duplicates at most a
sender thread's few unmarked sends, and nothing counts as sent before its outcome is written."""
from __future__ import annotations

import smtplib

from shared.clock import rfc3339
from services.notifications.adapters.channels import EmailChannel, OutgoingMessage
from services.notifications.application.delivery import Source
from services.notifications.domain import delivery as d
from services.notifications.domain.routing import route
from tests.unit.notifications.fakes import FakeChannel, World, transient

PEOPLE = tuple(f"P{i}" for i in range(12))


def proposals(world: World, pairs: int) -> list[dict]:
    """`pairs` proposals (P0 mentors P1, P2 mentors P3, ...): 2 emails and 2 inbox items each."""
    enqueuer, new = world.enqueuer(), []
    for i in range(pairs):
        event_id = f"ev{i}"
        pairing = {"pairing_id": f"PA{i}", "cohort_id": "C1", "mentor_id": f"P{2 * i}", "mentee_id": f"P{2 * i + 1}",
                   "score": 0.5, "reasons": [], "proposed_by": "algorithm", "matching_run_id": None,
                   "answer_by": "2030-01-01T00:00:00Z"}
        source = Source(event_id, "PairingProposed", rfc3339(world.clock.now()), 1, event_id)
        new += enqueuer.notify(route("PairingProposed", event_id, pairing), source)
    return new


def test_one_failed_send_in_a_batch_is_retried_alone_and_the_rest_are_recorded_by_the_bookkeeper():
    world = World(people=PEOPLE)
    world.email = FailsOnce(on_send=3)  # the third email: the server says "try later"
    pool = world.pool(world.sender("s"), batch=50)
    assert pool.bookkeep_once(0) == 0  # a bookkeeper runs (the worker's job), nothing to record yet
    for doc in proposals(world, 6):
        pool.submit(doc)
    assert pool.work_once(0) == 24
    # sent, but not yet recorded: still in flight here, so the sweep hands nothing over again
    assert world.outcomes.events() == [] and pool.backlog() == 24 and pool.sweep() == 0
    assert pool.bookkeep_once(0) == 1 and pool.backlog() == 0
    statuses = {key: doc["status"] for key, doc in world.deliveries.docs.items()}
    (retried,) = [key for key, status in statuses.items() if status == d.RETRY]
    assert retried.endswith("|email") and list(statuses.values()).count(d.SENT) == 23
    assert set(world.deliveries.queue) == {retried} and len(world.outcomes.events()) == 23
    assert len(world.email.sent) == 11
    world.clock.advance(seconds=world.config.retry_base_s)
    assert pool.process_queue() == 1  # only the failed one goes again
    assert len(world.email.sent) == 12 and len({m.notification_id for m in world.email.sent}) == 12
    assert world.deliveries.get(retried)["status"] == d.SENT and world.deliveries.queue == {}


def test_a_crash_duplicates_at_most_the_unmarked_sends_and_marks_go_in_few_inserts():
    world = World(people=PEOPLE)
    inserts: list[int] = []
    mark_sent = world.deliveries.mark_sent
    world.deliveries.mark_sent = lambda marks: (inserts.append(len(marks)), mark_sent(marks))
    emails = [doc for doc in proposals(world, 6) if doc["channel"] == "email"]
    sent: list[str] = []

    def crash_on_the_tenth(delivery):
        sent.append(delivery["_id"])
        if len(sent) == 10:
            raise Crash()

    dying = world.sender("dying", after_send=crash_on_the_tenth, unmarked_sends=3)
    try:
        dying.process([dict(doc) for doc in emails])
    except Crash:
        pass
    assert len(world.email.sent) == 10 and len(inserts) < 10  # several marks per insert
    world.server_clock.advance(seconds=world.config.claim_ttl_s + 1)
    world.clock.advance(seconds=world.config.claim_ttl_s + 1)
    successor = world.pool(world.sender("successor"))
    successor.process_queue()
    assert {doc["status"] for doc in world.deliveries.docs.values() if doc["channel"] == "email"} == {d.SENT}
    again = len(world.email.sent) - 12  # each of the 12 once, plus what was sent but not marked
    assert 1 <= again <= 3, again


def test_a_dropped_smtp_connection_is_reopened_and_no_message_is_lost_or_sent_twice():
    server = FakeSmtpServer(drop_after=(3, 7))  # the server drops the connection after its 3rd and 7th message
    world = World(people=PEOPLE)
    world.email = EmailChannel("smtp://mail.example:25", connect=server.connect)
    new = proposals(world, 6)
    sender = world.sender("s")
    sender.channels["email"] = world.email
    sender.process([dict(doc) for doc in new])
    assert sorted(server.accepted) == sorted(f"p{i}@example.com" for i in range(12))  # each once
    assert server.connections == 3 and server.failed_on_reused == 2
    assert {doc["status"] for doc in world.deliveries.docs.values()} == {d.SENT}


def test_a_fresh_connection_that_fails_is_a_transient_failure_not_a_loop():
    server = FakeSmtpServer(refuse_connections=True)
    channel = EmailChannel("smtp://mail.example:25", connect=server.connect)
    world = World(people=PEOPLE)
    (doc,) = [doc for doc in proposals(world, 1) if doc["_id"].endswith("|P0|email")]
    sender = world.sender("s")
    sender.channels["email"] = channel
    sender.process([dict(doc)])
    stored = world.deliveries.get(doc["_id"])
    assert stored["status"] == d.RETRY and stored["last_error"] == "smtp_unreachable" and server.connections == 1


def test_an_idle_connection_is_replaced_before_the_next_message_and_a_busy_one_kept():
    now = [0.0]
    server = FakeSmtpServer()
    channel = EmailChannel("smtp://mail.example:25", connect=server.connect, idle_s=30, monotonic=lambda: now[0])
    messages = [OutgoingMessage(f"n{i}", f"P{i}", "kudos", "Subject", "text", "<p>html</p>", email=f"p{i}@example.com")
                for i in range(4)]
    for message in messages[:3]:
        channel.send(message)
        now[0] += 10
    assert server.connections == 1
    now[0] += 31
    channel.send(messages[3])
    assert server.connections == 2 and server.quit == 1 and len(server.accepted) == 4


class Crash(BaseException):
    """A killed process: nothing catches it."""


class FailsOnce(FakeChannel):
    """Answers "try later" to its `on_send`-th message only."""

    def __init__(self, on_send: int):
        super().__init__()
        self.on_send, self.calls = on_send, 0

    def send(self, message):
        self.calls += 1
        if self.calls == self.on_send:
            raise transient()
        super().send(message)


class FakeSmtpServer:
    """Hands out clients speaking smtplib's interface; counts connections and accepted messages."""

    def __init__(self, *, drop_after: tuple[int, ...] = (), refuse_connections: bool = False):
        self.accepted: list[str] = []
        self.connections = 0
        self.failed_on_reused = 0
        self.quit = 0
        self.drop_after = set(drop_after)
        self.refuse_connections = refuse_connections

    def connect(self):
        self.connections += 1
        if self.refuse_connections:
            raise ConnectionRefusedError("nobody listens")
        return _Client(self)


class _Client:
    def __init__(self, server: FakeSmtpServer):
        self.server = server
        self.open = True

    def sendmail(self, sender, recipients, raw):
        assert isinstance(raw, bytes) and sender == "mentoring@localhost"
        if not self.open:
            self.server.failed_on_reused += 1
            raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")
        self.server.accepted.extend(recipients)
        if len(self.server.accepted) in self.server.drop_after:
            self.open = False  # the server hangs up; the client notices on its next command
        return {}

    def rset(self):
        pass

    def quit(self):
        self.server.quit += 1

    def close(self):
        self.open = False


def test_records_wait_for_their_marks():
    """The bookkeeper never records `sent` before the sent mark exists (a successor would send again
    over a recorded outcome otherwise)."""
    world = World(people=PEOPLE)
    order: list[str] = []
    mark_sent, record_many = world.deliveries.mark_sent, world.deliveries.record_many
    world.deliveries.mark_sent = lambda marks: (order.append("mark"), mark_sent(marks))
    world.deliveries.record_many = lambda changes: (order.append("record"), record_many(changes))
    pool = world.pool(world.sender("s", unmarked_sends=8))
    pool.bookkeep_once(0)
    for doc in proposals(world, 2):
        pool.submit(doc)
    pool.work_once(0)
    assert "mark" in order and "record" not in order
    pool.bookkeep_once(0)
    assert order[-1] == "record" and world.deliveries.claim(d.sent_mark_id("ev0|P0|email", 1)) is not None


def test_without_a_bookkeeper_a_sender_turn_records_its_own_batch():
    world = World(people=PEOPLE)
    pool = world.pool(world.sender("s"))
    for doc in proposals(world, 2):
        pool.submit(doc)
    assert pool.work_once(0) == 8
    assert pool.backlog() == 0 and world.deliveries.queue == {} and len(world.outcomes.events()) == 8
