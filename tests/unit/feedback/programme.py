"""Matching's and sessions' events as the feedback worker's consumer applies them (`ProgrammeView`,
through `tests.helpers.apply_consumed`): the unit tests' pairings, meetings and members."""
from __future__ import annotations

from shared.events.catalog.matching import PAIRING_ACTIVATED, PARTICIPANT_ENROLLED
from shared.events.catalog.sessions import MEETING_HELD
from shared.events.envelope import new_event
from services.feedback.application.projections import ProgrammeView
from tests.helpers import apply_consumed


def consume(database, event_type: str, aggregate_type: str, aggregate_id: str, version: int, data: dict, *,
            producer: str = "matching", partition: int = 0) -> None:
    envelope = new_event(event_type=event_type, schema_version=1, producer=producer, aggregate_type=aggregate_type,
                         aggregate_id=aggregate_id, aggregate_version=version, correlation_id="c", causation_id=None,
                         data=data)
    apply_consumed(ProgrammeView(database), envelope, partition=partition)


def active_pairing(database, pairing_id: str, cohort_id: str, mentor_id: str, mentee_id: str, *,
                   activated_at: str = "2026-01-01T09:00:00.000Z", partition: int = 0) -> None:
    consume(database, PAIRING_ACTIVATED, "pairing", pairing_id, 2, {
        "pairing_id": pairing_id, "cohort_id": cohort_id, "mentor_id": mentor_id, "mentee_id": mentee_id,
        "activated_at": activated_at}, partition=partition)


def held_meeting(database, meeting_id: str, pairing_id: str, cohort_id: str, mentor_id: str, mentee_id: str, *,
                 held_at: str = "2026-01-10T10:00:00.000Z", partition: int = 0) -> None:
    consume(database, MEETING_HELD, "meeting", meeting_id, 2, {
        "meeting_id": meeting_id, "pairing_id": pairing_id, "cohort_id": cohort_id, "mentor_id": mentor_id,
        "mentee_id": mentee_id, "held_at": held_at, "duration_minutes": 45, "attendees": [mentor_id, mentee_id]},
        producer="sessions", partition=partition)


def enrolled(database, cohort_id: str, employee_id: str, role: str, *, partition: int = 0) -> None:
    consume(database, PARTICIPANT_ENROLLED, "enrollment", f"{cohort_id}|{employee_id}", 1, {
        "cohort_id": cohort_id, "employee_id": employee_id, "role": role}, partition=partition)
