"""The relay: every stored event reaches Kafka once, in stream order, from one fenced publisher.

It walks the event store's global positions one by one from a cursor and publishes each commit's
events (only `events`: a commit's `private` field never leaves MongoDB) with key = aggregate id.

Exactly once, even with a paused or partitioned replica:
- Publishing uses Kafka's *transactional* producer with one fixed `transactional_id` per service
  (`<topic prefix><service>-relay`). A batch of commits is one transaction, and the cursor (the
  next position) is committed *inside the same transaction* as the offset of a consumer group
  named like the transactional id (`send_offsets_to_transaction`). So the records and the cursor
  become visible together or not at all; a crash between them cannot republish a batch.
- Whoever starts publishing calls `init_transactions()`, which aborts any open transaction of the
  previous producer with that id and fences it: a holder that was SIGSTOPped past its lease and
  wakes up cannot commit anything more. The new publisher then reads the cursor back from Kafka,
  so it continues exactly where the last committed transaction ended — no record is published
  after its successor's, none twice, and no key is reordered. Consumers read with
  `isolation_level="read_committed"` so aborted attempts are invisible.
- A lease (shared.lease: unique-insert epochs, server time) decides which replica publishes; it
  avoids two replicas fencing each other in turns, while correctness rests on the fencing above.
- A copy of the cursor is kept in MongoDB (`event_relay`, one document per cursor value, inserted
  uniquely, the highest wins), for `backlog()` and metrics without a Kafka round trip, and as a
  floor if Kafka ever forgets the group's offsets (an empty group's offsets expire after
  `offsets.retention.minutes`). A stale writer can only insert a lower value, never move it back.

A position that is not written yet is the end of the log: positions fill as a prefix (see
shared.eventstore). A missing position with something written beyond it is damage (or an older
version's lost counter value): the relay waits `gap_timeout_s`, then *seals* it, so nothing can
ever land behind the cursor. While Kafka is down the relay keeps retrying with backoff, never
advancing past what it could not publish; after a failure it starts over with a new producer (a
kafka-python producer whose sends failed across a broker restart can stay stuck for good).
"""
from __future__ import annotations

import itertools
import logging
import os
import socket
import threading
import time
import uuid
from typing import Any

from kafka import KafkaConsumer, TopicPartition
from kafka.structs import OffsetAndMetadata
from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

from shared import topics
from shared.config import Settings
from shared.eventstore import READ_WINDOW, EventStore, event_bytes, position_key
from shared.kafka import make_producer, connection_options
from shared.lease import Lease
from shared.metrics import EVENTS_PUBLISHED, RELAY_BACKLOG
from shared.mongo import TRANSIENT_ERRORS, majority_reads

log = logging.getLogger(__name__)

RELAY_STATE = "event_relay"
LEASE_NAME = "relay"

__all__ = ["EventRelay", "Lease", "RELAY_STATE", "LEASE_NAME"]


class EventRelay:
    def __init__(
        self,
        settings: Settings,
        store: EventStore,
        producer=None,
        *,
        topic: str | None = None,
        batch_size: int = 500,
        clock=None,
        producer_factory=None,
    ):
        self.settings = settings
        self.store = store
        contract_topic = topic or topics.BY_PRODUCER[settings.service_name]
        self.topic = topics.resolve(contract_topic, settings.kafka_topic_prefix)
        self.contract_topic = contract_topic
        # One id per service (and test prefix): every replica uses it, so each new publisher
        # fences the one before. The cursor is this consumer group's offset on partition 0.
        self.transactional_id = f"{settings.kafka_topic_prefix}{settings.service_name}-relay"
        self.cursor_partition = TopicPartition(self.topic, 0)
        # `producer` (a plain shared producer in older callers) is not used for publishing: the
        # relay needs its own transactional one. A transactional producer passed in is used once.
        self.producer: Any = None
        self._given = producer if _transactional(producer) else None
        self.producer_factory = producer_factory or self._make_producer
        self.batch_size = batch_size
        self.state = store.db[RELAY_STATE]
        self._reads = majority_reads(store.commits)
        owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.lease = Lease(self.state, LEASE_NAME, owner, settings.relay_lease_ttl_s)
        self._next: int | None = None  # the next position, while this relay is the fenced publisher
        self._lease_epoch = 0
        self._gap_since: tuple[int, float] | None = None
        self._backlog_reported_at = 0.0
        self._stop = threading.Event()

    def _make_producer(self):
        # Bounded waits (metadata, buffer, init_transactions) so a stop request is heard while
        # Kafka is down; the loop retries with a new producer.
        return make_producer(
            self.settings, transactional_id=self.transactional_id, client_id=f"{self.settings.service_name}-relay",
            max_block_ms=15000,
        )

    # -- cursor ------------------------------------------------------------------------------

    def cursor(self) -> int:
        """The next position to publish (as far as this process can tell without Kafka)."""
        return max(self._mirror_cursor(), self._next or 1)

    def _mirror_cursor(self) -> int:
        doc = self.state.find_one({"next_position": {"$exists": True}}, sort=[("next_position", DESCENDING)])
        return int(doc["next_position"]) if doc else 1

    def _save_mirror(self, next_position: int) -> None:
        # Inserted, never updated: FerretDB's updates are not isolated, and a late insert by a
        # fenced relay only adds a lower value, which `max` ignores and the next cleanup removes.
        try:
            self.state.insert_one({"_id": f"cursor|{position_key(next_position)}", "next_position": next_position})
        except DuplicateKeyError:
            pass
        self.state.delete_many({"next_position": {"$lt": next_position}})

    def _kafka_cursor(self) -> int | None:
        consumer = KafkaConsumer(
            **connection_options(self.settings),
            group_id=self.transactional_id,
            enable_auto_commit=False,
            client_id=f"{self.settings.service_name}-relay-cursor",
        )
        try:
            committed = consumer.committed(self.cursor_partition)
        finally:
            consumer.close()
        return int(committed) if committed is not None else None

    def backlog(self) -> int:
        return max(0, self.store.current_position() - self.cursor() + 1)

    # -- publishing --------------------------------------------------------------------------

    def _ready(self) -> None:
        """Become the publisher: a fresh transactional producer fences older ones, then the cursor
        is read back from Kafka (where the last committed transaction left it)."""
        if self.producer is not None and self._next is not None:
            return
        self._drop_producer()
        producer, self._given = (self._given, None) if self._given is not None else (self.producer_factory(), None)
        try:
            producer.init_transactions()
            committed = self._kafka_cursor()
        except Exception:
            _close(producer)
            raise
        self.producer = producer
        self._next = max(committed or 1, self._mirror_cursor())
        log.info("relay %s publishing from position %s", self.transactional_id, self._next)

    def _drop_producer(self) -> None:
        producer, self.producer, self._next = self.producer, None, None
        if producer is not None:
            _close(producer)

    def publish_pending(self) -> int:
        """Publish what is stored beyond the cursor (one transaction); returns the events published."""
        self._ready()
        start = position = self._next
        batch: list[dict] = []
        while position - start < self.batch_size:
            # read READ_WINDOW positions side by side (the projectors of this process share them)
            window = self.store.committed_window(position, min(READ_WINDOW, self.batch_size - (position - start)))
            stored = list(itertools.takewhile(lambda doc: doc is not None, window))
            for doc in stored:
                self._gap_since = None
                if not doc.get("sealed"):
                    batch.append(doc)
                position += 1
            if len(stored) == len(window):
                continue
            if not self._gap_to_seal(position):  # the first missing position: the end, or a gap to wait out
                break
            doc = self.store.seal(position)
            log.warning("sealed position %s after waiting %.1fs", position, self.settings.relay_gap_timeout_s)
            if doc is not None:  # a commit won the race for the position
                self._gap_since = None
                batch.append(doc)
            position += 1
        if position == start:
            return 0
        try:
            published = self._send(batch, position)
        except Exception:
            self._drop_producer()  # aborted or fenced: start over from Kafka's cursor
            raise
        self._next = position
        self._save_mirror(position)
        self._report_backlog(position)
        return published

    def _report_backlog(self, next_position: int) -> None:
        now = time.monotonic()
        if now - self._backlog_reported_at < 1.0:
            return  # `current_position` costs a few reads: once a second is enough for a gauge
        self._backlog_reported_at = now
        RELAY_BACKLOG.labels(self.settings.service_name).set(max(0, self.store.current_position() - next_position + 1))

    def _gap_to_seal(self, position: int) -> bool:
        """A missing position is sealed only once it has been missing for `gap_timeout_s` while
        something is written beyond it (otherwise it is simply the end of the log)."""
        now = time.monotonic()
        if self._gap_since is None or self._gap_since[0] != position:
            self._gap_since = (position, now)
            return False
        if now - self._gap_since[1] < self.settings.relay_gap_timeout_s:
            return False
        if self.store.written_beyond(position, collection=self._reads):
            return True
        self._gap_since = (position, now)  # just the end: look again after another timeout
        return False

    def _send(self, batch: list[dict], next_position: int) -> int:
        producer = self.producer
        producer.begin_transaction()
        futures = []
        try:
            for doc in batch:
                for event in doc["events"]:
                    future = producer.send(self.topic, key=event["aggregate_id"].encode(), value=event_bytes(event))
                    futures.append((event["event_type"], future))
            _bounded(producer, "send_offsets_to_transaction", {self.cursor_partition: OffsetAndMetadata(next_position, "", -1)},
                     self.transactional_id)
            _bounded(producer, "begin_commit")
        except Exception:
            for event_type, _ in futures:
                EVENTS_PUBLISHED.labels(self.settings.service_name, self.contract_topic, event_type, "error").inc()
            try:
                _bounded(producer, "begin_abort", timeout_s=5)
            except Exception:  # noqa: BLE001 - fenced or Kafka gone: the next init aborts it anyway
                pass
            raise
        for event_type, _ in futures:
            EVENTS_PUBLISHED.labels(self.settings.service_name, self.contract_topic, event_type, "ok").inc()
        return len(futures)

    # -- loop --------------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or self._stop
        backoff = 0.5
        while not stop.is_set():
            try:
                if not self.lease.acquire():
                    self._drop_producer()
                    stop.wait(self.settings.relay_lease_ttl_s / 3)
                    continue
                if self.lease.epoch != self._lease_epoch:
                    # A new term (first start, or the lease lapsed while we were paused): fence
                    # whoever published meanwhile and re-read the cursor.
                    self._drop_producer()
                    self._lease_epoch = self.lease.epoch
                published = self.publish_pending()
                backoff = 0.5
                if published == 0:
                    stop.wait(self.settings.relay_poll_interval_s)
            except TRANSIENT_ERRORS as exc:
                log.warning("relay: MongoDB unavailable, retrying in %.1fs: %s", backoff, exc)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10)
            except Exception as exc:  # noqa: BLE001 - Kafka down, fenced, any other fault: retry, never skip
                log.warning("relay: publish failed, retrying in %.1fs with a new producer: %s", backoff, exc)
                self._drop_producer()
                stop.wait(backoff)
                backoff = min(backoff * 2, 10)
        self._drop_producer()
        try:
            self.lease.release()
        except Exception:  # noqa: BLE001
            pass

    def stop(self) -> None:
        self._stop.set()

    def close(self) -> None:
        self._drop_producer()


def _bounded(producer, step: str, *args, timeout_s: float = 30):
    """One transactional step that gives up after `timeout_s`.

    kafka-python's `commit_transaction()` / `abort_transaction()` / `send_offsets_to_transaction()`
    wait without a deadline; a broker restart at the wrong moment would hang the relay for good.
    These are the same calls with a deadline (kafka-python 3.0.12's own implementation); on a
    timeout the relay drops the producer and the next one's `init_transactions()` aborts or
    completes what was left open.
    """
    from kafka.errors import KafkaTimeoutError

    manager = getattr(producer, "_transaction_manager", None)
    if manager is None or not hasattr(manager, step):  # another client: its own blocking call
        public = {"begin_commit": "commit_transaction", "begin_abort": "abort_transaction"}.get(step, step)
        return getattr(producer, public)(*args)
    result = getattr(manager, step)(*args)
    producer._sender.wakeup()
    if not result.wait(timeout_ms=timeout_s * 1000):
        raise KafkaTimeoutError(f"{step} took more than {timeout_s}s")
    return None


def _transactional(producer) -> bool:
    config = getattr(producer, "config", None)
    return isinstance(config, dict) and bool(config.get("transactional_id"))


def _close(producer) -> None:
    try:
        producer.close(timeout=0)
    except Exception:  # noqa: BLE001
        pass
