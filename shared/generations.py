"""Generations of a service's read models: how a rebuild swaps in new copies, fenced.

FerretDB v1 cannot rename over an existing collection (`dropTarget` is not implemented) and has no
views, so a swap cannot move data under a fixed name. Instead every collection a projection owns
(`Projection.collections`) has one physical name per *generation*: generation 0 is the base name
(what services always used), generation n >= 1 is `f"{base}__g{n}"`.

- A rebuild claims generation n+1 (a unique `_id` insert: one rebuild at a time), builds into its
  collections with its own watermarks/checkpoints, then makes it live with another unique insert
  (`live|n+1`, listing the base names it covers).
- Writers (consumer runners, store projectors) are bound to ONE generation (`GenerationDatabase`).
  A live worker still bound to generation n writes `…__g{n}`/base names only, so it can never
  touch the new copy; it notices the new generation within a second, re-binds and resumes from
  the rebuild's watermarks (what it applied to the old copy is applied again: handlers are
  idempotent).
- Readers follow the live generation: `live_database(database)[name]` resolves the physical
  collection on each use (the live generation is cached for `ttl_s`).

Every look-up is an `_id` insert or a scan of this tiny collection (fine on FerretDB).
"""
from __future__ import annotations

import threading
import time
from typing import Iterable

from pymongo.errors import DuplicateKeyError

from shared.clock import utcnow

GENERATIONS = "projection_generations"


class RebuildInProgress(Exception):
    """Another rebuild claimed the next generation first."""


def physical(base: str, generation: int) -> str:
    return base if generation == 0 else f"{base}__g{generation}"


class Generations:
    """The claimed and live generations of one service database."""

    def __init__(self, database, *, ttl_s: float = 1.0):
        self.database = database
        self.collection = database[GENERATIONS]
        self.ttl_s = ttl_s
        self._cached: tuple[float, int, frozenset[str]] | None = None
        self._lock = threading.Lock()

    def _docs(self, kind: str) -> list[dict]:
        return [d for d in self.collection.find({}) if str(d["_id"]).startswith(kind + "|")]

    def live(self, *, fresh: bool = False) -> tuple[int, frozenset[str]]:
        """(live generation, base names it covers); generation 0 covers nothing (base names)."""
        now = time.monotonic()
        with self._lock:
            cached = self._cached
        if cached is not None and not fresh and now - cached[0] < self.ttl_s:
            return cached[1], cached[2]
        docs = self._docs("live")
        best = max(docs, key=lambda d: d["generation"], default=None)
        value = (best["generation"], frozenset(best.get("collections", ()))) if best else (0, frozenset())
        with self._lock:
            self._cached = (now, value[0], value[1])
        return value

    def current(self, *, fresh: bool = False) -> int:
        return self.live(fresh=fresh)[0]

    def claim_next(self, owner: str = "") -> int:
        """Claim a new generation for a rebuild; RebuildInProgress when another claims it first."""
        claimed = [d["generation"] for d in self._docs("claim")]
        generation = max(claimed + [self.current(fresh=True)]) + 1
        try:
            self.collection.insert_one({"_id": f"claim|{generation:06d}", "generation": generation,
                                        "owner": owner, "claimed_at": utcnow()})
        except DuplicateKeyError:
            raise RebuildInProgress(f"generation {generation} was claimed by another rebuild") from None
        return generation

    def make_live(self, generation: int, collections: Iterable[str]) -> None:
        """The swap: from now on readers and (within a second) writers use `generation`."""
        current = self.current(fresh=True)
        if generation <= current:
            raise RebuildInProgress(f"generation {current} went live first; {generation} is obsolete")
        self.collection.insert_one({"_id": f"live|{generation:06d}", "generation": generation,
                                    "collections": sorted(set(collections)), "live_at": utcnow()})
        with self._lock:
            self._cached = None

    def generations(self) -> list[int]:
        """Every generation ever claimed or live (0 included)."""
        return sorted({0} | {d["generation"] for d in self._docs("claim") + self._docs("live")})


class GenerationDatabase:
    """A database handle bound to one generation: `[name]` gives that generation's collection for
    the names in `names`, the plain collection otherwise (what `Projection.bind` receives)."""

    def __init__(self, database, generation: int, names: Iterable[str]):
        self._database = database
        self.generation = generation
        self.names = frozenset(names)

    def physical_name(self, name: str) -> str:
        return physical(name, self.generation) if name in self.names else name

    def __getitem__(self, name: str):
        return self._database[self.physical_name(name)]

    def get_collection(self, name: str, *args, **kwargs):
        return self._database.get_collection(self.physical_name(name), *args, **kwargs)

    @property
    def unbound(self):
        return self._database

    def __getattr__(self, attr: str):
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self._database, attr)


class _FollowingCollection:
    """A collection proxy that resolves the live generation's physical collection on each use."""

    def __init__(self, live: "LiveDatabase", base: str):
        self._live = live
        self._base = base

    def _target(self):
        generation, names = self._live.generations.live()
        return self._live.unbound[physical(self._base, generation) if self._base in names else self._base]

    def __getattr__(self, attr: str):
        if attr.startswith("_"):
            raise AttributeError(attr)
        return getattr(self._target(), attr)

    def __getitem__(self, key):
        return self._target()[key]


class LiveDatabase:
    """Readers' database handle: collections follow the live generation (see module docstring)."""

    def __init__(self, database, *, ttl_s: float = 1.0):
        self.unbound = database
        self.generations = Generations(database, ttl_s=ttl_s)

    def __getitem__(self, name: str):
        return _FollowingCollection(self, name)

    def get_collection(self, name: str, *args, **kwargs):
        return _FollowingCollection(self, name)

    def __getattr__(self, attr: str):
        if attr.startswith("_") or attr in ("unbound", "generations"):
            raise AttributeError(attr)
        return getattr(self.unbound, attr)


def live_database(database, *, ttl_s: float = 1.0) -> LiveDatabase:
    return LiveDatabase(database, ttl_s=ttl_s)
