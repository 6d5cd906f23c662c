"""The console's enrolments table at org-20k scale: a page of `GET /v1/cohorts/{id}/enrollments`
(the matching views' `enrollments_page`) before and after the enrolments index.

`python -m bench.bench_enrolment_list` (servers up, as `make up` starts them). Over a database of its
own: 12,500 enrolment documents of one cohort (of 20,000 employees; a quarter mentors, 5% withdrawn),
the index built as the views projector builds it for a bulk enrolment (runs of 200 in file order,
shuffled), then:
- after: every page of 50 (no filter, role=mentor, status=withdrawn, q=E0012) through the index
  and the page's enrolment documents by `_id` (what the route does);
- before: BENCH_BEFORE_PAGES pages per filter through the `_id` range query the list used
  (a scan of the enrolments collection on FerretDB v1, 6-13 s a page, so only a sample);
- one more enrolment's index write (what each single enrolment's projection now also does).
Prints p50/p95 in ms; nothing here asserts.
"""
from __future__ import annotations

import os
import random
import time

from pymongo import ASCENDING

from bench.harness import isolated_settings, new_run, percentiles, report
from shared.mongo import client_for, database_for
from services.matching.adapters.enrollment_index import entry_of
from services.matching.adapters.mongo import Views

ENROLLED = 12_500
PAGE = 50
BEFORE_PAGES = int(os.environ.get("BENCH_BEFORE_PAGES", "6"))
FILTERS = {"none": {}, "role=mentor": {"role": "mentor"}, "status=withdrawn": {"status": "withdrawn"},
           "q=E0012": {"prefix": "E0012"}}


def _documents(cohort_id: str) -> list[dict]:
    rnd = random.Random(20)
    people = sorted(rnd.sample([f"E{n:06d}" for n in range(1, 20_001)], ENROLLED))
    return [{"_id": f"{cohort_id}|{e}", "cohort_id": cohort_id, "enrollment_id": f"enr-{n:08d}-bench",
             "employee_id": e, "role": "mentor" if n % 4 == 0 else "mentee", "capacity": 2 if n % 4 == 0 else 1,
             "topics": ["leadership", "python", "public speaking"], "status": "withdrawn" if n % 20 == 7 else "active",
             "enrolled_at": "2026-11-27T09:58:41.123456Z", "preferences": {"languages": ["en"]},
             "goals_summary": "Grow into a staff engineer role", "withdrawal_reason": None, "paused": False,
             "version": 1} for n, e in enumerate(people)]


def _old_page(views: Views, cohort_id: str, *, role=None, status=None, prefix=None, after=None, limit=PAGE):
    """What enrollments_page was: an `_id` range (and field filters) over the enrolments collection."""
    low = views.enrollment_key(cohort_id, prefix or "")
    start = {"$gt": views.enrollment_key(cohort_id, after)} if after else {"$gte": low}
    query: dict = {"_id": {**start, "$lt": low + "\uffff"}}
    if role:
        query["role"] = role
    if status:
        query["status"] = status
    docs = list(views.enrollments.collection.find(query).sort("_id", ASCENDING).limit(limit + 1))
    more = len(docs) > limit
    docs = docs[:limit]
    return docs, (docs[-1]["employee_id"] if more and docs else None)


def _walk(page, cohort_id: str, filters: dict, *, pages: int | None = None) -> tuple[list[float], int]:
    samples, cursor, rows = [], None, 0
    while True:
        started = time.perf_counter()
        items, cursor = page(cohort_id, after=cursor, limit=PAGE, **filters)
        samples.append((time.perf_counter() - started) * 1000)
        rows += len(items)
        if cursor is None or (pages is not None and len(samples) >= pages):
            return samples, rows


def run() -> list[dict]:
    settings = isolated_settings("matching", new_run())
    cohort_id = "coh-bench"
    try:
        database = database_for(settings)
        views = Views(database)
        docs = _documents(cohort_id)
        for start in range(0, len(docs), 1000):
            views.enrollments.collection.insert_many(docs[start:start + 1000])
        order = random.Random(4).sample(docs, len(docs))
        started = time.perf_counter()
        writing = None
        for position in range(0, len(order), 200):  # as the views projection writes (reusing its last chunks)
            writing = views.enrollment_index.writing(cohort_id, after=writing)
            for offset, doc in enumerate(order[position:position + 200]):
                writing.put(entry_of(doc), position + offset + 1)
            writing.save()
        build_s = time.perf_counter() - started
        rows: list[dict] = []
        report(rows, {"what": f"index built from {ENROLLED} shuffled rows, runs of 200", "seconds": build_s})
        for name, filters in FILTERS.items():
            after, count = _walk(views.enrollments_page, cohort_id, {"role": None, "status": None, "prefix": None,
                                                                     **filters})
            report(rows, {"what": f"page of {PAGE}, {name}: after (index)", "pages": len(after), "rows": count,
                           **percentiles(after)})
            before, _ = _walk(lambda c, **kw: _old_page(views, c, **kw), cohort_id, filters, pages=BEFORE_PAGES)
            report(rows, {"what": f"page of {PAGE}, {name}: before (range query)", **percentiles(before)})
        singles, writing = [], None
        for n in range(30):
            doc = {**docs[n], "employee_id": f"F{n:06d}", "enrollment_id": f"enr-single-{n}"}
            started = time.perf_counter()
            writing = views.enrollment_index.writing(cohort_id, after=writing)
            writing.put(entry_of(doc), 10_000_000 + n)
            writing.save()
            singles.append((time.perf_counter() - started) * 1000)
        report(rows, {"what": "one enrolment's index write (12,500 rows)", **percentiles(singles)})
        return rows
    finally:
        client_for(settings.mongo_url).drop_database(settings.database)  # its only trace (no topics)


if __name__ == "__main__":
    run()
