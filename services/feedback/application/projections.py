"""Read models of the feedback service.

`ProgrammeView` learns from matching and sessions who is paired with whom, in which cohort,
since when, and which meetings were held (who may rate which meeting). `FeedbackView` folds the
service's own events into the lists the summary, export and personal routes read.

Idempotence: aggregate-keyed documents remember the aggregate version they applied and ignore
anything not newer; meeting and feedback documents are set to the same values on redelivery.
"""
from __future__ import annotations

from typing import Callable

from shared import topics
from shared.consumer import Projection
from shared.events.envelope import Envelope
from services.feedback.adapters.mongo import ReadModels

PAIRING_STATUS = {
    "PairingProposed": "proposed",
    "PairingAccepted": "proposed",
    "PairingDeclined": "declined",
    "PairingActivated": "active",
    "PairingExpired": "expired",
    "PairingEnded": "ended",
}


class ProgrammeView(Projection):
    name = "feedback-programme"
    topics = (topics.MATCHING, topics.SESSIONS)

    def __init__(self, models: ReadModels, on_cohort_closed: Callable[[str, Envelope], None] | None = None):
        self.models = models
        # Called when a cohort's close is applied (and again on a redelivery: it must be idempotent).
        self.on_cohort_closed = on_cohort_closed

    def handlers(self):
        handlers = {
            "CohortCreated": self.cohort_created,
            "CohortStatusChanged": self.cohort_status_changed,
            "ParticipantEnrolled": self.enrolled,
            "EnrollmentWithdrawn": self.withdrawn,
            "MeetingHeld": self.meeting_held,
        }
        for event_type in PAIRING_STATUS:
            handlers[event_type] = self.pairing_event
        return handlers

    def reset(self) -> None:
        for collection in (self.models.cohorts, self.models.members, self.models.pairings, self.models.meetings):
            collection.drop()

    def cohort_created(self, envelope: Envelope) -> None:
        data = envelope.data
        self.models.apply_versioned(self.models.cohorts, data["cohort_id"], envelope.aggregate_version, {
            "cohort_id": data["cohort_id"], "program_id": data["program_id"], "status": data["status"],
            "starts_on": data["starts_on"], "ends_on": data["ends_on"], "rules": data.get("rules") or {},
        })

    def cohort_status_changed(self, envelope: Envelope) -> None:
        data = envelope.data
        self.models.apply_versioned(self.models.cohorts, data["cohort_id"], envelope.aggregate_version, {
            "cohort_id": data["cohort_id"], "program_id": data["program_id"], "status": data["status"],
        })
        if data["status"] == "closed" and self.on_cohort_closed is not None:
            # Also on a redelivery: the first delivery may have crashed before the follow-up ran.
            self.on_cohort_closed(data["cohort_id"], envelope)

    def _member(self, envelope: Envelope, enrolled: bool) -> None:
        data = envelope.data
        self.models.apply_versioned(self.models.members, f"{data['cohort_id']}|{data['employee_id']}",
                                    envelope.aggregate_version, {
                                        "cohort_id": data["cohort_id"], "employee_id": data["employee_id"],
                                        "role": data["role"], "enrolled": enrolled})

    def enrolled(self, envelope: Envelope) -> None:
        self._member(envelope, True)

    def withdrawn(self, envelope: Envelope) -> None:
        self._member(envelope, False)

    def pairing_event(self, envelope: Envelope) -> None:
        data = envelope.data
        fields = {
            "pairing_id": data["pairing_id"], "cohort_id": data["cohort_id"],
            "mentor_id": data["mentor_id"], "mentee_id": data["mentee_id"],
            "status": PAIRING_STATUS[envelope.event_type],
        }
        if envelope.event_type == "PairingActivated":
            fields["activated_at"] = data["activated_at"]
        if envelope.event_type == "PairingEnded":
            fields["ended_reason"] = data.get("reason")
        self.models.apply_versioned(self.models.pairings, data["pairing_id"], envelope.aggregate_version, fields)

    def meeting_held(self, envelope: Envelope) -> None:
        data = envelope.data
        self.models.put(self.models.meetings, data["meeting_id"], {
            "meeting_id": data["meeting_id"], "pairing_id": data["pairing_id"], "cohort_id": data["cohort_id"],
            "mentor_id": data["mentor_id"], "mentee_id": data["mentee_id"], "held_at": data["held_at"],
            "duration_minutes": data["duration_minutes"], "attendees": list(data.get("attendees") or []),
        })


class FeedbackView(Projection):
    name = "feedback-own"
    topics = (topics.FEEDBACK,)

    def __init__(self, models: ReadModels):
        self.models = models

    def handlers(self):
        return {
            "FeedbackGiven": self.feedback_given,
            "ReviewRequested": self.review_requested,
            "ReviewSubmitted": self.review_submitted,
            "SurveyRequested": self.survey_requested,
            "SurveyAnswered": self.survey_answered,
        }

    def reset(self) -> None:
        for collection in (self.models.feedback, self.models.reviews, self.models.surveys):
            collection.drop()

    def feedback_given(self, envelope: Envelope) -> None:
        data = dict(envelope.data)
        data["given_at"] = envelope.occurred_at
        self.models.put(self.models.feedback, data["feedback_id"], data)

    def review_requested(self, envelope: Envelope) -> None:
        data = envelope.data
        self.models.apply_versioned(self.models.reviews, data["review_id"], envelope.aggregate_version, {
            **data, "requested_at": envelope.occurred_at, "submitted": False,
        })

    def review_submitted(self, envelope: Envelope) -> None:
        data = envelope.data
        self.models.apply_versioned(self.models.reviews, data["review_id"], envelope.aggregate_version, {
            **data, "submitted": True, "submitted_at": envelope.occurred_at,
        })

    def survey_requested(self, envelope: Envelope) -> None:
        data = envelope.data
        self.models.apply_versioned(self.models.surveys, data["survey_id"], envelope.aggregate_version, {
            **data, "requested_at": envelope.occurred_at, "answered": False,
        })

    def survey_answered(self, envelope: Envelope) -> None:
        data = envelope.data
        self.models.apply_versioned(self.models.surveys, data["survey_id"], envelope.aggregate_version, {
            **data, "answered": True, "answered_at": envelope.occurred_at,
        })
