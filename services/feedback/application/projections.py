"""Read models of the feedback service. Each is a projection with a checkpoint, rebuildable, idempotent.

- `ProgrammeView` (Kafka: matching and sessions) learns who is paired with whom, in which cohort,
  since when, and which meetings were held (who may rate which meeting) or disputed since.
- `FeedbackView` (own event store) folds the service's own events into the lists the summary,
  export and personal routes read, and keeps each feedback's comment from its commit's private part.
- `KudosView` (own event store) keeps each kudos with its note (private part of the commit), and
  per manager the ids of the kudos shared with them (`fb_kudos_shared`, issue 15).
- `people_projection` (Kafka: the HRIS) keeps each person's `manager_id` and `display_name` only:
  whom a mentee may share a thank-you with, and the names on the manager's list.

Idempotence: aggregate-keyed documents remember the aggregate version they applied and ignore
anything not newer; meeting and feedback documents are set to the same values on redelivery.
A cohort's rows (adapters/cohort_lists.py: what the summary, the export and the closing survey
read by `_id`) are set before the document they come from, when they change (`_apply_listed`).
Reactions (surveys when a cohort closes) are policies (application/policies.py).
"""
from __future__ import annotations

from shared import topics
from shared.consumer import Projection, record_of
from shared.directory import DirectoryProjection
from shared.erasure import ErasedPeople
from shared.events.catalog.feedback import (
    FEEDBACK_GIVEN, KUDOS_SENT, REVIEW_REQUESTED, REVIEW_SUBMITTED, SURVEY_ANSWERED, SURVEY_REQUESTED,
)
from shared.events.catalog.matching import (
    COHORT_CREATED, COHORT_REVISED, COHORT_STATUS_CHANGED, ENROLLMENT_WITHDRAWN, PAIRING_ACTIVATED, PAIRING_COMPLETED,
    PAIRING_ENDED, PAIRING_STATUS_BY_EVENT, PARTICIPANT_ENROLLED, STAY_IN_TOUCH_CHOSEN,
)
from shared.events.catalog.sessions import MEETING_DISPUTED, MEETING_HELD
from shared.events.envelope import Envelope
from shared.projector import order_of, private_of
from services.feedback.adapters.cohort_lists import CohortList
from services.feedback.adapters.mongo import KUDOS, OWN, PEOPLE, PROGRAMME, ReadModels, apply_versioned, put

# Feedback needs no profile: only who manages a mentor, and the names a manager reads the shared
# thank-yous under (matching shows a line manager no card of their report's mentee).
PEOPLE_FIELDS = ("manager_id", "display_name")


def _apply_listed(collection, lists: tuple[CohortList, ...], doc_id: str, fields: dict, order: int, *,
                  version: int | None = None, partition: int | None = None) -> None:
    """Set `fields` on the document (`apply_versioned` when the event has an aggregate `version`, else
    `put`), its rows in its cohort's and person's lists first: a crash in between finds the document
    old, so the event is applied again and sets the same rows. `order` versions the lists' documents
    (a store order, or the record's offset in `partition`)."""
    before = collection.find_one({"_id": doc_id})
    if version is not None and before is not None and int(before.get("version", 0)) >= version:
        return  # already applied: the rows were set before the document
    after = {**(before or {}), **fields}
    for rows in lists:
        rows.index(before, after, order, partition=partition)
    if version is None:
        put(collection, doc_id, fields)
    else:
        apply_versioned(collection, doc_id, version, fields)


def _consumed(collection, rows: CohortList, envelope: Envelope, doc_id: str, fields: dict, *,
              versioned: bool = True) -> None:
    """`_apply_listed` for an event read from Kafka: the list of its partition, versioned by its offset."""
    record = record_of(envelope)
    _apply_listed(collection, (rows,), doc_id, fields, record.offset, partition=record.partition,
                  version=envelope.aggregate_version if versioned else None)


def people_projection(database) -> DirectoryProjection:
    return DirectoryProjection(database, name="feedback-people", fields=PEOPLE_FIELDS, collection=PEOPLE)


class ProgrammeView(Projection):
    name = "feedback-programme"
    topics = (topics.MATCHING, topics.SESSIONS)
    collections = PROGRAMME
    # 2: a pairing also holds `completed_at`, `staying_in_touch` and `parted_at` (its private words'
    # retention clock, shared/retention.py)
    version = 2

    def __init__(self, database):
        self.bind(database)

    def bind(self, database) -> None:
        self.models = ReadModels(database)

    def handlers(self):
        handlers = {
            COHORT_CREATED: self.cohort_created,
            COHORT_REVISED: self.cohort_revised,
            COHORT_STATUS_CHANGED: self.cohort_status_changed,
            PARTICIPANT_ENROLLED: self.enrolled,
            ENROLLMENT_WITHDRAWN: self.withdrawn,
            MEETING_HELD: self.meeting_held,
            MEETING_DISPUTED: self.meeting_disputed,
        }
        for event_type in PAIRING_STATUS_BY_EVENT:
            handlers[event_type] = self.pairing_event
        return handlers

    def reset(self) -> None:
        self.models.drop(PROGRAMME)

    def cohort_created(self, envelope: Envelope) -> None:
        data = envelope.data
        apply_versioned(self.models.cohorts, data["cohort_id"], envelope.aggregate_version, {
            "cohort_id": data["cohort_id"], "program_id": data["program_id"], "status": data["status"],
            "starts_on": data["starts_on"], "ends_on": data["ends_on"], "rules": data.get("rules") or {},
        })

    def cohort_revised(self, envelope: Envelope) -> None:
        # new dates move the review rhythm and the closing survey; only what changed is in the event
        data = envelope.data
        revised = {name: data.get(name) or ({} if name == "rules" else None)
                   for name in ("starts_on", "ends_on", "rules") if name in data["changed"]}
        if revised:
            apply_versioned(self.models.cohorts, data["cohort_id"], envelope.aggregate_version, revised)

    def cohort_status_changed(self, envelope: Envelope) -> None:
        data = envelope.data
        apply_versioned(self.models.cohorts, data["cohort_id"], envelope.aggregate_version, {
            "cohort_id": data["cohort_id"], "program_id": data["program_id"], "status": data["status"],
        })

    def _member(self, envelope: Envelope, enrolled: bool) -> None:
        data = envelope.data
        _consumed(self.models.members, self.models.lists.members, envelope, f"{data['cohort_id']}|{data['employee_id']}", {
            "cohort_id": data["cohort_id"], "employee_id": data["employee_id"], "role": data["role"],
            "enrolled": enrolled})

    def enrolled(self, envelope: Envelope) -> None:
        self._member(envelope, True)

    def withdrawn(self, envelope: Envelope) -> None:
        self._member(envelope, False)

    def pairing_event(self, envelope: Envelope) -> None:
        data = envelope.data
        fields = {"pairing_id": data["pairing_id"], "cohort_id": data["cohort_id"],
                  "mentor_id": data["mentor_id"], "mentee_id": data["mentee_id"]}
        status = PAIRING_STATUS_BY_EVENT[envelope.event_type]
        if status:  # an acceptance leaves the status as it was (proposed until activated)
            fields["status"] = status
        if envelope.event_type == PAIRING_ACTIVATED:
            fields["activated_at"] = data["activated_at"]
        if envelope.event_type == PAIRING_ENDED:
            fields["ended_reason"] = data.get("reason")
            fields["ended_at"] = envelope.occurred_at  # retention counts from here (application/retention.py)
        if envelope.event_type == PAIRING_COMPLETED:
            fields["completed_at"] = envelope.occurred_at  # ... or from here, unless the pair stays in touch
        if envelope.event_type == STAY_IN_TOUCH_CHOSEN:
            fields["staying_in_touch"] = data["staying_in_touch"]
            if not data["stay_in_touch"]:
                fields["parted_at"] = envelope.occurred_at  # ... then from the "no"
        _consumed(self.models.pairings, self.models.lists.pairings, envelope, data["pairing_id"], fields)

    def meeting_held(self, envelope: Envelope) -> None:
        data = envelope.data
        _consumed(self.models.meetings, self.models.lists.meetings, envelope, data["meeting_id"], {
            "meeting_id": data["meeting_id"], "pairing_id": data["pairing_id"], "cohort_id": data["cohort_id"],
            "mentor_id": data["mentor_id"], "mentee_id": data["mentee_id"], "held_at": data["held_at"],
            "duration_minutes": data["duration_minutes"], "attendees": list(data.get("attendees") or []),
        }, versioned=False)

    def meeting_disputed(self, envelope: Envelope) -> None:
        """A party contests the held record: the cohort's held-meeting counts leave it out (as the
        sessions service's engagement does); who may rate the meeting does not change."""
        data = envelope.data
        _consumed(self.models.meetings, self.models.lists.meetings, envelope, data["meeting_id"],
                  {"disputed_by": data["disputed_by"], "disputed_status": data["disputed_status"]}, versioned=False)


class FeedbackView(Projection):
    name = "feedback-own"
    topics = ()  # own stream: fed from the event store (shared.projector), not from Kafka
    collections = OWN
    version = 2  # 2: a submitted review also holds its progress per goal (`goals`)

    def __init__(self, database):
        self.bind(database)

    def bind(self, database) -> None:
        self.models = ReadModels(database)
        self.erased = ErasedPeople(database)  # words by or about an erased person stay out (application/erasure.py)

    def handlers(self):
        return {
            FEEDBACK_GIVEN: self.feedback_given,
            REVIEW_REQUESTED: self.review_requested,
            REVIEW_SUBMITTED: self.review_submitted,
            SURVEY_REQUESTED: self.survey_requested,
            SURVEY_ANSWERED: self.survey_answered,
        }

    def reset(self) -> None:
        self.models.drop(OWN)

    def feedback_given(self, envelope: Envelope) -> None:
        data = dict(envelope.data)
        data["given_at"] = envelope.occurred_at
        erased = bool(self.erased.erased_among((data["from_id"], data["about_id"])))
        if erased:
            data["comment"] = None
        lists = self.models.lists
        _apply_listed(self.models.feedback, (lists.feedback, lists.feedback_about), data["feedback_id"], data,
                      order_of(envelope))
        private = None if erased else private_of(envelope)
        if private and private.get("comment"):
            put(self.models.comments, data["feedback_id"], {
                "feedback_id": data["feedback_id"], "from_id": data["from_id"], "comment": private["comment"],
                "shared": bool(data.get("comment_shared"))})

    def review_requested(self, envelope: Envelope) -> None:
        data = envelope.data
        self._review(envelope, {**data, "requested_at": envelope.occurred_at, "submitted": False})

    def _review(self, envelope: Envelope, fields: dict) -> None:
        lists = self.models.lists
        _apply_listed(self.models.reviews, (lists.reviews, lists.reviews_of), envelope.data["review_id"], fields,
                      order_of(envelope), version=envelope.aggregate_version)

    def _survey(self, envelope: Envelope, fields: dict) -> None:
        lists = self.models.lists
        _apply_listed(self.models.surveys, (lists.surveys, lists.surveys_of), envelope.data["survey_id"], fields,
                      order_of(envelope), version=envelope.aggregate_version)

    @staticmethod
    def _answer(envelope: Envelope, scores: tuple[str, ...]) -> dict:
        """The event's fields with its scores: v2 keeps them in the commit's private part, v1 in the
        event. `employee_id` stays the request's (v2 names the respondent by pseudonym)."""
        private = private_of(envelope) or {}
        fields = {k: v for k, v in envelope.data.items() if k not in scores and k != "employee_id"}
        return {**fields, **{name: private.get(name, envelope.data.get(name)) for name in scores}}

    def review_submitted(self, envelope: Envelope) -> None:
        self._review(envelope, {**self._answer(envelope, ("goal_progress", "satisfaction", "goals")), "submitted": True,
                                "submitted_at": envelope.occurred_at})

    def survey_requested(self, envelope: Envelope) -> None:
        data = envelope.data
        self._survey(envelope, {**data, "requested_at": envelope.occurred_at, "answered": False})

    def survey_answered(self, envelope: Envelope) -> None:
        self._survey(envelope, {**self._answer(envelope, ("recommend_score",)), "answered": True,
                                "answered_at": envelope.occurred_at})


class KudosView(Projection):
    name = "feedback-kudos"
    topics = ()
    collections = KUDOS

    def __init__(self, database):
        self.bind(database)

    def bind(self, database) -> None:
        self.models = ReadModels(database)
        self.erased = ErasedPeople(database)

    def handlers(self):
        return {KUDOS_SENT: self.kudos_sent}

    def reset(self) -> None:
        self.models.drop(KUDOS)

    def kudos_sent(self, envelope: Envelope) -> None:
        data = envelope.data
        note = None if self.erased.erased_among((data["from_id"], data["to_id"])) else (private_of(envelope) or {}).get("note")
        manager_id = data.get("shared_with_id")
        if manager_id and not self.erased.is_erased(manager_id):
            self._index_shared(manager_id, data["kudos_id"])
        _apply_listed(self.models.kudos, (self.models.lists.kudos_to,), data["kudos_id"],
                      {**data, "note": note, "sent_at": envelope.occurred_at}, order_of(envelope))

    def _index_shared(self, manager_id: str, kudos_id: str) -> None:
        """Add the kudos to its manager's list (read-modify-replace: only this store projector
        writes it; a replay finds the id already there and changes nothing)."""
        index = self.models.kudos_shared.find_one({"_id": manager_id}) or {"_id": manager_id, "kudos_ids": []}
        if kudos_id not in index["kudos_ids"]:
            index["kudos_ids"] = [*index["kudos_ids"], kudos_id]
            self.models.kudos_shared.find_one_and_replace({"_id": manager_id}, index, upsert=True)
