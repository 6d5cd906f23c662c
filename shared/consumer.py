"""Consumer runner: a consumer group feeding projections, at least once, idempotently.

- Offsets are committed only after the handlers' writes (auto-commit off).
- Each projection group records, per partition, the next offset it has applied
  (`consumer_positions`). A record below that watermark is skipped without touching the
  projections: a replay after a crash or a rebalance costs reads, not writes.
- Transient failures (MongoDB unreachable) are retried with backoff; if they persist, the
  partition is rewound to the failed record and retried on a later poll, so the poll loop keeps
  running well inside `max_poll_interval_ms`.
- Poison records (bad JSON, a bad envelope, an unknown schema version, data failing its schema,
  or a handler that keeps failing on it) go to `<topic>.dlq` with the error, the group and the
  original topic/partition/offset in headers; the partition moves on.
- Events of unknown types are skipped, as the contract requires.
- `stop()` (wired to SIGTERM by shared.worker) finishes the record in hand, commits, and closes.
"""
from __future__ import annotations

import logging
import threading
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable, Iterable

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata

from shared import topics
from shared.clock import parse_rfc3339, utcnow
from shared.config import Settings
from shared.events.envelope import Envelope
from shared.events.registry import EventRegistry, PoisonRecord, UnknownEventType
from shared.metrics import CONSUMER_LAG, DEAD_LETTERS, EVENTS_CONSUMED, PROJECTION_STALENESS
from shared.mongo import TRANSIENT_ERRORS

log = logging.getLogger(__name__)

POSITIONS = "consumer_positions"

Handler = Callable[[Envelope], None]


class Projection(ABC):
    """A read model fed by events. Subclasses map event types to handlers.

    Handlers must be idempotent: a redelivered event must change nothing. `reset()` empties the
    projection's own collections so it can be rebuilt from scratch by replay.
    """

    name: str = "projection"
    topics: tuple[str, ...] = ()

    @abstractmethod
    def handlers(self) -> dict[str, Handler]:
        """Event type -> handler."""

    @abstractmethod
    def reset(self) -> None:
        """Drop the projection's own data."""

    def apply_batch(self, envelopes: list[Envelope]) -> None:
        """Apply a run of consecutive events in one go (same effect as one by one, in order).

        Optional: a projection that can write many events in one round trip overrides this and
        lists the event types in `batchable`. On any non-transient error the runner falls back
        to the per-event handlers, so a single bad event is isolated and dead-lettered.
        """
        handlers = self.handlers()
        for envelope in envelopes:
            handlers[envelope.event_type](envelope)

    batchable: frozenset[str] = frozenset()


class HandlerFailed(Exception):
    reason = "handler_error"


@dataclass
class _Watermarks:
    """Per-partition next offset already applied, cached from MongoDB."""

    collection: object
    group: str

    def __post_init__(self):
        self._cache: dict[tuple[str, int], int] = {}
        self._lock = threading.Lock()

    def key(self, topic: str, partition: int) -> str:
        return f"{self.group}|{topic}|{partition}"

    def get(self, topic: str, partition: int) -> int:
        with self._lock:
            cached = self._cache.get((topic, partition))
        if cached is not None:
            return cached
        doc = self.collection.find_one({"_id": self.key(topic, partition)})
        value = int(doc["next_offset"]) if doc else 0
        with self._lock:
            self._cache[(topic, partition)] = value
        return value

    def save(self, topic: str, partition: int, next_offset: int, last_occurred_at: str | None) -> None:
        update = {"next_offset": next_offset, "updated_at": utcnow()}
        if last_occurred_at:
            update["last_occurred_at"] = last_occurred_at
        self.collection.find_one_and_update({"_id": self.key(topic, partition)}, {"$set": update}, upsert=True)
        with self._lock:
            self._cache[(topic, partition)] = next_offset

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        with self._lock:
            for tp in partitions:
                self._cache.pop((tp.topic, tp.partition), None)

    def clear(self, topic_names: Iterable[str], partitions: int = 64) -> None:
        for name in topic_names:
            for partition in range(partitions):
                self.collection.find_one_and_delete({"_id": self.key(name, partition)})
        with self._lock:
            self._cache.clear()


class _ForgetOnRebalance(ConsumerRebalanceListener):
    """Never block in a rebalance callback: only drop cached watermarks."""

    def __init__(self, watermarks: _Watermarks):
        self.watermarks = watermarks

    def on_partitions_revoked(self, revoked):
        self.watermarks.forget(revoked)

    def on_partitions_assigned(self, assigned):
        self.watermarks.forget(assigned)


class ConsumerRunner:
    def __init__(
        self,
        settings: Settings,
        *,
        group_id: str,
        projections: list[Projection],
        registry: EventRegistry,
        database,
        producer,
        transient_retries: int = 5,
        handler_attempts: int = 3,
        clock=None,
    ):
        self.settings = settings
        self.group_id = group_id
        self.projections = projections
        self.registry = registry
        self.producer = producer
        self.transient_retries = transient_retries
        self.handler_attempts = handler_attempts
        self.watermarks = _Watermarks(database[POSITIONS], group_id)
        self._stop = threading.Event()
        self._routes: dict[tuple[str, str], list[Handler]] = {}
        for projection in projections:
            for event_type, handler in projection.handlers().items():
                for topic in projection.topics:
                    self._routes.setdefault((topic, event_type), []).append(handler)
        self.contract_topics = sorted({t for p in projections for t in p.topics})
        prefix = settings.kafka_topic_prefix
        self._physical_to_contract = {topics.resolve(t, prefix): t for t in self.contract_topics}
        self._last_lag_check = 0.0
        self.consumer: KafkaConsumer | None = None
        self.processed = 0

    # -- construction ------------------------------------------------------------------------

    def _make_consumer(self, group_id: str | None) -> KafkaConsumer:
        return KafkaConsumer(
            bootstrap_servers=self.settings.kafka_bootstrap_servers.split(","),
            group_id=group_id,
            client_id=f"{self.settings.service_name}-{group_id or 'replay'}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            max_poll_records=self.settings.consumer_max_poll_records,
            max_poll_interval_ms=300000,
            session_timeout_ms=10000,
            heartbeat_interval_ms=3000,
        )

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        consumer = self._make_consumer(self.group_id)
        self.consumer = consumer
        consumer.subscribe(list(self._physical_to_contract), listener=_ForgetOnRebalance(self.watermarks))
        backoff = 0.5
        try:
            while not self._stop.is_set():
                batches = {}
                try:
                    batches = consumer.poll(timeout_ms=500)
                    for tp, records in batches.items():
                        if self._stop.is_set():
                            break
                        self._process_partition(consumer, tp, records, commit=True)
                    self._report_lag(consumer)
                    backoff = 0.5
                except TRANSIENT_ERRORS as exc:
                    self._rewind_polled(consumer, batches)
                    log.warning("consumer %s: MongoDB unavailable, retrying in %.1fs: %s", self.group_id, backoff, exc)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, 10)
                except KafkaError as exc:
                    # Kafka down or restarting (a commit, a dead-letter send): never crash the worker.
                    self._rewind_polled(consumer, batches)
                    log.warning("consumer %s: Kafka unavailable, retrying in %.1fs: %s", self.group_id, backoff, exc)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, 10)
        finally:
            consumer.close(autocommit=False)

    def stop(self) -> None:
        self._stop.set()

    @staticmethod
    def _rewind_polled(consumer, batches) -> None:
        """After a failure mid-poll, read every polled partition again from its first polled record.

        poll() has already moved the positions past those records; without this, a partition whose
        records were not (all) applied would be skipped. Records already applied are below the
        watermark and are skipped on the second read.
        """
        for tp, records in batches.items():
            if records:
                try:
                    consumer.seek(tp, records[0].offset)
                except Exception:  # noqa: BLE001 - partition no longer assigned: its next owner reads it
                    pass

    def _process_partition(self, consumer, tp: TopicPartition, records, *, commit: bool) -> None:
        contract_topic = self._physical_to_contract[tp.topic]
        watermark = self.watermarks.get(tp.topic, tp.partition)
        done = _Progress()
        run: list[tuple[object, Envelope]] = []  # consecutive records one batch-capable projection takes
        try:
            for record in records:
                if record.offset < watermark:
                    EVENTS_CONSUMED.labels(self.settings.service_name, self.group_id, contract_topic, "", "duplicate").inc()
                    continue
                batch_projection, envelope = self._batch_route(contract_topic, record)
                if batch_projection is not None:
                    if run and self._batch_owner(contract_topic, run[-1][1]) is not batch_projection:
                        self._flush_run(contract_topic, run, done)
                    run.append((record, envelope))
                    continue
                self._flush_run(contract_topic, run, done)
                done.mark(record, self._process_record(contract_topic, record))
            self._flush_run(contract_topic, run, done)
        except _Rewind as rewind:
            if not commit:
                raise RuntimeError("replay interrupted: MongoDB stayed unavailable") from None
            consumer.seek(tp, rewind.offset)
        self.processed += done.count
        if done.next_offset is None:
            return
        self.watermarks.save(tp.topic, tp.partition, done.next_offset, done.last_occurred_at)
        if commit:
            consumer.commit({tp: OffsetAndMetadata(done.next_offset, "", -1)})
        if done.last_occurred_at:
            staleness = (utcnow() - parse_rfc3339(done.last_occurred_at)).total_seconds()
            PROJECTION_STALENESS.labels(self.settings.service_name, self.group_id).set(max(0.0, staleness))

    def _batch_owner(self, contract_topic: str, envelope: Envelope):
        handlers = self._routes.get((contract_topic, envelope.event_type), [])
        owners = [p for p in self.projections if contract_topic in p.topics and envelope.event_type in p.batchable]
        return owners[0] if len(owners) == 1 and len(handlers) == 1 else None

    def _batch_route(self, contract_topic: str, record):
        """(projection, envelope) when the record can join a batch; (None, None) otherwise."""
        if not any(p.batchable for p in self.projections):
            return None, None
        try:
            decoded = self.registry.decode(record.value, inbound_hris=contract_topic == topics.HRIS_EMPLOYEES)
        except PoisonRecord:
            return None, None  # the per-record path dead-letters it
        if isinstance(decoded, UnknownEventType):
            return None, None
        return self._batch_owner(contract_topic, decoded), decoded

    def _flush_run(self, contract_topic: str, run: list, done: "_Progress") -> None:
        if not run:
            return
        projection = self._batch_owner(contract_topic, run[0][1])
        envelopes = [envelope for _, envelope in run]
        delay, failures = 0.2, 0
        while True:
            try:
                projection.apply_batch(envelopes)
                break
            except TRANSIENT_ERRORS as exc:
                failures += 1
                if failures > self.transient_retries or self._stop.is_set():
                    log.warning("transient failure persists on a batch at %s@%s: %s", contract_topic, run[0][0].offset, exc)
                    raise _Rewind(run[0][0].offset) from exc
                self._stop.wait(delay)
                delay = min(delay * 2, 5)
            except Exception:  # noqa: BLE001 - isolate the bad event one by one
                log.warning("batch of %s failed; applying one by one", len(run), exc_info=True)
                for record, _ in run:
                    done.mark(record, self._process_record(contract_topic, record))
                run.clear()
                return
        for record, envelope in run:
            EVENTS_CONSUMED.labels(self.settings.service_name, self.group_id, contract_topic, envelope.event_type,
                                   "applied").inc()
            done.mark(record, envelope.occurred_at)
        run.clear()

    def _process_record(self, contract_topic: str, record) -> str | None:
        """Apply one record; returns its occurred_at when applied. Raises _Rewind on persistent transient errors."""
        service = self.settings.service_name
        try:
            decoded = self.registry.decode(record.value, inbound_hris=contract_topic == topics.HRIS_EMPLOYEES)
        except PoisonRecord as exc:
            self._dead_letter(contract_topic, record, exc.reason, f"{exc}: {exc.details}" if exc.details else str(exc))
            return None
        if isinstance(decoded, UnknownEventType):
            EVENTS_CONSUMED.labels(service, self.group_id, contract_topic, decoded.envelope.event_type, "skipped").inc()
            return None
        handlers = self._routes.get((contract_topic, decoded.event_type), [])
        if not handlers:
            EVENTS_CONSUMED.labels(service, self.group_id, contract_topic, decoded.event_type, "skipped").inc()
            return None
        try:
            for handler in handlers:
                self._apply_with_retries(handler, decoded, contract_topic, record)
        except _Handled:
            return None
        EVENTS_CONSUMED.labels(service, self.group_id, contract_topic, decoded.event_type, "applied").inc()
        return decoded.occurred_at

    def _apply_with_retries(self, handler: Handler, envelope: Envelope, contract_topic: str, record) -> None:
        delay = 0.2
        transient_failures = 0
        handler_failures = 0
        while True:
            try:
                handler(envelope)
                return
            except TRANSIENT_ERRORS as exc:
                transient_failures += 1
                if transient_failures > self.transient_retries or self._stop.is_set():
                    log.warning("transient failure persists on %s@%s; will retry later: %s", contract_topic, record.offset, exc)
                    raise _Rewind(record.offset) from exc
                self._stop.wait(delay)
                delay = min(delay * 2, 5)
            except PoisonRecord:
                raise
            except Exception as exc:  # noqa: BLE001 - a handler bug must not kill the worker
                handler_failures += 1
                if handler_failures >= self.handler_attempts:
                    log.exception("handler failed %s times on %s@%s; dead-lettering", handler_failures, contract_topic, record.offset)
                    self._dead_letter(contract_topic, record, HandlerFailed.reason, f"{type(exc).__name__}: {exc}")
                    raise _Handled() from exc
                self._stop.wait(delay)

    def _dead_letter(self, contract_topic: str, record, reason: str, message: str) -> None:
        headers = list(record.headers or []) + [
            ("dlq.error.reason", reason.encode()),
            ("dlq.error.message", message[:2000].encode("utf-8", "replace")),
            ("dlq.consumer.group", self.group_id.encode()),
            ("dlq.original.topic", record.topic.encode()),
            ("dlq.original.partition", str(record.partition).encode()),
            ("dlq.original.offset", str(record.offset).encode()),
        ]
        dlq_topic = topics.resolve(topics.dlq(contract_topic), self.settings.kafka_topic_prefix)
        # Wait for the broker's ack: the offset is committed right after, and nothing may be lost.
        self.producer.send(dlq_topic, key=record.key, value=record.value, headers=headers).get(timeout=30)
        DEAD_LETTERS.labels(self.settings.service_name, self.group_id, contract_topic, reason).inc()
        EVENTS_CONSUMED.labels(self.settings.service_name, self.group_id, contract_topic, "", "dead_lettered").inc()
        log.warning("dead-lettered %s@%s:%s (%s): %s", record.topic, record.partition, record.offset, reason, message)

    def _report_lag(self, consumer, every_s: float = 10.0) -> None:
        now = time.monotonic()
        if now - self._last_lag_check < every_s:
            return
        self._last_lag_check = now
        assigned = list(consumer.assignment())
        if not assigned:
            return
        try:
            ends = consumer.end_offsets(assigned)
        except Exception:  # noqa: BLE001 - metrics only
            return
        for tp in assigned:
            try:
                position = consumer.position(tp)
            except Exception:  # noqa: BLE001
                continue
            contract_topic = self._physical_to_contract.get(tp.topic, tp.topic)
            CONSUMER_LAG.labels(self.settings.service_name, self.group_id, contract_topic, str(tp.partition)).set(
                max(0, ends.get(tp, position) - position)
            )

    # -- rebuild -----------------------------------------------------------------------------

    def rebuild(self, *, idle_timeout_s: float = 5.0) -> int:
        """Empty every projection and replay its topics from offset 0 up to today's end offsets.

        Run it with this group's worker stopped. Positions are rewritten as it goes, so the
        live worker resumes after the rebuilt state without reapplying anything.
        """
        for projection in self.projections:
            projection.reset()
        self.watermarks.clear(self._physical_to_contract)
        consumer = self._make_consumer(None)
        try:
            partitions = []
            for name in self._physical_to_contract:
                for partition in sorted(consumer.partitions_for_topic(name) or []):
                    partitions.append(TopicPartition(name, partition))
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            ends = consumer.end_offsets(partitions)
            remaining = {tp for tp in partitions if ends[tp] > 0}
            applied = 0
            idle_since = time.monotonic()
            while remaining:
                batches = consumer.poll(timeout_ms=500)
                if not batches and time.monotonic() - idle_since > idle_timeout_s:
                    raise RuntimeError(f"replay stalled before the end offsets: {sorted(map(str, remaining))}")
                for tp, records in batches.items():
                    idle_since = time.monotonic()
                    wanted = [r for r in records if r.offset < ends[tp]]
                    before = self.processed
                    self._process_partition(consumer, tp, wanted, commit=False)
                    applied += self.processed - before
                    if records and records[-1].offset + 1 >= ends[tp]:
                        remaining.discard(tp)
            return applied
        finally:
            consumer.close(autocommit=False)


class _Rewind(Exception):
    """Internal: stop this partition's batch and retry from `offset` later."""

    def __init__(self, offset: int):
        super().__init__(offset)
        self.offset = offset


class _Progress:
    """How far a partition's batch got: next offset to commit, last occurred_at applied."""

    def __init__(self):
        self.next_offset: int | None = None
        self.last_occurred_at: str | None = None
        self.count = 0

    def mark(self, record, occurred_at: str | None) -> None:
        self.next_offset = record.offset + 1
        self.count += 1
        if occurred_at:
            self.last_occurred_at = occurred_at


class _Handled(Exception):
    """Internal: the record was dead-lettered by the handler path."""
