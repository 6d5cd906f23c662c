"""A lease: one holder at a time, with a fencing token (`epoch`) that grows with each new holder.

Built only on what is atomic on mongod and FerretDB alike. Each holder *inserts* its own
document, `_id` = "<name>|<epoch, 12 digits>": two contenders for the same next epoch collide on
the unique `_id` and exactly one wins (FerretDB v1's `find_one_and_update` is a read-modify-write
without isolation, so a compare-and-set on one shared document could crown two holders).
Only the holder ever updates its own document (renewals, release), so no update races another
writer.

Expiry is judged by the *server's* clock (`hello.localTime`, which both servers report; FerretDB
v1 has no `$$NOW`), never by the local one, so skewed hosts agree on when a lease ran out. A holder
that finds its own lease already expired (it was paused) does not renew it: it competes for a new
epoch like anyone else. A holder renews only with a margin left (a quarter of the TTL), and checks
for a successor after renewing, so two holders can overlap only if a renewal itself stalls for
that long — which is why whatever a holder protects must also be fenced by `epoch` (the relay
uses Kafka's transactional producer; projections write with the epoch).

Old epochs are deleted as new ones start, so a lease keeps at most a few documents.
"""
from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone

from pymongo import DESCENDING
from pymongo.errors import DuplicateKeyError

KEEP_EPOCHS = 3


def server_now(database) -> datetime:
    """The server's clock (UTC, aware): `hello.localTime` on mongod and FerretDB."""
    reply = database.command("hello")
    now = reply.get("localTime")
    if now is None:  # very old servers: isMaster has it too
        now = database.command("isMaster")["localTime"]
    return _aware(now)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


class Lease:
    def __init__(self, collection, name: str, owner: str, ttl_s: float, clock=None):
        # `clock` is accepted for old callers and ignored: expiry follows the server's clock.
        self.collection = collection
        self.name = name
        self.owner = owner
        self.ttl_s = ttl_s
        self.ttl = timedelta(seconds=ttl_s)
        self.epoch = 0  # the epoch this owner holds; 0 while it holds nothing
        self._renewed_at: float | None = None  # local monotonic time of the last successful renewal

    def key(self, epoch: int) -> str:
        return f"{self.name}|{epoch:012d}"

    def head(self) -> dict | None:
        """The newest epoch's document (a small scan: old epochs are deleted)."""
        return self.collection.find_one({"lease": self.name}, sort=[("epoch", DESCENDING)])

    def acquire(self) -> bool:
        """Take or renew the lease; True while this owner holds it."""
        if self.epoch and self._renewed_at is not None and time.monotonic() - self._renewed_at < self.ttl_s / 3:
            # Renewed less than a third of the TTL ago (monotonic time counts pauses too).
            return True
        now = server_now(self.collection.database)
        head = self.head()
        if head is None:
            return self._claim(1, now)
        expires_at = _aware(head["expires_at"])
        if head.get("owner") == self.owner:
            if expires_at - now > self.ttl / 4:
                return self._renew(head["epoch"], now)
            # Ours, but about to lapse or lapsed (we were paused): a successor may already be
            # deciding to take it, so compete for a new epoch instead of renewing this one.
            self.epoch = 0
            return self._claim(head["epoch"] + 1, now)
        if expires_at > now:
            self.epoch = 0
            return False
        return self._claim(head["epoch"] + 1, now)

    def _renew(self, epoch: int, now: datetime) -> bool:
        self.collection.update_one({"_id": self.key(epoch), "owner": self.owner}, {"$set": {"expires_at": now + self.ttl}})
        if self.collection.find_one({"_id": self.key(epoch + 1)}, {"_id": 1}) is not None:
            self.epoch = 0  # a successor took over while we were renewing
            return False
        self.epoch = epoch
        self._renewed_at = time.monotonic()
        return True

    def _claim(self, epoch: int, now: datetime) -> bool:
        started = time.monotonic()
        try:
            self.collection.insert_one(
                {"_id": self.key(epoch), "lease": self.name, "epoch": epoch, "owner": self.owner,
                 "acquired_at": now, "expires_at": now + self.ttl}
            )
        except DuplicateKeyError:
            # Read back rather than trust the error (a retried insert can collide with itself).
            doc = self.collection.find_one({"_id": self.key(epoch)})
            if doc is None or doc.get("owner") != self.owner:
                self.epoch = 0
                return False
        self.epoch = epoch
        self._renewed_at = started
        if epoch > KEEP_EPOCHS:
            self.collection.delete_many({"lease": self.name, "epoch": {"$lte": epoch - KEEP_EPOCHS}})
        return True

    def holds(self) -> bool:
        return bool(self.epoch)

    def release(self) -> None:
        """Let a successor take over at once (only our own epoch's document is touched)."""
        if not self.epoch:
            return
        epoch, self.epoch, self._renewed_at = self.epoch, 0, None
        self.collection.update_one(
            {"_id": self.key(epoch), "owner": self.owner},
            {"$set": {"expires_at": server_now(self.collection.database) - timedelta(milliseconds=1)}},
        )


def holder(collection, name: str) -> dict | None:
    """The newest epoch's document of a lease (who holds or last held it), for tools and tests."""
    return collection.find_one({"lease": name}, sort=[("epoch", DESCENDING)])
