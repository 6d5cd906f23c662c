"""Consumer runner: a consumer group feeding projections, at least once, idempotently.

- Offsets are committed only after the handlers' writes (auto-commit off).
- Each projection group records, per partition, the next offset it has applied
  (`consumer_positions`). A record below that watermark is skipped without touching the
  projections: a replay after a crash or a rebalance costs reads, not writes.
- Records are read with `isolation_level="read_committed"`: the relay publishes in Kafka
  transactions, and an aborted (fenced) relay's records are never applied.
- Transient failures (MongoDB unreachable) are retried with backoff; if they persist, the
  partition is rewound to the failed record and retried on a later poll, so the poll loop keeps
  running well inside `max_poll_interval_ms`.
- Poison records go to `<topic>.dlq` with the error, the group and the original
  topic/partition/offset in headers; the partition moves on. Poison means the *record* can never
  be applied: bad JSON, a bad envelope, an older schema version nobody can read, data failing its
  schema, or a handler raising `PoisonRecord` (e.g. `InvalidData`) about the data it was given.
- Everything else that fails is *not* the record's fault, and dead-lettering it would leave a
  permanent, silent gap in a read model. So the partition stops instead: it is paused and rewound
  to the record, `mentoring_consumer_partition_paused{reason}` is set and an error logged, and it
  is retried with backoff (up to a minute) until it applies:
    - `unknown_schema_version`: a version newer than this code knows (the producer was deployed
      first); a deploy of the new code reads it;
    - `database_error`: a non-transient MongoDB error (OperationFailure, WriteError, …);
    - `handler_error`: any other exception from a handler on valid data: a bug, fixed by a deploy.
- Events of unknown types are skipped, as the contract requires. So are events of types no
  projection of this runner handles (matching reads the sessions topic for `PersonErased` only),
  and cheaply: the record's JSON is parsed and its `event_type` looked at, nothing validated
  (envelope, data, upcasting). Such a record counts as applied (offsets and watermarks move
  past it) even with a bad envelope or a schema version newer than this code knows: the
  consumers that do handle its type dead-letter it or pause on it. A record that is not a JSON
  object or names no type is still poison.
- The dead-letter producer is replaced after a failed send (a kafka-python producer can stay
  stuck after a broker outage), like the relay's.
- Opted-in projections (`collections`) are bound to the live generation of their collections
  (shared.generations); the runner re-binds and resumes from the rebuild's watermarks when a
  rebuild swaps in a new generation.
- `stop()` (wired to SIGTERM by shared.worker) finishes the record in hand, commits, and closes.
- Inside a handler (or `apply_batch`), `record_of(envelope)` says where the event was read from
  (contract topic, partition, offset; the same in a replay): a view written per partition (one
  writer per document, sessions' engagement roster) keys and guards its documents with it.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
from abc import ABC, abstractmethod
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Callable, Iterable

from kafka import ConsumerRebalanceListener, KafkaConsumer, TopicPartition
from kafka import KafkaProducer
from kafka.errors import KafkaError
from kafka.structs import OffsetAndMetadata
from pymongo.errors import PyMongoError

from shared import topics
from shared.clock import parse_rfc3339, utcnow
from shared.config import Settings
from shared.events.envelope import Envelope
from shared.events.registry import (  # noqa: F401 - PoisonRecord/InvalidData re-exported for handlers
    EventRegistry, InvalidData, NewerSchemaVersion, PoisonRecord, UnknownEventType,
)
from shared.generations import GenerationDatabase, Generations
from shared.metrics import (
    CONSUMER_LAG, CONSUMER_PARTITION_PAUSED, DEAD_LETTERS, EVENTS_CONSUMED, PROJECTION_STALENESS,
)
from shared.mongo import TRANSIENT_ERRORS
from shared.kafka import connection_options

log = logging.getLogger(__name__)

POSITIONS = "consumer_positions"
REPLAY_MAX_POLL_RECORDS = 2000  # records per poll of a replay (rebuild): one batch write each per projection

Handler = Callable[[Envelope], None]


@dataclass(frozen=True)
class RecordAt:
    """Where a consumed event was read: its contract topic (no prefix), partition and offset."""

    topic: str
    partition: int
    offset: int


# {event_id: RecordAt} of the record (or run of records, `apply_batch`) being applied (`record_of`)
_RECORDS: contextvars.ContextVar[dict[str, RecordAt] | None] = contextvars.ContextVar("consumed_records",
                                                                                      default=None)


def record_of(envelope: Envelope) -> RecordAt:
    """Where `envelope` was read (inside a consumer runner's handler): the same topic, partition and
    offset in a replay or a rebuild. Only that partition's consumer applies it, in offset order, so
    a document written per partition has one writer, and its offset tells a redelivery apart."""
    records = _RECORDS.get()
    if records is None or envelope.event_id not in records:
        raise RuntimeError("record_of is known only inside a consumer runner's handler")
    return records[envelope.event_id]


@contextlib.contextmanager
def consuming(records: dict[str, RecordAt]):
    """What handlers may ask about the records being applied (`record_of`); tests use it too."""
    token = _RECORDS.set(records)
    try:
        yield
    finally:
        _RECORDS.reset(token)


class Projection(ABC):
    """A read model fed by events. Subclasses map event types to handlers.

    Handlers must be idempotent: a redelivered event must change nothing. `reset()` empties the
    projection's own collections so it can be rebuilt from scratch by replay.

    Rebuild and fencing (opt in, see shared.generations): list the BASE names of every collection
    the projection writes in `collections`, and build its repositories in `bind(database)` from
    the handle given (its `[name]` is that generation's collection). Runners call `bind` with the
    generation they write; projections with empty `collections` are left as built (legacy: rebuilt
    in place by `ConsumerRunner.rebuild`; policies with side effects must keep it empty).
    """

    name: str = "projection"
    topics: tuple[str, ...] = ()
    collections: tuple[str, ...] = ()
    # Bump when the documents written under `collections` change shape or meaning: the next
    # `shared.cli migrate` rebuilds them (shared.views_manifest). A new collection needs no bump.
    version: int = 1

    def bind(self, database) -> None:
        """(Re)build the projection's repositories on `database` (a generation-bound handle).

        Override in projections that declare `collections`; the default only keeps the handle.
        """
        self.database = database

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


def bindable(projections) -> list[Projection]:
    """The opted-in projections (non-empty `collections`); warns about ones that cannot re-bind."""
    out = []
    for projection in projections:
        if not projection.collections:
            continue
        if type(projection).bind is Projection.bind:
            log.warning("projection %s lists collections but does not override bind(): a rebuild's swap "
                        "cannot move its writes to the new generation", projection.name)
        out.append(projection)
    return out


class HandlerFailed(Exception):
    reason = "handler_error"


@dataclass(frozen=True)
class _Unhandled:
    """A record of a type no projection of this runner handles: skipped undecoded (its data unread)."""

    event_type: str


@dataclass
class _Watermarks:
    """Per-partition next offset already applied, cached from MongoDB."""

    collection: Any
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

    def rebind(self, group: str) -> None:
        """Use another key space (a generation's watermarks); drops the cache."""
        with self._lock:
            self.group = group
            self._cache.clear()

    def forget(self, partitions: Iterable[TopicPartition]) -> None:
        with self._lock:
            for tp in partitions:
                self._cache.pop((tp.topic, tp.partition), None)

    def clear(self, topic_names: Iterable[str], partitions: int = 64) -> None:
        """Forget the group's watermarks of these topics: one round trip (a scan of a small collection)."""
        keys = [self.key(name, partition) for name in topic_names for partition in range(partitions)]
        self.collection.delete_many({"_id": {"$in": keys}})
        with self._lock:
            self._cache.clear()


class _ForgetOnRebalance(ConsumerRebalanceListener):
    """Never block in a rebalance callback: only drop cached watermarks and note new partitions."""

    def __init__(self, watermarks: _Watermarks, fresh: set | None = None):
        self.watermarks = watermarks
        self.fresh = fresh if fresh is not None else set()

    def on_partitions_revoked(self, revoked):
        self.watermarks.forget(revoked)

    def on_partitions_assigned(self, assigned):
        self.watermarks.forget(assigned)
        self.fresh.update(assigned)


def watermark_group(group_id: str, generation: int) -> str:
    """The watermark key space of a group for a generation (generation 0: the group itself)."""
    return group_id if generation == 0 else f"{group_id}@g{generation}"


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
        producer_factory=None,
        generation: int | None = None,
        max_pause_s: float = 60.0,
    ):
        self.settings = settings
        self.group_id = group_id
        self.projections = projections
        self.registry = registry
        self.producer = producer
        # A KafkaProducer whose sends failed across a broker restart can stay stuck for good: after
        # a failed dead-letter send the runner starts over with a new one (never closing a shared one).
        if producer_factory is None and isinstance(producer, KafkaProducer):
            from shared.kafka import make_producer

            producer_factory = lambda: make_producer(settings)  # noqa: E731
        self.producer_factory = producer_factory
        self._owns_producer = False
        self.transient_retries = transient_retries
        self.handler_attempts = handler_attempts
        self.max_pause_s = max_pause_s
        self.database = database
        self.watermarks = _Watermarks(database[POSITIONS], group_id)
        self._stop = threading.Event()
        # Generations: a fixed one (a rebuild writing its shadow copy) or the live one, followed.
        self.generations = Generations(database)
        self._follow_generation = generation is None
        self.bindable = bindable(projections)
        self.generation = -1
        self._fresh: set[TopicPartition] = set()
        self._paused: dict[TopicPartition, _PauseState] = {}
        self._fixed_generation = generation
        self._replaying = False
        if not self.bindable:
            self._bind(generation or 0)  # legacy projections: generation 0, no look-up
        self._routes: dict[tuple[str, str], list[Handler]] = {}
        self._owners: dict[tuple[str, str], Projection | None] = {}
        self._batching = any(p.batchable for p in projections)
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

    def _bind(self, generation: int) -> None:
        """Write `generation`'s collections and watermarks from now on."""
        if generation == self.generation:
            return
        for projection in self.bindable:
            projection.bind(GenerationDatabase(self.database, generation, projection.collections))
        self.watermarks.rebind(watermark_group(self.group_id, generation))
        self.generation = generation

    def _ensure_bound(self) -> None:
        if self.generation < 0:
            fixed = self._fixed_generation
            self._bind(fixed if fixed is not None else self.generations.current(fresh=True))

    def _follow(self, consumer) -> None:
        """When a rebuild made a new generation live: re-bind, and re-read from its watermarks."""
        self._ensure_bound()
        if not (self._follow_generation and self.bindable):
            return
        live = self.generations.current()
        if live == self.generation:
            return
        log.warning("consumer %s: generation %s is live (was %s): re-binding", self.group_id, live, self.generation)
        self._bind(live)
        if consumer is not None:
            self._fresh.update(consumer.assignment())

    def _make_consumer(self, group_id: str | None) -> KafkaConsumer:
        # The Kafka group id carries the topic prefix: deployments (and tests) sharing one broker
        # under different prefixes must not share consumer groups (or rebalance each other).
        kafka_group = f"{self.settings.kafka_topic_prefix}{group_id}" if group_id is not None else None
        return KafkaConsumer(
            **connection_options(self.settings),
            group_id=kafka_group,
            client_id=f"{self.settings.service_name}-{group_id or 'replay'}",
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            # The relay publishes in transactions: never apply what an aborted (fenced) relay wrote.
            isolation_level="read_committed",
            # A replay (no group) has no poll deadline: larger polls, fewer and larger batch writes.
            max_poll_records=(self.settings.consumer_max_poll_records if group_id is not None
                              else max(self.settings.consumer_max_poll_records, REPLAY_MAX_POLL_RECORDS)),
            max_poll_interval_ms=300000,
            session_timeout_ms=10000,
            heartbeat_interval_ms=3000,
        )

    # -- the loop ----------------------------------------------------------------------------

    def run(self) -> None:
        consumer = self._make_consumer(self.group_id)
        self.consumer = consumer
        consumer.subscribe(list(self._physical_to_contract),
                           listener=_ForgetOnRebalance(self.watermarks, self._fresh))
        backoff = 0.5
        try:
            while not self._stop.is_set():
                batches = {}
                try:
                    self._resume_due(consumer)
                    self._follow(consumer)
                    self._seek_fresh(consumer)
                    batches = consumer.poll(timeout_ms=500)
                    self._seek_fresh(consumer, batches)  # assigned during this poll
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
                except PyMongoError as exc:
                    # A non-transient error outside the handlers (saving a watermark, the generation
                    # look-up): nothing was skipped; alert and retry rather than crash-loop.
                    self._rewind_polled(consumer, batches)
                    log.error("consumer %s: MongoDB error, retrying in %.1fs: %s", self.group_id, backoff, exc)
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, 30)
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

    def _seek_fresh(self, consumer, batches: dict | None = None) -> None:
        """Partitions newly assigned, or all of them after a generation change, start at their watermark.

        The group's committed offset normally equals the watermark; after a rebuild swapped in a
        new generation the new watermarks are lower, and the records in between must be applied
        to the new copy. Records already polled for such a partition are dropped (read again).
        """
        for tp in list(self._fresh):
            self._fresh.discard(tp)
            if batches is not None:
                batches.pop(tp, None)
            if tp in consumer.assignment():
                consumer.seek(tp, self.watermarks.get(tp.topic, tp.partition))

    def _pause(self, consumer, tp: TopicPartition, pause: "_Pause") -> None:
        """Stop a partition at a record it cannot apply yet; retried with backoff (see docstring)."""
        state = self._paused.get(tp) or _PauseState(reason=pause.reason, delay=1.0)
        state.delay = min(state.delay * 2, self.max_pause_s) if tp in self._paused else 1.0
        state.reason = pause.reason
        state.resumed = False
        state.resume_at = time.monotonic() + state.delay
        self._paused[tp] = state
        consumer.seek(tp, pause.offset)
        consumer.pause(tp)
        contract_topic = self._physical_to_contract.get(tp.topic, tp.topic)
        CONSUMER_PARTITION_PAUSED.labels(self.settings.service_name, self.group_id, contract_topic, str(tp.partition),
                                         pause.reason).set(1)
        log.error("consumer %s: partition %s:%s stopped at offset %s (%s), retrying in %.0fs: %s", self.group_id,
                  tp.topic, tp.partition, pause.offset, pause.reason, state.delay, pause.message)

    def _resume_due(self, consumer) -> None:
        now = time.monotonic()
        for tp, state in list(self._paused.items()):
            if state.resume_at <= now and not state.resumed:
                state.resumed = True
                if tp in consumer.assignment():
                    consumer.resume(tp)
                else:
                    self._clear_pause(tp)

    def _clear_pause(self, tp: TopicPartition) -> None:
        state = self._paused.pop(tp, None)
        if state is not None:
            contract_topic = self._physical_to_contract.get(tp.topic, tp.topic)
            CONSUMER_PARTITION_PAUSED.labels(self.settings.service_name, self.group_id, contract_topic,
                                             str(tp.partition), state.reason).set(0)

    def paused(self) -> dict[tuple[str, int], str]:
        """Partitions stopped on a record: (physical topic, partition) -> reason."""
        return {(tp.topic, tp.partition): state.reason for tp, state in self._paused.items()}

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

    def _process_partition(self, consumer, tp: TopicPartition, records, *, commit: bool,
                           decoded: dict[int, Any] | None = None) -> None:
        """Apply a partition's polled records. `decoded`: offset -> what `_decode_or_poison` made of
        the record already (a replay decodes on its reading thread)."""
        self._ensure_bound()
        contract_topic = self._physical_to_contract[tp.topic]
        watermark = self.watermarks.get(tp.topic, tp.partition)
        done = _Progress()
        run: list[tuple[object, Envelope]] = []  # consecutive records one batch-capable projection takes
        try:
            for record in records:
                if record.offset < watermark:
                    EVENTS_CONSUMED.labels(self.settings.service_name, self.group_id, contract_topic, "", "duplicate").inc()
                    continue
                batch_projection, envelope = self._batch_route(
                    contract_topic, record, decoded.get(record.offset) if decoded is not None else None)
                if batch_projection is not None:
                    if run and self._batch_owner(contract_topic, run[-1][1]) is not batch_projection:
                        self._flush_run(contract_topic, run, done)
                    run.append((record, envelope))
                    continue
                self._flush_run(contract_topic, run, done)
                done.mark(record, self._process_record(contract_topic, record, envelope))
            self._flush_run(contract_topic, run, done)
        except _Pause as pause:
            if not commit:
                raise RuntimeError(f"replay stopped at {tp.topic}:{tp.partition}@{pause.offset} "
                                   f"({pause.reason}): {pause.message}") from None
            self._pause(consumer, tp, pause)
        except _Rewind as rewind:
            if not commit:
                raise RuntimeError("replay interrupted: MongoDB stayed unavailable") from None
            consumer.seek(tp, rewind.offset)
        else:
            if tp in self._paused and self._paused[tp].resumed:
                self._clear_pause(tp)
            if commit and done.next_offset is not None:
                # Everything below the consumer's position was returned and applied, or is a
                # transaction marker / an aborted record that is never returned: the watermark
                # may move past those, so a caught-up group's watermark equals the end offset.
                try:
                    done.next_offset = max(done.next_offset, consumer.position(tp))
                except Exception:  # noqa: BLE001 - only a nicety: the record-based offset stands
                    pass
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
        """The one projection taking `envelope` in a batch (None: it goes one by one); cached per type."""
        key = (contract_topic, envelope.event_type)
        if key not in self._owners:
            handlers = self._routes.get(key, [])
            owners = [p for p in self.projections if contract_topic in p.topics and envelope.event_type in p.batchable]
            self._owners[key] = owners[0] if len(owners) == 1 and len(handlers) == 1 else None
        return self._owners[key]

    def handles(self, contract_topic: str, event_type: str) -> bool:
        """Whether a projection of this runner handles `event_type` on `contract_topic` (the records
        it does not are read past undecoded: neither validated nor dead-lettered here)."""
        return (contract_topic, event_type) in self._routes

    def _decode(self, contract_topic: str, record):
        """The record's envelope (or UnknownEventType, or _Unhandled); raises PoisonRecord. Decoded
        once per record, and only when a projection here handles its type: the envelope and data
        validation (and upcasting) of the many records a runner reads past is not paid for."""
        raw = self.registry.parse(record.value)
        event_type = raw.get("event_type")
        if isinstance(event_type, str) and event_type and not self.handles(contract_topic, event_type):
            return _Unhandled(event_type)
        return self.registry.decode_object(raw, inbound_hris=contract_topic == topics.HRIS_EMPLOYEES)

    def _decode_or_poison(self, contract_topic: str, record):
        """The decoded record, or the PoisonRecord saying why it cannot be (the per-record path
        dead-letters it, or pauses on a newer version)."""
        try:
            return self._decode(contract_topic, record)
        except PoisonRecord as exc:
            return exc

    def _batch_route(self, contract_topic: str, record, decoded=None):
        """(projection, decoded) when the record can join a batch; (None, decoded or the PoisonRecord) otherwise."""
        if not self._batching:
            return None, decoded
        if decoded is None:
            decoded = self._decode_or_poison(contract_topic, record)
        if isinstance(decoded, (PoisonRecord, UnknownEventType, _Unhandled)):
            return None, decoded
        return self._batch_owner(contract_topic, decoded), decoded

    def _flush_run(self, contract_topic: str, run: list, done: "_Progress") -> None:
        if not run:
            return
        projection = self._batch_owner(contract_topic, run[0][1])
        envelopes = [envelope for _, envelope in run]
        records = {envelope.event_id: RecordAt(contract_topic, record.partition, record.offset)
                   for record, envelope in run}
        delay, failures = 0.2, 0
        while True:
            try:
                with consuming(records):
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
                pending = list(run)
                run.clear()
                for record, envelope in pending:
                    done.mark(record, self._process_record(contract_topic, record, envelope))
                return
        for record, envelope in run:
            EVENTS_CONSUMED.labels(self.settings.service_name, self.group_id, contract_topic, envelope.event_type,
                                   "applied").inc()
            done.mark(record, envelope.occurred_at)
        run.clear()

    def _process_record(self, contract_topic: str, record, decoded=None) -> str | None:
        """Apply one record (`decoded`: what `_batch_route` made of it already, if anything); returns
        its occurred_at when applied. Raises _Rewind on persistent transient errors."""
        service = self.settings.service_name
        try:
            if isinstance(decoded, PoisonRecord):
                raise decoded
            if decoded is None:
                decoded = self._decode(contract_topic, record)
        except NewerSchemaVersion as exc:
            raise _Pause(record.offset, exc.reason, str(exc)) from None
        except PoisonRecord as exc:
            self._dead_letter(contract_topic, record, exc.reason, f"{exc}: {exc.details}" if exc.details else str(exc))
            return None
        if isinstance(decoded, UnknownEventType):
            EVENTS_CONSUMED.labels(service, self.group_id, contract_topic, decoded.envelope.event_type, "skipped").inc()
            return None
        if isinstance(decoded, _Unhandled):
            EVENTS_CONSUMED.labels(service, self.group_id, contract_topic, decoded.event_type, "skipped").inc()
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
        failures = 0
        where = {envelope.event_id: RecordAt(contract_topic, record.partition, record.offset)}
        while True:
            try:
                with consuming(where):
                    handler(envelope)
                return
            except TRANSIENT_ERRORS as exc:
                transient_failures += 1
                if transient_failures > self.transient_retries or self._stop.is_set():
                    log.warning("transient failure persists on %s@%s; will retry later: %s", contract_topic, record.offset, exc)
                    raise _Rewind(record.offset) from exc
                self._stop.wait(delay)
                delay = min(delay * 2, 5)
            except PoisonRecord as exc:
                # The handler says the data can never apply: dead-letter it, move on.
                self._dead_letter(contract_topic, record, exc.reason, f"{exc}: {exc.details}" if exc.details else str(exc))
                raise _Handled() from exc
            except Exception as exc:  # noqa: BLE001 - a database error or a handler bug: stop, never skip
                failures += 1
                if failures >= self.handler_attempts or self._stop.is_set():
                    reason = "database_error" if isinstance(exc, PyMongoError) else "handler_error"
                    log.exception("handler failed %s times on %s@%s", failures, contract_topic, record.offset)
                    raise _Pause(record.offset, reason, f"{type(exc).__name__}: {exc}") from exc
                self._stop.wait(delay)

    def _dead_letter(self, contract_topic: str, record, reason: str, message: str) -> None:
        headers = [(k, v) for k, v in (record.headers or []) if not k.startswith("dlq.")] + [
            ("dlq.error.reason", reason.encode()),
            ("dlq.error.message", message[:2000].encode("utf-8", "replace")),
            ("dlq.consumer.group", self.group_id.encode()),
            ("dlq.original.topic", record.topic.encode()),
            ("dlq.original.partition", str(record.partition).encode()),
            ("dlq.original.offset", str(record.offset).encode()),
        ]
        if self._replaying:
            # A replay (rebuild) meets the poison the live group dead-lettered already: once is enough.
            log.info("replay skips poison %s@%s:%s (%s)", record.topic, record.partition, record.offset, reason)
            return
        dlq_topic = topics.resolve(topics.dlq(contract_topic), self.settings.kafka_topic_prefix)
        # Wait for the broker's ack: the offset is committed right after, and nothing may be lost.
        try:
            self.producer.send(dlq_topic, key=record.key, value=record.value, headers=headers).get(timeout=30)
        except Exception:
            self._renew_producer()  # the run loop rewinds and retries the record with the new one
            raise
        DEAD_LETTERS.labels(self.settings.service_name, self.group_id, contract_topic, reason).inc()
        EVENTS_CONSUMED.labels(self.settings.service_name, self.group_id, contract_topic, "", "dead_lettered").inc()
        log.warning("dead-lettered %s@%s:%s (%s): %s", record.topic, record.partition, record.offset, reason, message)

    def _renew_producer(self) -> None:
        """Replace the dead-letter producer after a failed send (nothing was committed: nothing is lost)."""
        if self.producer_factory is None:
            return
        try:
            fresh = self.producer_factory()
        except Exception as exc:  # noqa: BLE001 - Kafka still down: keep the old one, try again next time
            log.warning("consumer %s: could not create a new producer yet: %s", self.group_id, exc)
            return
        old, self.producer = self.producer, fresh
        if self._owns_producer:  # the one passed in may be shared with the relay: never close that
            try:
                old.close(timeout=0)
            except Exception:  # noqa: BLE001
                pass
        self._owns_producer = True
        log.info("consumer %s: replaced its dead-letter producer after a failed send", self.group_id)

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

        In place (legacy): run it with this group's worker stopped. Positions are rewritten as it
        goes, so the live worker resumes after the rebuilt state without reapplying anything.
        `shared.projector.rebuild_service` rebuilds into a new generation instead (worker running).
        """
        for projection in self.projections:
            projection.reset()
        self.watermarks.clear(self._physical_to_contract)
        return self.replay(idle_timeout_s=idle_timeout_s)

    def replay(self, *, idle_timeout_s: float = 5.0) -> int:
        """Apply every topic from offset 0 up to today's end offsets (no group: nothing committed).

        The records of a poll are applied on a writer thread while the next poll is fetched: one
        poll's records at a time, in order, by that one thread (one writer per document, as live),
        so its database round trips overlap the fetching. A partition's final watermark is written
        only once everything before it has been applied.
        """
        self._ensure_bound()
        self._replaying = True
        consumer = self._make_consumer(None)
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"replay-{self.group_id}")
        applying: Future | None = None
        applied = 0
        try:
            partitions = []
            for name in self._physical_to_contract:
                for partition in sorted(consumer.partitions_for_topic(name) or []):
                    partitions.append(TopicPartition(name, partition))
            consumer.assign(partitions)
            consumer.seek_to_beginning(*partitions)
            ends = consumer.end_offsets(partitions)
            remaining = {tp for tp in partitions if ends[tp] > 0}
            idle_since = time.monotonic()
            while remaining:
                batches = consumer.poll(timeout_ms=500)
                if not batches and time.monotonic() - idle_since > idle_timeout_s:
                    raise RuntimeError(f"replay stalled before the end offsets: {sorted(map(str, remaining))}")
                if batches:
                    idle_since = time.monotonic()
                    wanted = {tp: [r for r in records if r.offset < ends[tp]] for tp, records in batches.items()}
                    decoded = {tp: {r.offset: self._decode_or_poison(self._physical_to_contract[tp.topic], r)
                                    for r in records} for tp, records in wanted.items()}
                    if applying is not None:
                        applied += applying.result()
                    applying = writer.submit(self._replay_polled, consumer, wanted, decoded)
                # Done by position, not by the last record's offset: a transactional topic ends
                # with a commit marker, an offset no record is ever returned for.
                for tp in list(remaining):
                    if consumer.position(tp) >= ends[tp]:
                        remaining.discard(tp)
                        if applying is not None:
                            applied += applying.result()
                            applying = None
                        if self.watermarks.get(tp.topic, tp.partition) < ends[tp]:
                            self.watermarks.save(tp.topic, tp.partition, ends[tp], None)
            if applying is not None:
                applied += applying.result()
            return applied
        finally:
            writer.shutdown(wait=True)
            self._replaying = False
            consumer.close(autocommit=False)

    def _replay_polled(self, consumer, batches: dict, decoded: dict) -> int:
        """One poll of a replay (decoded already), applied on the replay's writer thread; returns how many."""
        before = self.processed
        for tp, records in batches.items():
            self._process_partition(consumer, tp, records, commit=False, decoded=decoded[tp])
        return self.processed - before


class _Rewind(Exception):
    """Internal: stop this partition's batch and retry from `offset` later."""

    def __init__(self, offset: int):
        super().__init__(offset)
        self.offset = offset


class _Pause(Exception):
    """Internal: stop this partition at `offset`, alert, and retry with backoff (not the record's fault)."""

    def __init__(self, offset: int, reason: str, message: str):
        super().__init__(offset, reason, message)
        self.offset = offset
        self.reason = reason
        self.message = message


@dataclass
class _PauseState:
    reason: str
    delay: float
    resume_at: float = 0.0
    resumed: bool = False


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
