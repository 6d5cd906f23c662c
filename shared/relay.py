"""The relay: every stored event reaches Kafka, eventually and in stream order.

It walks the event store's global positions one by one from a cursor kept in MongoDB
(`event_relay` / "cursor"), publishes each commit's events with key = aggregate id, waits for
Kafka to acknowledge them (acks=all, idempotent producer), and only then moves the cursor.
A crash between publishing and moving the cursor republishes a batch: at-least-once, and
consumers deduplicate on `event_id`.

A position that is not written yet may belong to a writer that is still inserting, or to one
that lost a concurrency race or crashed. The relay waits for it up to `gap_timeout_s`, then
seals it (see shared.eventstore), so nothing can ever land behind the cursor. While Kafka is
down the relay keeps retrying with backoff, never advancing past what it could not publish.

Only one relay per service publishes at a time: it holds a lease document renewed on every
pass; a second replica stands by until the lease expires.
"""
from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from datetime import timedelta

from kafka import KafkaProducer
from pymongo import ReturnDocument
from pymongo.errors import DuplicateKeyError

from shared import topics
from shared.clock import SystemClock
from shared.config import Settings
from shared.eventstore import EventStore
from shared.kafka import make_producer
from shared.metrics import EVENTS_PUBLISHED, RELAY_BACKLOG
from shared.mongo import TRANSIENT_ERRORS

log = logging.getLogger(__name__)

RELAY_STATE = "event_relay"


class Lease:
    def __init__(self, collection, name: str, owner: str, ttl_s: float, clock=None):
        self.collection = collection
        self.name = name
        self.owner = owner
        self.ttl = timedelta(seconds=ttl_s)
        self.clock = clock or SystemClock()

    def acquire(self) -> bool:
        """Take or renew the lease; True while this owner holds it."""
        now = self.clock.now()
        doc = self.collection.find_one({"_id": self.name})
        if doc is None:
            try:
                self.collection.insert_one({"_id": self.name, "owner": self.owner, "expires_at": now + self.ttl})
                return True
            except DuplicateKeyError:
                return False
        if doc.get("owner") != self.owner and doc["expires_at"] > now:
            return False
        # Compare-and-set on the exact document we read (owner and expiry), so two replicas
        # racing for an expired lease cannot both win.
        won = self.collection.find_one_and_update(
            {"_id": self.name, "owner": doc.get("owner"), "expires_at": doc["expires_at"]},
            {"$set": {"owner": self.owner, "expires_at": now + self.ttl}},
            return_document=ReturnDocument.AFTER,
        )
        return won is not None and won["owner"] == self.owner

    def release(self) -> None:
        self.collection.find_one_and_update(
            {"_id": self.name, "owner": self.owner}, {"$set": {"expires_at": self.clock.now()}}
        )


class EventRelay:
    def __init__(
        self,
        settings: Settings,
        store: EventStore,
        producer,
        *,
        topic: str | None = None,
        batch_size: int = 500,
        clock=None,
        producer_factory=None,
    ):
        self.settings = settings
        self.store = store
        self.producer = producer
        # A KafkaProducer whose sends failed across a broker restart can stay stuck for good
        # (kafka-python: expired batches of an idempotent producer are never retried, every
        # later flush times out). After a failed publish the relay starts over with a new one.
        if producer_factory is None and isinstance(producer, KafkaProducer):
            producer_factory = lambda: make_producer(settings)  # noqa: E731
        self.producer_factory = producer_factory
        self._owns_producer = False
        contract_topic = topic or topics.BY_PRODUCER[settings.service_name]
        self.topic = topics.resolve(contract_topic, settings.kafka_topic_prefix)
        self.contract_topic = contract_topic
        self.batch_size = batch_size
        self.clock = clock or SystemClock()
        self.state = store.db[RELAY_STATE]
        owner = f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.lease = Lease(self.state, "lease", owner, settings.relay_lease_ttl_s, self.clock)
        self._gap_since: tuple[int, float] | None = None
        self._stop = threading.Event()

    # -- state -------------------------------------------------------------------------------

    def cursor(self) -> int:
        """The next position to publish."""
        doc = self.state.find_one({"_id": "cursor"})
        return int(doc["next_position"]) if doc else 1

    def _save_cursor(self, next_position: int) -> None:
        self.state.find_one_and_update({"_id": "cursor"}, {"$set": {"next_position": next_position}}, upsert=True)

    def backlog(self) -> int:
        return max(0, self.store.current_position() - self.cursor() + 1)

    # -- one pass ----------------------------------------------------------------------------

    def publish_pending(self) -> int:
        """Publish what is stored beyond the cursor; returns the number of events published."""
        start = self.cursor()
        last = self.store.current_position()
        position = start
        batch: list[dict] = []
        while position <= last and len(batch) < self.batch_size:
            doc = self.store.commit_at(position)
            if doc is None:
                if not self._gap_expired(position):
                    break
                doc = self.store.seal(position)
                log.warning("sealed position %s after waiting %.1fs", position, self.settings.relay_gap_timeout_s)
                if doc is None:
                    position += 1
                    continue
            self._gap_since = None
            if not doc.get("sealed"):
                batch.append(doc)
            position += 1
        published = self._send(batch)
        if position != start:
            self._save_cursor(position)
        RELAY_BACKLOG.labels(self.settings.service_name).set(max(0, last - position + 1))
        return published

    def _gap_expired(self, position: int) -> bool:
        now = time.monotonic()
        if self._gap_since is None or self._gap_since[0] != position:
            self._gap_since = (position, now)
            return False
        return now - self._gap_since[1] >= self.settings.relay_gap_timeout_s

    def _send(self, batch: list[dict]) -> int:
        futures = []
        for doc in batch:
            for event in doc["events"]:
                value = _json(event)
                futures.append(
                    (event["event_type"], self.producer.send(self.topic, key=event["aggregate_id"].encode(), value=value))
                )
        if not futures:
            return 0
        self.producer.flush(timeout=30)
        for event_type, future in futures:
            try:
                future.get(timeout=30)
            except Exception:
                EVENTS_PUBLISHED.labels(self.settings.service_name, self.contract_topic, event_type, "error").inc()
                raise
            EVENTS_PUBLISHED.labels(self.settings.service_name, self.contract_topic, event_type, "ok").inc()
        return len(futures)

    # -- loop --------------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or self._stop
        backoff = 0.5
        while not stop.is_set():
            try:
                if not self.lease.acquire():
                    stop.wait(self.settings.relay_lease_ttl_s / 3)
                    continue
                published = self.publish_pending()
                backoff = 0.5
                if published == 0:
                    stop.wait(self.settings.relay_poll_interval_s)
            except TRANSIENT_ERRORS as exc:
                log.warning("relay: MongoDB unavailable, retrying in %.1fs: %s", backoff, exc)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10)
            except Exception as exc:  # noqa: BLE001 - Kafka down or any other fault: retry, never skip
                log.warning("relay: publish failed, retrying in %.1fs: %s", backoff, exc)
                self._renew_producer()
                stop.wait(backoff)
                backoff = min(backoff * 2, 10)
        try:
            self.lease.release()
        except Exception:  # noqa: BLE001
            pass

    def stop(self) -> None:
        self._stop.set()

    def _renew_producer(self) -> None:
        """Replace the producer after a failed publish (the cursor has not moved: nothing is skipped)."""
        if self.producer_factory is None:
            return
        try:
            fresh = self.producer_factory()
        except Exception as exc:  # noqa: BLE001 - Kafka still down: keep the old one, try again next time
            log.warning("relay: could not create a new producer yet: %s", exc)
            return
        old, self.producer = self.producer, fresh
        if self._owns_producer:  # the one passed in may be shared (dead letters): never close that
            try:
                old.close(timeout=0)
            except Exception:  # noqa: BLE001
                pass
        self._owns_producer = True
        log.info("relay: replaced its Kafka producer after a failed publish")


def _json(event: dict) -> bytes:
    import json

    return json.dumps(event, separators=(",", ":"), sort_keys=True).encode("utf-8")
