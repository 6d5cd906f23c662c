"""The common free slots of two (or more) people: pure functions over UTC instants.

Each person's weekly intervals are wall-clock times in their own zone; they are laid onto the
real calendar date by date with zoneinfo, so a week in which one zone has changed its clocks and
the other has not (Europe/Berlin and America/New_York differ for about three weeks each year)
comes out right. A local time that does not exist (skipped by a spring change) is read with the
offset before the change, as zoneinfo does for `fold=0`. Busy instants (the people's scheduled
meetings) and the past are taken out, and what is left is cut into back-to-back slots of the
asked length starting on a quarter hour.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from services.sessions.domain.availability import DAYS, Interval, minutes_of

Span = tuple[datetime, datetime]  # [start, end) in UTC
GRID = timedelta(minutes=15)


@dataclass(frozen=True)
class Person:
    employee_id: str
    time_zone: str
    weekly: tuple[Interval, ...]


def free_spans(person: Person, window: Span) -> list[Span]:
    """The person's available time within `window`, in UTC, merged and sorted."""
    zone = ZoneInfo(person.time_zone)
    first = window[0].astimezone(zone).date() - timedelta(days=1)
    last = window[1].astimezone(zone).date() + timedelta(days=1)
    by_day: dict[str, list[Interval]] = {}
    for interval in person.weekly:
        by_day.setdefault(interval.day, []).append(interval)
    spans = []
    day = first
    while day <= last:
        for interval in by_day.get(DAYS[day.weekday()], ()):
            start, end = _instant(day, interval.start, zone), _instant(day, interval.end, zone)
            start, end = max(start, window[0]), min(end, window[1])
            if start < end:
                spans.append((start, end))
        day += timedelta(days=1)
    return merge(spans)


def _instant(day: date, clock: str, zone: ZoneInfo) -> datetime:
    minutes = minutes_of(clock)
    if minutes == 24 * 60:  # 24:00: the next day's midnight, in that day's offset
        day, minutes = day + timedelta(days=1), 0
    return datetime(day.year, day.month, day.day, minutes // 60, minutes % 60, tzinfo=zone).astimezone(timezone.utc)


def merge(spans: list[Span]) -> list[Span]:
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def intersect(first: list[Span], second: list[Span]) -> list[Span]:
    out, i, j = [], 0, 0
    while i < len(first) and j < len(second):
        start, end = max(first[i][0], second[j][0]), min(first[i][1], second[j][1])
        if start < end:
            out.append((start, end))
        if first[i][1] < second[j][1]:
            i += 1
        else:
            j += 1
    return out


def subtract(spans: list[Span], busy: list[Span]) -> list[Span]:
    out = []
    busy = merge(busy)
    for start, end in spans:
        for busy_start, busy_end in busy:
            if busy_end <= start or busy_start >= end:
                continue
            if busy_start > start:
                out.append((start, busy_start))
            start = max(start, busy_end)
            if start >= end:
                break
        if start < end:
            out.append((start, end))
    return out


def _on_grid(moment: datetime) -> datetime:
    epoch = datetime(2000, 1, 1, tzinfo=timezone.utc)
    steps = -((epoch - moment) // GRID)  # ceiling
    return epoch + steps * GRID


def common_slots(people: list[Person], busy: list[Span], window: Span, *, duration_minutes: int,
                 now: datetime, limit: int) -> list[Span]:
    """Up to `limit` slots of `duration_minutes` when everyone is available and nobody is busy,
    after `now`, earliest first."""
    start = max(window[0], now)
    if start >= window[1] or not people:
        return []
    window = (start, window[1])
    free = free_spans(people[0], window)
    for person in people[1:]:
        free = intersect(free, free_spans(person, window))
    length = timedelta(minutes=duration_minutes)
    slots: list[Span] = []
    for span_start, span_end in subtract(free, busy):
        moment = _on_grid(span_start)
        while moment + length <= span_end and len(slots) < limit:
            slots.append((moment, moment + length))
            moment += length
        if len(slots) >= limit:
            break
    return slots
