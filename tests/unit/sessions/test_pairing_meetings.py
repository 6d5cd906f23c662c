"""A pairing's meetings are listed from one document the meetings projection keeps (one `_id` read,
not a scan of every meeting): earliest first after a move, a stale write changes nothing, and a
rebuild's reset empties it with the meetings."""
from __future__ import annotations

from services.sessions.adapters.mongo import MeetingsRepository
from tests.unit.sessions.fakedb import FakeDatabase


def _meeting(meeting_id: str, pairing_id: str, starts_at: str, version: int, status: str = "scheduled") -> dict:
    return {"_id": meeting_id, "meeting_id": meeting_id, "pairing_id": pairing_id, "starts_at": starts_at,
            "status": status, "attendees": ["mentor-1", "mentee-1"], "version": version}


def test_a_pairings_meetings_are_listed_earliest_first_and_follow_a_move():
    meetings = MeetingsRepository(FakeDatabase())
    meetings.put(_meeting("m1", "p1", "2026-03-10T09:00:00Z", 1))
    meetings.put(_meeting("m2", "p1", "2026-03-17T09:00:00Z", 1))
    meetings.put(_meeting("m3", "p2", "2026-03-01T09:00:00Z", 1))
    assert [m["_id"] for m in meetings.for_pairing("p1")] == ["m1", "m2"]

    meetings.put(_meeting("m2", "p1", "2026-03-03T09:00:00Z", 2))  # moved before the first one
    assert [(m["_id"], m["version"]) for m in meetings.for_pairing("p1")] == [("m2", 2), ("m1", 1)]
    assert [m["_id"] for m in meetings.for_pairing("p2")] == ["m3"]
    assert meetings.for_pairing("p-unknown") == []


def test_a_redelivered_older_state_does_not_replace_the_listed_one():
    meetings = MeetingsRepository(FakeDatabase())
    meetings.put(_meeting("m1", "p1", "2026-03-10T09:00:00Z", 2, status="held"))
    assert meetings.put(_meeting("m1", "p1", "2026-03-10T09:00:00Z", 1)) is False
    assert [m["status"] for m in meetings.for_pairing("p1")] == ["held"]
    meetings.drop()
    assert meetings.for_pairing("p1") == [] and meetings.get("m1") is None
