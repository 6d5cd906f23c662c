"""Every server behaviour the event store, relay and lease rely on, probed on the real servers.

Runs against whatever MONGO_URL (FerretDB v1 locally, mongod in production) and
KAFKA_BOOTSTRAP_SERVERS point at. docs/mongodb.md lists each reliance, and where mongod and
FerretDB differ. Probes of behaviours the code must *not* rely on (NULLs in unique indexes,
isolation of read-modify-write updates) only measure and print; they assert that our code
stays clear of them.
"""
from __future__ import annotations

import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from pymongo import ASCENDING, DESCENDING, ReturnDocument
from pymongo.errors import BulkWriteError, DuplicateKeyError, OperationFailure
from pymongo.read_concern import ReadConcern

from shared.eventstore import sealed_placeholder
from shared.lease import server_now
from shared.mongo import is_replica_set, majority_reads
from shared.kafka import connection_options

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
OUR_MODULES = ("shared/eventstore.py", "shared/relay.py", "shared/lease.py")


@pytest.fixture
def db(make_settings):
    from shared.mongo import database_for

    return database_for(make_settings("semantics"))


def _race(threads: int, action) -> list:
    """Run `action(i)` in `threads` threads released at once; returns each outcome or exception."""
    barrier = threading.Barrier(threads)
    outcomes: list = [None] * threads

    def run(i):
        barrier.wait()
        try:
            outcomes[i] = action(i)
        except Exception as exc:  # noqa: BLE001 - the outcome is what we measure
            outcomes[i] = exc

    workers = [threading.Thread(target=run, args=(i,)) for i in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    return outcomes


def test_unique_index_null_semantics_are_measured_and_never_relied_on(db):
    collection = db["nulls"]
    collection.create_index([("stream_id", ASCENDING), ("first_version", ASCENDING)], unique=True)
    collection.insert_one({"_id": "a"})
    try:
        collection.insert_one({"_id": "b"})
        nulls = "distinct (FerretDB: a second document without the keys is accepted)"
    except DuplicateKeyError:
        nulls = "equal (mongod: missing keys index as null; only one such document)"
    print(f"unique index NULLs: {nulls}")
    # What the store puts under that index always carries its own non-null, distinct keys.
    placeholders = [sealed_placeholder(p) for p in (1, 2, 3)]
    assert all(p["stream_id"] and p["first_version"] for p in placeholders)
    assert len({(p["stream_id"], p["first_version"]) for p in placeholders}) == 3


def test_inserting_one_id_from_many_threads_lets_exactly_one_win(db):
    collection = db["claims"]
    for round_ in range(10):
        key = f"p{round_:015d}"
        outcomes = _race(8, lambda i, key=key: collection.insert_one({"_id": key, "writer": i}))
        winners = [o for o in outcomes if not isinstance(o, Exception)]
        assert len(winners) == 1
        assert all(isinstance(o, DuplicateKeyError) for o in outcomes if isinstance(o, Exception))
        assert collection.count_documents({"_id": key}) == 1


def test_a_compound_unique_index_lets_exactly_one_of_racing_inserts_win(db):
    """Optimistic concurrency: two commits of one stream version cannot both be stored."""
    collection = db["commits"]
    collection.create_index([("stream_id", ASCENDING), ("first_version", ASCENDING)], unique=True)
    for version in range(1, 11):
        outcomes = _race(8, lambda i, version=version: collection.insert_one(
            {"_id": uuid.uuid4().hex, "stream_id": "s", "first_version": version}))
        assert sum(not isinstance(o, Exception) for o in outcomes) == 1
        assert all(isinstance(o, DuplicateKeyError) for o in outcomes if isinstance(o, Exception))


def test_an_ordered_insert_many_inserts_in_order_and_stops_at_the_first_refusal(db):
    """EventStore.append_many: many commits at consecutive positions in one ordered insert; the
    position prefix holds only if nothing after a refused document is inserted."""
    for refused, taken in (("p3", {"_id": "p3", "stream_id": "other", "first_version": 1}),  # a taken position
                           ("p5", {"_id": "x", "stream_id": "s5", "first_version": 1})):  # a taken stream version
        collection = db[f"ordered_{refused}"]
        collection.create_index([("stream_id", ASCENDING), ("first_version", ASCENDING)], unique=True)
        collection.insert_one(taken)
        docs = [{"_id": f"p{n}", "stream_id": f"s{n}", "first_version": 1} for n in range(1, 9)]
        with pytest.raises(BulkWriteError) as error:
            collection.insert_many(docs, ordered=True)
        first = error.value.details["writeErrors"][0]
        assert first["code"] == 11000 and docs[first["index"]]["_id"] == refused
        stored = sorted(d["_id"] for d in collection.find({}) if d["_id"] != taken["_id"])
        assert stored == [f"p{n}" for n in range(1, int(refused[1:]))]


def test_duplicate_key_errors_may_not_say_which_index_collided(db):
    collection = db["which"]
    collection.create_index([("k", ASCENDING)], unique=True)
    collection.insert_one({"_id": "x", "k": 1})
    with pytest.raises(DuplicateKeyError) as by_index:
        collection.insert_one({"_id": "y", "k": 1})
    print(f"duplicate key details: keyPattern={by_index.value.details.get('keyPattern')!r}")
    # so the store reads back what is stored after every DuplicateKeyError (tested in test_event_store)


def test_read_modify_write_updates_are_measured_and_never_used_for_claims(db):
    collection = db["counter"]
    collection.insert_one({"_id": "c", "value": 0})
    per_thread = 50

    def bump(_):
        for _ in range(per_thread):
            collection.find_one_and_update({"_id": "c"}, {"$inc": {"value": 1}}, return_document=ReturnDocument.AFTER)

    _race(4, bump)
    value = collection.find_one({"_id": "c"})["value"]
    print(f"$inc by 4 threads: {value} of {4 * per_thread} kept ({100 - value * 100 // (4 * per_thread)}% lost)")
    for module in OUR_MODULES:
        source = (ROOT / module).read_text()
        assert '"$inc"' not in source and ".find_one_and_update(" not in source, module


def test_racing_upserts_of_a_hint_never_leave_a_value_nobody_wrote(db):
    """`$max` upserts (the position hint) may race: a lost one only leaves a smaller written value."""
    collection = db["hint"]
    for round_ in range(5):
        key = f"h{round_}"

        def raise_hint(i, key=key):
            try:
                collection.update_one({"_id": key}, {"$max": {"value": i + 1}}, upsert=True)
            except DuplicateKeyError:
                return "duplicate"  # two first upserts raced (FerretDB); the store ignores it
            return "ok"

        _race(8, raise_hint)
        assert collection.count_documents({"_id": key}) == 1
        assert collection.find_one({"_id": key})["value"] in range(1, 9)
    collection.update_one({"_id": "h0"}, {"$max": {"value": 100}})
    collection.update_one({"_id": "h0"}, {"$max": {"value": 50}})
    assert collection.find_one({"_id": "h0"})["value"] == 100  # sequentially, $max never lowers


def test_insert_only_cursor_documents_never_move_back_under_races(db):
    """The relay's MongoDB cursor copy: inserts plus delete_many of lower values; the max only grows."""
    collection = db["cursor"]
    stop = threading.Event()
    seen: list[int] = []

    def read():
        while not stop.is_set():
            doc = collection.find_one({"next_position": {"$exists": True}}, sort=[("next_position", DESCENDING)])
            if doc:
                seen.append(doc["next_position"])

    def write(i):
        for n in range(i, 200, 4):
            try:
                collection.insert_one({"_id": f"cursor|{n:015d}", "next_position": n})
            except DuplicateKeyError:
                pass
            collection.delete_many({"next_position": {"$lt": n}})

    reader = threading.Thread(target=read)
    reader.start()
    _race(4, write)
    stop.set()
    reader.join()
    final = collection.find_one({"next_position": {"$exists": True}}, sort=[("next_position", DESCENDING)])
    assert final["next_position"] == 199
    # A single reader's view may lag, but the highest inserted value is never lost (the lower
    # deletes only remove smaller values).
    assert max(seen) <= 199


def test_the_server_reports_its_clock(db):
    now = server_now(db)
    assert now.tzinfo is not None
    assert abs((now - datetime.now(timezone.utc)).total_seconds()) < 120


def test_majority_read_concern_is_used_where_the_server_offers_it(db):
    collection = db["majority"]
    collection.insert_one({"_id": "x"})
    replica_set = is_replica_set(db)
    reads = majority_reads(collection)
    assert (reads.read_concern.level == "majority") is replica_set
    assert reads.find_one({"_id": "x"}) == {"_id": "x"}
    try:
        collection.with_options(read_concern=ReadConcern("majority")).find_one({"_id": "x"})
        supported = "accepted"
    except OperationFailure as exc:
        supported = f"refused ({exc.code})"
        assert not replica_set
    print(f"majority read concern: {supported}; replica set: {replica_set}")


def test_kafka_fences_an_older_transactional_producer_and_keeps_offsets_committed_in_a_transaction(make_settings):
    from kafka import KafkaConsumer, TopicPartition
    from kafka.errors import KafkaError
    from kafka.structs import OffsetAndMetadata

    from shared import topics
    from shared.kafka import make_producer

    settings = make_settings("matching")
    topic = topics.resolve(topics.MATCHING, settings.kafka_topic_prefix)
    txn_id = f"{settings.kafka_topic_prefix}semantics-probe"
    old = make_producer(settings, transactional_id=txn_id)
    old.init_transactions()
    old.begin_transaction()
    old.send(topic, key=b"k", value=b"{}")
    # offsets far beyond the partition's end are accepted: the relay stores positions there
    old.send_offsets_to_transaction({TopicPartition(topic, 0): OffsetAndMetadata(1000, "", -1)}, txn_id)
    old.commit_transaction()
    new = make_producer(settings, transactional_id=txn_id)
    new.init_transactions()
    with pytest.raises(KafkaError):
        old.begin_transaction()
        old.send(topic, key=b"k", value=b"{}")
        old.commit_transaction()
    consumer = KafkaConsumer(**connection_options(settings), group_id=txn_id,
                             enable_auto_commit=False)
    try:
        assert consumer.committed(TopicPartition(topic, 0)) == 1000
    finally:
        consumer.close()
        old.close(timeout=0)
        new.close(timeout=0)
