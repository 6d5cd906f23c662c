"""Read models of the matching service.

- `MatchingViews`: programmes, cohorts, enrolments, pairings, matching runs and their result chunks,
  fed from the service's *own* event store (shared.projector.StoreProjector, with a checkpoint):
  a crash between a request's append and the view write cannot happen, because no request writes
  a view; a rebuild replays `read_all` into fresh collections and gets the same documents.
  Each document remembers the aggregate `version` it reflects: an event at or below it is a replay
  and changes nothing.
- `participants_projection`: the HRIS directory (shared.directory), newest record wins.

Cohort summaries (the counts `GET /v1/cohorts/{id}/stats` answers with) are kept by the same
projection, as differences: an enrolment or pairing event adds what its document counts for after
the event minus what it counted for before. A summary remembers the store order
(`shared.projector.order_of`) of the last event it applied, and is written *before* the enrolment
or pairing document, which is written last: after a crash between the writes the event is applied
again (the checkpoint did not move), finds its document still old, computes the same difference,
and finds the summary already holding it. "Unmatched" needs, per enrolled mentee, whether any open
pairing names them: `cohort_mentee_openings` keeps those pairing ids (a set, so applying twice is
harmless), written between the summary and the pairing.

A cohort's pairings (its list, a run's and every suggestions call's seats taken, a closing cohort's
active pairings, expiry) are read from `cohort_pairing_index` (adapters/pairing_index.py): each
pairing's entry (parties, status, answer_by), set whenever it changes, before the pairing document;
a run of pairing commits (a matching run's proposals, StoreProjector's `apply_batch`) saves each
cohort's index once, then writes the pairing documents.

The enrolments list (`GET /v1/cohorts/{id}/enrollments`) reads `cohort_enrollment_index`
(adapters/enrollment_index.py): each enrolment's entry (employee id, role, status) as its document
will be after the event, set by the same handlers, written after the summary and before the
enrolment document; setting an entry again is harmless. A bulk enrolment's first enrolments are indexed together after their insert;
a crash between that insert and the index is repaired like the count (`enrollment_event`).

Mentoring circles (`circles`, docs/api-circles.md): a pairing proposed into a circle sets its entry
(mentee, status) in the circle's document whenever its status changes, before the pairing document,
with the event's store order as the circle's `version` (put only over an older one), so a replay
after a crash in between sets it once.
"""
from __future__ import annotations

from shared.consumer import Projection
from shared.directory import PROFILE_FIELDS, DirectoryProjection
from shared.erasure import ErasedPeople
from shared.events.catalog import matching as ev
from shared.events.envelope import Envelope
from shared.projector import order_of, private_of

from services.matching.adapters import pairing_index
from services.matching.adapters.enrollment_index import entry_of
from services.matching.adapters.mongo import PARTICIPANTS, VIEW_COLLECTIONS, Views
from services.matching.domain.pairing import PairingState

PARTICIPANT_FIELDS = PROFILE_FIELDS


def participants_projection(database) -> DirectoryProjection:
    return DirectoryProjection(database, name="participants", fields=PARTICIPANT_FIELDS, collection=PARTICIPANTS,
                               level_history=True)


_PAIRING_STATE_FIELDS = ("pairing_id", "cohort_id", "mentor_id", "mentee_id", "status", "score", "answer_by",
                         "mentor_accepted", "mentee_accepted", "reasons", "proposed_by", "matching_run_id",
                         "end_reason", "decline_reason", "proposed_at", "completed_at", "mentor_stays_in_touch",
                         "mentee_stays_in_touch", "circle_id")


def pairing_document(state: PairingState, *, version: int, updated_at: str | None) -> dict:
    """A pairing as the view stores it and the API shows it (also built from the aggregate)."""
    doc = {name: getattr(state, name) for name in _PAIRING_STATE_FIELDS}
    doc["reasons"] = list(state.reasons)
    doc["staying_in_touch"] = state.staying_in_touch
    return {"_id": state.pairing_id, **doc, "updated_at": updated_at, "version": version}


def pairing_state(doc: dict) -> PairingState:
    fields = {name: doc.get(name) for name in _PAIRING_STATE_FIELDS}
    fields["reasons"] = tuple(fields["reasons"] or ())
    fields["mentor_accepted"] = bool(fields["mentor_accepted"])
    fields["mentee_accepted"] = bool(fields["mentee_accepted"])
    fields["score"] = fields["score"] or 0.0
    return PairingState(**fields)


OPEN = ev.OPEN_PAIRING_STATUSES
# A mentee whose pairing completed (at the cohort's close) was matched in that cohort: the stats
# keep counting them as matched, though the pairing is no longer open.
MATCHED = (*OPEN, "completed")
SUMMARY_COUNTS = ("enrolled", "mentees", "matched_mentees", "proposed", "active", "waiting_for_answers", "completed")


def enrolment_counts(doc: dict | None, *, has_open_pairing: bool) -> dict[str, int]:
    """What one enrolment adds to its cohort's summary."""
    if doc is None or doc.get("status") != "active":
        return {}
    mentee = doc.get("role") == "mentee"
    return {"enrolled": 1, "mentees": int(mentee), "matched_mentees": int(mentee and has_open_pairing)}


def pairing_counts(doc: dict | None) -> dict[str, int]:
    """What one pairing adds to its cohort's summary (matched mentees: see the openings)."""
    if doc is not None and doc.get("status") == "completed":
        return {"completed": 1}
    if doc is None or doc.get("status") not in OPEN:
        return {}
    if doc["status"] == "active":
        return {"active": 1}
    return {"proposed": 1,
            "waiting_for_answers": (not doc.get("mentor_accepted")) + (not doc.get("mentee_accepted"))}


def stats_of(cohort_id: str, summary: dict | None) -> dict:
    """The stats API's answer from a summary (zeros before anything was enrolled)."""
    counts = {name: int((summary or {}).get(name, 0)) for name in SUMMARY_COUNTS}
    return {"cohort_id": cohort_id, "enrolled": counts["enrolled"], "mentors": counts["enrolled"] - counts["mentees"],
            "mentees": counts["mentees"], "proposed": counts["proposed"], "active": counts["active"],
            "unmatched": counts["mentees"] - counts["matched_mentees"],
            "waiting_for_answers": counts["waiting_for_answers"], "completed": counts["completed"]}


def cohort_format(data: dict) -> dict:
    """A cohort's format settings as its documents show them (events before circles: a pair cohort)."""
    return {"format": data.get("format") or "pair",
            "circle_min_size": data.get("circle_min_size") or ev.DEFAULT_CIRCLE_MIN_SIZE,
            "circle_max_size": data.get("circle_max_size") or ev.DEFAULT_CIRCLE_MAX_SIZE}


def run_status(doc: dict) -> str:
    """running until the outcome is stored (and, for a real run, its pairings exist); then completed or failed."""
    if doc.get("failed"):
        return "failed"
    if doc.get("completed") and (doc.get("dry_run") or doc.get("proposals_created")):
        return "completed"
    return "running"


class MatchingViews(Projection):
    name = "matching-views"
    # (issue 15, circles: cohorts show their format, pairings their circle_id, and the `circles`
    # collection is new: the changed collections already make `migrate` rebuild the views, and older
    # documents read with the defaults, `cohort_format` and a null circle_id)
    topics = ()  # fed from the service's own event store
    collections = VIEW_COLLECTIONS
    version = 2  # 2: the enrolment index's chunks hold ~512 entries (adapters/enrollment_index.py SPREAD), not ~2048

    def __init__(self, database):
        self.bind(database)

    def bind(self, database) -> None:
        self.views = Views(database)
        self.erased = ErasedPeople(database)  # an erased person's enrolment keeps no private text
        self._index_writes: dict = {}  # cohort id -> its last saved index write (chunks kept for the next run)
        self._pairing_index_writes: dict = {}  # the same for the pairing index

    def reset(self) -> None:
        for documents in self.views.all():
            documents.drop()

    def handlers(self):
        handlers = {
            ev.PROGRAM_CREATED: self.program_created,
            ev.COHORT_CREATED: self.cohort_event,
            ev.COHORT_STATUS_CHANGED: self.cohort_event,
            ev.COHORT_REVISED: self.cohort_event,
            ev.PARTICIPANT_ENROLLED: self.enrollment_event,
            ev.ENROLLMENT_REVISED: self.enrollment_event,
            ev.ENROLLMENT_WITHDRAWN: self.enrollment_event,
            ev.MATCHING_RUN_REQUESTED: self.run_event,
            ev.MATCHING_RUN_RESULT_CHUNK: self.run_chunk,
            ev.MATCHING_RUN_COMPLETED: self.run_event,
            ev.MATCHING_RUN_PROPOSALS_CREATED: self.run_event,
            ev.MATCHING_RUN_FAILED: self.run_event,
        }
        for event_type in ev.PAIRING_EVENTS:
            handlers[event_type] = self.pairing_event
        return handlers

    @staticmethod
    def _stale(doc: dict | None, envelope: Envelope) -> bool:
        return doc is not None and doc.get("version", 0) >= envelope.aggregate_version

    def program_created(self, envelope: Envelope) -> None:
        data = envelope.data
        if self.views.programs.get(data["program_id"]) is None:
            self.views.programs.put({"_id": data["program_id"], "program_id": data["program_id"],
                                     "name": data["name"], "description": data.get("description"),
                                     "created_by": data["created_by"], "version": envelope.aggregate_version})

    def cohort_event(self, envelope: Envelope) -> None:
        data = envelope.data
        doc = self.views.cohorts.get(data["cohort_id"])
        if self._stale(doc, envelope):
            return
        if envelope.event_type == ev.COHORT_CREATED:
            doc = {"_id": data["cohort_id"], "cohort_id": data["cohort_id"], "program_id": data["program_id"],
                   "name": data["name"], "status": data["status"], "starts_on": str(data["starts_on"]),
                   "ends_on": str(data["ends_on"]), "meeting_cadence_days": data["meeting_cadence_days"],
                   "answer_deadline_days": data["answer_deadline_days"], "rules": data["rules"],
                   "max_mentor_capacity": data.get("max_mentor_capacity"),
                   "matching_style": data.get("matching_style") or "admin_run",
                   "duplicated_from": data.get("duplicated_from"), "runs": (doc or {}).get("runs", []),
                   **cohort_format(data)}
            self._add_cohort_to_program(data["program_id"], data["cohort_id"])
        elif envelope.event_type == ev.COHORT_REVISED:
            doc = {**(doc or {"_id": data["cohort_id"], "cohort_id": data["cohort_id"], "runs": []}),
                   **{name: str(data[name]) if name in ("starts_on", "ends_on") else data[name]
                      for name in data["changed"]}}
        else:
            doc = {**(doc or {"_id": data["cohort_id"], "cohort_id": data["cohort_id"], "runs": []}),
                   "status": data["status"]}
        doc["version"] = envelope.aggregate_version
        self.views.cohorts.put(doc)

    def _add_cohort_to_program(self, program_id: str, cohort_id: str) -> None:
        program = self.views.programs.get(program_id)
        if program is not None and cohort_id not in program.get("cohort_ids", []):
            program["cohort_ids"] = [*program.get("cohort_ids", []), cohort_id]
            self.views.programs.put(program)

    # A bulk enrolment's commits and a run's proposals, its pairs' answers, expiry (StoreProjector
    # gives runs of them to apply_batch; PartnersProjection batches the pairing events too).
    batchable = frozenset({ev.PARTICIPANT_ENROLLED, *ev.PAIRING_EVENTS})

    def apply_batch(self, envelopes: list[Envelope]) -> None:
        """Consecutive enrolments, then consecutive pairing events, and so on, in store order."""
        group: list[Envelope] = []
        for envelope in envelopes:
            if group and (envelope.event_type == ev.PARTICIPANT_ENROLLED) != (group[0].event_type == ev.PARTICIPANT_ENROLLED):
                self._apply_group(group)
                group = []
            group.append(envelope)
        if group:
            self._apply_group(group)

    def _apply_group(self, envelopes: list[Envelope]) -> None:
        if envelopes[0].event_type == ev.PARTICIPANT_ENROLLED:
            self._enrol_batch(envelopes)
        else:
            self._pairing_batch(envelopes)

    def _enrol_batch(self, envelopes: list[Envelope]) -> None:
        """First enrolments in one insert; a person enrolled before (a re-enrolment, a replay) is
        applied one by one against what is stored, as `enrollment_event` does."""
        docs: dict[str, tuple[dict, Envelope]] = {}
        later: list[Envelope] = []
        erased = self.erased.erased_among(envelope.data["employee_id"] for envelope in envelopes)
        for envelope in envelopes:
            doc = self._enrolled_document(envelope, erased=envelope.data["employee_id"] in erased)
            if doc["_id"] in docs:
                later.append(envelope)  # the same person twice in one run: the second after the first
            else:
                docs[doc["_id"]] = (doc, envelope)
        existing = self.views.enrollments.insert_new([doc for doc, _ in docs.values()])
        self._count_first_enrolments([docs[key] for key in docs if key not in existing])
        self._index([docs[key] for key in docs if key not in existing])
        for key in existing:
            self.enrollment_event(docs[key][1])
        for envelope in later:
            self.enrollment_event(envelope)

    def _count_first_enrolments(self, inserted: list[tuple[dict, Envelope]]) -> None:
        """The cohort summaries' share of enrolment documents just inserted (each a first enrolment:
        nothing was there before it, and no pairing yet). One summary write per cohort when the summary
        holds none of them yet; otherwise (a run again after a crash) each event on its own, guarded by
        its order. A crash after the insert and before this is repaired by `enrollment_event`, which
        counts a first enrolment whose document it finds already written by the same event."""
        by_cohort: dict[str, list[tuple[dict, Envelope]]] = {}
        for doc, envelope in inserted:
            by_cohort.setdefault(doc["cohort_id"], []).append((doc, envelope))
        for cohort_id, entries in by_cohort.items():
            orders = [order_of(envelope) for _, envelope in entries]
            summary = self._summary(cohort_id)
            if summary["version"] >= min(orders):
                for doc, envelope in entries:
                    self._count(envelope, cohort_id, {}, enrolment_counts(doc, has_open_pairing=False))
                continue
            for doc, _ in entries:
                for name, value in enrolment_counts(doc, has_open_pairing=False).items():
                    summary[name] = summary.get(name, 0) + value
            summary["version"] = max(orders)
            self.views.summaries.put_newer(summary)

    def _enrolled_document(self, envelope: Envelope, *, erased: bool | None = None) -> dict:
        data = envelope.data
        if erased is None:
            erased = self.erased.is_erased(data["employee_id"])
        private = {} if erased else (private_of(envelope) or {})
        return {"_id": self.views.enrollment_key(data["cohort_id"], data["employee_id"]),
                "cohort_id": data["cohort_id"], "enrollment_id": data["enrollment_id"],
                "employee_id": data["employee_id"], "role": data["role"], "capacity": data["capacity"],
                "topics": list(data["topics"]), "status": "active", "enrolled_at": envelope.occurred_at,
                "preferences": private.get("preferences") or {}, "goals_summary": private.get("goals_summary"),
                "withdrawal_reason": None, "paused": False, "version": envelope.aggregate_version}

    def enrollment_event(self, envelope: Envelope) -> None:
        data = envelope.data
        key = self.views.enrollment_key(data["cohort_id"], data["employee_id"])
        doc = before = self.views.enrollments.get(key)
        if self._stale(doc, envelope):
            if (envelope.event_type == ev.PARTICIPANT_ENROLLED and envelope.aggregate_version == 1 and doc is not None
                    and doc.get("version") == 1):
                # written by this very event in a batch (apply_batch) that may have died before counting
                # and indexing it
                self._count(envelope, data["cohort_id"], {}, enrolment_counts(doc, has_open_pairing=False))
                self._index([(doc, envelope)], unless_indexed=True)
            return
        if envelope.event_type == ev.PARTICIPANT_ENROLLED:
            doc = self._enrolled_document(envelope)
        elif envelope.event_type == ev.ENROLLMENT_REVISED:
            doc = {**(doc or {"_id": key, **data}),
                   **{name: data[name] for name in ("capacity", "paused") if name in data}}
            doc.pop("revised_by", None)
        else:
            doc = {**(doc or {"_id": key, **data}), "status": "withdrawn", "withdrawal_reason": data["reason"]}
        if (doc.get("preferences") or doc.get("goals_summary")) and self.erased.is_erased(data["employee_id"]):
            doc.update(preferences={}, goals_summary=None)  # read before the erasure wiped it (application/erasure.py)
        doc["version"] = envelope.aggregate_version
        if (before or {}).get("status") != doc.get("status") or (before or {}).get("role") != doc.get("role"):
            opened = bool((self.views.mentee_openings.get(key) or {}).get("pairings"))
            self._count(envelope, data["cohort_id"], enrolment_counts(before, has_open_pairing=opened),
                        enrolment_counts(doc, has_open_pairing=opened))
        self._index([(doc, envelope)])
        self.views.enrollments.put(doc)

    def _index(self, entries: list[tuple[dict, Envelope]], *, unless_indexed: bool = False) -> None:
        """Set the enrolments' rows in their cohorts' indexes, in event order, one save per cohort.
        `unless_indexed`: only if the cohort's index has not applied this event (a repair)."""
        by_cohort: dict[str, list[tuple[dict, Envelope]]] = {}
        for doc, envelope in entries:
            by_cohort.setdefault(doc["cohort_id"], []).append((doc, envelope))
        for cohort_id, items in by_cohort.items():
            writing = self.views.enrollment_index.writing(cohort_id, after=self._index_writes.pop(cohort_id, None))
            for doc, envelope in items:
                order = order_of(envelope)
                if not (unless_indexed and writing.version >= order):
                    writing.put(entry_of(doc), order)
            writing.save()
            self._index_writes = {cohort_id: writing}  # one cohort's chunks in memory at most

    def pairing_event(self, envelope: Envelope) -> None:
        self._pairing_batch([envelope])

    def _pairing_batch(self, envelopes: list[Envelope]) -> None:
        """A run of pairing events (a run's proposals; one alone for `pairing_event`): the index's changes
        saved once per cohort (one write per touched chunk, not per event), then the pairing documents,
        still after the index. A crash before the documents are written applies the run again: every
        event finds its document old, sets the same entries, and the summaries already hold their
        counts (as after a crash between one event's writes)."""
        documents: dict[str, dict | None] = {}  # pairing id -> its document after the run's events so far
        changed: dict[str, dict] = {}  # the pairings the run changed, as they are after it
        indexed: list[tuple[dict, Envelope]] = []
        for envelope in envelopes:
            pairing_id = envelope.data["pairing_id"]
            if pairing_id not in documents:
                documents[pairing_id] = self.views.pairings.get(pairing_id)
            before = documents[pairing_id]
            after = self._pairing_changed(envelope, before)
            if after is None:
                continue
            if before is None or pairing_index.entry_of(before) != pairing_index.entry_of(after):
                indexed.append((after, envelope))
            documents[pairing_id] = changed[pairing_id] = after
        self._index_pairings(indexed)
        for doc in changed.values():
            self.views.pairings.put(doc)

    def _pairing_changed(self, envelope: Envelope, before: dict | None) -> dict | None:
        """The pairing document after `envelope` (None: `before` already reflects it), with every view
        written before the pairing document (summary, openings, parties' lists, never again, circle)
        written; the caller indexes it and writes it."""
        if self._stale(before, envelope):
            return None
        data = envelope.data
        state = pairing_state(before) if before is not None else PairingState()
        state.apply(envelope.event_type, data)
        if envelope.event_type == ev.PAIRING_PROPOSED:
            state.proposed_at = envelope.occurred_at
        after = pairing_document(state, version=envelope.aggregate_version, updated_at=envelope.occurred_at)
        self._keep_message(envelope, before, after)
        old, new = pairing_counts(before), pairing_counts(after)
        openings = self._openings(envelope, after, was_open=(before or {}).get("status") in MATCHED,
                                  is_open=after["status"] in MATCHED)
        if openings is not None:
            opened_before, opened_after, enrolment = openings
            old["matched_mentees"] = enrolment_counts(enrolment, has_open_pairing=opened_before).get("matched_mentees", 0)
            new["matched_mentees"] = enrolment_counts(enrolment, has_open_pairing=opened_after).get("matched_mentees", 0)
        self._count(envelope, after["cohort_id"], old, new)
        if openings is not None:
            self._write_openings(envelope, after)
        if before is None:
            self._list_for_parties(after)
        if after["status"] == "declined" or (after["status"] == "ended" and after.get("end_reason") == "not_a_fit"):
            self._never_again(after)
        if after.get("circle_id") and (before or {}).get("status") != after["status"]:
            self._circle_member(envelope, after)
        return after

    def _index_pairings(self, entries: list[tuple[dict, Envelope]]) -> None:
        """The pairings' entries in their cohorts' pairing indexes, in event order, one save per cohort,
        written before the pairings (a crash in between applies the events again and sets the same
        entries). A cohort's chunks stay in memory for the next save while no one else changed the
        index (a run's proposals, one batch after another)."""
        by_cohort: dict[str, list[tuple[dict, Envelope]]] = {}
        for pairing, envelope in entries:
            by_cohort.setdefault(pairing["cohort_id"], []).append((pairing, envelope))
        for cohort_id, items in by_cohort.items():
            writing = self.views.pairing_index.writing(cohort_id, after=self._pairing_index_writes.pop(cohort_id, None))
            for pairing, envelope in items:
                writing.put(pairing_index.entry_of(pairing), order_of(envelope))
            writing.save()
            self._pairing_index_writes = {cohort_id: writing}

    def _circle_member(self, envelope: Envelope, pairing: dict) -> None:
        """The pairing's entry (mentee, status) in its circle's document. Written before the pairing
        (a crash in between applies the event again: the circle already holds it, by its order)."""
        circle_id = pairing["circle_id"]
        doc = self.views.circles.get(circle_id) or {"_id": circle_id, "circle_id": circle_id,
                                                    "cohort_id": pairing["cohort_id"],
                                                    "mentor_id": pairing["mentor_id"], "members": [], "version": 0}
        members = {m["pairing_id"]: m for m in doc["members"]}
        members[pairing["_id"]] = {"pairing_id": pairing["_id"], "mentee_id": pairing["mentee_id"],
                                   "status": pairing["status"]}
        doc["members"] = sorted(members.values(), key=lambda m: (m["mentee_id"], m["pairing_id"]))
        self.views.circles.put_newer({**doc, "version": order_of(envelope)})

    def _keep_message(self, envelope: Envelope, before: dict | None, after: dict) -> None:
        """A mentee's request carries their message in its commit's private part (domain/choice.py):
        the pairing's document keeps it for the pair to read, unless the mentee was erased."""
        message = (before or {}).get("message")
        if envelope.event_type == ev.PAIRING_PROPOSED:
            message = (private_of(envelope) or {}).get("message")
        if message and not self.erased.is_erased(after["mentee_id"]):
            after["message"] = message

    # -- cohort summaries (module docstring: written before the document that was the event's) ----
    def _openings(self, envelope: Envelope, pairing: dict, *, was_open: bool,
                  is_open: bool) -> tuple[bool, bool, dict | None] | None:
        """(mentee had an open pairing, has one after, their enrolment) when the pairing opens or closes."""
        if was_open == is_open:
            return None
        key = self.views.enrollment_key(pairing["cohort_id"], pairing["mentee_id"])
        ids = set((self.views.mentee_openings.get(key) or {}).get("pairings") or ())
        after = ids | {pairing["_id"]} if is_open else ids - {pairing["_id"]}
        return bool(ids), bool(after), self.views.enrollments.get(key)

    def _write_openings(self, envelope: Envelope, pairing: dict) -> None:
        key = self.views.enrollment_key(pairing["cohort_id"], pairing["mentee_id"])
        stored = self.views.mentee_openings.get(key)
        doc = stored or {"_id": key, "cohort_id": pairing["cohort_id"], "mentee_id": pairing["mentee_id"],
                         "pairings": []}
        ids = set(doc["pairings"])
        ids = ids | {pairing["_id"]} if pairing["status"] in MATCHED else ids - {pairing["_id"]}
        # a run's proposals open most mentees' first: an insert, not a replace missing (measured: 129 ms at
        # 1,000 openings on FerretDB v1, growing with the collection; 1 ms as an insert)
        self.views.mentee_openings.put_newer({**doc, "pairings": sorted(ids), "version": order_of(envelope)},
                                             likely_new=stored is None)

    def _list_for_parties(self, pairing: dict) -> None:
        """A new pairing in its mentor's and its mentee's lists (its parties never change). Written
        before the pairing: after a crash between the two the event is applied again and finds its
        `_id` already listed."""
        for party in (pairing["mentor_id"], pairing["mentee_id"]):
            doc = self.views.party_pairings.get(party) or {"_id": party, "employee_id": party, "pairings": []}
            if pairing["_id"] not in doc["pairings"]:
                self.views.party_pairings.put({**doc, "pairings": sorted([*doc["pairings"], pairing["_id"]])})

    def _never_again(self, pairing: dict) -> None:
        """Written before the pairing (a crash in between applies the event again: a set, so once)."""
        doc = self.views.never_again.get(pairing["mentee_id"]) or {"_id": pairing["mentee_id"], "mentors": []}
        if pairing["mentor_id"] not in doc["mentors"]:
            self.views.never_again.put({**doc, "mentors": sorted([*doc["mentors"], pairing["mentor_id"]])})

    def _summary(self, cohort_id: str) -> dict:
        """The cohort's summary as stored, or the one before anything was counted."""
        return self.views.summaries.get(cohort_id) or {"_id": cohort_id, "cohort_id": cohort_id, "version": 0,
                                                        **dict.fromkeys(SUMMARY_COUNTS, 0)}

    def _count(self, envelope: Envelope, cohort_id: str, old: dict[str, int], new: dict[str, int]) -> None:
        """Add `new - old` to the cohort's summary, unless the summary already holds this event."""
        change = {name: new.get(name, 0) - old.get(name, 0) for name in SUMMARY_COUNTS}
        if not any(change.values()):
            return
        order = order_of(envelope)
        summary = self._summary(cohort_id)
        if summary["version"] >= order:
            return  # applied before a crash (or by a replay): counted once already
        summary.update({name: summary.get(name, 0) + change[name] for name in SUMMARY_COUNTS}, version=order)
        self.views.summaries.put_newer(summary)

    def run_event(self, envelope: Envelope) -> None:
        data = envelope.data
        doc = self.views.runs.get(data["run_id"])
        if self._stale(doc, envelope):
            return
        doc = doc or {"_id": data["run_id"], "run_id": data["run_id"], "cohort_id": data["cohort_id"]}
        if envelope.event_type == ev.MATCHING_RUN_REQUESTED:
            doc.update(mode=data["mode"], dry_run=data["dry_run"], requested_by=data["requested_by"],
                       requested_at=envelope.occurred_at)
        elif envelope.event_type == ev.MATCHING_RUN_COMPLETED:
            doc.update(completed=True, completed_at=envelope.occurred_at,
                       **{name: data[name] for name in ("mode", "dry_run", "input_hash", "matched", "unmatched",
                                                        "total_score", "chunks", "answer_by")})
            if not data["dry_run"]:
                self._add_run_to_cohort(data["cohort_id"], data["run_id"])
        elif envelope.event_type == ev.MATCHING_RUN_PROPOSALS_CREATED:
            doc.update(proposals_created=True, proposed=data["proposed"])
        elif envelope.event_type == ev.MATCHING_RUN_FAILED:
            doc.update(failed=True, failure_reason=data["reason"], failure_detail=data.get("detail"))
        doc["status"] = run_status(doc)
        doc["version"] = envelope.aggregate_version
        self.views.runs.put(doc)

    def _add_run_to_cohort(self, cohort_id: str, run_id: str) -> None:
        cohort = self.views.cohorts.get(cohort_id)
        if cohort is not None and run_id not in cohort.get("runs", []):
            cohort["runs"] = [*cohort.get("runs", []), run_id]
            self.views.cohorts.put(cohort)

    def run_chunk(self, envelope: Envelope) -> None:
        data = envelope.data
        self.views.run_chunks.put({"_id": self.views.chunk_key(data["run_id"], data["chunk"]),
                                   "run_id": data["run_id"], "chunk": data["chunk"],
                                   "proposals": data["proposals"], "unmatched": data["unmatched"]})
