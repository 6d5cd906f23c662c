"""A person's weekly availability: intervals of local wall-clock time per weekday, in one time zone.

Pure: the intervals are checked here (a bad one is a 422 naming the field), and setting them
decides the event. The intervals themselves are personal data: they travel in the commit's
private part (sealed under the person's key, shared.shredding), never in the event.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.aggregate import NewEvent
from shared.errors import Invalid
from shared.events.catalog.sessions import AVAILABILITY_SET

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # index = date.weekday()
MAX_INTERVALS = 7 * 8  # a week of up to eight windows a day: more is a mistake, not a schedule
END_OF_DAY = "24:00"


def stream_id(employee_id: str) -> str:
    """The person's availability stream in the sessions store."""
    return f"availability|{employee_id}"


@dataclass(frozen=True)
class Interval:
    day: str  # mon..sun
    start: str  # "HH:MM" local
    end: str  # "HH:MM" local, after start; "24:00" is the end of the day

    def as_dict(self) -> dict:
        return {"day": self.day, "start": self.start, "end": self.end}


@dataclass
class Availability:
    employee_id: str
    weekly: list[Interval] = field(default_factory=list)
    time_zone: str | None = None  # chosen by the person; None: their HRIS zone
    version: int = 0
    updated_at: str | None = None

    @property
    def is_set(self) -> bool:
        return bool(self.weekly)


def minutes_of(clock: str) -> int:
    """"HH:MM" -> minutes after midnight ("24:00" -> 1440)."""
    hours, minutes = clock.split(":")
    return int(hours) * 60 + int(minutes)


def wall_time(clock: str) -> time:
    minutes = minutes_of(clock)
    return time(minutes // 60, minutes % 60)


def _clock(value: object, where: str, *, end: bool) -> str:
    text = str(value)
    parts = text.split(":")
    if (len(parts) != 2 or not all(len(p) == 2 and p.isascii() and p.isdigit() for p in parts)
            or not (0 <= int(parts[1]) < 60) or not (int(parts[0]) < 24 or (end and text == END_OF_DAY))):
        raise Invalid("invalid_time", "a time of day is HH:MM (00:00 to 23:59; an end may be 24:00)", field=where)
    return text


def check_zone(name: str | None, *, field_name: str = "time_zone") -> str | None:
    """An IANA zone zoneinfo knows (DST rules included), or a 422 naming the field."""
    if name is None:
        return None
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise Invalid("unknown_time_zone", f"{name!r} is not a known IANA time zone", field=field_name) from None
    return name


def parse_weekly(items: list[dict]) -> list[Interval]:
    """The request's intervals, checked: known days, HH:MM, start before end, no two overlapping on
    one day (touching is fine). Sorted by day and start; the field of a bad one is `weekly.<i>.<name>`."""
    if len(items) > MAX_INTERVALS:
        raise Invalid("too_many_intervals", f"at most {MAX_INTERVALS} intervals a week", field="weekly")
    intervals = []
    for index, item in enumerate(items):
        where = f"weekly.{index}"
        day = str(item.get("day", "")).lower()
        if day not in DAYS:
            raise Invalid("invalid_day", f"day is one of {', '.join(DAYS)}", field=f"{where}.day")
        start = _clock(item.get("start"), f"{where}.start", end=False)
        end = _clock(item.get("end"), f"{where}.end", end=True)
        if minutes_of(end) <= minutes_of(start):
            raise Invalid("inverted_interval", "an interval ends after it starts (to cover midnight, "
                                               "end one day at 24:00 and start the next at 00:00)",
                          field=f"{where}.end")
        intervals.append((index, Interval(day, start, end)))
    intervals.sort(key=lambda pair: (DAYS.index(pair[1].day), minutes_of(pair[1].start)))
    for (_, before), (index, after) in zip(intervals, intervals[1:]):
        if before.day == after.day and minutes_of(after.start) < minutes_of(before.end):
            raise Invalid("overlapping_intervals",
                          f"{after.day} {after.start}-{after.end} overlaps {before.start}-{before.end}",
                          field=f"weekly.{index}.start")
    return [interval for _, interval in intervals]


def fold(employee_id: str, events, private: dict) -> Availability:
    """The person's availability from their stream; a change whose private part is gone (the
    person was erased: their key is shredded) leaves nothing."""
    state = Availability(employee_id=employee_id)
    for event in events:
        if event.event_type != AVAILABILITY_SET:
            continue
        fields_ = private.get(event.event_id) or {}
        state.weekly = [Interval(**item) for item in fields_.get("weekly") or []]
        state.time_zone = fields_.get("time_zone")
        state.version = event.aggregate_version
        state.updated_at = event.occurred_at
    return state


def set_weekly(state: Availability, weekly: list[Interval], time_zone: str | None) -> tuple[list[NewEvent], dict]:
    """The event (and its private part) replacing the person's week; nothing when it is unchanged."""
    if state.version and state.weekly == weekly and state.time_zone == time_zone:
        return [], {}
    data = {"employee_id": state.employee_id, "interval_count": len(weekly)}
    private = {"weekly": [interval.as_dict() for interval in weekly], "time_zone": time_zone}
    return [NewEvent(AVAILABILITY_SET, data)], private
