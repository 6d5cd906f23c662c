"""Own-stream projections: a service's read models of its OWN events, fed from its event store.

A service does not need Kafka to see what it has just stored: `StoreProjector` walks
`EventStore.read_all` from a checkpoint (the next position to apply, one document in
`projector_checkpoints`) and feeds the same `Projection` class the consumer runner uses
(`handlers()` keyed by event type, idempotent). One writer at a time: the worker replicas compete
for a lease (`shared.lease.Lease`), the holder applies; a paused holder that wakes up after losing
the lease may apply a commit again, which changes nothing (handlers are idempotent; the
checkpoint only ever moves to positions whose commits were applied).

- Private data: a handler calls `private_of(envelope)` to get the commit's private fields for
  that event (`Commit.private[event_id]`, stored atomically with the events, never published);
  None when there are none. The handler signature stays `(envelope)`.
- Read-your-writes: a request handler appends (`AggregateStore.append` returns `Appended` with
  `.position`), then `projector.wait_for(appended.position)` polls the checkpoint (one read at a
  time per process, shared by its waiting threads) until the view includes it (True) or
  `timeout_s` passes (False). Request handlers never write views.
- Failures never skip a commit: a transient MongoDB error is retried with backoff; anything else
  (a bug, a newer schema version from a newer deployment) stops the projector at that commit,
  sets `mentoring_consumer_partition_paused{topic="store"}` and logs, and retries with backoff.
- Runs of commits (a bulk enrolment's thousands of one-event commits, a matching run's proposals):
  consecutive commits whose every event type is listed in `batchable` by every projection handling
  it (the same projections for the whole run) are given to each of those projections' `apply_batch`
  in turn, at once (with every commit's private data reachable by `private_of`), so it can write
  them in a round trip; on any error other than a transient one the run is applied commit by commit
  instead (handlers are idempotent: what the batch wrote is skipped).
- Generations (shared.generations): a rebuild builds a new generation with a fixed projector
  (`generation=n`, its own checkpoint), then makes it live; the live projector notices, re-binds
  its projections and continues from the rebuild's checkpoint.

`rebuild_service` rebuilds all of a service's opted-in projections (Kafka-fed and own-stream)
into a new generation and swaps it in while the workers keep running.
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field

from pymongo.errors import PyMongoError

from shared.consumer import ConsumerRunner, Projection, bindable, watermark_group
from shared.events.envelope import Envelope
from shared.events.registry import NewerSchemaVersion, UnknownEventType
from shared.eventstore import loading_through
from shared.generations import GenerationDatabase, Generations, physical
from shared.lease import Lease
from shared.metrics import CONSUMER_PARTITION_PAUSED, PROJECTION_CHECKPOINT_LAG
from shared.mongo import TRANSIENT_ERRORS

log = logging.getLogger(__name__)

CHECKPOINTS = "projector_checkpoints"
LEASES = "projector_leases"

_PRIVATE: contextvars.ContextVar[dict | None] = contextvars.ContextVar("commit_private", default=None)
# {event_id: order} of the commit (or run of commits, `apply_batch`) being applied (`order_of`)
_ORDERS: contextvars.ContextVar[dict[str, int] | None] = contextvars.ContextVar("commit_orders", default=None)
EVENTS_PER_COMMIT = 1_000_000  # order_of's factor: more than any commit holds (MAX_EVENT_BYTES each)


def private_of(envelope: Envelope) -> dict | None:
    """The private fields stored with `envelope` in its commit (inside a store projector's handler)."""
    return (_PRIVATE.get() or {}).get(envelope.event_id)


envelope_private = private_of  # the name the plan also mentions


def order_of(envelope: Envelope) -> int:
    """Where `envelope` stands in the store (inside a store projector's handler): one number per
    event, growing with the commit position and the event's index in its commit, the same in a
    replay and a rebuild. A view that sums many events (a cohort's counts) stores the order of the
    last event it applied, so a redelivered event, or one applied again after a crash between the
    view's writes, is recognised and not counted twice."""
    orders = _ORDERS.get()
    if orders is None or envelope.event_id not in orders:
        raise RuntimeError("order_of is known only inside a store projector's handler")
    return orders[envelope.event_id]


def _orders(commits) -> dict[str, int]:
    return {raw.event_id: commit.position * EVENTS_PER_COMMIT + index
            for commit in commits for index, raw in enumerate(commit.events)}


@contextlib.contextmanager
def applying(commit):
    """What handlers may ask about `commit` while it is applied: `private_of`, `order_of`."""
    private = _PRIVATE.set(getattr(commit, "private", None) or {})
    order = _ORDERS.set(_orders([commit]))
    try:
        with loading_through([commit]):
            yield
    finally:
        _ORDERS.reset(order)
        _PRIVATE.reset(private)


def checkpoint_id(name: str, generation: int) -> str:
    return name if generation == 0 else f"{name}@g{generation}"


class StoreProjector:
    def __init__(self, context_or_store, projections: list[Projection], *, name: str, registry=None,
                 database=None, settings=None, generation: int | None = None, poll_interval_s: float | None = None,
                 batch_commits: int = 200, owner: str | None = None):
        store = getattr(context_or_store, "store", context_or_store)
        self.store = store
        if database is None:
            database = getattr(context_or_store, "database", None)
        self.database = database if database is not None else store.db
        self.settings = settings or getattr(context_or_store, "settings", None)
        if registry is None:
            from shared.events.catalog import default_registry

            registry = default_registry()
        self.registry = registry
        self.name = name
        self.projections = list(projections)
        self.bindable = bindable(self.projections)
        self.poll_interval_s = poll_interval_s if poll_interval_s is not None else (
            self.settings.projector_poll_interval_s if self.settings is not None else 0.02)
        self.batch_commits = batch_commits
        # How many commits the next catch-up asks read_all for. It reads that many positions side by
        # side (up to its window), and a position not yet written is a wasted read: eight a poll
        # while idle, every poll interval. So one while idle, else one more than the last catch-up
        # found, reading on (up to a full batch) when that read comes back full.
        self._read_ahead = 1
        self.checkpoints = self.database[CHECKPOINTS]
        self.generations = Generations(self.database)
        self._fixed_generation = generation
        self.generation = -1
        ttl = self.settings.relay_lease_ttl_s if self.settings is not None else 10.0
        owner = owner or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
        self.lease = Lease(self.database[LEASES], f"projector|{name}", owner, ttl)
        self.service = self.settings.service_name if self.settings is not None else "service"
        self.applied = 0
        self._routes: dict[str, list] = {}
        self._batch_owners: dict[str, tuple[Projection, ...]] = {}  # event type -> the projections batching it
        self._stop = threading.Event()
        self._failures = 0
        self._leased = False  # True while run() applies under the lease
        self._paused_reason: str | None = None
        self._lease_at = 0.0
        self._lag_at = 0.0
        self._position: tuple[int, int] | None = None  # (generation, next position) while leased
        # wait_for's shared checkpoint read: the last value read and when its read began, whether a
        # read is under way, when the next may begin
        self._watch = threading.Condition()
        self._watched: tuple[int, float] = (0, 0.0)
        self._watch_reading = False
        self._watch_next = 0.0

    # -- generations and binding --------------------------------------------------------------

    def _bind(self, generation: int) -> None:
        if generation == self.generation:
            return
        for projection in self.bindable:
            projection.bind(GenerationDatabase(self.database, generation, projection.collections))
        self._routes = {}
        handling: dict[str, list[Projection]] = {}
        for projection in self.projections:
            for event_type, handler in projection.handlers().items():
                self._routes.setdefault(event_type, []).append(handler)
                handling.setdefault(event_type, []).append(projection)
        self._batch_owners = {event_type: tuple(projections) for event_type, projections in handling.items()
                              if all(event_type in getattr(p, "batchable", ()) for p in projections)}
        self.generation = generation

    def _ensure_bound(self) -> None:
        if self._fixed_generation is not None:
            self._bind(self._fixed_generation)
        elif self.generation < 0 or self.bindable:
            self._bind(self.generations.current() if self.bindable else 0)

    # -- checkpoint ---------------------------------------------------------------------------

    def _checkpoint_of(self, generation: int) -> int:
        doc = self.checkpoints.find_one({"_id": checkpoint_id(self.name, generation)})
        return int(doc["next_position"]) if doc else 1

    def checkpoint(self) -> int:
        """The next store position to apply (everything below it is in the views)."""
        generation = self._fixed_generation if self._fixed_generation is not None else (
            self.generations.current() if self.bindable else 0)
        return self._checkpoint_of(generation)

    def _save(self, next_position: int) -> None:
        from shared.clock import utcnow

        self.checkpoints.find_one_and_replace(
            {"_id": checkpoint_id(self.name, self.generation)},
            {"next_position": next_position, "updated_at": utcnow()}, upsert=True)

    def wait_for(self, position: int, timeout_s: float = 2.0) -> bool:
        """Until the views include the commit at `position` (read-your-writes); False on timeout.

        Every request thread of a process waiting at once shares one checkpoint read at a time
        (one of them reads, a poll interval after the last read ended, and tells the others what
        it found): eight threads each polling on their own read the checkpoint up to 400 times a
        second, a load the store projector they wait for competes with on the same server.
        """
        if not position:
            return True
        arrived = time.monotonic()
        deadline = arrived + timeout_s
        interval = min(self.poll_interval_s, 0.02)
        watch = self._watch
        with watch:
            while True:
                value, read_at = self._watched
                if read_at >= arrived and value > position:  # only a read begun since: as fresh as one's own
                    return True
                now = time.monotonic()
                if now >= deadline:
                    return False
                if self._watch_reading or now < self._watch_next:
                    watch.wait((deadline if self._watch_reading else min(deadline, self._watch_next)) - now)
                    continue
                self._watch_reading = True
                try:
                    watch.release()
                    try:
                        value = self.checkpoint()
                    finally:
                        watch.acquire()
                    self._watched = (value, now)
                finally:
                    # the next read an interval after this one *ended*: a server slow to answer is
                    # asked less often (back to back, reads of 30 ms under load doubled the rate)
                    self._watch_reading, self._watch_next = False, time.monotonic() + interval
                    watch.notify_all()

    # -- applying -----------------------------------------------------------------------------

    def catch_up(self, *, until: int | None = None) -> int:
        """Apply every commit beyond the checkpoint (up to `until`, inclusive); returns events applied.

        Raises on a failure, after saving the checkpoint of what was applied (the caller retries).
        """
        self._ensure_bound()
        applied = 0
        if self._leased and self._position is not None and self._position[0] == self.generation:
            position = self._position[1]  # the lease holder is the only writer: no need to re-read
        else:
            position = self._checkpoint_of(self.generation)
        start = position
        found = 0
        limit = self._read_ahead
        while True:
            commits = list(self.store.read_all(position, limit=limit))
            if len(commits) == limit < self.batch_commits:  # more may be written: read on, to apply them as one run
                commits += self.store.read_all(commits[-1].position + 1, limit=self.batch_commits - limit)
                limit = self.batch_commits
            full = len(commits) == limit
            found += len(commits)
            if until is not None:
                commits = [c for c in commits if c.position <= until]
            if not commits:
                break
            try:
                for run in self._runs(commits):
                    applied += self._apply_run(run)
                    position = run[-1].position + 1
            finally:
                if position > start:
                    self._save(position)
                    start = position
            if not full or (until is not None and position > until):
                break
            if self._leased and not self._hold_lease():
                break  # a long catch-up renews the lease per batch; lost it: the new holder goes on
        self._read_ahead = max(1, min(self.batch_commits, found + 1))
        self._position = (self.generation, position)
        self.applied += applied
        self._report_lag(position)
        return applied

    def _report_lag(self, position: int, every_s: float = 1.0) -> None:
        now = time.monotonic()
        if now - self._lag_at < every_s:
            return
        self._lag_at = now
        try:
            lag = max(0, self.store.current_position() + 1 - position)
            PROJECTION_CHECKPOINT_LAG.labels(self.service, self.name).set(lag)
        except Exception:  # noqa: BLE001 - metrics only
            pass

    def _hold_lease(self) -> bool:
        """Take or renew the lease, renewing at most every ttl/3 while it is held."""
        now = time.monotonic()
        if self._leased and now - self._lease_at < self.lease_ttl_s() / 3:
            return True
        held = self.lease.acquire()
        if held and not self._leased:
            self._position = None  # newly taken: another holder may have moved the checkpoint
        self._leased, self._lease_at = held, now
        return held

    def _batch_owner(self, commit) -> tuple[Projection, ...] | None:
        owners = {self._batch_owners.get(raw.event_type) for raw in commit.events}
        if len(owners) != 1:
            return None
        owner = owners.pop()
        if owner is None or not all(self.registry.knows(raw.event_type) for raw in commit.events):
            return None
        return owner

    def _runs(self, commits: list) -> list[list]:
        """The commits in order, grouped: consecutive commits batched by one projection form a run."""
        runs: list[list] = []
        last = None
        for commit in commits:
            owner = self._batch_owner(commit) if self._batch_owners else None
            if owner is not None and owner == last:
                runs[-1].append(commit)
            else:
                runs.append([commit])
            last = owner
        return runs

    def _apply_run(self, run: list) -> int:
        owners = self._batch_owner(run[0]) if len(run) > 1 else None
        if owners is None:
            return sum(self._apply(commit) for commit in run)
        envelopes = [self.registry.to_current(raw) for commit in run for raw in commit.events]
        private: dict = {}
        for commit in run:
            private.update(getattr(commit, "private", None) or {})
        token = _PRIVATE.set(private)
        # order_of in a batch too (it used to raise there, so every run fell back to one by one)
        orders = _ORDERS.set(_orders(run))
        try:
            with loading_through(run):
                for owner in owners:
                    owner.apply_batch(envelopes)
            return len(envelopes) * len(owners)  # as `_apply` counts: one per handler given an event
        except TRANSIENT_ERRORS:
            raise
        except Exception:  # noqa: BLE001 - the commits one by one isolate (and report) the bad one
            log.warning("a run of %s commits failed as a batch; applying them one by one", len(run), exc_info=True)
        finally:
            _ORDERS.reset(orders)
            _PRIVATE.reset(token)
        return sum(self._apply(commit) for commit in run)

    def _apply(self, commit) -> int:
        with applying(commit):
            count = 0
            for raw in commit.events:
                decoded = self.registry.to_current(raw) if self.registry.knows(raw.event_type) else UnknownEventType(raw)
                if isinstance(decoded, UnknownEventType):
                    continue
                for handler in self._routes.get(decoded.event_type, ()):
                    handler(decoded)
                    count += 1
            return count

    # -- the loop -----------------------------------------------------------------------------

    def run(self, stop: threading.Event | None = None) -> None:
        stop = stop or self._stop
        backoff = 0.5
        while not stop.is_set():
            try:
                if not self._hold_lease():
                    stop.wait(max(self.poll_interval_s, self.lease_ttl_s() / 3))
                    continue
                if self.catch_up() == 0:
                    stop.wait(self.poll_interval_s)
                if self._paused_reason:
                    CONSUMER_PARTITION_PAUSED.labels(self.service, self.name, "store", "0", self._paused_reason).set(0)
                    self._paused_reason = None
                self._failures, backoff = 0, 0.5
            except TRANSIENT_ERRORS as exc:
                self._position = None
                log.warning("projector %s: MongoDB unavailable, retrying in %.1fs: %s", self.name, backoff, exc)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10)
            except Exception as exc:  # noqa: BLE001 - stop at the commit, alert, retry: never skip
                self._position = None
                self._failures += 1
                reason = ("unknown_schema_version" if isinstance(exc, NewerSchemaVersion)
                          else "database_error" if isinstance(exc, PyMongoError) else "handler_error")
                if self._paused_reason and self._paused_reason != reason:
                    CONSUMER_PARTITION_PAUSED.labels(self.service, self.name, "store", "0", self._paused_reason).set(0)
                self._paused_reason = reason
                CONSUMER_PARTITION_PAUSED.labels(self.service, self.name, "store", "0", reason).set(1)
                log.exception("projector %s: stopped at position %s (%s), retrying in %.1fs", self.name,
                              self._safe_checkpoint(), reason, backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, 60)
        try:
            self.lease.release()
        except Exception:  # noqa: BLE001
            pass
        self._leased = False

    def lease_ttl_s(self) -> float:
        return self.settings.relay_lease_ttl_s if self.settings is not None else 10.0

    def _safe_checkpoint(self):
        try:
            return self._checkpoint_of(self.generation)
        except Exception:  # noqa: BLE001
            return "?"

    def stop(self) -> None:
        self._stop.set()


# -- rebuild ------------------------------------------------------------------------------------

@dataclass
class RebuildReport:
    generation: int
    kafka_records: int = 0
    store_events: int = 0
    collections: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)


def own_projections_of(context) -> list[Projection]:
    own = getattr(context, "own_projections", None)
    return list(own()) if callable(own) else []


def rebuild_service(context, runner: ConsumerRunner | None, *, registry=None, name: str | None = None,
                    keep_generations: int = 2, grace_s: float = 2.0, idle_timeout_s: float = 5.0) -> RebuildReport:
    """Build every opted-in projection into a new generation, then make it live (workers keep running).

    Kafka-fed projections (those of `runner`, a service's consumer runner) replay their topics from
    offset 0 without a group; own-stream ones (`context.own_projections()`) replay `read_all`.
    Projections without `collections` (not opted in, or policies) are skipped and listed. After the
    swap, generations older than the newest `keep_generations` are dropped (after `grace_s`, so
    readers with a cached generation finish).
    """
    generations = Generations(context.database)
    service = context.settings.service_name
    if registry is None:
        registry = runner.registry if runner is not None else getattr(context, "registry", None)
    kafka_fed = [p for p in (runner.projections if runner else []) if p.collections]
    own = [p for p in own_projections_of(context) if p.collections]
    skipped = [p.name for p in (runner.projections if runner else []) + own_projections_of(context)
               if not p.collections]
    generation = generations.claim_next(owner=f"rebuild@{socket.gethostname()}")
    report = RebuildReport(generation=generation, skipped=skipped)
    names = sorted({n for p in kafka_fed + own for n in p.collections})
    report.collections = names
    for base in names:  # a crashed earlier attempt never uses the same number, but be sure
        context.database[physical(base, generation)].drop()
    if kafka_fed:
        shadow = ConsumerRunner(runner.settings, group_id=runner.group_id, projections=kafka_fed,
                                registry=runner.registry, database=context.database, producer=runner.producer,
                                producer_factory=runner.producer_factory, generation=generation)
        shadow.watermarks.clear(shadow._physical_to_contract)
        report.kafka_records = shadow.replay(idle_timeout_s=idle_timeout_s)
    if own:
        projector = StoreProjector(context, own, name=name or f"{service}-own", registry=registry,
                                   generation=generation)
        report.store_events = projector.catch_up()
    generations.make_live(generation, names)
    from shared import views_manifest  # it reads this module's checkpoints: imported here, not at the top

    views_manifest.record(context.database, generation, views_manifest.manifest_of(kafka_fed + own))
    log.warning("rebuild %s: generation %s is live (%s)", service, generation, ", ".join(names))
    older = [g for g in generations.generations() if g < generation]
    keep = max(0, keep_generations - 1)
    old = older[: len(older) - keep] if keep else older
    if old:
        time.sleep(grace_s)
        for g in old:
            for base in names:
                context.database[physical(base, g)].drop()
                report.dropped.append(physical(base, g))
    return report


__all__ = ["StoreProjector", "private_of", "order_of", "applying", "envelope_private", "rebuild_service", "RebuildReport",
           "checkpoint_id", "watermark_group"]
