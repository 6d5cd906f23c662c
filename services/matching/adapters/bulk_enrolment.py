"""Bulk enrolment on `POST /v1/cohorts/{cohort_id}/enrollments` (admins): a JSON list of enrolment
bodies, or a CSV upload (`Content-Type: text/csv`) with the columns of the portal's console import.

The route keeps taking one enrolment (a JSON object) exactly as before; a list or a CSV is told
apart before the single body is parsed (`bulk_or`). Every row is validated on its own with the
single route's schema; the command (`MatchingCommands.enroll_many`) decides each row on its own
stream, so the answer lists every row's outcome, a bad row never stops a good one, and a repeated
request answers `already_enrolled` for the rows it enrolled the first time. `?dry_run=true` makes
the same checks and the same answer without storing anything (the console's import runs it first).
"""
from __future__ import annotations

import csv
import functools
import io

from flask import current_app, jsonify, request
from marshmallow import Schema, ValidationError, fields
from werkzeug.exceptions import RequestEntityTooLarge

from shared.errors import Invalid
from shared.http.scopes import require_admin_of_cohort
from shared.http.app import MAX_REQUEST_BYTES, request_causation

MAX_BULK_ROWS = 20_000
# 20,000 rows of org-20k's enrolments are about 3.5 MB as JSON; the rest is room for long goals.
MAX_BULK_BYTES = 16 * 1024 * 1024
# The portal's console CSV import (services/portal/views/console.py CSV_COLUMNS): same names, same meaning.
CSV_COLUMNS = ("employee_id", "role", "capacity", "topics", "goals_summary", "same_timezone", "languages")
CSV_REQUIRED = ("employee_id", "role", "topics")


class BulkRowError(Schema):
    code = fields.String()
    field = fields.String(allow_none=True, metadata={"description": "the culprit, e.g. capacity or preferences.languages.0"})
    message = fields.String()


class BulkRowOut(Schema):
    row = fields.Integer(metadata={"description": "1-based: the list's item, or the CSV's data row"})
    line = fields.Integer(metadata={"description": "CSV only: the file line the row starts on (the header is line 1)"})
    employee_id = fields.String(allow_none=True)
    outcome = fields.String(metadata={"description": "enrolled, already_enrolled or error"})
    enrollment_id = fields.String()
    role = fields.String()
    errors = fields.List(fields.Nested(BulkRowError))


class BulkQuery(Schema):
    dry_run = fields.Boolean(load_default=False,
                             metadata={"description": "check every row against the cohort, store nothing"})


class BulkEnrollmentOut(Schema):
    cohort_id = fields.String()
    dry_run = fields.Boolean(metadata={"description": "present (true) when nothing was stored"})
    enrolled = fields.Integer()
    already_enrolled = fields.Integer()
    failed = fields.Integer()
    rows = fields.List(fields.Nested(BulkRowOut))


def bulk_or(row_schema: type[Schema]):
    """Route decorator (inside `require`, outside the single body's `arguments`): a list or a CSV
    goes to the bulk handler; anything else to the single enrolment route unchanged."""

    def decorate(single):
        @functools.wraps(single)
        def view(cohort_id):
            if _is_bulk():
                return _enroll_bulk(cohort_id, row_schema)
            if "dry_run" in request.args:  # never enrol someone "for real" on a request meant as a rehearsal
                raise Invalid("dry_run_single", "a dry run takes a JSON list or a CSV", field="dry_run")
            return single(cohort_id=cohort_id)

        return view

    return decorate


def _is_bulk() -> bool:
    if request.mimetype == "text/csv":
        request.max_content_length = MAX_BULK_BYTES
        return True
    if not request.is_json:
        return False
    # Read before the single route parses it, under the bulk limit; an object keeps the usual one.
    request.max_content_length = MAX_BULK_BYTES
    data = request.get_data(cache=True)
    if data.lstrip()[:1] == b"[":
        return True
    if len(data) > MAX_REQUEST_BYTES:
        raise RequestEntityTooLarge()
    return False


def _enroll_bulk(cohort_id: str, row_schema: type[Schema]):
    require_admin_of_cohort(cohort_id)  # admins and the programme's managers; a participant enrols only themselves
    try:
        dry_run = BulkQuery().load(request.args, unknown="exclude")["dry_run"]
    except ValidationError as error:
        raise Invalid("invalid", "dry_run is true or false", field="dry_run") from error
    if request.mimetype == "text/csv":
        rows = csv_rows(request.get_data(cache=True))
    else:
        payload = request.get_json()
        rows = [(number, None, item) for number, item in enumerate(payload, start=1)]
    if not rows:
        raise Invalid("no_rows", "send at least one enrolment", field="rows")
    if len(rows) > MAX_BULK_ROWS:
        raise Invalid("too_many_rows", f"{len(rows)} rows; at most {MAX_BULK_ROWS} per request (split the file)",
                      field="rows", limit=MAX_BULK_ROWS)
    schema = row_schema()
    answers: list[dict] = []
    valid: list[tuple[int, dict]] = []
    for number, line, item in rows:
        answer: dict = {"row": number, **({"line": line} if line is not None else {}),
                        "employee_id": _employee_of(item)}
        answers.append(answer)
        if not isinstance(item, dict):
            answer.update(outcome="error", errors=[{"code": "invalid", "field": None,
                                                    "message": "each row must be an object"}])
            continue
        try:
            valid.append((number, schema.load(item)))
        except ValidationError as error:
            answer.update(outcome="error", errors=[{"code": "invalid", "field": field, "message": message}
                                                   for field, message in flatten(error.messages)])
    outcomes = current_app.extensions["matching"].commands.enroll_many(cohort_id, valid, request_causation(),
                                                                       dry_run=dry_run)
    for answer in answers:
        answer.update(outcomes.get(answer["row"], {}))
    counts = {name: sum(1 for a in answers if a["outcome"] == name) for name in ("enrolled", "already_enrolled")}
    return jsonify(BulkEnrollmentOut().dump({"cohort_id": cohort_id, **counts, **({"dry_run": True} if dry_run else {}),
                                             "failed": len(answers) - sum(counts.values()), "rows": answers}))


def _employee_of(item) -> str | None:
    employee_id = item.get("employee_id") if isinstance(item, dict) else None
    return employee_id if isinstance(employee_id, str) else None


def flatten(messages, prefix: str = "") -> list[tuple[str | None, str]]:
    """marshmallow's nested messages as (dotted field, message) pairs; `_schema` is the whole row (None)."""
    if isinstance(messages, list):
        return [(prefix or None, str(message)) for message in messages]
    pairs: list[tuple[str | None, str]] = []
    for key, value in messages.items():
        name = prefix if key == "_schema" else f"{prefix}.{key}" if prefix else str(key)
        pairs += flatten(value, name)
    return pairs


def csv_rows(raw: bytes) -> list[tuple[int, int, dict]]:
    """(data row, file line, enrolment body) per CSV record; cells become what the JSON body holds.

    Nothing here refuses a row: a cell that is not what its field needs (capacity `two`) is passed
    on as it is, so the row schema names the field. Text is kept as written (a cell like
    `=HYPERLINK(...)` is data here; exports neutralise formulas where they write CSV).
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise Invalid("csv_encoding", "the CSV must be UTF-8", field="body") from exc
    reader = csv.DictReader(io.StringIO(text, newline=""))
    missing = [name for name in CSV_REQUIRED if name not in (reader.fieldnames or ())]
    if missing:
        raise Invalid("csv_header", f"the header (line 1) needs the columns: {', '.join(missing)}", field="header",
                      columns=list(CSV_COLUMNS))
    rows = []
    line = reader.line_num + 1
    for number, record in enumerate(reader, start=1):
        rows.append((number, line, _csv_body(record)))
        line = reader.line_num + 1
        if number > MAX_BULK_ROWS:
            break  # enough to refuse the request for its size
    return rows


def _csv_body(record: dict) -> dict:
    def cell(name: str) -> str:
        value = record.get(name)
        return value.strip() if isinstance(value, str) else ""

    def listed(name: str) -> list[str]:
        return [part.strip() for part in cell(name).replace(";", ",").split(",") if part.strip()]

    body: dict = {"employee_id": cell("employee_id"), "role": cell("role"), "topics": listed("topics")}
    capacity = cell("capacity")
    if capacity:
        body["capacity"] = int(capacity) if capacity.isdigit() else capacity
    if cell("goals_summary"):
        body["goals_summary"] = cell("goals_summary")
    preferences: dict = {}
    if cell("same_timezone").lower() in ("true", "yes", "1", "on"):
        preferences["same_timezone"] = True
    if listed("languages"):
        preferences["languages"] = listed("languages")
    if preferences:
        body["preferences"] = preferences
    return body
