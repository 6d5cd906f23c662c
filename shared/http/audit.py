"""The audit trail: who used a privilege, on what, when (issue 12).

Every request a platform admin makes, every request that passed a programme-scoped check (a
programme manager, see `note_scope`), and every request refused with 403 is one entry in the
service's own audit trail: `actor_id`, `action` (method and route template),
`target` (the path, which carries the ids acted on), `status`, `at`, `correlation_id`, and the
programme the scope check named. Recording every privileged request, reads included, is what
makes "every read of another person's data by an admin" hold without a list of routes to keep
up to date; a refused request is recorded because probing is what a reviewer looks for.

Entries are only ever written (no route changes or deletes them) in the keyed layout of
shared/audit_log.py (`audit_log`): buckets of an hour per stream (everything, an actor, a
programme, an actor within a programme) claimed by unique inserts, and markers of the months, days
and quarter days that hold any, so a page newest first (with `?actor_id=`, or a manager's programmes) is a
bounded number of reads by `_id` however long the trail (FerretDB v1 uses no other index: the old
`find().sort(_id)` took 23 s at 20,000 entries). Entries keep a time-ordered `_id` (`entry_id`),
which is also the page cursor.
Retention (`AuditRetention`, each service's worker, every `retention_interval_s`) deletes the days
older than `audit_retention_days` by `_id`, once a day: the only deletion there is.
`GET /v1/audit` serves them: admins everything, a programme manager the entries of their
programmes (from the service's projection of programme managers, shared/scopes.py).

Entries written before the keyed layout stay in `audit_trail` (one document per entry) and are
read, not migrated: a page that has walked the keyed layout to its end continues there with the
old query (`_old_layout_page`), and retention empties that collection as before and drops it once
empty (by the end of the retention period it is gone, and then neither looks at it). A migration
would have to copy a trail that old pods still write during a rolling upgrade; the fallback needs
no coordination. Entries old pods write during that upgrade are listed after the keyed ones.

Writing happens once the response has been sent (the WSGI server closes it): a failure to write
is logged and counted (`mentoring_audit_entries_total{outcome="failed"}`, alerted) and cannot fail
the request, whose command has already been stored by then.
"""
from __future__ import annotations

import itertools
import logging
import uuid
from datetime import datetime, timedelta, timezone

from flask import current_app, g, request
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from pymongo import DESCENDING
from pymongo.errors import PyMongoError

from shared import audit_log
from shared.errors import Forbidden
from shared.http.auth import Principal, current_principal, require
from shared.metrics import AUDIT_ENTRIES

log = logging.getLogger(__name__)

COLLECTION = "audit_trail"  # the layout before issue 16: read and purged, no longer written
# Routes an operator's tooling calls without a token; never audited.
UNAUDITED_ROUTES = frozenset({"/metrics", "/healthz", "/readyz", "/openapi.json"})
SCOPES_EXTENSION = "programme_scopes"  # where shared/http/scopes.py keeps the service's scope reader


def note_scope(program_id: str) -> None:
    """Called by a programme-scoped permission check that let the caller through: the request is
    audited, and its entry is visible to that programme's managers."""
    g.audit_program_id = program_id


def entry_id(at: datetime) -> str:
    # Sorts by time as a string; the random tail keeps two entries of one microsecond apart.
    return f"{at:%Y%m%dT%H%M%S%f}Z-{uuid.uuid4().hex[:12]}"


def entries_before(at: datetime) -> dict:
    """The filter of every entry written before `at`: an `_id` range (`entry_id` sorts by time)."""
    return {"_id": {"$lt": f"{at.astimezone(timezone.utc):%Y%m%dT%H%M%S%f}Z"}}


class AuditRetention:
    """Deletes audit entries older than `days` (README "Privacy"): a periodic job of every service's
    worker (shared.worker.service_worker). Idempotent, so replicas running it at once do no harm.

    The cut-off moves in whole days (UTC midnight): an entry is deleted between `days` and
    `days + 1` days after it was written, and a worker looks once a day, not at every hourly tick.
    The keyed layout is deleted a day at a time by `_id` (`audit_log.purge_before`). The old
    layout's collection, while it exists, by one `_id` range as before (a scan on FerretDB v1:
    20 s for 20,000 entries at load ~8).
    """

    def __init__(self, database, clock, *, days: float):
        self.database = database
        self.clock = clock
        self.days = days
        self._purged_before: datetime | None = None  # the cut-off this process last applied

    def cutoff(self) -> datetime:
        moment = (self.clock.now() - timedelta(days=self.days)).astimezone(timezone.utc)
        return moment.replace(hour=0, minute=0, second=0, microsecond=0)

    def run(self) -> int:
        cutoff = self.cutoff()
        if cutoff == self._purged_before:
            return 0  # this day's purge is done
        deleted = audit_log.purge_before(self.database, cutoff.date())
        if _has_old_layout(self.database):
            old = self.database[COLLECTION]
            deleted += old.delete_many(entries_before(cutoff)).deleted_count
            if old.find_one({}, {"_id": 1}) is None:
                old.drop()  # pages and this job stop looking at the old layout
        self._purged_before = cutoff
        if deleted:
            log.info("retention: deleted %d audit entries written before %s", deleted, cutoff.isoformat())
        return deleted


def _has_old_layout(database) -> bool:
    """Whether the pre-issue-16 collection exists (a catalogue read, not a scan)."""
    return bool(database.list_collection_names(filter={"name": COLLECTION}))


def should_record(principal: Principal | None, status: int, route: str) -> bool:
    if principal is None or route in UNAUDITED_ROUTES:
        return False
    return principal.is_admin or g.get("audit_program_id") is not None or status == 403


def entry_for(status: int) -> dict | None:
    """During a request: its entry if the request used (or was refused) a privilege, else None."""
    principal = g.get("principal")
    route = request.url_rule.rule if request.url_rule else "unmatched"
    if not should_record(principal, status, route):
        return None
    assert principal is not None
    at = datetime.now(timezone.utc)
    return {
        "_id": entry_id(at),
        "actor_id": principal.subject,
        "action": f"{request.method} {route}",
        "target": request.path,
        "status": status,
        "at": at.isoformat(),
        "correlation_id": g.get("correlation_id"),
        "request_id": g.get("request_id"),
        "program_id": g.get("audit_program_id"),
    }


def write(writer: audit_log.AuditLogWriter, service: str, entry: dict) -> None:
    try:
        writer.write(entry, datetime.fromisoformat(entry["at"]))
    except PyMongoError:
        log.exception("audit entry not written: %s %s by %s", entry["action"], entry["target"], entry["actor_id"])
        AUDIT_ENTRIES.labels(service, entry["action"], "failed").inc()
        return
    AUDIT_ENTRIES.labels(service, entry["action"], "recorded").inc()


# Writers' clocks differ a little between pods: a first page starts this far ahead of the reader's.
CLOCK_SKEW = timedelta(minutes=2)


def page(database, *, program_ids: set[str] | None, actor_id: str | None, before: str | None,
         limit: int, now: datetime | None = None) -> tuple[list[dict], str | None]:
    """Newest first; `program_ids` None means every entry (an admin). The cursor is the last entry's id."""
    if program_ids is not None and not program_ids:
        return [], None
    newest = (now or datetime.now(timezone.utc)) + CLOCK_SKEW
    # a cursor naming a future time would walk empty months up to it: nothing is written there yet
    start = min(_time_of(before), newest) if before else newest
    reader = audit_log.AuditLogReader(database)
    docs = list(itertools.islice(
        reader.entries(audit_log.streams_for(program_ids, actor_id), start, before), limit + 1))
    if len(docs) <= limit and _has_old_layout(database):
        docs += _old_layout_page(database, program_ids=program_ids, actor_id=actor_id,
                                 before=docs[-1]["_id"] if docs else before, limit=limit - len(docs))
    more = len(docs) > limit
    docs = docs[:limit]
    return docs, (docs[-1]["_id"] if more and docs else None)


def _time_of(cursor: str) -> datetime:
    """The time in an entry id (`entry_id`); a cursor that is not one starts from the newest entry."""
    try:
        return datetime.strptime(cursor[:15], "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:
        return datetime.max.replace(tzinfo=timezone.utc)


def _old_layout_page(database, *, program_ids, actor_id, before, limit) -> list[dict]:
    """The entries written before the keyed layout (a scan on FerretDB v1, the `_id` index on mongod)."""
    query: dict = {}
    if before:
        query["_id"] = {"$lt": before}
    if program_ids is not None:
        query["program_id"] = {"$in": sorted(program_ids)}
    if actor_id:
        query["actor_id"] = actor_id
    return list(database[COLLECTION].find(query).sort("_id", DESCENDING).limit(limit + 1))


class AuditQuery(Schema):
    cursor = fields.String(validate=validate.Length(min=1, max=64))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))
    actor_id = fields.String(validate=validate.Length(min=1, max=64))


class AuditEntryOut(Schema):
    entry_id = fields.String(attribute="_id")
    actor_id = fields.String()
    action = fields.String()
    target = fields.String()
    status = fields.Integer()
    at = fields.String()
    correlation_id = fields.String(allow_none=True)
    program_id = fields.String(allow_none=True)


class AuditPage(Schema):
    items = fields.List(fields.Nested(AuditEntryOut))
    next = fields.String(allow_none=True)


def blueprint(database) -> Blueprint:
    """`GET /v1/audit` over this service's trail."""
    blp = Blueprint("audit", __name__, url_prefix="/v1", description="Audit trail")

    @blp.route("/audit", methods=["GET"])
    @require()
    @blp.arguments(AuditQuery, location="query")
    @blp.response(200, AuditPage)
    def audit(query):
        """Privileged requests to this service, newest first: admins see all, a programme manager the
        entries of their programmes; anyone else 403."""
        principal = current_principal()
        program_ids = None
        if not principal.is_admin:
            reader = current_app.extensions.get(SCOPES_EXTENSION)  # shared/http/scopes.py
            program_ids = set(reader.programs_managed_by(principal.subject)) if reader is not None else set()
            if not program_ids:
                raise Forbidden("not_an_admin", "the audit trail is for admins and programme managers")
        items, cursor = page(database, program_ids=program_ids, actor_id=query.get("actor_id"),
                             before=query.get("cursor"), limit=query["limit"])
        return {"items": items, "next": cursor}

    return blp


def install(app, database) -> None:
    """Record after every request of `app` (called by the shared app factory)."""
    service = app.config["settings"].service_name
    writer = audit_log.AuditLogWriter(database)  # this process's writer of this service's trail

    @app.after_request
    def _audit(response):
        entry = entry_for(response.status_code)
        if entry is not None:
            # Written once the response has gone to the client (the WSGI server closes it then): the
            # entry's bucket rewrites (2-4 streams) were a third of an admin call's latency. The
            # worker thread still writes it before taking its next request, as before.
            response.call_on_close(lambda: write(writer, service, entry))
        return response
