"""Feedback's cohort reads by `_id` (issue 16: adapters/cohort_lists.py, adapters/snapshots.py)
against the scans they replace, in the same run.

`python -m bench.bench_feedback_reads` (servers up, as `make up` starts them). Over a database of its
own: BENCH_FB_PAIRINGS pairings (default 12,000 in 40 cohorts, BENCH_FB_COHORT_PAIRINGS = 3,000 of
them in the measured cohort), two members, one held meeting and two ratings per pairing (so 24,000
feedback documents, 6,000 in the cohort), a progress review per party of every other pairing, a
survey per party of every third, and BENCH_FB_SNAPSHOT_DAYS days of published summaries of every
cohort; the measured cohort's lists built as the projections build them (the Kafka-fed ones over 3
partitions). Then, the scan (before) BENCH_REPEAT times and the keyed read (after) 20 times:
- the inputs of a day's summary release (pairings, members, held meetings, feedback, reviews,
  surveys) and the release itself;
- the CSV export's rows; the latest published summary before today; a person's feedback and reviews;
- through the API (Flask test client, an admin's token): GET export.csv, the summary's first read of
  a day (the release), and a later read the same day;
- one pairing's row written to its partition's list (what each pairing event now also costs).
Each pair of reads must return the same (else the bench stops). Prints p50/p95 in ms; no timed
asserts. Figures: docs/capacity.md.
"""
from __future__ import annotations

import os
import random
import time
import uuid
import zlib
from datetime import date, datetime, timedelta, timezone

from bench.harness import isolated_settings, new_run, compare, percentiles, report, timed
from shared.clock import ManualClock
from shared.http.auth import mint_token
from shared.mongo import client_for, database_for
from services.feedback.adapters.mongo import ReadModels
from services.feedback.adapters.snapshots import SnapshotStore
from services.feedback.api import create_app
from services.feedback.application.queries import FeedbackQueries
from tests.unit.feedback.test_keyed_reads import ScanningModels

PAIRINGS = int(os.environ.get("BENCH_FB_PAIRINGS", "12000"))
COHORT_PAIRINGS = int(os.environ.get("BENCH_FB_COHORT_PAIRINGS", "3000"))
SNAPSHOT_DAYS = int(os.environ.get("BENCH_FB_SNAPSHOT_DAYS", "120"))
REPEAT = int(os.environ.get("BENCH_REPEAT", "1"))
AFTER_REPEAT = 20
COHORTS = 40
COHORT = "coh-00"
PERSON = "M000001"  # a mentor of two pairings: the ratings about them, their reviews (GET /v1/me/...)
PARTITIONS = 3
TODAY = date(2026, 11, 27)
GIVEN = "2026-10-01T10:00:00.000Z"


def _insert(collection, docs: list[dict]) -> None:
    for start in range(0, len(docs), 1000):
        collection.insert_many(docs[start:start + 1000], ordered=False)


def _id(*parts) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "|".join(map(str, parts))))  # the services' ids are UUIDs


def _documents() -> dict[str, list[dict]]:
    docs: dict[str, list[dict]] = {name: [] for name in ("pairings", "members", "meetings", "feedback", "reviews",
                                                          "surveys")}
    for n in range(PAIRINGS):
        cohort = COHORT if n < COHORT_PAIRINGS else f"coh-{1 + n % (COHORTS - 1):02d}"
        pairing, mentor, mentee = _id("pairing", n), f"M{n % 7000:06d}", f"E{n:06d}"
        docs["pairings"].append({"_id": pairing, "pairing_id": pairing, "cohort_id": cohort, "mentor_id": mentor,
                                 "mentee_id": mentee, "status": "active" if n % 5 else "ended",
                                 "activated_at": "2026-09-01T09:00:00.000Z", "version": 2})
        for who, role in ((mentor, "mentor"), (mentee, "mentee")):
            docs["members"].append({"_id": f"{cohort}|{who}|{n}", "cohort_id": cohort, "employee_id": f"{who}-{n}",
                                    "role": role, "enrolled": n % 11 != 0, "version": 1})
        meeting = _id("meeting", n)
        docs["meetings"].append({"_id": meeting, "meeting_id": meeting, "pairing_id": pairing, "cohort_id": cohort,
                                 "mentor_id": mentor, "mentee_id": mentee, "held_at": "2026-09-20T10:00:00.000Z",
                                 "duration_minutes": 45, "attendees": [mentor, mentee],
                                 **({"disputed_by": mentor, "disputed_status": "held"} if n % 50 == 0 else {})})
        for who, about, rating in ((mentee, mentor, 1 + n % 5), (mentor, mentee, 4)):
            feedback = _id("feedback", n, who)
            docs["feedback"].append({"_id": feedback, "feedback_id": feedback, "pairing_id": pairing,
                                     "cohort_id": cohort, "meeting_id": meeting, "from_id": who, "about_id": about,
                                     "rating": rating, "good_fit": n % 9 != 0, "comment": None,
                                     "comment_shared": False, "given_at": GIVEN})
        for who in ((mentor, mentee) if n % 2 == 0 else ()):
            review = _id("review", n, who)
            docs["reviews"].append({"_id": review, "review_id": review, "pairing_id": pairing, "cohort_id": cohort,
                                    "employee_id": who, "due_on": "2026-10-01", "requested_at": GIVEN,
                                    "submitted": n % 4 == 0, "submitted_at": GIVEN if n % 4 == 0 else None,
                                    "satisfaction": 4 if n % 4 == 0 else None,
                                    "goal_progress": 3 if n % 4 == 0 else None, "version": 2})
        for who in ((mentor, mentee) if n % 3 == 0 else ()):
            survey = _id("survey", n, who)
            docs["surveys"].append({"_id": survey, "survey_id": survey, "cohort_id": cohort, "employee_id": who,
                                    "requested_at": GIVEN, "answered": n % 2 == 0,
                                    "answered_at": GIVEN if n % 2 == 0 else None,
                                    "recommend_score": 9 if n % 2 == 0 else None, "version": 2})
    return docs


def _snapshots(snapshots: SnapshotStore) -> None:
    """Every cohort's published summaries of the last SNAPSHOT_DAYS days but yesterday, small ones."""
    docs = []
    for c in range(COHORTS):
        cohort = f"coh-{c:02d}"
        for back in range(2, SNAPSHOT_DAYS + 2):
            day = TODAY - timedelta(days=back)
            docs.append({"_id": snapshots.key(cohort, day), "cohort_id": cohort, "day": day.isoformat(),
                         "summary": {"feedback": {}}, "units": []})
    _insert(snapshots.collection, docs)
    snapshots.ensure_indexes()  # migrate's marking of the months


def _partition(doc_id: str) -> int:
    return zlib.crc32(doc_id.encode()) % PARTITIONS  # as Kafka's partitioner: one per key


def _index(models: ReadModels, docs: dict[str, list[dict]]) -> None:
    """The measured cohort's lists, as the projections write them (Kafka-fed ones per partition), and
    the measured person's."""
    for rows, name in ((models.lists.feedback_about, "feedback"), (models.lists.reviews_of, "reviews")):
        writing = rows.writing(PERSON)
        for order, doc in enumerate((d for d in docs[name] if d.get(rows.owner) == PERSON), start=1):
            writing.put(rows.entry_of(doc), order)
        writing.save()
    for name, rows in docs.items():
        cohort_list = getattr(models.lists, name)
        mine = [d for d in rows if d["cohort_id"] == COHORT]
        parts = range(PARTITIONS) if cohort_list.partitioned else [None]
        for part in parts:
            writing = (cohort_list.writing_partition(COHORT, part) if part is not None
                       else cohort_list.writing(COHORT))
            for order, doc in enumerate(mine, start=1):
                if part is None or _partition(doc["_id"]) == part:
                    writing.put(cohort_list.entry_of(doc), order)
            writing.save()


def _by_id(feedback: list[dict], reviews: list[dict]) -> tuple[list, list]:
    """In id order (the routes sort by date; these all share one): the same items either way."""
    return sorted(feedback, key=lambda f: f["feedback_id"]), sorted(reviews, key=lambda r: r["review_id"])




def _compare(rows: list[dict], what: str, before, after) -> None:
    compare(rows, what, before, after, repeat=REPEAT, after_repeat=AFTER_REPEAT)


def run() -> list[dict]:
    settings = isolated_settings("feedback", new_run())
    rows: list[dict] = []
    print({"database": settings.database}, flush=True)  # dropped at the end; by hand after a killed run
    try:
        database = database_for(settings)
        models = ReadModels(database)
        snapshots = SnapshotStore(database)
        started = time.perf_counter()
        docs = _documents()
        models.cohorts.insert_one({"_id": COHORT, "cohort_id": COHORT, "program_id": "PR1", "status": "active",
                                   "starts_on": "2026-09-01", "ends_on": "2027-03-01", "rules": {}, "version": 1})
        for name, items in docs.items():
            _insert(getattr(models, name), items)
        _index(models, docs)
        _snapshots(snapshots)
        report(rows, {"what": f"setup: {PAIRINGS} pairings ({COHORT_PAIRINGS} in the cohort), "
                               f"{len(docs['feedback'])} feedback, {len(docs['meetings'])} meetings, "
                               f"{COHORTS * SNAPSHOT_DAYS} snapshots",
                       "seconds": time.perf_counter() - started, "load": os.getloadavg()[0]})
        keyed, scanning = FeedbackQueries(models), FeedbackQueries(ScanningModels(database))
        _compare(rows, f"a day's summary release ({COHORT_PAIRINGS} pairings, "
                       f"{sum(d['cohort_id'] == COHORT for d in docs['feedback'])} ratings)",
                 lambda: scanning.release(COHORT, TODAY, None), lambda: keyed.release(COHORT, TODAY, None))
        _compare(rows, "the CSV export's rows", lambda: scanning.export_rows(COHORT), lambda: keyed.export_rows(COHORT))

        def scanned_latest():
            found = [d for d in snapshots.collection.find({"cohort_id": COHORT}) if d["day"] < TODAY.isoformat()]
            return max(found, key=lambda d: d["day"])["day"]

        _compare(rows, "the latest published summary before today", scanned_latest,
                 lambda: snapshots.latest_before(COHORT, TODAY)["day"])
        _compare(rows, f"{PERSON}'s feedback about them and reviews (GET /v1/me/feedback, /v1/me/reviews)",
                 lambda: _by_id(scanning.feedback_about(PERSON), scanning.reviews_of(PERSON)),
                 lambda: _by_id(keyed.feedback_about(PERSON), keyed.reviews_of(PERSON)))
        _http(rows, settings)
        writes, last = [], None
        pairings = [d for d in docs["pairings"] if d["cohort_id"] == COHORT and _partition(d["_id"]) == 0]
        for n, doc in enumerate(random.Random(5).sample(pairings, 30)):
            started = time.perf_counter()
            last = models.lists.pairings.writing_partition(COHORT, 0, after=last)
            last.put(models.lists.pairings.entry_of({**doc, "status": "completed"}), 10_000_000 + n)
            last.save()
            writes.append((time.perf_counter() - started) * 1000)
        report(rows, {"what": f"one pairing's row written ({len(pairings)} in its partition's list)",
                       **percentiles(writes)})
        report(rows, {"what": "load average at the end", "load": os.getloadavg()[0]})
        return rows
    finally:
        client_for(settings.mongo_url).drop_database(settings.database)  # its only trace (no topics)


def _http(rows: list[dict], settings) -> None:
    """The endpoints an admin calls, keyed reads behind them (the scans are above)."""
    clock = ManualClock(datetime.combine(TODAY, datetime.min.time(), tzinfo=timezone.utc) + timedelta(hours=9))
    client = create_app(settings, clock).test_client()
    admin = {"Authorization": "Bearer " + mint_token(settings.jwt_secret, "A1", ["admin"])}

    def get(path: str):
        response = client.get(path, headers=admin)
        assert response.status_code == 200, response.get_data(as_text=True)[:200]
        return response

    samples, response = timed(lambda: get(f"/v1/cohorts/{COHORT}/feedback/export.csv"), AFTER_REPEAT)
    report(rows, {"what": f"GET export.csv ({response.get_data(as_text=True).count(chr(10)) - 1} rows)",
                   **percentiles(samples)})
    firsts = []
    for _ in range(5):  # each a new day: the release and its storing
        clock.advance(days=1)
        firsts += timed(lambda: get(f"/v1/cohorts/{COHORT}/feedback/summary"), 1)[0]
    report(rows, {"what": "GET summary, a day's first read (the release, keyed)", **percentiles(firsts)})
    samples, _ = timed(lambda: get(f"/v1/cohorts/{COHORT}/feedback/summary"), AFTER_REPEAT)
    report(rows, {"what": "GET summary, a later read the same day", **percentiles(samples)})


if __name__ == "__main__":
    run()
