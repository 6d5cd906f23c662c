"""How far a person's erasure has got in all four services (GDPR Art. 17, issue 13; docs/api-erasures.md).

Matching starts every erasure (application/erasure.py); sessions, feedback and notifications then
each publish their own `PersonErased` on their own topic. Here matching follows them:
- `ErasureProgress` (Kafka-fed: the three other services' topics) records each `PersonErased` as
  its own document, `{employee_id}|{service}`, by a unique insert. One document per writer and
  never an update, so a redelivery, a replay after a crash or a rebalance, or two consumers at once
  change nothing (the runner's per-partition watermarks skip most replays before they get here),
  and the services may finish in any order. Matching's own part is its erasure stream.
- `ErasureList` (own stream, matching's views projector) lists the requests newest first for
  `GET /v1/privacy/erasures`, in `_id`-keyed pages (adapters/erasure_progress.py).
- `ErasureStatus` answers the routes: per service when it completed (or `pending`), `complete`,
  and `overdue` (still pending `erasure_overdue_s` after the request; the contract says a minute).
- `ErasureWatch` (a worker job) sets `mentoring_erasures_pending` / `mentoring_erasures_overdue`
  per service still erasing, for the `MentoringErasureOverdue` alert. It looks only at the
  requests it has not yet seen complete (its state document), not at every erasure ever asked.
Only ids and times: nothing here holds or answers the erased person's personal data.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from shared import topics
from shared.clock import parse_rfc3339
from shared.consumer import Projection
from shared.events.catalog import matching as ev
from shared.events.envelope import Envelope
from shared.metrics import ERASURES_OVERDUE, ERASURES_PENDING
from shared.projector import order_of

from services.matching.adapters.erasure_progress import (
    LIST, PAGE, PROGRESS, ErasureListIndex, ProgressRepository, WatchState,
)

log = logging.getLogger(__name__)

SERVICES = ev.ERASING_SERVICES  # matching, sessions, feedback, notifications: who publishes PersonErased
OTHERS = tuple(s for s in SERVICES if s != "matching")
MAX_PAGE = 100


class ErasureProgress(Projection):
    """sessions', feedback's and notifications' `PersonErased` -> `{employee_id}|{service}` (insert once)."""

    name = "matching-erasure-progress"
    topics = tuple(topics.BY_PRODUCER[service] for service in OTHERS)
    collections = (PROGRESS,)

    def __init__(self, database):
        self.bind(database)

    def bind(self, database) -> None:
        self.database = database
        self.progress = ProgressRepository(database)

    def handlers(self):
        return {ev.PERSON_ERASED: self.erased}

    def reset(self) -> None:
        self.database[PROGRESS].drop()

    def erased(self, envelope: Envelope) -> None:
        data = envelope.data
        self.progress.record(data["employee_id"], data["service"], data["at"])


class ErasureList(Projection):
    """Matching's `PersonErasureRequested`, in store order -> the list's next entry.

    One writer (the views projector, under its lease) keeps `head` and the pages. The page is written
    before the head: after a crash in between, the replay finds the head old and the entry already
    in its page (by its store order), and only moves the head on. An event at or below the head's
    `version` was applied: a replay writes nothing."""

    name = "matching-erasure-list"
    topics = ()
    collections = (LIST,)

    def __init__(self, database):
        self.bind(database)

    def bind(self, database) -> None:
        self.database = database
        self.index = ErasureListIndex(database)

    def handlers(self):
        return {ev.PERSON_ERASURE_REQUESTED: self.requested}

    def reset(self) -> None:
        self.database[LIST].drop()

    def requested(self, envelope: Envelope) -> None:
        order = order_of(envelope)
        head = self.index.head()
        if head["version"] >= order:
            return
        n = head["count"]
        entries = self.index.page(n // PAGE)
        if not any(entry["order"] == order for entry in entries):
            data = envelope.data
            entries.append({"n": n, "order": order, "employee_id": data["employee_id"], "source": data["source"],
                            "requested_at": data["requested_at"], "requested_by": data.get("requested_by")})
            self.index.put_page(n // PAGE, entries, order)
        self.index.put_head(n + 1, order)


class ErasureStatus:
    """What the routes answer; `status_of(employee_id)` is matching's own (application/erasure.py)."""

    def __init__(self, database, status_of, clock, *, overdue_s: float):
        self.progress = ProgressRepository(database)
        self.index = ErasureListIndex(database)
        self.watch = WatchState(database)
        self.status_of = status_of
        self.clock = clock
        self.overdue_s = overdue_s

    def describe(self, document: dict) -> dict:
        """Matching's erasure document plus each service's part, `complete` and `overdue`."""
        employee_id = document["employee_id"]
        done = {"matching": document.get("erased_at")}
        done.update({service: self.progress.erased_at(employee_id, service) for service in OTHERS})
        parts = [{"service": service, "status": "erased" if done[service] else "pending", "erased_at": done[service]}
                 for service in SERVICES]
        complete = all(done.values())
        return {**document, "services": parts, "complete": complete,
                "overdue": not complete and self._overdue(document["requested_at"])}

    def of(self, employee_id: str) -> dict | None:
        document = self.status_of(employee_id)
        return None if document is None else self.describe(document)

    def page(self, cursor: str | None, limit: int) -> dict:
        """Newest first: `limit` entries below `cursor` (an entry number; none: from the newest)."""
        count = self.index.head()["count"]
        stop = min(int(cursor), count) if cursor else count
        start = max(0, stop - limit)
        entries = sorted(self.index.entries(start, stop), key=lambda e: e["n"], reverse=True)
        watch = self.watch.get()
        known_pending = {entry["n"] for entry in watch["pending"]}
        items = []
        for entry in entries:
            if entry["n"] < watch["scanned_to"] and entry["n"] not in known_pending:
                complete = True  # the watch saw it complete: no reads
            else:
                found = self.of(entry["employee_id"])
                complete = bool(found and found["complete"])
            items.append({"employee_id": entry["employee_id"], "source": entry["source"],
                          "requested_at": entry["requested_at"], "requested_by": entry["requested_by"],
                          "complete": complete})
        return {"items": items, "next": str(start) if start > 0 else None}

    def _overdue(self, requested_at: str) -> bool:
        return self.clock.now() - parse_rfc3339(requested_at) > timedelta(seconds=self.overdue_s)


class ErasureWatch:
    """The overdue watch (matching's worker, every `erasure_watch_interval_s`).

    Each sweep looks at the requests not yet seen complete: those its state lists as pending and
    those listed since its last sweep. Complete ones drop out for good (an erasure never becomes
    incomplete again), so a sweep reads a few documents however many erasures were ever made. Two
    replicas may sweep at once: each writes a state true at the time it read, at worst older."""

    def __init__(self, status: ErasureStatus):
        self.status = status

    def sweep(self) -> dict[str, tuple[int, int]]:
        """service -> (pending, overdue) erasures; also the gauges."""
        state = self.status.watch.get()
        count = self.status.index.head()["count"]
        fresh = self.status.index.entries(state["scanned_to"], count)
        still: list[dict] = []
        pending = dict.fromkeys(SERVICES, 0)
        overdue = dict.fromkeys(SERVICES, 0)
        for entry in [*state["pending"], *fresh]:
            found = self.status.of(entry["employee_id"])
            if found is None or found["complete"]:
                continue
            still.append({"n": entry["n"], "employee_id": entry["employee_id"]})
            for part in found["services"]:
                if part["status"] == "pending":
                    pending[part["service"]] += 1
                    overdue[part["service"]] += int(found["overdue"])
        self.status.watch.put(max(count, state["scanned_to"]), still)
        for service in SERVICES:
            ERASURES_PENDING.labels(service).set(pending[service])
            ERASURES_OVERDUE.labels(service).set(overdue[service])
        if any(overdue.values()):
            log.warning("erasures still pending past %.0f s: %s", self.status.overdue_s,
                        {service: n for service, n in overdue.items() if n})
        return {service: (pending[service], overdue[service]) for service in SERVICES}
