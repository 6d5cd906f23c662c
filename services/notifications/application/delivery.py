"""Delivering notifications once per (event, recipient, channel), with any number of worker replicas.

The protocol (the only place deliveries are sent)
-------------------------------------------------
**Enqueue (the consumer, `Enqueuer`).** Routing an event gives intents; each enabled channel of
each intent is a delivery with a deterministic id, `"<dedupe key>|<recipient>|<channel>"` (the
dedupe key is the source event's `event_id`, or a key derived from it). The consumer inserts the
delivery documents and their queue entries (two bulk inserts per event; an `_id` that exists
means "already enqueued", so a redelivered or replayed event adds nothing), hands the new ones
that are due now to this process's senders, and returns. It never sends, so a slow SMTP server
never holds up the poll loop.

**Claim (a sender).** Before attempt n of a delivery, a sender *inserts* the claim document
`"<delivery id>|attempt<n>"` (owner, `expires_at` = server time + `claim_ttl_s`). The unique `_id`
decides: exactly one sender gets attempt n, on mongod and on FerretDB alike (FerretDB's
`find_one_and_update` is not isolated, so no claim rests on it). n is one past the last claim
whose attempt was recorded (`claim` in the delivery). A sender that finds claim n taken looks at
it: not expired -> someone is on it, leave it; expired -> its holder died, try claim n+1 (and
re-read the delivery, which may have moved on). So **a delivery is retried by another sender
only after the claim on it expired**. Expiry is judged by the database server's clock
(`ServerClock`), the one clock every replica shares.

**Send, mark, record (the claim holder, a batch at a time).** Send on the channel; the moment an
email or chat post is accepted, queue its *sent mark* `"<claim id>|sent"` for insertion (the marks
are group-committed: one insert for whatever the sender threads accepted meanwhile). A thread goes
on sending while at most `unmarked_sends` (`NOTIFICATIONS_UNMARKED_SENDS`, default 1) of its accepted
sends wait for their marks, and waits for them all before its batch is recorded, so nothing is
recorded `sent` without its mark.
The batch's bookkeeping is then handed to the pool's bookkeeper thread, which writes several
batches' outcomes together, in bulk, while the senders go on: the outcomes into the deliveries
(`sent`, or `retry` with the next due time, or `failed`; updates by `_id` in chunks, FerretDB
stalls on large update batches), the outcome events (`NotificationSent` / `NotificationFailed`,
version 1 of the stream named by the notification id: the event store's expected-version check
makes it exactly once; one ordered insert, `EventStore.append_many`), and the queue entries'
deletion. A delivery stays in flight in its process until then (the sweep does not hand it over
again). A sender does not start a send when less than a third of its claim is left, and if its
claim expired before its outcome was recorded, it is recorded only if no successor has claimed since.

**The crash window.** A sender that dies after the channel accepted a message and before its sent
mark is stored leaves a claim that expires; another sender then sends again. **That is the single
crash window: a crash yields at most `unmarked_sends` duplicates per sender thread** (the sends
whose marks were not written yet), never more. A crash after the marks and before the bookkeeping
costs no duplicate: the successor that steps over the expired claim finds the mark and records
`sent` without sending. Emails carry a stable `Message-ID` (the notification id), so most mail
clients fold a duplicate away; the in-app inbox is keyed by the notification id and never
duplicates (it is not marked). A crash after recording `sent` and before the outcome event or the
dequeue is harmless: the queue entry is still there, and the sweep finishes the bookkeeping
without sending.

**Finding what is due.** FerretDB v1 indexes only `{_id: <string>}` filters, so a due-time query
scans. Hence two paths: (1) in-process hand-off: what the consumer enqueues as due now goes
straight to this process's sender threads (no query at all, the hot path); (2) a slow sweep
(`sweep_interval_s`, default 10 s) of `delivery_queue`, which holds only deliveries that are not
final yet (each entry is deleted when its delivery is), for retries, quiet-hours deferrals,
digests and whatever a crashed replica left behind. On mongod the sweep uses the `due_at` index.

Transient failures (SMTP 4xx or unreachable, webhook 5xx/429/timeout, address not known yet) are
retried with exponential backoff (`retry_base_s * 2**(attempts-1)`); after `max_attempts` they
fail permanently. Deferred (quiet hours) and digest deliveries wait in the same queue.
"""
from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from shared.aggregate import AggregateStore, Causation, NewEvent
from shared.clock import parse_rfc3339
from shared.events.catalog.notifications import NOTIFICATION_FAILED, NOTIFICATION_SENT
from shared.events.envelope import Envelope
from shared.metrics import NOTIFICATION_DELIVERIES
from shared.mongo import TRANSIENT_ERRORS
from services.notifications.adapters.channels import PermanentFailure, TransientFailure
from services.notifications.application.messages import DeliveryConfig, MessageBuilder, People
from services.notifications.domain import delivery as d
from services.notifications.domain.preferences import channel_enabled, decide, enabled_channels
from services.notifications.domain.routing import Intent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Source:
    """The event a notification comes from."""

    event_id: str
    event_type: str
    occurred_at: str
    version: int
    correlation_id: str

    @classmethod
    def of(cls, envelope: Envelope) -> "Source":
        return cls(envelope.event_id, envelope.event_type, envelope.occurred_at, envelope.aggregate_version,
                   envelope.correlation_id)


class Enqueuer:
    """The consumer's side: intents -> delivery documents + queue entries (+ hand-off). Never sends."""

    def __init__(self, *, directory, preferences, deliveries, clock, config: DeliveryConfig, handoff=None):
        self.directory = directory
        self.preferences = preferences
        self.deliveries = deliveries
        self.clock = clock
        self.config = config
        # callable(doc, people): this process's senders take it (SenderPool.submit), with the
        # person and preferences look-ups just made, so the sender need not read them again.
        self.handoff = handoff

    def people(self) -> People:
        return People(self.directory, self.preferences)

    def notify(self, intents: list[Intent], source: Source, *, check_age: bool = True,
               people: People | None = None) -> list[dict]:
        """Enqueue each intent on each channel the recipient has on; returns the new deliveries.

        `people`: the look-ups routing already made for this event (each person is read once)."""
        now = self.clock.now()
        if check_age and (now - parse_rfc3339(source.occurred_at)).total_seconds() > self.config.max_event_age_s:
            return []
        people = people or self.people()
        docs = []
        for intent in intents:
            prefs = people.prefs(intent.recipient_id)
            zone_name = people.person(intent.recipient_id).get("timezone")
            for channel in enabled_channels(prefs, intent.category):
                decision = decide(prefs, intent.category, channel, now, zone_name)
                docs.append(self._delivery(intent, channel, source, now, decision))
        if not docs:
            return []
        existing = self.deliveries.insert_new(docs)
        # Queue entries for all of them: after a crash between the two inserts the entries are
        # missing; for deliveries already final the sweep just removes the entry again.
        self.deliveries.enqueue_new([{"_id": doc["_id"], "due_at": doc["due_at"]} for doc in docs])
        new = [doc for doc in docs if doc["_id"] not in existing]
        if self.handoff is not None:
            for doc in new:
                if doc["status"] == d.QUEUED:
                    self.handoff(doc, people)
        return new

    @staticmethod
    def _delivery(intent: Intent, channel: str, source: Source, now: datetime, decision) -> dict:
        key = d.delivery_id(intent.dedupe_key, intent.recipient_id, channel)
        if decision.action == "send":
            status, due, history = d.QUEUED, now, []
        else:
            status = d.DIGEST if decision.action == "digest" else d.DEFERRED
            due, history = decision.not_before, [{"at": now, "outcome": status, "until": decision.not_before}]
        return {
            "_id": key,
            "notification_id": d.notification_id_for(key),
            "recipient_id": intent.recipient_id,
            "channel": channel,
            "category": intent.category,
            "role": intent.role,
            "dedupe_key": intent.dedupe_key,
            "source_event_id": source.event_id,
            "source_event_type": source.event_type,
            "source_occurred_at": source.occurred_at,
            "source_version": source.version,
            "correlation_id": source.correlation_id,
            "context": intent.context,
            "attach_ics": intent.attach_ics,
            "status": status,
            "due_at": due,
            "attempts": 0,
            "claim": 0,
            "history": history,
            "created_at": now,
        }


@dataclass
class Claim:
    doc: dict
    number: int
    expires_at: datetime
    # Set when a predecessor's sent mark was found: the channel accepted it already, only record.
    sent_at: datetime | None = None


@dataclass
class _Record:
    """One outcome a batch writes when it ends (`Sender.flush`)."""

    claim: Claim
    fields: dict
    history: dict | None
    final: bool  # outcome event (sent / failed) and dequeue; else the queue entry is rescheduled


@dataclass
class Batch:
    """What a batch's sends left to record (`Sender.flush`)."""

    records: list[_Record] = field(default_factory=list)
    finished: list[dict] = field(default_factory=list)  # final already (recorded by someone): bookkeeping only
    marks: list[int] = field(default_factory=list)  # tickets of sent marks not known to be written yet


class GroupInsert:
    """Inserts from several threads gathered into one round trip (a group commit).

    `submit(docs)` queues documents and returns a ticket at once; `wait(ticket)` returns when they
    are written (raising what their insert raised). Whoever waits and finds no write under way
    writes everything queued so far, the others wait for it. So N sender threads marking their
    sends cost one insert, and a thread need not wait for a mark before its next send (only before
    its `unmarked_sends`-th: `Sender`). On FerretDB's SQLite, concurrent writers also queue behind
    a lock with coarse back-off sleeps: fewer, larger writes. Calling it is submit-and-wait.
    """

    def __init__(self, insert):
        self.insert = insert
        self._cond = threading.Condition()
        self._queued: list[dict] = []
        self._writing = False
        self._round = 0  # rounds written so far; a ticket is the round its documents go into
        self._failed: dict[int, BaseException] = {}

    def __call__(self, docs: list[dict]) -> None:
        self.wait(self.submit(docs))

    def submit(self, docs: list[dict]) -> int:
        with self._cond:
            self._queued.extend(docs)
            # queued documents go into the next write to start: the one after the write under way
            return self._round + 1 if not self._writing else self._round + 2

    def wait(self, ticket: int) -> None:
        with self._cond:
            while self._round < ticket:
                if not self._writing:
                    self._writing, batch, self._queued = True, self._queued, []
                    self._cond.release()
                    error = None
                    try:
                        self.insert(batch)
                    except BaseException as exc:  # noqa: BLE001 - handed to every caller of this round
                        error = exc
                    finally:
                        self._cond.acquire()
                    self._round += 1
                    self._failed.pop(self._round - 1024, None)  # long since seen by its callers
                    if error is not None:
                        self._failed[self._round] = error
                    self._writing = False
                    self._cond.notify_all()
                else:
                    self._cond.wait()
            error = self._failed.get(ticket)
        if error is not None:
            raise error


# Channels whose effect leaves the platform: a send is marked at once (the in-app inbox is keyed
# by notification id, so sending there again changes nothing).
MARKED_CHANNELS = ("email", "chat")


class Sender:
    """Claims, sends and records deliveries (one batch at a time; thread-safe, share one per pool).

    Per batch: one insert of the claims; per delivery the send and, once an email or chat post is
    accepted, its sent mark (group-committed, see GroupInsert); then the batch's outcomes in bulk
    (delivery updates, outcome events, dequeues: a few round trips for several batches).

    `unmarked_sends`: how many accepted sends a batch may have whose marks are not written yet. A
    thread that waited for each mark before its next send spent most of its time waiting for
    MongoDB (a mark's round trip is several SMTP sends); with a few in flight the marks of several
    sends and threads go in one insert. The price is the crash window: a crash duplicates at most
    this many messages per sender thread (each with its stable Message-ID)."""

    def __init__(self, *, directory, preferences, deliveries, channels: dict, renderer, outcomes: AggregateStore,
                 clock, server_clock, config: DeliveryConfig, owner: str | None = None,
                 before_send=None, after_send=None, unmarked_sends: int = 1):
        self.directory = directory
        self.preferences = preferences
        self.deliveries = deliveries
        self.channels = channels
        self.messages = MessageBuilder(renderer, config, clock)
        self.outcomes = outcomes
        self.clock = clock  # due times, backoff, history
        self.server_clock = server_clock  # claims: the one clock every replica judges expiry by
        self.config = config
        self.owner = owner or f"sender-{uuid.uuid4().hex[:12]}"
        # Test hooks, called with the delivery around the send (a crash there is what tests simulate:
        # after_send is the crash window, between the channel's acceptance and the sent mark).
        self.before_send = before_send
        self.after_send = after_send
        # Set when the pool stops: the batch in hand ends after the current delivery (the claims
        # on the rest expire and whoever comes next takes them).
        self.stopping = threading.Event()
        self._marks = GroupInsert(self.deliveries.mark_sent)
        self.unmarked_sends = max(1, unmarked_sends)

    # -- a batch -------------------------------------------------------------------------------

    def process(self, docs: list[dict], known: list[People] | tuple = ()) -> int:
        """Claim what is due among `docs`, send it, record it; returns how many were attempted.

        `known`: look-ups the consumer made a moment ago for these deliveries (hand-off)."""
        handled, batch = self.send_batch(docs, known)
        self.flush([batch])
        return handled

    def send_batch(self, docs: list[dict], known: list[People] | tuple = ()) -> tuple[int, "Batch"]:
        """Claim and send (each accepted email or chat post marked at once); returns how many were
        attempted and the batch whose outcomes `flush` records (the pool's bookkeeper does, so the
        sender thread goes on sending meanwhile)."""
        now = self.clock.now()
        batch = Batch()
        ready = []
        for doc in docs:
            if doc["status"] in d.FINAL:
                batch.finished.append(doc)
            elif d.is_due(doc, now):
                ready.append(doc)
        if not ready:
            return 0, batch
        people = People(self.directory, self.preferences)
        for seen in known:
            people.absorb(seen)
        digests: dict[tuple[str, str], list[Claim]] = defaultdict(list)
        handled = 0
        for claim in self._claim(ready, batch):
            if self.stopping.is_set():
                break
            if claim.doc["status"] == d.DIGEST and claim.sent_at is None:
                digests[(claim.doc["recipient_id"], claim.doc["channel"])].append(claim)
                continue
            try:
                self._attempt(claim, people, batch)
            except TRANSIENT_ERRORS:
                raise  # the pool backs off; these claims expire and are taken again (sent marks kept)
            except Exception:  # noqa: BLE001 - one delivery's bug must not stop the batch
                log.exception("delivery %s failed unexpectedly; retried once its claim expires", claim.doc["_id"])
            handled += 1
        for (recipient_id, channel), claims in digests.items():
            handled += self._send_digest(recipient_id, channel, claims, people, batch)
        self._marks_written(batch, 0)  # nothing is recorded sent before its mark is written
        return handled, batch

    def _claim(self, docs: list[dict], batch: Batch) -> list[Claim]:
        """Claim the next attempt of each delivery (bulk inserts); returns the claims this sender won."""
        server_now = self.server_clock.now()
        expires_at = server_now + _seconds(self.config.claim_ttl_s)
        pending = {doc["_id"]: (doc, d.first_claim_number(doc)) for doc in docs}
        first = dict((key, number) for key, (_, number) in pending.items())
        won: list[tuple[dict, int]] = []
        for _ in range(5):  # a few expired claims in a row at most (crashed holders)
            if not pending:
                break
            taken = self.deliveries.insert_claims([
                {"_id": d.claim_id(key, number), "delivery_id": key, "attempt": number, "owner": self.owner,
                 "claimed_at": server_now, "expires_at": expires_at}
                for key, (_, number) in pending.items()
            ])
            retry = {}
            for key, (doc, number) in pending.items():
                if d.claim_id(key, number) not in taken:
                    won.append((doc, number))
                    continue
                other = self.deliveries.claim(d.claim_id(key, number))
                if other is not None and _aware(other["expires_at"]) > server_now:
                    continue  # someone holds it: leave it to them
                retry[key] = (doc, number + 1)
            pending = retry
        claims = []
        for doc, number in won:
            claim = Claim(doc, number, expires_at)
            if number != first[doc["_id"]]:
                # We stepped over an expired claim: its holder may have recorded since we read,
                # or sent and died before its batch's bookkeeping (its sent mark says so).
                claim.doc = doc = self.deliveries.get(doc["_id"]) or doc
                if doc["status"] in d.FINAL:
                    batch.finished.append(doc)
                    continue
                claim.sent_at = self._sent_before(doc["_id"], range(first[doc["_id"]], number))
            claims.append(claim)
        return claims

    def _sent_before(self, delivery: str, numbers) -> datetime | None:
        for number in numbers:
            mark = self.deliveries.claim(d.sent_mark_id(delivery, number))
            if mark is not None:
                return mark.get("sent_at") or self.clock.now()
        return None

    def _marks_written(self, batch: Batch, at_most: int) -> None:
        """Wait until at most `at_most` of the batch's marks are unwritten (the oldest first)."""
        while len(batch.marks) > at_most:
            self._marks.wait(batch.marks.pop(0))

    def _mark_sent(self, claims: list[Claim], batch: Batch) -> None:
        """The channel accepted these: mark them before anything else (the next sends wait for the
        mark once `unmarked_sends` are outstanding), so that a crash from here on is followed by
        bookkeeping instead of a second send."""
        marked = [c for c in claims if c.doc["channel"] in MARKED_CHANNELS]
        if marked:
            now = self.clock.now()
            batch.marks.append(self._marks.submit([
                {"_id": d.sent_mark_id(c.doc["_id"], c.number), "delivery_id": c.doc["_id"], "attempt": c.number,
                 "owner": self.owner, "claimed_at": now, "sent_at": now} for c in marked]))

    def _time_left(self, claim: Claim) -> bool:
        """Enough of the claim left to start a send (a third of the TTL): else leave it to expire."""
        left = (claim.expires_at - self.server_clock.now()).total_seconds()
        return left > self.config.claim_ttl_s / 3

    def _still_ours(self, claim: Claim) -> bool:
        """May we record? Yes while the claim lasts; after that only if nobody claimed the next attempt."""
        if self.server_clock.now() < claim.expires_at:
            return True
        successor = self.deliveries.claim(d.claim_id(claim.doc["_id"], claim.number + 1))
        if successor is not None:
            log.warning("claim on %s expired mid-send and was taken over: not recording", claim.doc["_id"])
            return False
        return True

    # -- one attempt ---------------------------------------------------------------------------

    def _attempt(self, claim: Claim, people: People, batch: Batch) -> None:
        doc, channel = claim.doc, claim.doc["channel"]
        if claim.sent_at is not None:
            self._succeed(claim, batch, at=claim.sent_at)
            return
        prefs = people.prefs(doc["recipient_id"])
        now = self.clock.now()
        if not channel_enabled(prefs, doc["category"], channel):
            self._record(batch, claim, {"status": d.CANCELLED},
                         {"at": now, "outcome": d.CANCELLED, "error": "channel turned off by the recipient"})
            return
        try:
            message = self.messages.build(doc, prefs, people)
        except LookupError as exc:  # no template for the category: no retry can help
            self._fail(claim, "no_template", str(exc), batch)
            return
        self._marks_written(batch, self.unmarked_sends - 1)  # before judging the time left: it may wait
        if not self._time_left(claim):
            return  # the claim expires and the next sender takes attempt n+1
        if self.before_send is not None:
            self.before_send(doc)
        try:
            self.channels[channel].send(message)
        except TransientFailure as exc:
            self._transient(claim, exc, batch)
            return
        except PermanentFailure as exc:
            self._fail(claim, exc.code, str(exc), batch)
            return
        except Exception as exc:  # noqa: BLE001 - a channel bug: retried with backoff, then failed
            log.exception("channel %s raised on delivery %s", channel, doc["_id"])
            self._transient(claim, TransientFailure("channel_error", type(exc).__name__), batch)
            return
        if self.after_send is not None:
            self.after_send(doc)
        self._mark_sent([claim], batch)
        self._succeed(claim, batch)

    def _attempts(self, claim: Claim) -> int:
        return int(claim.doc.get("attempts", 0)) + 1

    @staticmethod
    def _record(batch: Batch, claim: Claim, fields: dict, history: dict | None, *, final: bool = True) -> None:
        batch.records.append(_Record(claim, {**fields, "claim": claim.number}, history, final))

    def _succeed(self, claim: Claim, batch: Batch, *, at: datetime | None = None) -> None:
        at = at or self.clock.now()
        self._record(batch, claim, {"status": d.SENT, "sent_at": at, "attempts": self._attempts(claim)},
                     {"at": at, "outcome": d.SENT})

    def _transient(self, claim: Claim, exc: TransientFailure, batch: Batch, *, status: str = d.RETRY) -> None:
        attempts = self._attempts(claim)
        now = self.clock.now()
        due = d.after_transient(attempts, max_attempts=self.config.max_attempts, base_s=self.config.retry_base_s, now=now)
        if due is None:
            self._fail(claim, "retries_exhausted", f"retries exhausted after {attempts} attempts; last {exc}", batch)
            return
        self._record(batch, claim, {"status": status, "due_at": due, "next_attempt_at": due, "attempts": attempts,
                                    "last_error": exc.code},
                     {"at": now, "outcome": d.RETRY, "error": str(exc), "next_attempt_at": due}, final=False)

    def _fail(self, claim: Claim, code: str, message: str, batch: Batch) -> None:
        now = self.clock.now()
        error = f"{code}: {message}"[:500] if not message.startswith(code) else message[:500]
        self._record(batch, claim, {"status": d.FAILED, "error": error, "attempts": self._attempts(claim)},
                     {"at": now, "outcome": d.FAILED, "error": error})

    # -- the batch's bookkeeping ---------------------------------------------------------------

    def flush(self, batches: list[Batch]) -> None:
        """Write the batches' outcomes: delivery updates, then outcome events, then dequeues (each in
        bulk, several batches together). A crash in between is finished by the sweep: a final delivery
        still queued gets its outcome event (exactly once) and its entry removed, without a send."""
        records = [record for batch in batches for record in batch.records if self._still_ours(record.claim)]
        if records:
            self.deliveries.record_many([(r.claim.doc["_id"], r.fields, r.history) for r in records])
        for record in records:
            record.claim.doc.update(record.fields)
            if not record.final:
                self.deliveries.reschedule(record.claim.doc["_id"], record.fields["due_at"])
            outcome = record.fields["status"]
            if outcome != d.CANCELLED:
                NOTIFICATION_DELIVERIES.labels(record.claim.doc["channel"], d.RETRY if not record.final else outcome).inc()
        self._finish_bookkeeping([r.claim.doc for r in records if r.final] + [doc for batch in batches for doc in batch.finished])

    def _finish_bookkeeping(self, docs: list[dict]) -> None:
        """Final deliveries: their outcome events (exactly once), then the queue entries go."""
        if not docs:
            return
        outcomes = [doc for doc in docs if doc["status"] in (d.SENT, d.FAILED)]
        if outcomes:
            # Exactly one outcome event per delivery: version 1 of the notification's own stream
            # (a stream already at version 1 was recorded by an earlier, interrupted pass).
            # A ConcurrencyError in the answer is such an earlier pass: nothing more to record.
            self.outcomes.append_many([(doc["notification_id"], 0, [self._outcome_event(doc)], None) for doc in outcomes],
                                      [_causation(doc) for doc in outcomes])
        self.deliveries.dequeue_many([doc["_id"] for doc in docs])

    @staticmethod
    def _outcome_event(doc: dict) -> NewEvent:
        data = {
            "notification_id": doc["notification_id"], "recipient_id": doc["recipient_id"],
            "channel": doc["channel"], "category": doc["category"],
            "source_event_id": doc["source_event_id"], "source_event_type": doc["source_event_type"],
        }
        event_type = NOTIFICATION_SENT if doc["status"] == d.SENT else NOTIFICATION_FAILED
        if event_type == NOTIFICATION_FAILED:
            data["error"] = doc.get("error") or "failed"
        return NewEvent(event_type, data)

    # -- digests -------------------------------------------------------------------------------

    def _send_digest(self, recipient_id: str, channel: str, claims: list[Claim], people: People,
                     batch: Batch) -> int:
        prefs = people.prefs(recipient_id)
        now = self.clock.now()
        live = []
        for claim in claims:
            if channel_enabled(prefs, claim.doc["category"], channel):
                live.append(claim)
            else:
                self._record(batch, claim, {"status": d.CANCELLED},
                             {"at": now, "outcome": d.CANCELLED, "error": "channel turned off by the recipient"})
        if not live:
            return 0
        self._marks_written(batch, self.unmarked_sends - 1)
        if not all(self._time_left(c) for c in live):
            return 0
        try:
            message = self.messages.digest(recipient_id, channel, [c.doc for c in live], prefs, people)
        except LookupError as exc:  # no template: no retry can help
            for claim in live:
                self._fail(claim, "no_template", str(exc), batch)
            return len(live)
        for claim in live:
            claim.doc["digest_id"] = message.notification_id
        try:
            self.channels[channel].send(message)
        except TransientFailure as exc:
            for claim in live:
                self._transient(claim, exc, batch, status=d.DIGEST)
            return len(live)
        except PermanentFailure as exc:
            for claim in live:
                self._fail(claim, exc.code, str(exc), batch)
            return len(live)
        except Exception as exc:  # noqa: BLE001 - a channel bug: retried with backoff, then failed (as _attempt)
            log.exception("channel %s raised on a digest for %s", channel, recipient_id)
            for claim in live:
                self._transient(claim, TransientFailure("channel_error", type(exc).__name__), batch, status=d.DIGEST)
            return len(live)
        if self.after_send is not None:
            for claim in live:
                self.after_send(claim.doc)
        self._mark_sent(live, batch)
        for claim in live:
            self._succeed(claim, batch)
        return len(live)


def _causation(doc: dict) -> Causation:
    return Causation(correlation_id=doc.get("correlation_id") or doc["source_event_id"], causation_id=doc["source_event_id"])


class SenderPool:
    """This process's sender threads, fed by hand-off from the consumer and by the sweep, and its
    bookkeeper, which records what the sender threads sent.

    `submit(doc)` never blocks the caller (the consumer): the local queue is bounded, and what does
    not fit is left to the sweep (it is in `delivery_queue` already). `work_once()` is one turn of a
    sender thread: claim a batch, send it, hand its outcomes to the bookkeeper and go on with the
    next batch; `bookkeep_once()` is one turn of the bookkeeper: the outcomes of whatever batches
    are waiting, written together (the worker runs both as jobs). Why a bookkeeper: a batch's
    bookkeeping took as long as its sends (FerretDB updates are slow), and one writer of larger
    bulks beats every sender thread writing its own (FerretDB's SQLite serialises writers). A
    delivery stays in flight here until its outcome is written. Without a bookkeeper (neither
    `start()` nor a `bookkeep_once()` call yet), `work_once()` records its own batch. `drain()` and
    `process_queue()` run everything on the calling thread (tests, scripts).
    """

    def __init__(self, sender: Sender, deliveries, clock, *, threads: int = 4, batch: int = 50,
                 sweep_interval_s: float = 10.0, sweep_limit: int = 5000, max_local: int = 10000,
                 max_unrecorded: int | None = None):
        self.sender = sender
        self.deliveries = deliveries
        self.clock = clock
        self.threads = threads
        self.batch = batch
        self.sweep_interval_s = sweep_interval_s
        self.sweep_limit = sweep_limit
        self._local: queue.Queue = queue.Queue(maxsize=max_local)
        # Sent batches waiting for the bookkeeper; when it falls this far behind, a sender thread
        # records its own batch (the claims must not expire before their outcomes are written).
        self._unrecorded: queue.Queue = queue.Queue(maxsize=max_unrecorded or 2 * threads)
        # Set once a bookkeeper runs (`start()`, or the worker's job calling `bookkeep_once`); until
        # then a sender turn records its own batch (a script or test driving `work_once` alone).
        self._bookkeeper = threading.Event()
        self._inflight: set[str] = set()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    # -- feeding -------------------------------------------------------------------------------

    def submit(self, doc: dict, people: People | None = None) -> bool:
        with self._lock:
            if doc["_id"] in self._inflight:
                return False
            self._inflight.add(doc["_id"])
        try:
            self._local.put_nowait((doc, people))
            return True
        except queue.Full:
            with self._lock:
                self._inflight.discard(doc["_id"])
            return False  # the sweep finds it in delivery_queue

    def sweep(self) -> int:
        """Hand the due queue entries to the senders; returns how many were handed over."""
        handed = 0
        for entry in self.deliveries.due(self.clock.now(), self.sweep_limit):
            with self._lock:
                if entry["_id"] in self._inflight:
                    continue
            doc = self.deliveries.get(entry["_id"])
            if doc is None:
                self.deliveries.dequeue(entry["_id"])
                continue
            handed += self.submit(doc)
        return handed

    # -- working -------------------------------------------------------------------------------

    def _take(self, timeout_s: float) -> list[tuple[dict, People | None]]:
        try:
            first = self._local.get(timeout=timeout_s) if timeout_s > 0 else self._local.get_nowait()
        except queue.Empty:
            return []
        items = [first]
        while len(items) < self.batch:
            try:
                items.append(self._local.get_nowait())
            except queue.Empty:
                break
        return items

    def _process(self, items: list[tuple[dict, People | None]]) -> int:
        """Claim, send and record on this thread (`drain`)."""
        known = list({id(people): people for _, people in items if people is not None}.values())
        try:
            return self.sender.process([doc for doc, _ in items], known)
        finally:
            self._release([doc["_id"] for doc, _ in items])

    def _release(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._inflight.discard(key)

    def work_once(self, timeout_s: float = 0.5) -> int:
        """One sender turn: a batch claimed and sent, its outcomes handed to the bookkeeper."""
        items = self._take(timeout_s)
        if not items:
            return 0
        keys = [doc["_id"] for doc, _ in items]
        known = list({id(people): people for _, people in items if people is not None}.values())
        try:
            handled, batch = self.sender.send_batch([doc for doc, _ in items], known)
        except TRANSIENT_ERRORS as exc:
            self._release(keys)
            log.warning("notifications sender: MongoDB unavailable (%s); the sweep retries these later", exc)
            self._stop.wait(1.0)
            return 0
        except BaseException:
            self._release(keys)
            raise
        if not self._bookkeeper.is_set():
            self._record([(batch, keys)])
            return handled
        try:
            self._unrecorded.put_nowait((batch, keys))
        except queue.Full:  # the bookkeeper is behind: record this batch here
            self._record([(batch, keys)])
        return handled

    def bookkeep_once(self, timeout_s: float = 0.5, *, most: int = 20) -> int:
        """One bookkeeper turn: the outcomes of up to `most` sent batches, written together;
        returns how many batches."""
        self._bookkeeper.set()
        try:
            first = self._unrecorded.get(timeout=timeout_s) if timeout_s > 0 else self._unrecorded.get_nowait()
        except queue.Empty:
            return 0
        waiting = [first]
        while len(waiting) < most:
            try:
                waiting.append(self._unrecorded.get_nowait())
            except queue.Empty:
                break
        self._record(waiting)
        return len(waiting)

    def _record(self, waiting: list[tuple[Batch, list[str]]]) -> None:
        """A failure here leaves the claims to expire: whoever claims next finds the sent marks and
        records without sending again (the crash window of the module docstring)."""
        try:
            self.sender.flush([batch for batch, _ in waiting])
        except TRANSIENT_ERRORS as exc:
            log.warning("notifications bookkeeper: MongoDB unavailable (%s); these are recorded once their "
                        "claims expire", exc)
            self._stop.wait(1.0)
        finally:
            self._release([key for _, keys in waiting for key in keys])

    def drain(self) -> int:
        handled = 0
        while True:
            items = self._take(0)
            if not items:
                return handled
            handled += self._process(items)

    def process_queue(self) -> int:
        """Send everything due on this thread (hand-offs, then sweeps until one brings nothing new
        to do); returns how many deliveries were attempted."""
        handled = self.drain()
        while self.sweep():
            attempted = self.drain()
            if not attempted:
                break
            handled += attempted
        return handled

    def backlog(self) -> int:
        with self._lock:
            return len(self._inflight)

    # -- own threads (scripts and tests; the worker runs the same loops as jobs) ----------------

    def start(self) -> None:
        self._stop.clear()
        self.sender.stopping.clear()
        self._bookkeeper.set()
        for index in range(self.threads):
            self._spawn(f"notifications-sender-{index}", lambda: self._repeat(
                self.work_once, "notifications sender failed a batch; the sweep retries it"))
        self._spawn("notifications-bookkeeper", lambda: self._repeat(
            self.bookkeep_once, "notifications bookkeeper failed; these are recorded once their claims expire"))
        self._spawn("notifications-sweep", self._sweep_loop)

    def _spawn(self, name: str, target) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _repeat(self, step, failure: str) -> None:
        """Run `step` until stopped; a failure is logged and retried a second later (a sender thread
        never dies of one bad batch; the bookkeeper's claims expire and the next claimant records them)."""
        while not self._stop.is_set():
            try:
                step()
            except Exception:  # noqa: BLE001 - see above
                log.exception(failure)
                self._stop.wait(1.0)

    def _sweep_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.sweep()
            except Exception:  # noqa: BLE001
                log.exception("notifications sweep failed; next turn retries")
            self._stop.wait(self.sweep_interval_s)

    def stop(self) -> None:
        self._stop.set()
        self.sender.stopping.set()
        for thread in self._threads:
            thread.join(timeout=15)
        self._threads.clear()
        while self.bookkeep_once(0):  # what the senders sent last
            pass
        for channel in self.sender.channels.values():
            close = getattr(channel, "close", None)
            if close is not None:
                close()


def _seconds(value: float) -> timedelta:
    return timedelta(seconds=value)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
