"""Is a service's state what its events say? Live projections against a rebuild, and how far behind
its consumers and store projector are.

The fault suite (tests/e2e/test_faults.py) checks after every fault, and `make simulate`
(scripts/simulate.py) after a simulated year, one property: the live collections of every
projection a service has (Kafka-fed and own-stream, each collection a projection lists) equal a
rebuild from scratch into a new generation (`shared.projector.rebuild_service`, what
`python -m shared.cli rebuild` runs): Kafka from offset 0, the event store from position 1.
"""
from __future__ import annotations

import importlib
import json
import time
from dataclasses import dataclass, field

from kafka import KafkaConsumer, TopicPartition

from shared import topics
from shared.config import Settings
from shared.eventstore import EventStore
from shared.generations import Generations, physical
from shared.kafka import connection_options
from shared.mongo import database_for
from shared.projector import CHECKPOINTS, own_projections_of, rebuild_service

# Fields of projection documents that are not derived from events (set by other parts of a service),
# per service and collection: left out of "live equals a rebuild". None today.
NOT_FROM_EVENTS: dict[str, dict[str, tuple[str, ...]]] = {}
POSITIONS = "consumer_positions"  # shared.consumer's watermarks: `<group>|<topic>|<partition>` -> next_offset


def offline_settings(service: str) -> Settings:
    """Settings that reach no server: enough to list a service's projections."""
    return Settings(service_name=service, mongo_url="mongodb://127.0.0.1:1/?serverSelectionTimeoutMS=200",
                    mongo_database="unused", jwt_secret="unused-offline-secret-0123456789")


def bootstrap_of(service: str):
    return importlib.import_module(f"services.{service}.bootstrap")


def service_parts(service: str, settings: Settings):
    """(bootstrap module, context, consumer runner) of a service, built in this process."""
    bootstrap = bootstrap_of(service)
    worker = importlib.import_module(f"services.{service}.worker")
    context = bootstrap.build(settings)
    return bootstrap, context, worker.build_consumer(settings, context=context)


def consumer_group(service: str) -> str:
    return bootstrap_of(service).CONSUMER_GROUP


def consumed_topics(service: str) -> list[str]:
    """The contract topics the service's consumer group reads."""
    return sorted({t for p in bootstrap_of(service).build(offline_settings(service)).projections() for t in p.topics})


def projection_collections(service: str) -> list[str]:
    """Every collection a projection of the service owns (Kafka-fed and own-stream): what a
    rebuild recreates, so what must equal a rebuild."""
    context = bootstrap_of(service).build(offline_settings(service))
    return sorted({n for p in context.projections() + own_projections_of(context) for n in p.collections})


def slot_list_collections(service: str) -> set[str]:
    """The collections a projection keeps as slot lists (`slot_lists`: members in numbered slots
    claimed by unique inserts, notifications' `SlotList`): the slot a member lands in depends on how
    partitions interleaved, so a list equals a rebuild's when it holds the same members."""
    context = bootstrap_of(service).build(offline_settings(service))
    return {n for p in context.projections() + own_projections_of(context) for n in getattr(p, "slot_lists", ())}


def _as_lists(docs: dict) -> dict:
    """Slot documents (`{list}|{n}` -> member) as {list: sorted members}."""
    lists: dict[str, set] = {}
    for key, doc in docs.items():
        lists.setdefault(key.rsplit("|", 1)[0], set()).add(json.dumps({k: v for k, v in doc.items() if k != "_id"},
                                                                       sort_keys=True, default=str))
    return {key: sorted(members) for key, members in lists.items()}


def end_offsets(settings: Settings, contract_topics) -> dict[tuple[str, int], int]:
    """Per partition: the offset after its last *record*. Topics written in Kafka transactions (every
    relay's) end with a commit marker that takes an offset of its own, so a consumer that applied
    everything stands one short of the broker's end offset there."""
    consumer = KafkaConsumer(**connection_options(settings), group_id=None,
                             enable_auto_commit=False, isolation_level="read_committed")
    try:
        partitions = []
        for contract_topic in contract_topics:
            name = topics.resolve(contract_topic, settings.kafka_topic_prefix)
            partitions += [TopicPartition(name, p) for p in sorted(consumer.partitions_for_topic(name) or [])]
        ends = consumer.end_offsets(partitions)
        return {(tp.topic, tp.partition): _after_last_record(consumer, tp, end) for tp, end in ends.items()}
    finally:
        consumer.close()


def _after_last_record(consumer, tp, end: int) -> int:
    back = 4
    while end > 0:
        start = max(0, end - back)
        consumer.assign([tp])
        consumer.seek(tp, start)
        last = None
        deadline = time.monotonic() + 10
        while consumer.position(tp) < end and time.monotonic() < deadline:
            for record in consumer.poll(timeout_ms=300).get(tp, []):
                if record.offset < end:
                    last = record.offset
        if last is not None:
            return last + 1
        if start == 0:
            return 0
        back *= 8
    return 0


def lagging(settings: Settings, group: str, ends: dict[tuple[str, int], int]) -> dict[str, int]:
    """Records per partition the group has not applied yet of those `ends` (its watermarks in the
    service's database, which the consumer advances only once a record's effects are stored)."""
    positions = database_for(settings)[POSITIONS]
    behind = {}
    for (topic, partition), end in ends.items():
        if end == 0:
            continue
        doc = positions.find_one({"_id": f"{group}|{topic}|{partition}"})
        done = int(doc["next_offset"]) if doc else 0
        if done < end:
            behind[f"{topic}:{partition}"] = end - done
    return behind


def store_backlog(settings: Settings) -> int:
    """Commits of the service's event store its slowest own-stream projector has not applied."""
    db = database_for(settings)
    last = EventStore(db).current_position()
    checkpoints = [int(d.get("next_position", 0)) for d in db[CHECKPOINTS].find({})]
    if not checkpoints:
        return last
    return max(0, last + 1 - min(checkpoints))


def wait_settled(settings: Settings, *, timeout_s: float = 120, interval_s: float = 0.5) -> dict:
    """Until the service's consumer group has applied today's last record of every topic it reads
    and its store projectors every stored commit; returns what was still behind ({} when settled)."""
    service = settings.service_name
    group, contract_topics = consumer_group(service), consumed_topics(service)
    ends = end_offsets(settings, contract_topics)
    deadline = time.monotonic() + timeout_s
    while True:
        behind: dict = lagging(settings, group, ends)
        backlog = store_backlog(settings)
        if backlog:
            behind["event store"] = backlog
        if not behind or time.monotonic() > deadline:
            return behind
        time.sleep(interval_s)


def snapshot(settings: Settings, service: str, names: list[str] | None = None) -> dict:
    """The live generation of every projection collection: {collection: {_id: document}}."""
    db = database_for(settings)
    generation, covered = Generations(db).live(fresh=True)
    names = projection_collections(service) if names is None else names
    ignored = NOT_FROM_EVENTS.get(service, {})
    slot_lists = slot_list_collections(service)
    found = {name: {doc["_id"]: {k: v for k, v in doc.items() if k not in ignored.get(name, ())}
                    for doc in db[physical(name, generation) if name in covered else name].find({})}
             for name in names}
    return {name: _as_lists(docs) if name in slot_lists else docs for name, docs in found.items()}


@dataclass
class RebuildCheck:
    """A service's live projections beside a rebuild of them: `differences` empty when equal."""
    service: str
    live: dict
    differences: list[str] = field(default_factory=list)
    documents: int = 0
    kafka_records: int = 0
    store_events: int = 0
    seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        return not self.differences


def compare_with_rebuild(service: str, settings: Settings, *, idle_timeout_s: float = 5) -> RebuildCheck:
    """Snapshot the live projections, rebuild them from scratch into a new generation (which then
    is live, as after `python -m shared.cli rebuild`), and compare document by document. Run with
    the service's workers stopped or settled: what they apply meanwhile would be a difference."""
    names = projection_collections(service)
    if not names:
        return RebuildCheck(service, {}, [f"{service} has no rebuildable projection"])
    live = snapshot(settings, service, names)
    bootstrap, context, runner = service_parts(service, settings)
    started = time.perf_counter()
    try:
        report = rebuild_service(context, runner, registry=bootstrap.registry(), idle_timeout_s=idle_timeout_s,
                                 grace_s=0)
    finally:
        runner.producer.close()
    seconds = time.perf_counter() - started
    rebuilt = snapshot(settings, service, names)
    differences = []
    for name in names:
        missing = set(rebuilt[name]) - set(live[name])
        extra = set(live[name]) - set(rebuilt[name])
        differ = [k for k in set(live[name]) & set(rebuilt[name]) if live[name][k] != rebuilt[name][k]]
        if missing or extra or differ:
            differences.append(
                f"{service}.{name} differs from a rebuild: missing {sorted(missing)[:5]}, extra {sorted(extra)[:5]}, "
                f"different {[(k, live[name][k], rebuilt[name][k]) for k in differ[:2]]}")
    return RebuildCheck(service, live, differences, documents=sum(len(docs) for docs in live.values()),
                        kafka_records=report.kafka_records, store_events=report.store_events, seconds=seconds,
                        skipped=list(report.skipped))


def relay_backlog(settings: Settings) -> int:
    """Stored events of the service its relay has not published yet."""
    from shared.relay import EventRelay

    return EventRelay(settings, EventStore(database_for(settings)), producer=None).backlog()


def settle_all(settings_by_service: dict[str, Settings], *, timeout_s: float = 600) -> dict:
    """Until every service's relay has published what it stored and every consumer group and store
    projector has applied it, twice in a row (what one service applies, a policy may answer with
    events of its own); returns what was still behind per service ({} when all settled)."""
    deadline = time.monotonic() + timeout_s
    quiet = 0
    while True:
        behind = {}
        for service, settings in settings_by_service.items():
            left = max(1.0, deadline - time.monotonic())
            relay_deadline = time.monotonic() + left
            while (backlog := relay_backlog(settings)) and time.monotonic() < relay_deadline:
                time.sleep(0.3)
            service_behind = wait_settled(settings, timeout_s=max(1.0, deadline - time.monotonic()))
            if backlog:
                service_behind["relay"] = backlog
            if service_behind:
                behind[service] = service_behind
        quiet = 0 if behind else quiet + 1
        if quiet == 2 or time.monotonic() > deadline:
            return behind
