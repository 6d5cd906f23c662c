"""Who gets which private part in a subject access export (issue 13), event by event, including the
old event shapes the integration test cannot easily produce (v1 events without `actor_id`, v1
answers naming the employee, v2 answers whose respondent was not recorded)."""
from __future__ import annotations

from datetime import datetime, timezone

from shared import export
from shared.events.envelope import new_event
from shared.memory import InMemoryEventStore
from services.feedback.application.export import _own_answers
from services.sessions.application.export import authored_text

ME, PARTNER = "E1", "M1"


def _event(event_type: str, data: dict):
    return new_event(event_type=event_type, schema_version=1, producer="test", aggregate_type="x", aggregate_id="s1",
                     aggregate_version=1, data=data, correlation_id="c", causation_id=None)


def test_meeting_text_goes_to_its_author_only():
    rule = authored_text(ME)
    agenda = {"agenda": "mine"}
    assert rule(_event("MeetingScheduled", {"actor_id": ME, "organizer_id": PARTNER}), agenda) == agenda
    assert rule(_event("MeetingScheduled", {"actor_id": PARTNER, "organizer_id": ME}), agenda) == {}
    # v1 never recorded who scheduled: the organiser is the author then
    assert rule(_event("MeetingScheduled", {"organizer_id": ME}), agenda) == agenda
    assert rule(_event("MeetingScheduled", {"organizer_id": PARTNER}), agenda) == {}
    notes = {"notes": "words", "notes_by": ME}
    assert rule(_event("MeetingHeld", {}), notes) == notes
    assert rule(_event("MeetingHeld", {}), {"notes": "words", "notes_by": PARTNER}) == {}
    reason = {"dispute_reason": "why"}
    assert rule(_event("MeetingDisputed", {"disputed_by": ME}), reason) == reason
    assert rule(_event("MeetingDisputed", {"disputed_by": PARTNER}), reason) == {}


def test_answers_are_given_only_when_the_event_names_the_person():
    rule = _own_answers(ME, "p-mine")
    scores = {"goal_progress": 4, "satisfaction": 5}
    assert rule(_event("ReviewSubmitted", {"respondent": "p-mine"}), scores) == scores
    assert rule(_event("ReviewSubmitted", {"employee_id": ME, "goal_progress": 4}), scores) == scores  # v1
    assert rule(_event("ReviewSubmitted", {"respondent": "p-someone-else"}), scores) == {}
    assert rule(_event("SurveyAnswered", {"respondent": None}), {"recommend_score": 9}) == {}  # not recorded
    assert rule(_event("ReviewRequested", {"employee_id": ME}), {"anything": 1}) == {}


def test_stream_events_carry_only_what_the_rule_allows_and_documents_become_json():
    store = InMemoryEventStore()
    held = _event("MeetingHeld", {})
    store.append("s1", 0, [held], private={held.event_id: {"notes": "theirs", "notes_by": PARTNER}})
    [event] = export.stream_events(store, "s1", authored_text(ME))
    assert "private" not in event and event["event_type"] == "MeetingHeld"
    moment = datetime(2026, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    assert export.documents([{"_id": "b", "at": moment}, None, {"_id": "a", "tags": ("x",)}]) == [
        {"_id": "a", "tags": ["x"]}, {"_id": "b", "at": "2026-01-02T03:04:05.000Z"}]
