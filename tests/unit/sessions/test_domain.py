"""Meeting, goal and risk rules (pure domain, no servers)."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.events.envelope import new_event
from services.sessions.adapters.ics import fold_line, meeting_invitation
from services.sessions.domain import engagement, goals, meetings
from shared.errors import Conflict, Invalid
from services.sessions.domain.pairing import PairingInfo

NOW = datetime(2025, 3, 3, 12, 0, tzinfo=timezone.utc)
ACTIVE = PairingInfo("p1", "c1", "mentor-1", "mentee-1", "active", activated_at=NOW - timedelta(days=1))


def _stored(meeting_id, new_events, start_version=0):
    return [new_event(event_type=e.event_type, schema_version=1, producer="sessions", aggregate_type="meeting",
                      aggregate_id=meeting_id, aggregate_version=start_version + i + 1, data=e.data,
                      correlation_id="c", causation_id=None) for i, e in enumerate(new_events)]


def _scheduled(starts_in=timedelta(days=2), duration=60):
    events = _stored("m1", meetings.schedule(ACTIVE, meeting_id="m1", organizer_id="mentor-1",
                                             starts_at=NOW + starts_in, duration_minutes=duration,
                                             timezone="Europe/Berlin", now=NOW))
    return events, meetings.fold("m1", events)


def test_schedule_needs_an_active_pairing():
    for status in ("proposed", "ended", "expired"):
        pairing = PairingInfo("p1", "c1", "mentor-1", "mentee-1", status)
        with pytest.raises(Conflict):
            meetings.schedule(pairing, meeting_id="m1", organizer_id="mentor-1", starts_at=NOW + timedelta(days=1),
                              duration_minutes=30, timezone="UTC", now=NOW)


@pytest.mark.parametrize("starts_in, duration, field", [
    (timedelta(minutes=-1), 30, "starts_at"), (timedelta(0), 30, "starts_at"),
    (timedelta(days=1), 14, "duration_minutes"), (timedelta(days=1), 241, "duration_minutes"),
])
def test_schedule_rejects_past_starts_and_durations_outside_15_to_240(starts_in, duration, field):
    with pytest.raises(Invalid) as error:
        meetings.schedule(ACTIVE, meeting_id="m1", organizer_id="mentor-1", starts_at=NOW + starts_in,
                          duration_minutes=duration, timezone="UTC", now=NOW)
    assert error.value.field == field


def test_schedule_accepts_the_bounds_and_carries_the_pairing_fields():
    for duration in (15, 240):
        [event] = meetings.schedule(ACTIVE, meeting_id="m1", organizer_id="mentee-1",
                                    starts_at=NOW + timedelta(minutes=1), duration_minutes=duration,
                                    timezone="UTC", now=NOW)
        assert event.event_type == "MeetingScheduled"
        assert event.data["mentor_id"] == "mentor-1" and event.data["organizer_id"] == "mentee-1"
        assert event.data["starts_at"] == "2025-03-03T12:01:00.000Z"


def test_reschedule_then_cancel_then_cancel_again_is_a_no_op():
    events, meeting = _scheduled()
    moved = meetings.reschedule(meeting, ACTIVE, by="mentee-1", starts_at=NOW + timedelta(days=3),
                                duration_minutes=None, now=NOW)
    events += _stored("m1", moved, len(events))
    meeting = meetings.fold("m1", events)
    assert meeting.starts_at == NOW + timedelta(days=3) and meeting.duration_minutes == 60 and meeting.sequence == 1
    events += _stored("m1", meetings.cancel(meeting, by="mentee-1", reason="conflict"), len(events))
    meeting = meetings.fold("m1", events)
    assert meeting.status == "cancelled" and meeting.cancel_reason == "conflict"
    assert meetings.cancel(meeting, by="mentee-1", reason="conflict") == []
    with pytest.raises(Conflict):
        meetings.reschedule(meeting, ACTIVE, by="mentee-1", starts_at=NOW + timedelta(days=4),
                            duration_minutes=None, now=NOW)


def test_complete_defaults_to_the_scheduled_slot_and_both_parties():
    events, meeting = _scheduled()
    later = NOW + timedelta(days=2, hours=1)
    [held] = meetings.complete(meeting, by="mentor-1", now=later)
    assert held.event_type == "MeetingHeld"
    assert held.data["held_at"] == "2025-03-05T12:00:00.000Z"
    assert held.data["duration_minutes"] == 60 and held.data["attendees"] == ["mentor-1", "mentee-1"]
    with pytest.raises(Invalid):
        meetings.complete(meeting, by="mentor-1", now=NOW)  # it has not happened yet
    with pytest.raises(Invalid) as error:
        meetings.complete(meeting, by="mentor-1", now=later, attendees=["stranger"])
    assert error.value.field == "attendees"
    meeting = meetings.fold("m1", events + _stored("m1", [held], len(events)))
    with pytest.raises(Conflict):
        meetings.complete(meeting, by="mentor-1", now=later)
    with pytest.raises(Conflict):
        meetings.cancel(meeting, by="mentor-1", reason="other")


def test_no_show_only_after_the_start_and_only_for_the_pair():
    _, meeting = _scheduled()
    with pytest.raises(Conflict):
        meetings.no_show(meeting, by="mentor-1", absent_ids=["mentee-1"], now=NOW)
    after = NOW + timedelta(days=3)
    with pytest.raises(Invalid):
        meetings.no_show(meeting, by="mentor-1", absent_ids=["someone"], now=after)
    [event] = meetings.no_show(meeting, by="mentor-1", absent_ids=["mentee-1"], now=after)
    assert event.data["absent_ids"] == ["mentee-1"] and event.data["recorded_by"] == "mentor-1"


def test_pairing_end_cancels_only_meetings_still_to_come():
    _, future = _scheduled(starts_in=timedelta(days=2))
    [event] = meetings.cancel_for_ended_pairing(future, ended_at=NOW)
    assert event.data["reason"] == "pairing_ended" and event.data["cancelled_by"] == "system"
    assert meetings.cancel_for_ended_pairing(future, ended_at=NOW + timedelta(days=3)) == []


def test_goals_revision_guard_and_ids():
    state = goals.Goals()
    event, achieved = goals.revise(state, ACTIVE, expected_revision=0, by="mentee-1",
                                   goals=[{"title": "Learn Rust", "status": "open"},
                                          {"title": "Ship it", "status": "achieved"}])
    assert achieved.event_type == "GoalAchieved"  # added as achieved: achieved all the same
    assert event.data["revision"] == 1 and event.data["mentee_id"] == "mentee-1"
    first, second = event.data["goals"]
    assert first["progress"] == 0 and second["progress"] == 100 and first["goal_id"] != second["goal_id"]
    state = goals.fold(_stored("p1", [event]))
    with pytest.raises(Conflict) as stale:
        goals.revise(state, ACTIVE, expected_revision=0, by="mentee-1", goals=[])
    assert stale.value.extra == {"current_revision": 1}
    [event2] = goals.revise(state, ACTIVE, expected_revision=1, by="mentor-1",
                            goals=[dict(first, progress=50)])
    assert event2.data["goals"][0]["goal_id"] == first["goal_id"] and event2.data["revision"] == 2
    with pytest.raises(Invalid) as unknown:
        goals.revise(state, ACTIVE, expected_revision=1, by="mentor-1",
                     goals=[{"goal_id": "nope", "title": "x", "status": "open"}])
    assert unknown.value.field == "goals.0.goal_id"


def test_risk_clock_announces_each_lapse_once_and_recovery_once():
    cadence = 14
    pairing = PairingInfo("p1", "c1", "mentor-1", "mentee-1", "active", activated_at=NOW)
    state = engagement.Engagement()
    assert engagement.assess(state, pairing, cadence, None, NOW + timedelta(days=14)) == []  # too early yet
    assert engagement.classify(pairing, cadence, None, NOW + timedelta(days=13)) == engagement.TOO_EARLY
    [risk] = engagement.assess(state, pairing, cadence, None, NOW + timedelta(days=15))
    assert risk.event_type == "PairingAtRisk" and risk.data["days_without_meeting"] == 15
    assert risk.data["last_meeting_at"] is None
    state = engagement.fold(_stored("p1", [risk]))
    assert engagement.assess(state, pairing, cadence, None, NOW + timedelta(days=30)) == []  # once per lapse
    held = engagement.LastHeld("m9", NOW + timedelta(days=29))
    [back] = engagement.assess(state, pairing, cadence, held, NOW + timedelta(days=30))
    assert back.event_type == "PairingBackOnTrack" and back.data["meeting_id"] == "m9"
    state = engagement.fold(_stored("p1", [risk, back]))
    # after a held meeting the allowance is 1.5 x cadence: 21 days
    assert engagement.classify(pairing, cadence, held, held.held_at + timedelta(days=10)) == engagement.ON_TRACK
    assert engagement.classify(pairing, cadence, held, held.held_at + timedelta(days=15)) == engagement.NEEDS_CHECK_IN
    assert engagement.assess(state, pairing, cadence, held, held.held_at + timedelta(days=21)) == []
    [again] = engagement.assess(state, pairing, cadence, held, held.held_at + timedelta(days=22))
    assert again.event_type == "PairingAtRisk" and again.data["last_meeting_at"] == "2025-04-01T12:00:00.000Z"


def test_ics_invitation_is_in_the_organisers_zone_with_its_vtimezone():
    _, meeting = _scheduled(starts_in=timedelta(days=30))  # 2025-04-02 12:00Z = 14:00 in Berlin (CEST)
    people = {"mentor-1": {"email": "ann@example.com", "display_name": "Ann, the mentor"},
              "mentee-1": {"email": "bob@example.com", "display_name": "Bob"}}
    text = meeting_invitation(meeting, people, stamp=NOW)
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    lines = text.replace("\r\n ", "").split("\r\n")
    assert lines[0] == "BEGIN:VCALENDAR" and "VERSION:2.0" in lines and lines[-2] == "END:VCALENDAR"
    assert "DTSTART;TZID=Europe/Berlin:20250402T140000" in lines
    assert "DTEND;TZID=Europe/Berlin:20250402T150000" in lines
    assert "TZID:Europe/Berlin" in lines and "BEGIN:DAYLIGHT" in lines and "TZOFFSETTO:+0200" in lines
    assert "DTSTART:20250330T020000" in lines  # the spring change, in local time before it
    assert "SUMMARY:Mentoring session: Ann\\, the mentor and Bob" in lines
    assert 'ORGANIZER;CN="Ann, the mentor":mailto:ann@example.com' in lines
    assert "UID:m1@sessions.mentoring" in lines and "STATUS:CONFIRMED" in lines
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))


def test_ics_lines_fold_at_75_octets_without_splitting_characters():
    line = "SUMMARY:" + "é" * 80
    folded = fold_line(line)
    parts = folded.split("\r\n ")
    assert all(len(p.encode()) <= 75 for p in parts) and "".join(parts) == line


INJECTION = "\r\nATTENDEE:mailto:evil@x"


@pytest.mark.parametrize("breaker", ["\r\n", "\n", "\r", "\u2028", "\x0b"])
def test_ics_text_names_and_addresses_cannot_add_a_property_or_an_event(breaker):
    _, meeting = _scheduled(starts_in=timedelta(days=30))
    evil = INJECTION.replace("\r\n", breaker)
    people = {"mentor-1": {"email": f"ann@example.com{evil}", "display_name": f'Ann"{evil}\r\nEND:VEVENT'},
              "mentee-1": {"email": "bob@example.com", "display_name": f"Bob;{evil}"}}
    text = meeting_invitation(meeting, people, stamp=NOW,
                              description=f"Career plan{evil}\r\nBEGIN:VEVENT\r\nSUMMARY:x\\y,z")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    lines = text.replace("\r\n ", "").split("\r\n")[:-1]
    names = [line.split(":")[0].split(";")[0] for line in lines]
    assert names.count("ATTENDEE") == 2 and names.count("BEGIN") == names.count("END")
    assert names.count("SUMMARY") == 1 and names.count("DESCRIPTION") == 1
    assert [line for line in lines if line.startswith("BEGIN:VEVENT")] == ["BEGIN:VEVENT"]
    addresses = [line[line.rindex('"'):].split(":", 1)[1] for line in lines if line.startswith("ATTENDEE")]
    assert addresses[1] == "mailto:bob@example.com" and "mailto:evil@x" not in addresses
    assert all(not any(c in line for c in "\r\n\x0b\u2028") for line in lines)
    description = next(line for line in lines if line.startswith("DESCRIPTION:"))
    assert description.startswith("DESCRIPTION:Career plan\\nATTENDEE:mailto:evil@x\\nBEGIN:VEVENT") or breaker == "\x0b"
    assert description.endswith("SUMMARY:x\\\\y\\,z")
    organizer = next(line for line in lines if line.startswith("ORGANIZER"))
    assert organizer.startswith('ORGANIZER;CN="Ann\'') and organizer.count('"') == 2
    assert organizer.endswith(":mailto:ann@example.com%0D%0AATTENDEE%3Amailto%3Aevil@x") or breaker != "\r\n"
