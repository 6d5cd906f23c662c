"""Reactions of the feedback service: to matching's events and to time.

Policies are `Projection`s with no collections of their own (a rebuild never replays them); each
side effect is a command that decides on the loaded stream, so a redelivery changes nothing.

- `SurveysWhenCohortCloses` (mentoring.matching.v1, CohortStatusChanged to `closed`): the
  end-of-cohort survey goes to every enrolled member and paired person. Whoever the views do not
  know yet (events of other keys still on their way) gets it from the periodic survey job.
- The periodic jobs (worker.py) ask for progress reviews on the cohort's rhythm and send the
  surveys of cohorts whose end date passed (FeedbackCommands.request_due_reviews / _surveys).
"""
from __future__ import annotations

from shared import topics
from shared.aggregate import Causation
from shared.consumer import Projection
from shared.events.catalog.matching import COHORT_STATUS_CHANGED
from shared.events.envelope import Envelope
from services.feedback.application.commands import FeedbackCommands

CLOSED = "closed"


class SurveysWhenCohortCloses(Projection):
    name = "feedback-surveys-on-close"
    topics = (topics.MATCHING,)
    collections = ()

    def __init__(self, commands: FeedbackCommands):
        self.commands = commands

    def handlers(self):
        return {COHORT_STATUS_CHANGED: self.cohort_status_changed}

    def reset(self) -> None:
        pass  # no data of its own

    def cohort_status_changed(self, envelope: Envelope) -> None:
        if envelope.data["status"] == CLOSED:
            self.commands.request_surveys(envelope.data["cohort_id"], Causation.from_event(envelope))
