"""Crypto-shredding of commit-private text (GDPR Art. 17, issue 13; README "Privacy").

A commit's private part (notes, agendas, goal texts: never published) is kept sealed at rest: each
field is encrypted with AES-GCM under the key of the person who wrote it (the request's actor,
`Causation.actor_id`), the key kept in the service's `person_keys` collection (`_id` = employee
id, a unique insert makes it). Erasing the person deletes their key (`PersonKeys.shred`): their
words in streams they share with others become unreadable at once, in every commit and every
backup of the commits, while the partner's words in the same streams stay readable. Nothing else
changes: events, positions and the relay are untouched, and `forget_private` (retention) still
removes fields by name.

A sealed field is `{"sealed": "aesgcm-1", "by": <author>, "n": <nonce>, "c": <ciphertext>}` (base64;
the author and field name are authenticated with it). `AggregateStore(..., sealer=)` seals on
append and opens on load; a field whose key is gone is left out, as if forgotten. Text without an
actor (the system's) is stored as it is. An erased person gets no new key: text they would still
write is not stored.

The keys live in the same database as the commits: a backup holding both can still be read until it
expires; keeping keys elsewhere (a KMS) is the production step. Other services' private text and
the published events (goal titles, shared comments) are not sealed yet.
"""
from __future__ import annotations

import base64
import json
import os
import threading
import time

from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pymongo.errors import DuplicateKeyError

from shared.erasure import ErasedPeople

PERSON_KEYS = "person_keys"
SEALED = "sealed"  # no `$`: FerretDB refuses such keys
SCHEME = "aesgcm-1"
KEY_CACHE_S = 30.0  # how long a process trusts a key it read: a shredded key is unusable everywhere after it


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


class PersonKeys:
    """Per-person data keys (`person_keys`, keyed by employee id)."""

    def __init__(self, database):
        self.collection = database[PERSON_KEYS]
        self.erased = ErasedPeople(database)
        self._cache: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    def key(self, person: str, *, create: bool) -> bytes | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(person)
        if cached is not None and now - cached[1] < KEY_CACHE_S:
            return cached[0]
        doc = self.collection.find_one({"_id": person})
        if doc is None and create and not self.erased.is_erased(person):
            try:
                self.collection.insert_one({"_id": person, "key": _b64(AESGCM.generate_key(bit_length=256))})
            except DuplicateKeyError:
                pass  # another request made it first: use theirs
            doc = self.collection.find_one({"_id": person})
        if doc is None:
            with self._lock:
                self._cache.pop(person, None)
            return None
        key = base64.b64decode(doc["key"])
        with self._lock:
            self._cache[person] = (key, now)
        return key

    def shred(self, person: str) -> bool:
        with self._lock:
            self._cache.pop(person, None)
        return self.collection.delete_one({"_id": person}).deleted_count > 0


class Sealer:
    def __init__(self, keys: PersonKeys):
        self.keys = keys

    def seal(self, fields: dict, author: str | None) -> dict:
        """The private fields as stored: sealed under the author's key (as they are without an author)."""
        if not author or not fields:
            return dict(fields)
        key = self.keys.key(author, create=True)
        if key is None:
            return {}  # an erased person's words are not kept
        sealed = {}
        for name, value in fields.items():
            nonce = os.urandom(12)
            ciphertext = AESGCM(key).encrypt(nonce, json.dumps(value).encode(), f"{author}|{name}".encode())
            sealed[name] = {SEALED: SCHEME, "by": author, "n": _b64(nonce), "c": _b64(ciphertext)}
        return sealed

    def open(self, fields: dict) -> dict:
        """The private fields as written: sealed ones opened, those whose key is gone left out."""
        opened = {}
        for name, value in fields.items():
            if not (isinstance(value, dict) and value.get(SEALED) == SCHEME):
                opened[name] = value
                continue
            key = self.keys.key(value["by"], create=False)
            if key is None:
                continue  # shredded: the person was erased
            plaintext = AESGCM(key).decrypt(base64.b64decode(value["n"]), base64.b64decode(value["c"]),
                                            f"{value['by']}|{name}".encode())
            opened[name] = json.loads(plaintext)
        return opened

    def open_all(self, private: dict) -> dict:
        """A stream's private parts (event id -> fields), opened."""
        return {event_id: self.open(fields) for event_id, fields in private.items()}
