"""MongoDB access shared by every service.

FerretDB v1 (the local default) answers a filter with an index only when the filter is exactly
`{"_id": <string>}`; any other filter scans the whole collection, and bulk updates of more than
a few dozen documents can stall it. So every hot path here reads and writes single documents by
string `_id`, and wider queries are kept to small collections or to paths that may be slow.
On a real mongod the secondary indexes created below serve those wider queries.
"""
from __future__ import annotations

import threading

from pymongo import MongoClient
from pymongo.errors import (
    AutoReconnect, BulkWriteError, ConnectionFailure, DuplicateKeyError, NetworkTimeout, NotPrimaryError,
    ServerSelectionTimeoutError,
)

from shared.config import Settings

# Errors after which the same operation may succeed later: retried, never dead-lettered.
TRANSIENT_ERRORS = (AutoReconnect, ConnectionFailure, NetworkTimeout, NotPrimaryError, ServerSelectionTimeoutError)

_clients: dict[str, MongoClient] = {}
_lock = threading.Lock()


def client_for(url: str) -> MongoClient:
    """One pooled client per URL per process (MongoClient is thread-safe; never share across fork)."""
    with _lock:
        client = _clients.get(url)
        if client is None:
            client = MongoClient(
                url,
                serverSelectionTimeoutMS=5000,
                connectTimeoutMS=5000,
                socketTimeoutMS=30000,
                retryWrites=True,
                tz_aware=True,
            )
            _clients[url] = client
        return client


def database_for(settings: Settings):
    return client_for(settings.mongo_url)[settings.database]


def reset_clients() -> None:
    """Forget pooled clients (after fork, or between tests that restart the server)."""
    with _lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


def ping(database) -> bool:
    try:
        database.command("ping")
        return True
    except Exception:  # noqa: BLE001 - readiness only reports, never raises
        return False


def insert_new(collection, docs: list[dict]) -> set[str]:
    """Insert documents in one round trip; returns the `_id`s that already existed.

    The fast path of projections fed by bulk loads: first sightings are inserted together, and
    the caller applies records for the returned ids one by one against what is stored.
    """
    if not docs:
        return set()
    try:
        collection.insert_many(docs, ordered=False)
        return set()
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if any(error.get("code") != 11000 for error in errors):
            raise
        return {docs[error["index"]]["_id"] for error in errors}


def replace_if_newer(collection, doc: dict, *, same_version: bool = False, likely_new: bool = False) -> bool:
    """Store `doc` unless the stored document reflects a later `version` (False then).

    Views' one write rule, never read-then-write: a writer that lost its lease or its partitions
    while paused cannot overwrite what its successor wrote since. A version-conditioned replace
    (atomic per document on mongod), else a first insert, whose DuplicateKeyError sends it back to
    the conditional replace. FerretDB v1 does not isolate the conditional replace (measured:
    concurrent writers can regress a version), so correctness there rests on one writer per key at
    a time: one consumer per partition, one store projector (lease). `same_version`: the stored
    version may equal the new one (another stream's event updating this view at the same version).
    `likely_new` (a stream's first event): the insert is tried first. On FerretDB v1 a conditional
    replace that matches nothing scans the collection (measured: 2.2 s per miss at 20,000
    documents, 0.7 ms when empty), so a view's first write would grow with the collection; an
    `_id` insert does not. Same outcome either way: a DuplicateKeyError leads to the replace.
    """
    condition = {"_id": doc["_id"], "version": {"$lte" if same_version else "$lt": doc["version"]}}
    if likely_new:
        try:
            collection.insert_one(doc)
            return True
        except DuplicateKeyError:
            return collection.replace_one(condition, doc).matched_count > 0
    if collection.replace_one(condition, doc).matched_count:
        return True
    try:
        collection.insert_one(doc)
        return True
    except DuplicateKeyError:
        return collection.replace_one(condition, doc).matched_count > 0


def is_replica_set(database) -> bool:
    """Whether the server is a replica set member (mongod in production); FerretDB and a
    standalone mongod are not. Cached per client."""
    client = database.client
    key = id(client)
    with _lock:
        known = _replica_sets.get(key)
    if known is None:
        try:
            known = bool(database.command("hello").get("setName"))
        except Exception:  # noqa: BLE001 - decided again on the next call
            return False
        with _lock:
            _replica_sets[key] = known
    return known


_replica_sets: dict[int, bool] = {}


def majority_reads(collection):
    """The collection read with majority read concern where the server offers it (a replica
    set), so what a reader acts on (the relay publishes it) can never be rolled back by a
    failover. Elsewhere the collection as it is: a single server has nothing to roll back."""
    if is_replica_set(collection.database):
        from pymongo.read_concern import ReadConcern

        return collection.with_options(read_concern=ReadConcern("majority"))
    return collection
