"""`GET /v1/audit` at 20,000 entries (issue 16): the keyed layout (shared/audit_log.py) against the
layout before it (one document per entry, `find().sort(_id desc).limit`), and what a write costs.

Two databases of their own on the local server, the same 20,000 entries in each (two days of an
admin team: BENCH_AUDIT_ACTORS actors, one entry in ten programme-scoped):
- before: `audit_trail`, one document per entry (inserted in bulk);
- after: `audit_log`, the documents the writers would have left (buckets of an hour per stream,
  markers), inserted in bulk, so the run measures reads, not 20,000 one-by-one writes.
Pages: the newest 50, the next 50 (cursor), the newest 50 of one actor, a programme manager's 50;
each timed BENCH_AUDIT_REPEAT times (median) on the keyed layout, once on the old (a scan each).
Writes: BENCH_AUDIT_WRITES entries through `AuditLogWriter` (one process's writer, the trail
already holding the 20,000) against `insert_one` into the old collection: p50/p95 per entry.
`python -m bench --only audit`.
"""
from __future__ import annotations

import json
import os
import statistics
import time
from datetime import datetime, timedelta, timezone

from bench.harness import drop, isolated_settings, new_run, percentiles, timed
from shared import audit_log
from shared.http import audit
from shared.mongo import database_for

ENTRIES = int(os.environ.get("BENCH_AUDIT_ENTRIES", "20000"))
ACTORS = int(os.environ.get("BENCH_AUDIT_ACTORS", "40"))
REPEAT = int(os.environ.get("BENCH_AUDIT_REPEAT", "5"))
WRITES = int(os.environ.get("BENCH_AUDIT_WRITES", "200"))
LIMIT = 50


def _entries(now: datetime) -> list[dict]:
    step = timedelta(days=2) / ENTRIES
    entries = []
    for n in range(ENTRIES):
        at = now - timedelta(days=2) + step * n
        entries.append({"_id": audit.entry_id(at), "actor_id": f"A{n % ACTORS:04d}",
                        "action": "GET /v1/participants/<employee_id>", "target": f"/v1/participants/E{n:06d}",
                        "status": 200, "at": at.isoformat(), "correlation_id": f"c-{n}", "request_id": f"r-{n}",
                        "program_id": f"P{n % 7}" if n % 10 == 0 else None})
    return entries


def _keyed_documents(entries: list[dict]) -> list[dict]:
    """What the writers leave for `entries` (one writer: slot n of an hour holds its n-th BUCKET_ENTRIES)."""
    buckets: dict[tuple[str, str], list[dict]] = {}
    markers: set[str] = set()
    for entry in entries:
        hour = audit_log.hour_of(datetime.fromisoformat(entry["at"]))
        for stream in audit_log.streams_of(entry):
            buckets.setdefault((stream, hour), []).append(entry)
            markers.update(audit_log.markers_of(stream, hour))
    docs = [{"_id": audit_log.ORIGIN, "day": entries[0]["at"][:10].replace("-", "")}]
    docs += [{"_id": m} for m in sorted(markers)]
    for (stream, hour), listed in buckets.items():
        for n in range(0, len(listed), audit_log.BUCKET_ENTRIES):
            docs.append({"_id": audit_log.bucket_id(stream, hour, n // audit_log.BUCKET_ENTRIES), "writer": "bench",
                         "entries": json.dumps(listed[n:n + audit_log.BUCKET_ENTRIES], separators=(",", ":"))})
    return docs


def _insert(collection, docs: list[dict]) -> None:
    for n in range(0, len(docs), 1000):
        collection.insert_many(docs[n:n + 1000], ordered=False)


def _timed(call, repeat: int) -> tuple[float, object]:
    """The median seconds of `repeat` calls, and the last result."""
    samples, result = timed(call, repeat)
    return statistics.median(samples) / 1000, result


def run() -> list[dict]:
    run_id = new_run()
    before_settings, after_settings = isolated_settings("matching", run_id + "o"), isolated_settings("matching", run_id + "k")
    old_db, new_db = database_for(before_settings), database_for(after_settings)
    now = datetime.now(timezone.utc)
    entries = _entries(now)
    rows: list[dict] = []
    try:
        _insert(old_db[audit.COLLECTION], [dict(e) for e in entries])
        _insert(new_db[audit_log.KEYED], _keyed_documents(entries))
        newest = sorted(entries, key=lambda e: e["_id"], reverse=True)
        cursor = newest[LIMIT - 1]["_id"]
        manager = {"P3", "P5"}
        pages = [("newest 50", {"program_ids": None, "actor_id": None, "before": None}),
                 ("next 50 (cursor)", {"program_ids": None, "actor_id": None, "before": cursor}),
                 ("one actor's newest 50", {"program_ids": None, "actor_id": "A0007", "before": None}),
                 ("a manager's 50 (2 programmes)", {"program_ids": manager, "actor_id": None, "before": None})]
        for label, query in pages:
            old_s, old_items = _timed(lambda q=query: audit._old_layout_page(old_db, limit=LIMIT - 1, **q), 1)
            new_s, (new_items, _next) = _timed(lambda q=query: audit.page(new_db, limit=LIMIT, now=now, **q), REPEAT)
            assert [e["_id"] for e in new_items] == [e["_id"] for e in old_items][:LIMIT], label  # same answer
            reader = audit_log.AuditLogReader(new_db)
            list(zip(range(LIMIT + 1), reader.entries(audit_log.streams_for(query["program_ids"], query["actor_id"]),
                                                      audit._time_of(query["before"]) if query["before"]
                                                      else now + audit.CLOCK_SKEW, query["before"])))
            rows.append({"benchmark": f"audit page at {ENTRIES:,}: {label}", "unit": "s", "value": round(new_s, 4),
                         "baseline": "find().sort(_id desc) (before)", "baseline_value": round(old_s, 3),
                         "ratio": round(new_s / old_s, 4),
                         "note": f"keyed layout: {reader.reads} reads by _id, median of {REPEAT}"})
        rows += _write_rows(old_db, new_db)
    finally:
        drop(before_settings, after_settings)
    load = os.getloadavg()
    for row in rows:
        row["note"] = f"{row.get('note', '')}; load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}".lstrip("; ")
    return rows


def _write_rows(old_db, new_db) -> list[dict]:
    writer = audit_log.AuditLogWriter(new_db)
    old, new = [], []
    for n in range(WRITES):
        at = datetime.now(timezone.utc)
        entry = {"_id": audit.entry_id(at), "actor_id": f"A{n % 5:04d}", "action": "POST /v1/programs",
                 "target": "/v1/programs", "status": 201, "at": at.isoformat(), "correlation_id": None,
                 "request_id": None, "program_id": None}
        started = time.perf_counter()
        old_db[audit.COLLECTION].insert_one(dict(entry))
        old.append(time.perf_counter() - started)
        started = time.perf_counter()
        writer.write(entry, at)
        new.append(time.perf_counter() - started)
    old_p, new_p = percentiles(old), percentiles(new)
    return [{"benchmark": f"audit write, one admin entry ({q})", "unit": "ms", "value": round(new_p[q] * 1000, 2),
             "baseline": "insert_one (before)", "baseline_value": round(old_p[q] * 1000, 2),
             "ratio": round(new_p[q] / old_p[q], 2),
             "note": f"{WRITES} writes into 2 streams: a bulk_write of replaces, an insert_many when a bucket opens"}
            for q in ("p50", "p95")]


if __name__ == "__main__":
    from bench.__main__ import _print
    from shared.config import act_as_local_kafka_admin

    act_as_local_kafka_admin()
    _print(run())
