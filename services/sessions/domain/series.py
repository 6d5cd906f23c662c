"""Recurring meetings (issue 15): a weekly series of ordinary meetings.

A series is its own stream (`meeting-series`, one MeetingSeriesScheduled: the rule) plus one
meeting stream per occurrence, each scheduled as any meeting is, its MeetingScheduled naming the
series and its place in it (`series_id`, `series_index`). So every existing rule, view and route
(reschedule, cancel, held, no-show, notes) works on one occurrence unchanged; the series routes
apply the same commands to every occurrence still to come.

Occurrences keep the organiser's local wall-clock time: a 10:00 Berlin meeting stays at 10:00
across the clock changes (its UTC instant moves), as a calendar's RRULE in that zone does.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from shared.aggregate import NewEvent
from shared.clock import parse_rfc3339, rfc3339
from shared.errors import Conflict, Invalid
from shared.events.catalog.sessions import (
    MEETING_SERIES_CANCELLED, MEETING_SERIES_RESCHEDULED, MEETING_SERIES_SCHEDULED,
)
from services.sessions.domain import meetings as meeting_rules
from services.sessions.domain.meetings import Meeting
from services.sessions.domain.pairing import PairingInfo

MIN_COUNT, MAX_COUNT = 2, 26  # up to half a year of weekly meetings
MIN_INTERVAL, MAX_INTERVAL = 1, 4  # every week .. every four weeks
MAX_AHEAD_DAYS = 366  # where a series may start (or be moved to): within a year


@dataclass
class Series:
    series_id: str
    pairing_id: str = ""
    cohort_id: str = ""
    mentor_id: str = ""
    mentee_id: str = ""
    organizer_id: str = ""
    starts_at: datetime | None = None  # the first occurrence as scheduled
    duration_minutes: int = 0
    timezone: str = "UTC"
    interval_weeks: int = 1
    count: int = 0
    meeting_ids: list[str] = field(default_factory=list)
    version: int = 0

    @property
    def parties(self) -> tuple[str, str]:
        return (self.mentor_id, self.mentee_id)


def occurrence_starts(first: datetime, zone_name: str, interval_weeks: int, count: int) -> list[datetime]:
    """Each occurrence's UTC start: the first one's local date and time, every `interval_weeks` weeks."""
    zone = ZoneInfo(zone_name)
    local = first.astimezone(zone).replace(tzinfo=None)
    return [(local + timedelta(weeks=interval_weeks * k)).replace(tzinfo=zone).astimezone(timezone.utc)
            for k in range(count)]


def fold(series_id: str, events) -> Series:
    series = Series(series_id=series_id)
    for event in events:
        if event.event_type == MEETING_SERIES_SCHEDULED:
            data = event.data
            for name in ("pairing_id", "cohort_id", "mentor_id", "mentee_id", "organizer_id", "duration_minutes",
                         "timezone", "interval_weeks", "count"):
                setattr(series, name, data[name])
            series.starts_at = parse_rfc3339(data["starts_at"])
            series.meeting_ids = list(data["meeting_ids"])
        series.version = event.aggregate_version
    return series


def schedule(pairing: PairingInfo, *, series_id: str, meeting_ids: list[str], organizer_id: str, starts_at: datetime,
             duration_minutes: int, timezone_name: str, interval_weeks: int, now: datetime,
             actor_id: str) -> tuple[list[NewEvent], list[list[NewEvent]]]:
    """The series' event and each occurrence's (checked as single meetings are: active pairing,
    the organiser a party, in the future, 15-240 minutes)."""
    count = len(meeting_ids)
    if not MIN_COUNT <= count <= MAX_COUNT:
        raise Invalid("count_out_of_range", f"a series has {MIN_COUNT} to {MAX_COUNT} meetings", field="count")
    if not MIN_INTERVAL <= interval_weeks <= MAX_INTERVAL:
        raise Invalid("interval_out_of_range", f"every {MIN_INTERVAL} to {MAX_INTERVAL} weeks", field="interval_weeks")
    if not now < starts_at <= now + timedelta(days=MAX_AHEAD_DAYS):
        raise Invalid("starts_out_of_range", f"a series starts after now and within {MAX_AHEAD_DAYS} days",
                      field="starts_at")
    occurrences = []
    for index, (meeting_id, start) in enumerate(zip(meeting_ids, occurrence_starts(starts_at, timezone_name,
                                                                                   interval_weeks, count))):
        [scheduled] = meeting_rules.schedule(pairing, meeting_id=meeting_id, organizer_id=organizer_id,
                                             starts_at=start, duration_minutes=duration_minutes,
                                             timezone=timezone_name, now=now, actor_id=actor_id)
        occurrences.append([NewEvent(scheduled.event_type,
                                     dict(scheduled.data, series_id=series_id, series_index=index))])
    data = dict(pairing.fields(), series_id=series_id, organizer_id=organizer_id, starts_at=rfc3339(starts_at),
                duration_minutes=duration_minutes, timezone=timezone_name, interval_weeks=interval_weeks,
                count=count, meeting_ids=list(meeting_ids), actor_id=actor_id)
    return [NewEvent(MEETING_SERIES_SCHEDULED, data)], occurrences


def still_to_come(occurrences: list[Meeting], now: datetime) -> list[Meeting]:
    """The occurrences a change of the whole series applies to: scheduled and not started yet."""
    return [m for m in occurrences if m.status == "scheduled" and m.starts_at > now]


def shifted(occurrences: list[Meeting], *, new_start_of_next: datetime, now: datetime) -> list[tuple[Meeting, datetime]]:
    """Every occurrence still to come, moved by the local wall-clock shift that takes the next one to
    `new_start_of_next` (so they all keep one local time across clock changes)."""
    if not now < new_start_of_next <= now + timedelta(days=MAX_AHEAD_DAYS):
        raise Invalid("starts_out_of_range", f"a series moves to after now and within {MAX_AHEAD_DAYS} days",
                      field="starts_at")
    coming = still_to_come(occurrences, now)
    if not coming:
        raise Conflict("series_over", "no meeting of this series is still to come")
    zone = ZoneInfo(coming[0].timezone)
    delta = (new_start_of_next.astimezone(zone).replace(tzinfo=None)
             - coming[0].starts_at.astimezone(zone).replace(tzinfo=None))
    return [(m, (m.starts_at.astimezone(zone).replace(tzinfo=None) + delta).replace(tzinfo=zone)
             .astimezone(timezone.utc)) for m in coming]


def _pairing_fields(series: Series) -> dict:
    return {"pairing_id": series.pairing_id, "cohort_id": series.cohort_id, "mentor_id": series.mentor_id,
            "mentee_id": series.mentee_id}


def moved(series: Series, occurrences: list[Meeting], *, by: str) -> list[NewEvent]:
    """The series' own record of a move of the whole series (`occurrences`: as they now are, the
    next first); none when nothing moved. Notifications tell each party once, from this event."""
    if not occurrences:
        return []
    first = occurrences[0]
    return [NewEvent(MEETING_SERIES_RESCHEDULED, dict(
        _pairing_fields(series), series_id=series.series_id, organizer_id=series.organizer_id,
        starts_at=rfc3339(first.starts_at), duration_minutes=first.duration_minutes, timezone=first.timezone,
        interval_weeks=series.interval_weeks, meeting_ids=[m.meeting_id for m in occurrences], rescheduled_by=by))]


def cancelled(series: Series, meeting_ids: list[str], *, by: str, reason: str) -> list[NewEvent]:
    """The series' own record of cancelling what was still to come; none when nothing was."""
    if not meeting_ids:
        return []
    return [NewEvent(MEETING_SERIES_CANCELLED, dict(_pairing_fields(series), series_id=series.series_id,
                                                    meeting_ids=list(meeting_ids), cancelled_by=by, reason=reason))]
