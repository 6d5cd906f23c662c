"""Command handlers and time-based processes of the feedback service.

Each command loads its aggregate's stream, lets the domain decide, and appends the events with
the loaded version (a race loses with ConcurrencyError, answered as 409). "Once per X" is one
stream per X with a derived id, so the event store itself enforces it. The relay publishes.
"""
from __future__ import annotations

import uuid
from datetime import date, datetime

from shared.aggregate import AggregateStore, Causation, NewEvent
from shared.clock import parse_rfc3339, rfc3339
from shared.eventstore import ConcurrencyError, EventStore
from shared.events.registry import EventRegistry
from services.feedback.adapters.mongo import PrivateNotes, ReadModels
from services.feedback.domain import insight
from services.feedback.domain.rules import (
    DEFAULT_FIRST_REVIEW_DAYS, DEFAULT_REVIEW_EVERY_DAYS, GiveFeedback, Rejected, decide_feedback, decide_kudos,
    decide_review_answer, decide_survey_answer, latest_review_due, meeting_feedback_id, review_id_for, survey_due,
    survey_id_for, visible_to_subject,
)

PRODUCER = "feedback"


def _job_causation(name: str) -> Causation:
    return Causation(correlation_id=f"{name}:{uuid.uuid4()}", causation_id=None)


class FeedbackService:
    def __init__(self, store: EventStore, registry: EventRegistry, models: ReadModels, notes: PrivateNotes, clock):
        self.models = models
        self.notes = notes
        self.clock = clock
        self.feedback = AggregateStore(store, registry, producer=PRODUCER, aggregate_type="feedback")
        self.reviews = AggregateStore(store, registry, producer=PRODUCER, aggregate_type="review")
        self.surveys = AggregateStore(store, registry, producer=PRODUCER, aggregate_type="survey")
        self.kudos = AggregateStore(store, registry, producer=PRODUCER, aggregate_type="kudos")

    # -- feedback ----------------------------------------------------------------------------

    def give_feedback(self, command: GiveFeedback, causation: Causation) -> str:
        pairing = self.models.pairing(command.pairing_id)
        if command.meeting_id is not None:
            meeting = self.models.meeting(command.meeting_id)
            feedback_id = meeting_feedback_id(command.meeting_id, command.from_id)
            expected = self.feedback.load(feedback_id).version
            held = 1
        else:
            meeting = None
            feedback_id = str(uuid.uuid4())
            expected = 0
            held = len(self.models.held_meetings_of_pairing(command.pairing_id))
        event = decide_feedback(command, feedback_id=feedback_id, pairing=pairing, meeting=meeting,
                                held_meetings=held, already_given=expected > 0)
        try:
            self.feedback.append(feedback_id, expected, [event], causation)
        except ConcurrencyError:
            raise Rejected("conflict", "you already rated this meeting") from None
        comment = (command.comment or "").strip()
        if comment:
            self.notes.keep_comment(feedback_id, command.from_id, comment, event.data["comment_shared"])
        return feedback_id

    def feedback_about(self, employee_id: str) -> list[dict]:
        items = sorted(self.models.feedback_about(employee_id), key=lambda f: f.get("given_at") or "")
        return [visible_to_subject(item) for item in items]

    def personal_summary(self, employee_id: str) -> dict:
        return insight.personal_summary(self.models.feedback_about(employee_id))

    # -- progress reviews --------------------------------------------------------------------

    def request_due_reviews(self, now: datetime | None = None) -> int:
        """Ask both parties of every active pairing for the review due on the cohort's rhythm.

        Runs as a periodic job; safe to run at any time and any number of times (each review is
        its own stream with an id derived from pairing, person and due date).
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
            if due is None or pairing.get("last_review_due_on") == due.isoformat():
                continue
            for employee_id in (pairing["mentor_id"], pairing["mentee_id"]):
                review_id = review_id_for(pairing["pairing_id"], employee_id, due)
                requested += self._request_once(self.reviews, review_id, NewEvent("ReviewRequested", {
                    "review_id": review_id, "pairing_id": pairing["pairing_id"], "cohort_id": pairing["cohort_id"],
                    "employee_id": employee_id, "due_on": due.isoformat(),
                }), causation)
            self.models.put(self.models.pairings, pairing["pairing_id"], {"last_review_due_on": due.isoformat()})
        return requested

    def submit_review(self, review_id: str, employee_id: str, goal_progress: int, satisfaction: int,
                      causation: Causation) -> None:
        loaded = self.reviews.load(review_id)
        requested = next((e.data for e in loaded.events if e.event_type == "ReviewRequested"), None)
        submitted = any(e.event_type == "ReviewSubmitted" for e in loaded.events)
        event = decide_review_answer(requested, submitted, employee_id, goal_progress, satisfaction)
        try:
            self.reviews.append(review_id, loaded.version, [event], causation)
        except ConcurrencyError:
            raise Rejected("conflict", "you already answered this review") from None

    # -- end-of-cohort survey ----------------------------------------------------------------

    def request_due_surveys(self, now: datetime | None = None) -> int:
        """Send the NPS survey of every cohort that closed or whose end date passed (periodic job)."""
        today = (now or self.clock.now()).date()
        requested = 0
        for cohort in self.models.all_cohorts():
            if cohort.get("surveys_requested") or not survey_due(cohort, today):
                continue
            requested += self.request_surveys(cohort["cohort_id"], _job_causation("survey-schedule"))
        return requested

    def on_cohort_closed(self, cohort_id: str, envelope) -> None:
        """The consumer's follow-up to CohortStatusChanged(closed)."""
        self.request_surveys(cohort_id, Causation.from_event(envelope))

    def request_surveys(self, cohort_id: str, causation: Causation) -> int:
        recipients = {m["employee_id"] for m in self.models.enrolled_members(cohort_id)}
        for pairing in self.models.pairings_of_cohort(cohort_id):
            if pairing.get("activated_at"):
                recipients.update((pairing["mentor_id"], pairing["mentee_id"]))
        requested = 0
        for employee_id in sorted(recipients):
            survey_id = survey_id_for(cohort_id, employee_id)
            requested += self._request_once(self.surveys, survey_id, NewEvent("SurveyRequested", {
                "survey_id": survey_id, "cohort_id": cohort_id, "employee_id": employee_id,
            }), causation)
        self.models.put(self.models.cohorts, cohort_id, {"surveys_requested": True})
        return requested

    def answer_survey(self, survey_id: str, employee_id: str, recommend_score: int, causation: Causation) -> None:
        loaded = self.surveys.load(survey_id)
        requested = next((e.data for e in loaded.events if e.event_type == "SurveyRequested"), None)
        answered = any(e.event_type == "SurveyAnswered" for e in loaded.events)
        event = decide_survey_answer(requested, answered, employee_id, recommend_score)
        try:
            self.surveys.append(survey_id, loaded.version, [event], causation)
        except ConcurrencyError:
            raise Rejected("conflict", "you already answered this survey") from None

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

    def send_kudos(self, pairing_id: str, from_id: str, note: str, causation: Causation) -> str:
        kudos_id = str(uuid.uuid4())
        event = decide_kudos(self.models.pairing(pairing_id), from_id, kudos_id, note)
        # The note first: if the append then fails, a retry sends a new kudos; the recipient
        # never sees an event pointing at a note that is not there.
        self.notes.keep_kudos({**event.data, "note": note.strip(), "sent_at": rfc3339(self.clock.now())})
        self.kudos.append(kudos_id, 0, [event], causation)
        return kudos_id

    def kudos_for(self, employee_id: str) -> list[dict]:
        return sorted(self.notes.kudos_to(employee_id), key=lambda k: k["sent_at"], reverse=True)

    # -- insight -----------------------------------------------------------------------------

    def cohort_summary(self, cohort_id: str) -> dict | None:
        cohort = self.models.cohort(cohort_id)
        pairings = self.models.pairings_of_cohort(cohort_id)
        feedback = self.models.feedback_of_cohort(cohort_id)
        if cohort is None and not pairings and not feedback:
            return None
        mentor_ids = {p["mentor_id"] for p in pairings}
        mentor_ids.update(m["employee_id"] for m in self.models.enrolled_members(cohort_id) if m["role"] == "mentor")
        summary = insight.cohort_summary(
            held_meetings=self.models.held_meetings_of_cohort(cohort_id), feedback=feedback,
            reviews=self.models.reviews_of_cohort(cohort_id), surveys=self.models.surveys_of_cohort(cohort_id),
            mentor_ids=mentor_ids,
        )
        return {"cohort_id": cohort_id, **summary}

    def export_rows(self, cohort_id: str) -> list[dict]:
        return insight.pairing_rows(self.models.pairings_of_cohort(cohort_id),
                                    self.models.held_meetings_of_cohort(cohort_id),
                                    self.models.feedback_of_cohort(cohort_id))
