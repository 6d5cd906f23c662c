"""The enrolments index (services/matching/adapters/enrollment_index.py): pages equal a sorted,
filtered listing of the rows; the stored documents do not depend on how events were grouped into
saves (one enrolment at a time, a bulk run, a rebuild); a crash between its writes loses nothing."""
from __future__ import annotations

import random

import pytest

from shared.cohort_index import starts_chunk
from services.matching.adapters.enrollment_index import EnrollmentIndex, entry_of
from tests.unit.matching.fakes import MemoryDatabase

COHORT = "coh-1"


@pytest.fixture(autouse=True)
def small_chunks(monkeypatch):
    """Chunks of ~16 entries, so a few hundred people make many of them."""
    monkeypatch.setattr(EnrollmentIndex, "spread", 16)


def people(n: int, seed: int = 7) -> list[dict]:
    rnd = random.Random(seed)
    return [{"employee_id": f"E{i:06d}", "role": rnd.choice(["mentor", "mentee"]),
             "status": rnd.choice(["active", "active", "withdrawn"])} for i in range(n)]


def index_of(rows: list[dict], groups: list[int], *, reuse: bool = False) -> EnrollmentIndex:
    """`rows` set in order (order = position + 1), saved after each group of the given sizes
    (`reuse`: each write starting from the previous one's chunks, as the projection does)."""
    index = EnrollmentIndex(MemoryDatabase()["index"])
    position, writing = 0, None
    for size in groups:
        writing = index.writing(COHORT, after=writing if reuse else None)
        for row in rows[position:position + size]:
            position += 1
            writing.put(entry_of(row), position)
        writing.save()
    assert position == len(rows)
    return index


def listing(index: EnrollmentIndex, limit: int, **filters) -> list[str]:
    items, cursor, seen = [], None, 0
    while True:
        page, cursor = index.page(COHORT, after=cursor, limit=limit, **{"role": None, "status": None,
                                                                         "prefix": None, **filters})
        assert len(page) <= limit
        items += page
        seen += 1
        if cursor is None:
            return items
        assert seen < 1000


def test_pages_list_every_row_once_in_order_with_every_filter():
    rows = people(700)
    shuffled = random.Random(1).sample(rows, len(rows))
    index = index_of(shuffled, [1] * 50 + [200, 449, 1])
    assert sum(starts_chunk(r["employee_id"], 16) for r in rows) > 3  # several chunks
    for filters in ({}, {"role": "mentor"}, {"status": "withdrawn"}, {"role": "mentee", "status": "active"},
                    {"prefix": "E0001"}, {"prefix": "E00002", "role": "mentor"}, {"prefix": "X"}):
        expected = [r["employee_id"] for r in rows
                    if r["employee_id"].startswith(filters.get("prefix", ""))
                    and all(r[k] == v for k, v in filters.items() if k != "prefix")]
        for limit in (7, 50, 500):
            assert listing(index, limit, **filters) == expected, (filters, limit)
    # a later change of a row (withdrawn, then active again) shows in its place
    writing = index.writing(COHORT)
    writing.put(entry_of({**rows[3], "status": "withdrawn"}), 10_000)
    writing.save()
    assert "E000003" in listing(index, 50, status="withdrawn")
    writing = index.writing(COHORT)
    writing.put(entry_of({**rows[3], "status": "active"}), 10_001)
    writing.save()
    assert "E000003" not in listing(index, 50, status="withdrawn") and "E000003" in listing(index, 50, status="active")
    assert index.page("coh-unknown", role=None, status=None, prefix=None, after=None, limit=5) == ([], None)


def test_documents_do_not_depend_on_how_events_were_grouped():
    rows = random.Random(3).sample(people(400), 400)
    one_by_one = index_of(rows, [1] * 400).collection.docs
    assert index_of(rows, [400]).collection.docs == one_by_one
    assert index_of(rows, [13, 200, 187]).collection.docs == one_by_one
    assert index_of(rows, [13, 200, 187], reuse=True).collection.docs == one_by_one
    assert len(one_by_one) > 10  # a directory and several chunks


def test_a_write_reuses_the_previous_ones_chunks_only_while_the_directory_is_what_it_saved():
    rows = people(300)
    index = index_of(rows[:200], [200])
    first = index.writing(COHORT)
    first.put(entry_of(rows[200]), 201)
    first.save()
    reads = []
    find_one = index.collection.find_one
    index.collection.find_one = lambda query: reads.append(query["_id"]) or find_one(query)
    second = index.writing(COHORT, after=first)
    second.put(entry_of(rows[201]), 202)
    assert reads == [COHORT]  # the directory only: the chunk is the one `first` saved
    second.save()
    other = index.writing(COHORT)  # someone else writes meanwhile (a replica that took over)
    other.put(entry_of({**rows[5], "status": "withdrawn"}), 203)
    other.save()
    reads.clear()
    third = index.writing(COHORT, after=second)
    third.put(entry_of(rows[202]), 204)
    assert len(reads) > 1  # the directory changed: chunks are read again
    third.save()
    assert "E000005" in listing(index, 500, status="withdrawn")


@pytest.mark.parametrize("writes_before_crash", [1, 2, 3, 5])
def test_a_crash_between_the_writes_loses_no_row(writes_before_crash):
    rows = random.Random(5).sample(people(500), 500)
    expected = index_of(rows, [300, 200]).collection.docs
    index = index_of(rows[:300], [300])
    collection = index.collection
    replace, insert, done = collection.replace_one, collection.insert_one, []

    def dying(write):
        def call(*args, **kwargs):
            if len(done) == writes_before_crash:
                raise RuntimeError("the worker died here")
            done.append(1)
            return write(*args, **kwargs)
        return call

    collection.replace_one, collection.insert_one = dying(replace), dying(insert)
    writing = index.writing(COHORT)
    for order, row in enumerate(rows[300:], start=301):
        writing.put(entry_of(row), order)
    with pytest.raises(RuntimeError):
        writing.save()
    collection.replace_one, collection.insert_one = replace, insert
    # the projector applies the same events again (the checkpoint did not move)
    writing = index.writing(COHORT)
    for order, row in enumerate(rows[300:], start=301):
        writing.put(entry_of(row), order)
    writing.save()
    assert collection.docs == expected
