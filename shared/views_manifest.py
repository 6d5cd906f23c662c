"""Which read models a service's code builds, and whether its database was built by that code.

An upgrade that adds a read model (a new collection a projection writes) or changes what one holds
must rebuild it from the history, or the new code reads empty or stale views: existing cohorts
would list no enrolments and participants would see no pairings. An operator forgets a manual
`rebuild`; `python -m shared.cli migrate` (run before every deploy serves) does not.

The *manifest* of a service's code is, for each projection that opted into rebuilds (non-empty
`collections`), its `version` and its collections. It is recorded per live generation as one
`_id`-keyed document (`views|<generation>`) in the generations collection (shared.generations):
- a rebuild records the manifest of the code that built the generation;
- migrate compares the live generation's record with the code's manifest and rebuilds when they
  differ; a database without a record but with history (positions or checkpoints: a deployment
  older than manifests) is rebuilt once, a fresh one only gets the record.

A projection's author bumps its `version` when the documents it writes change meaning or shape
under an existing collection name; a new or renamed collection is noticed without a bump.
Policies (no `collections`) hold no views and are not listed.
"""
from __future__ import annotations

from pymongo.errors import DuplicateKeyError

from shared.clock import utcnow
from shared.consumer import POSITIONS, Projection
from shared.generations import GENERATIONS
from shared.projector import CHECKPOINTS


def manifest_of(projections: list[Projection]) -> dict[str, dict]:
    """{projection name: {"version", "collections"}} of the projections that can be rebuilt."""
    return {p.name: {"version": int(getattr(p, "version", 1)), "collections": sorted(p.collections)}
            for p in projections if p.collections}


def _key(generation: int) -> str:
    return f"views|{generation:06d}"


def recorded(database, generation: int) -> dict[str, dict] | None:
    doc = database[GENERATIONS].find_one({"_id": _key(generation)})
    return doc["views"] if doc else None


def record(database, generation: int, manifest: dict[str, dict]) -> None:
    """Insert-only: a generation's views never change after it went live (a second writer built
    the same generation with the same code, so its record is the same)."""
    try:
        database[GENERATIONS].insert_one({"_id": _key(generation), "generation": generation, "views": manifest,
                                          "recorded_at": utcnow()})
    except DuplicateKeyError:
        pass


def has_history(database) -> bool:
    """Anything applied yet: a Kafka position or a store projector's checkpoint."""
    return (database[POSITIONS].find_one({}, {"_id": 1}) is not None
            or database[CHECKPOINTS].find_one({}, {"_id": 1}) is not None)


def differences(expected: dict[str, dict], found: dict[str, dict] | None) -> list[str]:
    """Human-readable reasons the live views do not match the code (empty: they match)."""
    if found is None:
        return ["no record of which code built the views (a deployment older than view manifests)"]
    reasons = []
    for name, want in sorted(expected.items()):
        have = found.get(name)
        if have is None:
            reasons.append(f"{name}: new")
        elif have != want:
            reasons.append(f"{name}: version {have['version']} -> {want['version']}, "
                           f"collections {', '.join(have['collections'])} -> {', '.join(want['collections'])}")
    reasons += [f"{name}: removed" for name in sorted(set(found) - set(expected))]
    return reasons
