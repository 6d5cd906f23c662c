"""Feedback from the feedback service (mentoring.feedback.v1): a pair that is not a fit ends.

`FeedbackGiven` with `good_fit: false` ends the pairing with reason `not_a_fit`; the mentee then
has no open pairing and is a candidate in the cohort's next run (the pair itself is never
proposed again). Ending an ended pairing changes nothing, so redelivery and replay are harmless.
"""
from __future__ import annotations

from shared import topics
from shared.consumer import Projection
from shared.events.envelope import Envelope


class FeedbackFitProjection(Projection):
    name = "feedback-fit"
    topics = (topics.FEEDBACK,)

    def __init__(self, service):
        self.service = service

    def handlers(self):
        return {"FeedbackGiven": self.feedback_given}

    def reset(self) -> None:
        """Nothing of its own to drop: its effects are pairing events in the event store."""

    def feedback_given(self, envelope: Envelope) -> None:
        self.service.on_feedback_given(envelope)
