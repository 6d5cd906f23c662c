"""A matching run's proposals reach the views in batches (issue 16, scale): the store projector gives
consecutive pairing commits to MatchingViews.apply_batch (PartnersProjection lists them too), which
saves the cohort's pairing index once per batch, not once per proposal, and ends with the same views
as applying the events one by one."""
from __future__ import annotations

from services.matching.adapters.mongo import PAIRING_INDEX, VIEW_COLLECTIONS
from services.matching.adapters.pairing_index import PairingIndex
from services.matching.application.commands import Actor
from services.matching.application.erasure_progress import ErasureList
from services.matching.application.partners import PARTNERS, PartnersProjection
from services.matching.application.projections import MatchingViews
from shared.events.catalog import default_registry
from shared.events.catalog import matching as ev
from shared.projector import StoreProjector
from shared.scopes import ProgrammeScopes
from tests.unit.matching.conftest import ADMIN, REQUEST
from tests.unit.matching.fakes import MemoryDatabase, SyncProjector
from tests.unit.matching.test_choice import _choosing
from tests.unit.matching.test_keyed_reads import enrol_people


def counting_writes(collection) -> list[str]:
    """The `_id`s of the documents written to `collection` (one per insert or replace that took)."""
    written: list[str] = []
    insert_one, replace_one = collection.insert_one, collection.replace_one

    def insert(doc):
        insert_one(doc)
        written.append(doc["_id"])

    def replace(query, doc, upsert=False):
        result = replace_one(query, doc, upsert=upsert)
        if result.matched_count:
            written.append(query["_id"])
        return result

    collection.insert_one, collection.replace_one = insert, replace
    return written


def views_of(database) -> dict:
    return database.snapshot(*VIEW_COLLECTIONS, PARTNERS)


def test_a_runs_proposals_save_each_index_chunk_once_and_equal_the_views_applied_one_by_one(matching, monkeypatch):
    monkeypatch.setattr(PairingIndex, "spread", 2)  # several chunks for these few dozen (random) ids
    batched_db, one_by_one_db = MemoryDatabase(), MemoryDatabase()
    worker_projections = [MatchingViews(batched_db), PartnersProjection(batched_db),  # as bootstrap's own_projections
                          ProgrammeScopes(batched_db, topics=()), ErasureList(batched_db)]
    batched = StoreProjector(matching.store, worker_projections, name="views", registry=default_registry(),
                             database=batched_db, generation=0, batch_commits=10_000)
    one_by_one = SyncProjector(matching.store, [MatchingViews(one_by_one_db), PartnersProjection(one_by_one_db)])
    cohort_id = _choosing(matching, style="admin_run")
    enrol_people(matching, cohort_id, mentees=26, mentors=8)
    batched.catch_up()
    written = counting_writes(batched_db[PAIRING_INDEX])

    matching.run(cohort_id)
    proposed = [commit for commit in matching.store.read_all(batched.checkpoint())
                if [raw.event_type for raw in commit.events] == [ev.PAIRING_PROPOSED]]
    assert len(proposed) >= 20
    batched.catch_up()
    chunks = [doc["_id"] for doc in batched_db[PAIRING_INDEX].docs.values() if doc["_id"] != cohort_id]
    assert len(chunks) >= 4
    assert sorted(written) == sorted({*chunks, cohort_id})  # each chunk and the directory saved once

    proposals = [doc for doc in batched_db["pairings"].docs.values() if doc["status"] == "proposed"]
    for doc in proposals[:6]:  # answers, each its own commit, in a row: batched too
        for who in (doc["mentor_id"], doc["mentee_id"]):
            matching.commands.accept(doc["_id"], Actor(who, False), None, REQUEST)
    matching.commands.decline(proposals[6]["_id"], Actor(proposals[6]["mentor_id"], False), None, "no_time", REQUEST)
    matching.commands.end(proposals[0]["_id"], "by_admin", ADMIN, REQUEST)
    matching.commands.withdraw(cohort_id, proposals[7]["mentee_id"], "by_admin", ADMIN, REQUEST)
    batched.catch_up()
    one_by_one.catch_up()
    assert {doc["status"] for doc in batched_db["pairings"].docs.values()} >= {"proposed", "active", "declined",
                                                                              "ended"}
    assert views_of(batched_db) == views_of(one_by_one_db)


def test_a_batch_applied_again_after_a_crash_before_the_pairings_were_written_changes_nothing(matching, monkeypatch):
    """The index and every other view written, the pairing documents not: the run is applied again."""
    monkeypatch.setattr(PairingIndex, "spread", 2)
    crashed_db, clean_db = MemoryDatabase(), MemoryDatabase()
    cohort_id = _choosing(matching, style="admin_run")
    enrol_people(matching, cohort_id, mentees=16, mentors=5)
    matching.run(cohort_id)

    def projector(database):
        return StoreProjector(matching.store, [MatchingViews(database), PartnersProjection(database)], name="views",
                              registry=default_registry(), database=database, generation=0, batch_commits=10_000)

    crashing = projector(crashed_db)
    pairings = crashed_db["pairings"]
    insert_one = pairings.insert_one
    calls = []

    def crash_on_the_third(doc):
        calls.append(doc["_id"])
        if len(calls) == 3:
            raise RuntimeError("the worker died here")  # not transient: the run is applied again, one by one
        insert_one(doc)

    pairings.insert_one = crash_on_the_third
    crashing.catch_up()  # the batch failed after the index and two pairings; applied again one by one
    pairings.insert_one = insert_one
    projector(clean_db).catch_up()
    assert len(calls) > 3
    assert views_of(crashed_db) == views_of(clean_db)
