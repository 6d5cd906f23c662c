"""Reactions of the matching service to other services' events (Kafka-fed, no views of their own).

- `TerminationPolicy` (hris.employees.v1, `EmployeeTerminated`): the person's enrolments are
  withdrawn and their open pairings end — only those that began before the termination's
  `occurred_at`. A redelivered, batch-folded or replayed termination therefore never touches
  what a rehired person has since, and what it did the first time is already in the streams.
- `NotAFitPolicy` (mentoring.feedback.v1, `FeedbackGiven` with `good_fit: false`): the pairing
  ends as not a fit; the mentee is a candidate of the cohort's next run again (the pair itself
  is never proposed again).

Both decide on the aggregates (MatchingCommands), so applying an event twice equals once.
`collections = ()`: a rebuild never replays them.
"""
from __future__ import annotations

from shared import topics
from shared.consumer import Projection
from shared.events.catalog.feedback import FEEDBACK_GIVEN
from shared.events.catalog.hris import EMPLOYEE_TERMINATED
from shared.events.envelope import Envelope

from services.matching.application.commands import MatchingCommands


class TerminationPolicy(Projection):
    name = "matching-terminations"
    topics = (topics.HRIS_EMPLOYEES,)
    collections = ()

    def __init__(self, commands: MatchingCommands):
        self.commands = commands

    def handlers(self):
        return {EMPLOYEE_TERMINATED: self.terminated}

    def reset(self) -> None:
        """Nothing of its own: its effects are events in the store."""

    def terminated(self, envelope: Envelope) -> None:
        self.commands.apply_termination(envelope)


class NotAFitPolicy(Projection):
    name = "matching-not-a-fit"
    topics = (topics.FEEDBACK,)
    collections = ()

    def __init__(self, commands: MatchingCommands):
        self.commands = commands

    def handlers(self):
        return {FEEDBACK_GIVEN: self.feedback_given}

    def reset(self) -> None:
        """Nothing of its own: its effects are events in the store."""

    def feedback_given(self, envelope: Envelope) -> None:
        self.commands.apply_not_a_fit(envelope)
