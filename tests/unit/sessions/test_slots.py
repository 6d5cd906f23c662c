"""Weekly availability and common free slots (issue 15): pure rules, the busy-times view, the ics link."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from shared.aggregate import AggregateStore, Causation
from shared.events.catalog import default_registry
from shared.events.envelope import new_event
from shared.errors import Invalid
from shared.memory import InMemoryEventStore
from services.sessions.adapters.ics import meeting_invitation, meeting_page_url
from services.sessions.adapters.mongo import BusyTimesRepository
from services.sessions.application.availability import AvailabilityCommands
from services.sessions.application.projections import BusyTimesProjection
from services.sessions.domain import meetings
from services.sessions.domain.availability import Interval, parse_weekly
from services.sessions.domain.pairing import PairingInfo
from services.sessions.domain.slots import Person, common_slots
from shared.projector import applying
from tests.unit.sessions.fakedb import FakeDatabase

UTC = timezone.utc


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _week(monday: datetime) -> tuple[datetime, datetime]:
    return monday, monday + timedelta(days=7)


def _hours(slots) -> list[str]:
    return [f"{start:%a %H:%M}-{end:%H:%M}" for start, end in slots]


BERLIN = Person("mentor", "Europe/Berlin", (Interval("mon", "15:00", "18:00"),))
NEW_YORK = Person("mentee", "America/New_York", (Interval("mon", "09:00", "12:00"),))
LONG_AGO = _utc(2020, 1, 1)


@pytest.mark.parametrize("monday, expected", [
    # both on winter time: Berlin 15-18 = 14-17 UTC, New York 9-12 = 14-17 UTC
    (_utc(2026, 3, 2), ["Mon 14:00-15:00", "Mon 15:00-16:00", "Mon 16:00-17:00"]),
    # New York on summer time since 8 March, Berlin not until 29 March: only two hours in common
    (_utc(2026, 3, 16), ["Mon 14:00-15:00", "Mon 15:00-16:00"]),
    # both on summer time: 13-16 UTC
    (_utc(2026, 4, 6), ["Mon 13:00-14:00", "Mon 14:00-15:00", "Mon 15:00-16:00"]),
    # autumn: Berlin back on winter time on 25 October, New York only on 1 November
    (_utc(2026, 10, 26), ["Mon 14:00-15:00", "Mon 15:00-16:00"]),
])
def test_slots_follow_each_zones_own_clock_changes(monday, expected):
    slots = common_slots([BERLIN, NEW_YORK], [], _week(monday), duration_minutes=60, now=LONG_AGO, limit=20)
    assert _hours(slots) == expected


def test_existing_meetings_of_either_person_are_not_offered():
    monday = _utc(2026, 3, 2)
    busy = [(_utc(2026, 3, 2, 14, 30), _utc(2026, 3, 2, 15, 15))]  # e.g. the mentee with another mentor
    slots = common_slots([BERLIN, NEW_YORK], busy, _week(monday), duration_minutes=60, now=LONG_AGO, limit=20)
    assert _hours(slots) == ["Mon 15:15-16:15"]  # 16:15-17:00 is too short for an hour


def test_slot_length_cuts_the_common_time_and_the_limit_stops_early():
    monday = _utc(2026, 3, 2)
    half_hours = common_slots([BERLIN, NEW_YORK], [], _week(monday), duration_minutes=30, now=LONG_AGO, limit=20)
    assert len(half_hours) == 6 and half_hours[0] == (_utc(2026, 3, 2, 14), _utc(2026, 3, 2, 14, 30))
    assert _hours(common_slots([BERLIN, NEW_YORK], [], _week(monday), duration_minutes=90, now=LONG_AGO,
                               limit=20)) == ["Mon 14:00-15:30", "Mon 15:30-17:00"]
    assert len(common_slots([BERLIN, NEW_YORK], [], _week(monday), duration_minutes=30, now=LONG_AGO, limit=4)) == 4


def test_the_past_is_not_offered_and_slots_start_on_a_quarter_hour():
    monday = _utc(2026, 3, 2)
    now = _utc(2026, 3, 2, 14, 7)
    slots = common_slots([BERLIN, NEW_YORK], [], _week(monday), duration_minutes=60, now=now, limit=20)
    assert _hours(slots) == ["Mon 14:15-15:15", "Mon 15:15-16:15"]


def test_quiet_nights_a_late_evening_joins_the_early_morning_and_the_night_stays_free():
    # Tokyo: Sunday evening to midnight and Monday after midnight (one span); never 01:00-07:00
    tokyo = Person("mentor", "Asia/Tokyo", (Interval("sun", "22:00", "24:00"), Interval("mon", "00:00", "01:00"),
                                             Interval("mon", "07:00", "08:00")))
    anytime = Person("mentee", "Europe/London", tuple(Interval(day, "00:00", "24:00")
                                                      for day in ("sun", "mon", "tue")))
    slots = common_slots([tokyo, anytime], [], _week(_utc(2026, 3, 1)), duration_minutes=180, now=LONG_AGO, limit=20)
    assert slots == [(_utc(2026, 3, 1, 13), _utc(2026, 3, 1, 16))]  # Sun 22:00 - Mon 01:00 in Tokyo
    hours = common_slots([tokyo, anytime], [], _week(_utc(2026, 3, 1)), duration_minutes=60, now=LONG_AGO, limit=20)
    assert all(not (16 <= start.hour < 22) for start, _ in hours)  # 01:00-07:00 Tokyo = 16:00-22:00 UTC


@pytest.mark.parametrize("weekly, field", [
    ([{"day": "mon", "start": "10:00", "end": "09:00"}], "weekly.0.end"),
    ([{"day": "mon", "start": "10:00", "end": "10:00"}], "weekly.0.end"),
    ([{"day": "mon", "start": "09:00", "end": "12:00"}, {"day": "mon", "start": "11:00", "end": "13:00"}],
     "weekly.1.start"),
    ([{"day": "mon", "start": "25:00", "end": "26:00"}], "weekly.0.start"),
    ([{"day": "mon", "start": "09:00", "end": "9pm"}], "weekly.0.end"),
    ([{"day": "someday", "start": "09:00", "end": "10:00"}], "weekly.0.day"),
])
def test_bad_intervals_name_their_field(weekly, field):
    with pytest.raises(Invalid) as refused:
        parse_weekly(weekly)
    assert refused.value.field == field


def test_touching_intervals_and_a_day_ending_at_midnight_are_fine():
    week = parse_weekly([{"day": "tue", "start": "12:00", "end": "24:00"}, {"day": "mon", "start": "09:00",
                                                                             "end": "12:00"},
                         {"day": "mon", "start": "12:00", "end": "13:00"}])
    assert [i.as_dict() for i in week] == [{"day": "mon", "start": "09:00", "end": "12:00"},
                                           {"day": "mon", "start": "12:00", "end": "13:00"},
                                           {"day": "tue", "start": "12:00", "end": "24:00"}]


# -- application: availability stream, busy-times view, slots ------------------------------------

class _Clock:
    def __init__(self, now):
        self.moment = now

    def now(self):
        return self.moment


class _Directory:
    def __init__(self, zones):
        self.zones = zones

    def get(self, employee_id):
        return {"timezone": self.zones[employee_id]} if employee_id in self.zones else None


def _feed_meeting(projection, store_position, meeting_id, event_type, data, version):
    envelope = new_event(event_type=event_type, schema_version=2 if event_type == "MeetingScheduled" else 1,
                         producer="sessions", aggregate_type="meeting", aggregate_id=meeting_id,
                         aggregate_version=version, data=data, correlation_id="c", causation_id=None)
    commit = type("Commit", (), {"position": store_position, "stream_id": meeting_id, "events": [envelope],
                                     "private": {}})()
    with applying(commit):
        projection.handlers()[event_type](envelope)


def test_set_availability_then_slots_skip_meetings_of_other_pairings_until_cancelled():
    now = _utc(2026, 3, 1, 12)
    database = FakeDatabase()
    busy = BusyTimesRepository(database)
    store = AggregateStore(InMemoryEventStore(), default_registry(), producer="sessions",
                           aggregate_type="person-availability")
    commands = AvailabilityCommands(store, _Directory({"mentor": "Europe/Berlin", "mentee": "America/New_York"}),
                                    busy, _Clock(now))
    pairing = PairingInfo("p1", "c1", "mentor", "mentee", "active")
    causation = Causation(correlation_id="r1", causation_id="r1", actor_id="mentor")

    waiting = commands.slots(pairing, first_day=None, last_day=None, duration_minutes=60, limit=5)
    assert waiting["items"] == [] and waiting["missing_availability"] == ["mentor", "mentee"]
    commands.set("mentor", weekly=[{"day": "mon", "start": "15:00", "end": "18:00"}], time_zone=None,
                 causation=causation)
    commands.set("mentee", weekly=[{"day": "mon", "start": "09:00", "end": "12:00"}], time_zone=None,
                 causation=Causation(correlation_id="r2", causation_id="r2", actor_id="mentee"))
    assert commands.current("mentor").weekly == [Interval("mon", "15:00", "18:00")]
    assert commands.zone_of("mentor", commands.current("mentor")).source == "hris"
    with pytest.raises(Invalid) as refused:
        commands.set("mentee", weekly=[], time_zone="Mars/Olympus", causation=causation)
    assert refused.value.field == "time_zone"

    found = commands.slots(pairing, first_day=now.date(), last_day=now.date() + timedelta(days=6),
                           duration_minutes=60, limit=5)
    assert [s["starts_at"] for s in found["items"]] == [
        "2026-03-02T14:00:00.000Z", "2026-03-02T15:00:00.000Z", "2026-03-02T16:00:00.000Z"]
    assert found["items"][0]["local"]["mentee"] == {"time_zone": "America/New_York",
                                                    "starts_at": "2026-03-02T09:00:00-05:00",
                                                    "ends_at": "2026-03-02T10:00:00-05:00"}
    assert found["items"][0]["local"]["mentor"]["starts_at"] == "2026-03-02T15:00:00+01:00"

    # the mentee meets someone else (another pairing) at 15:00 UTC; later it is cancelled
    projection = BusyTimesProjection(database)
    other = {"meeting_id": "m9", "pairing_id": "p9", "cohort_id": "c1", "mentor_id": "mentor-9",
             "mentee_id": "mentee", "organizer_id": "mentee", "starts_at": "2026-03-02T15:00:00.000Z",
             "duration_minutes": 60, "timezone": "UTC", "actor_id": "mentee"}
    _feed_meeting(projection, 10, "m9", "MeetingScheduled", other, 1)
    _feed_meeting(projection, 10, "m9", "MeetingScheduled", other, 1)  # a replay changes nothing
    found = commands.slots(pairing, first_day=now.date(), last_day=now.date() + timedelta(days=6),
                           duration_minutes=60, limit=5)
    assert [s["starts_at"][11:16] for s in found["items"]] == ["14:00", "16:00"]
    # moved to the next week, then cancelled: the first week is free again, the next one too
    _feed_meeting(projection, 11, "m9", "MeetingRescheduled",
                  dict(other, starts_at="2026-03-09T14:00:00.000Z", rescheduled_by="mentee"), 2)
    assert [s["starts_at"][11:16] for s in commands.slots(
        pairing, first_day=now.date(), last_day=now.date() + timedelta(days=6), duration_minutes=60,
        limit=5)["items"]] == ["14:00", "15:00", "16:00"]
    assert busy.busy("mentee", _utc(2026, 3, 9), _utc(2026, 3, 10)) == [
        (_utc(2026, 3, 9, 14), _utc(2026, 3, 9, 15), "m9")]
    _feed_meeting(projection, 12, "m9", "MeetingCancelled",
                  {k: other[k] for k in ("meeting_id", "pairing_id", "cohort_id", "mentor_id", "mentee_id")}
                  | {"cancelled_by": "mentee", "reason": "conflict"}, 3)
    assert busy.busy("mentee", _utc(2026, 3, 9), _utc(2026, 3, 10)) == []

    for first, last, field in ((now.date(), now.date() - timedelta(days=1), "to"),
                               (now.date(), now.date() + timedelta(days=31), "to")):
        with pytest.raises(Invalid) as refused:
            commands.slots(pairing, first_day=first, last_day=last, duration_minutes=60, limit=5)
        assert refused.value.field == field


# -- the invitation: agenda and the meeting's page ---------------------------------------------

def test_ics_carries_the_agenda_and_a_link_to_the_meetings_page():
    now = _utc(2026, 3, 1, 12)
    pairing = PairingInfo("p1", "c1", "mentor", "mentee", "active")
    [scheduled] = meetings.schedule(pairing, meeting_id="m 1/x", organizer_id="mentor", starts_at=now + timedelta(days=2),
                                    duration_minutes=60, timezone="Europe/Berlin", now=now)
    meeting = meetings.Meeting(meeting_id="m 1/x")
    meetings.apply(meeting, scheduled.event_type, scheduled.data)
    url = meeting_page_url("https://mentoring.example.com/", "m 1/x")
    assert url == "https://mentoring.example.com/meetings/m%201%2Fx"
    text = meeting_invitation(meeting, {}, stamp=now, description="Career plan; next steps", url=url)
    lines = text.replace("\r\n ", "").split("\r\n")
    assert "URL:https://mentoring.example.com/meetings/m%201%2Fx" in lines
    assert ("DESCRIPTION:Career plan\\; next steps\\n\\nMeeting page: https://mentoring.example.com/meetings/m%201%2Fx"
            in lines)
    without_agenda = meeting_invitation(meeting, {}, stamp=now, url=url).replace("\r\n ", "").split("\r\n")
    assert "DESCRIPTION:Meeting page: https://mentoring.example.com/meetings/m%201%2Fx" in without_agenda
