"""Recurring meetings (issue 15): occurrences keep local time across DST, the series is edited as a
whole or one occurrence at a time, and its .ics is one RRULE with its exceptions."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

import pytest

from shared.aggregate import Causation
from shared.errors import Invalid
from services.notifications.domain.routing import route
from services.sessions.adapters.ics import meeting_invitation, series_invitation
from services.sessions.domain.series import occurrence_starts
from tests.unit.sessions.test_application import PAIRING, context

UTC = timezone.utc
FIRST = datetime(2026, 3, 16, 9, 0, tzinfo=UTC)  # 10:00 in Berlin (CET); Berlin changes on 29 March


def _request() -> Causation:
    return Causation(correlation_id="chain", causation_id=str(uuid.uuid4()), actor_id="mentor-1")


def test_occurrences_keep_the_organisers_local_time_across_the_clock_change():
    starts = occurrence_starts(FIRST, "Europe/Berlin", 1, 4)
    assert [s.strftime("%d %H:%M") for s in starts] == ["16 09:00", "23 09:00", "30 08:00", "06 08:00"]
    assert occurrence_starts(FIRST, "Europe/Berlin", 2, 2)[1] == datetime(2026, 3, 30, 8, 0, tzinfo=UTC)


def _series(ctx, count=4, agenda="Weekly check-in"):
    series, position = ctx.series.schedule(
        PAIRING, actor_id="mentor-1", organizer_id="mentor-1", starts_at=FIRST, duration_minutes=45,
        timezone="Europe/Berlin", interval_weeks=1, count=count, agenda=agenda, causation=_request())
    assert position > 0
    return series


def test_a_series_is_edited_as_a_whole_or_one_occurrence_and_its_ics_says_so():
    ctx = context()
    with pytest.raises(Invalid) as refused:
        _series(ctx, count=40)
    assert refused.value.field == "count"
    series = _series(ctx)
    first, second, third, fourth = ctx.series.occurrences(series)
    assert [m.series_index for m in (first, second, third, fourth)] == [0, 1, 2, 3]
    assert ctx.meetings.texts(fourth.meeting_id)["agenda"] == "Weekly check-in"

    # one occurrence: the ordinary meeting commands
    ctx.meetings.cancel(second, by="mentee-1", reason="conflict", causation=_request())
    ctx.meetings.reschedule(third, by="mentee-1", starts_at=third.starts_at + timedelta(hours=2), duration_minutes=None,
                            causation=_request())
    occurrences = ctx.series.occurrences(series)
    text = series_invitation(series, occurrences, {}, stamp=FIRST - timedelta(days=1), description="Weekly check-in",
                             url="https://app.example/meetings/x").replace("\r\n ", "")
    lines = text.split("\r\n")
    assert "RRULE:FREQ=WEEKLY;INTERVAL=1;COUNT=4" in lines
    assert "DTSTART;TZID=Europe/Berlin:20260316T100000" in lines
    assert "EXDATE;TZID=Europe/Berlin:20260323T100000" in lines  # the cancelled one
    assert "RECURRENCE-ID;TZID=Europe/Berlin:20260330T100000" in lines  # the moved one, at its new time:
    assert "DTSTART;TZID=Europe/Berlin:20260330T120000" in lines
    assert lines.count(f"UID:{series.series_id}@sessions.mentoring") == 2 and "URL:https://app.example/meetings/x" in lines
    # an occurrence's own invitation is that event of the series, not a separate one
    single = meeting_invitation(occurrences[2], {}, stamp=FIRST).replace("\r\n ", "").split("\r\n")
    assert f"UID:{series.series_id}@sessions.mentoring" in single
    assert "RECURRENCE-ID;TZID=Europe/Berlin:20260330T100000" in single

    # the whole series: move what is still to come by an hour (local), then cancel the rest
    ctx.clock.advance(days=22)  # 24 March: past the first two
    ctx.series.reschedule(series, by="mentor-1", starts_at=ctx.series.occurrences(series)[2].starts_at
                          + timedelta(hours=1), duration_minutes=None, causation=_request())
    moved = ctx.series.occurrences(series)
    assert moved[0].starts_at == FIRST and moved[1].status == "cancelled"
    assert [m.starts_at.strftime("%d %H:%M") for m in moved[2:]] == ["30 11:00", "06 09:00"]  # 13:00, 11:00 Berlin
    ctx.series.cancel(series, by="mentee-1", reason="no_longer_needed", causation=_request())
    assert [m.status for m in ctx.series.occurrences(series)] == ["scheduled", "cancelled", "cancelled", "cancelled"]


def test_a_retried_series_request_completes_the_same_series():
    ctx = context()
    cause = _request()
    kwargs = dict(actor_id="mentor-1", organizer_id="mentor-1", starts_at=FIRST, duration_minutes=45,
                  timezone="Europe/Berlin", interval_weeks=2, count=3, agenda=None, causation=cause)
    first, _ = ctx.series.schedule(PAIRING, **kwargs)
    again, position = ctx.series.schedule(PAIRING, **kwargs)
    assert again.series_id == first.series_id and position == 0 and len(ctx.series.occurrences(again)) == 3


def test_notifications_announce_a_series_once():
    data = {"meeting_id": "m2", "pairing_id": "p1", "cohort_id": "c1", "mentor_id": "a", "mentee_id": "b",
            "organizer_id": "a", "starts_at": "2026-03-23T09:00:00Z", "duration_minutes": 45, "timezone": "UTC"}
    assert route("MeetingScheduled", "e1", dict(data, series_id="s1", series_index=1)) == []
    assert len(route("MeetingScheduled", "e0", dict(data, series_id="s1", series_index=0))) == 2


def test_the_persons_export_has_the_series_rule_beside_its_meetings():
    from services.sessions.application.export import person_export

    ctx = context()
    series = _series(ctx, count=2)
    ctx.projector.catch_up()  # the meetings view, as the worker keeps it
    part = person_export(ctx, "mentee-1")
    assert {m["series_id"] for m in part["data"]["meetings"]} == {series.series_id}
    [rule] = [e for e in part["events"] if e["event_type"] == "MeetingSeriesScheduled"]
    assert rule["data"]["meeting_ids"] == series.meeting_ids


def _series_events(ctx, series, event_type):
    from services.sessions.application.series import series_stream

    return [e for e in ctx.store.load(series_stream(series.series_id)).events if e.event_type == event_type]


def test_moving_or_cancelling_the_whole_series_tells_each_party_once_not_once_per_occurrence():
    ctx = context()
    series = _series(ctx)
    move = _request()
    outcomes = ctx.series.reschedule(series, by="mentor-1", starts_at=FIRST + timedelta(hours=1), duration_minutes=None,
                                     causation=move)
    moved_events = [ctx.store.load(o.meeting.meeting_id).events[-1] for o in outcomes]
    assert [e.data["moved_with_series"] for e in moved_events] == [True] * 4
    [announced] = _series_events(ctx, series, "MeetingSeriesRescheduled")
    assert announced.data["meeting_ids"] == series.meeting_ids
    assert announced.data["starts_at"] == "2026-03-16T10:00:00.000Z" and announced.data["rescheduled_by"] == "mentor-1"
    ctx.series.reschedule(series, by="mentor-1", starts_at=FIRST + timedelta(hours=1), duration_minutes=None,
                          causation=move)  # the same request again: no second announcement
    assert len(_series_events(ctx, series, "MeetingSeriesRescheduled")) == 1

    # notifications: each occurrence's move notifies nobody, the series' event each party once
    told = [i for e in moved_events for i in route(e.event_type, e.event_id, e.data)]
    told += route(announced.event_type, announced.event_id, announced.data)
    assert sorted(i.recipient_id for i in told) == ["mentee-1", "mentor-1"]
    assert all(i.context["series_moved"] and not i.attach_ics for i in told)
    single = ctx.meetings.reschedule(ctx.series.occurrences(series)[3], by="mentee-1",
                                     starts_at=FIRST + timedelta(weeks=3, hours=3), duration_minutes=None,
                                     causation=_request())  # one occurrence alone: as any meeting
    alone = ctx.store.load(single.meeting.meeting_id).events[-1]
    assert not alone.data.get("moved_with_series") and len(route(alone.event_type, alone.event_id, alone.data)) == 2

    ctx.series.cancel(series, by="mentee-1", reason="no_longer_needed", causation=_request())
    [cancelled] = _series_events(ctx, series, "MeetingSeriesCancelled")
    assert cancelled.data["meeting_ids"] == series.meeting_ids and cancelled.data["cancelled_by"] == "mentee-1"
    assert sorted(i.recipient_id for i in route(cancelled.event_type, cancelled.event_id, cancelled.data)) == [
        "mentee-1", "mentor-1"]
    ctx.series.cancel(series, by="mentee-1", reason="no_longer_needed", causation=_request())  # nothing left
    assert len(_series_events(ctx, series, "MeetingSeriesCancelled")) == 1
