"""Command handlers and time-based processes of the feedback service.

Each command loads its aggregate's stream, lets the domain decide, and appends the events with
the loaded version (a race loses with ConcurrencyError, answered as 409). "Once per X" is one
stream per X with a derived id, so the event store itself enforces it. The relay publishes.

Private words (a feedback's comment, a kudos' note) and the answers of reviews and surveys are
stored in the commit of their event (`private=`), atomically with it and never published: a crash
cannot keep one without the other. Review and survey events name the respondent by pseudonym.
A retried request is answered as the first one was: meeting feedback has one stream per meeting
and author, feedback on the pairing itself one per pairing, author and month (one rating per
person per pairing per period; another in the month is 409), and kudos derive their id from the
client's request id, so a retry finds its own commit and gets the same id back instead of a
refusal or a duplicate.

Handlers never write read models; a handler returns the commit's position for a request that
needs its write in a view (`StoreProjector.wait_for`).
"""
from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from typing import Protocol

from shared.aggregate import AggregateStore, Causation, NewEvent
from shared.clock import parse_rfc3339
from shared.errors import Conflict
from shared.eventstore import ConcurrencyError, LoadedStream
from shared.events.catalog.feedback import (
    FEEDBACK, FEEDBACK_GIVEN, KUDOS, REVIEW, REVIEW_REQUESTED, REVIEW_SUBMITTED, SURVEY, SURVEY_ANSWERED,
    SURVEY_REQUESTED,
)
from shared.events.registry import EventRegistry
from services.feedback.adapters.mongo import ReadModels
from services.feedback.domain.pseudonym import pseudonym
from services.feedback.domain.rules import (
    DEFAULT_FIRST_REVIEW_DAYS, DEFAULT_REVIEW_EVERY_DAYS, GiveFeedback, decide_feedback, decide_kudos,
    decide_review_answer, decide_survey_answer, derived_id, review_goals, latest_review_due, meeting_feedback_id,
    pairing_feedback_id, rating_period, review_id_for, survey_due, survey_id_for,
)

PRODUCER = "feedback"


class Clock(Protocol):
    def now(self) -> datetime: ...


@dataclass(frozen=True)
class Done:
    """A command's result: the id it created or touched, and the commit to wait for (0: nothing new)."""

    id: str
    position: int = 0


def _job_causation(name: str) -> Causation:
    return Causation(correlation_id=f"{name}:{uuid.uuid4()}", causation_id=None)


def _request_id(causation: Causation) -> str:
    """The request's own id (X-Request-ID; a retry repeats it), not the chain's correlation id."""
    return causation.causation_id or causation.correlation_id


def _first(stream: LoadedStream, event_type: str):
    return next((e for e in stream.events if e.event_type == event_type), None)


def _private(stream: LoadedStream, event) -> dict:
    return (getattr(stream, "private", None) or {}).get(event.event_id) or {}


class FeedbackCommands:
    def __init__(self, store, registry: EventRegistry, models: ReadModels, clock: Clock, *, pseudonym_key: str = ""):
        self.models = models
        self.clock = clock
        self.pseudonym_key = pseudonym_key
        self.feedback = AggregateStore(store, registry, producer=PRODUCER, aggregate_type=FEEDBACK)
        self.reviews = AggregateStore(store, registry, producer=PRODUCER, aggregate_type=REVIEW)
        self.surveys = AggregateStore(store, registry, producer=PRODUCER, aggregate_type=SURVEY)
        self.kudos = AggregateStore(store, registry, producer=PRODUCER, aggregate_type=KUDOS)

    # -- feedback ----------------------------------------------------------------------------

    def give_feedback(self, command: GiveFeedback, causation: Causation) -> Done:
        pairing = self.models.pairing(command.pairing_id)
        if command.meeting_id is not None:
            meeting = self.models.meeting(command.meeting_id)
            feedback_id = meeting_feedback_id(command.meeting_id, command.from_id)
            held = 1
        else:
            meeting = None
            feedback_id = pairing_feedback_id(command.pairing_id, command.from_id, rating_period(self.clock.now()))
            held = len(self.models.held_meetings_of_pairing(command.pairing_id, pairing["cohort_id"])) if pairing else 0
        comment = (command.comment or "").strip() or None
        stream = self.feedback.load(feedback_id)
        if stream.version and self._same_feedback(stream, command, comment):
            return Done(feedback_id)  # a retry of a request that was stored: the same answer
        event = decide_feedback(command, feedback_id=feedback_id, pairing=pairing, meeting=meeting,
                                held_meetings=held, already_given=stream.version > 0)
        private = {0: {"comment": comment, "from_id": command.from_id}} if comment else None
        try:
            appended = self.feedback.append(feedback_id, stream.version, [event], causation, private=private)
        except ConcurrencyError:
            raise Conflict("already_rated", "you already gave this rating") from None
        return Done(feedback_id, appended.position)

    @staticmethod
    def _same_feedback(stream: LoadedStream, command: GiveFeedback, comment: str | None) -> bool:
        given = _first(stream, FEEDBACK_GIVEN)
        if given is None:
            return False
        data = given.data
        return (data["from_id"] == command.from_id and data["rating"] == command.rating
                and data.get("good_fit") == command.good_fit and _private(stream, given).get("comment") == comment
                and bool(data.get("comment_shared")) == bool(command.share_comment and comment))

    # -- progress reviews --------------------------------------------------------------------

    def request_due_reviews(self, now: datetime | None = None) -> int:
        """Ask both parties of every active pairing for the review due on the cohort's rhythm.

        Runs as a periodic job; safe to run at any time and any number of times (each review is
        its own stream with an id derived from pairing, person and due date; the reviews view
        only saves loading streams that certainly exist).
        """
        today = (now or self.clock.now()).date()
        causation = _job_causation("review-schedule")
        requested = 0
        for pairing in self.models.active_pairings():
            if not pairing.get("activated_at"):
                continue
            cohort = self.models.cohort(pairing["cohort_id"]) or {}
            rules = cohort.get("rules") or {}
            due = latest_review_due(
                parse_rfc3339(pairing["activated_at"]).date(), today,
                first_after_days=int(rules.get("first_review_after_days") or DEFAULT_FIRST_REVIEW_DAYS),
                every_days=int(rules.get("review_every_days") or DEFAULT_REVIEW_EVERY_DAYS),
                ends_on=date.fromisoformat(cohort["ends_on"]) if cohort.get("ends_on") else None,
            )
            if due is None:
                continue
            for employee_id in (pairing["mentor_id"], pairing["mentee_id"]):
                review_id = review_id_for(pairing["pairing_id"], employee_id, due)
                if self.models.review(review_id) is not None:
                    continue
                requested += self._request_once(self.reviews, review_id, NewEvent(REVIEW_REQUESTED, {
                    "review_id": review_id, "pairing_id": pairing["pairing_id"], "cohort_id": pairing["cohort_id"],
                    "employee_id": employee_id, "due_on": due.isoformat(),
                }), causation)
        return requested

    def _answer(self, stream: LoadedStream, event_type: str) -> dict | None:
        """The stored answer's data with its scores (v2: the commit's private part; v1: the event)."""
        event = _first(stream, event_type)
        if event is None:
            return None
        return {**{k: v for k, v in event.data.items() if v is not None}, **_private(stream, event)}

    def submit_review(self, review_id: str, employee_id: str, goal_progress: int, satisfaction: int,
                      causation: Causation, *, goals: list[dict] | None = None) -> Done:
        loaded = self.reviews.load(review_id)
        requested = _first(loaded, REVIEW_REQUESTED)
        submitted = self._answer(loaded, REVIEW_SUBMITTED)
        if submitted is not None and requested is not None and requested.data["employee_id"] == employee_id and (
                submitted.get("goal_progress"), submitted.get("satisfaction"), submitted.get("goals")
        ) == (goal_progress, satisfaction, goals):
            return Done(review_id)  # a retry of a stored answer
        event = decide_review_answer(requested.data if requested else None, submitted is not None, employee_id,
                                     goal_progress, satisfaction, respondent=pseudonym(self.pseudonym_key, employee_id))
        goals = review_goals(goals)
        private = {0: {"goal_progress": goal_progress, "satisfaction": satisfaction,
                       **({"goals": goals} if goals is not None else {})}}
        try:
            appended = self.reviews.append(review_id, loaded.version, [event], causation, private=private)
        except ConcurrencyError:
            raise Conflict("already_answered", "you already answered this review") from None
        return Done(review_id, appended.position)

    # -- end-of-cohort survey ----------------------------------------------------------------

    def request_due_surveys(self, now: datetime | None = None) -> int:
        """Send the NPS survey of every cohort that closed or whose end date passed (periodic job)."""
        today = (now or self.clock.now()).date()
        requested = 0
        for cohort in self.models.all_cohorts():
            if survey_due(cohort, today):
                requested += self.request_surveys(cohort["cohort_id"], _job_causation("survey-schedule"))
        return requested

    def request_surveys(self, cohort_id: str, causation: Causation) -> int:
        recipients = {m["employee_id"] for m in self.models.enrolled_members(cohort_id)}
        for pairing in self.models.pairings_of_cohort(cohort_id):
            if pairing.get("activated_at"):
                recipients.update((pairing["mentor_id"], pairing["mentee_id"]))
        requested = 0
        for employee_id in sorted(recipients):
            survey_id = survey_id_for(cohort_id, employee_id)
            if self.models.survey(survey_id) is not None:
                continue
            requested += self._request_once(self.surveys, survey_id, NewEvent(SURVEY_REQUESTED, {
                "survey_id": survey_id, "cohort_id": cohort_id, "employee_id": employee_id,
            }), causation)
        return requested

    def answer_survey(self, survey_id: str, employee_id: str, recommend_score: int, causation: Causation) -> Done:
        loaded = self.surveys.load(survey_id)
        requested = _first(loaded, SURVEY_REQUESTED)
        answered = self._answer(loaded, SURVEY_ANSWERED)
        if answered is not None and requested is not None and requested.data["employee_id"] == employee_id \
                and answered.get("recommend_score") == recommend_score:
            return Done(survey_id)  # a retry of a stored answer
        event = decide_survey_answer(requested.data if requested else None, answered is not None, employee_id,
                                     recommend_score, respondent=pseudonym(self.pseudonym_key, employee_id))
        try:
            appended = self.surveys.append(survey_id, loaded.version, [event], causation,
                                           private={0: {"recommend_score": recommend_score}})
        except ConcurrencyError:
            raise Conflict("already_answered", "you already answered this survey") from None
        return Done(survey_id, appended.position)

    @staticmethod
    def _request_once(aggregates: AggregateStore, stream_id: str, event: NewEvent, causation: Causation) -> int:
        if aggregates.load(stream_id).version > 0:
            return 0
        try:
            aggregates.append(stream_id, 0, [event], causation)
        except ConcurrencyError:
            return 0  # another replica asked at the same moment
        return 1

    # -- kudos -------------------------------------------------------------------------------

    def send_kudos(self, pairing_id: str, from_id: str, note: str, causation: Causation, *,
                   share_with_manager: bool = False) -> Done:
        kudos_id = derived_id("kudos", pairing_id, from_id, _request_id(causation))
        stream = self.kudos.load(kudos_id)
        if stream.version:
            return Done(kudos_id)  # a retry of a stored request
        pairing = self.models.pairing(pairing_id)
        manager_id = self.models.manager_of(pairing["mentor_id"]) if pairing and share_with_manager else None
        event = decide_kudos(pairing, from_id, kudos_id, note, share_with_manager=share_with_manager,
                             mentor_manager_id=manager_id)
        try:
            appended = self.kudos.append(kudos_id, 0, [event], causation, private={0: {"note": note.strip()}})
        except ConcurrencyError:
            return Done(kudos_id)  # the same request, stored by its twin a moment ago
        return Done(kudos_id, appended.position)
