"""Weekly availability (set and read by the person) and a pairing's common free slots (issue 15).

A person's availability is their own stream (`availability|<employee id>`): each change is one
AvailabilitySet whose intervals and zone sit in the commit's private part, sealed under the
person's key. Reading it loads the stream (a few `_id` reads, cached by the event store); an
erased person's key is gone, so nothing of it can be read back.

Slots: both parties' availability in their own zones (the one they chose, else their HRIS zone,
else UTC), minus the scheduled meetings of either of them in any pairing (the busy-times view, by
`_id` per person and week), cut into slots of the asked length.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from shared.aggregate import Causation
from shared.clock import rfc3339
from shared.errors import Invalid
from services.sessions.domain import availability as rules
from services.sessions.domain.availability import Availability
from services.sessions.domain.pairing import PairingInfo
from services.sessions.domain.slots import Person, common_slots

MAX_RANGE_DAYS = 31
DEFAULT_RANGE_DAYS = 14
DEFAULT_DURATION = 60
DEFAULT_LIMIT = 20
MAX_AHEAD_DAYS = 2 * 366  # slots are for planning the next meetings, not the next decade


@dataclass(frozen=True)
class Zone:
    name: str
    source: str  # chosen | hris | default


class AvailabilityCommands:
    def __init__(self, aggregates, participants, busy, clock):
        self.aggregates = aggregates  # AggregateStore of `person-availability` (sealing)
        self.participants = participants  # DirectoryRepository: the HRIS time zone
        self.busy = busy  # BusyTimesRepository (or a fake with `busy(employee_id, start, end)`)
        self.clock = clock

    def current(self, employee_id: str) -> Availability:
        stream = self.aggregates.load(rules.stream_id(employee_id))
        return rules.fold(employee_id, stream.events, stream.private or {})

    def zone_of(self, employee_id: str, availability: Availability) -> Zone:
        if availability.time_zone:
            return Zone(availability.time_zone, "chosen")
        hris = (self.participants.get(employee_id) or {}).get("timezone")
        try:
            rules.check_zone(hris)
        except Invalid:
            hris = None
        return Zone(hris, "hris") if hris else Zone("UTC", "default")

    def set(self, employee_id: str, *, weekly: list[dict], time_zone: str | None,
            causation: Causation) -> Availability:
        """Replace the person's week (a 422 names a bad interval); an unchanged week stores nothing."""
        intervals = rules.parse_weekly(weekly)
        rules.check_zone(time_zone)
        state = self.current(employee_id)
        events, private = rules.set_weekly(state, intervals, time_zone)
        if events:
            self.aggregates.append(rules.stream_id(employee_id), state.version, events, causation,
                                   private={0: private})
            state = self.current(employee_id)
        return state

    def slots(self, pairing: PairingInfo, *, first_day: date | None, last_day: date | None,
              duration_minutes: int, limit: int) -> dict:
        now = self.clock.now()
        first_day = first_day or now.astimezone(timezone.utc).date()
        last_day = last_day or first_day + timedelta(days=DEFAULT_RANGE_DAYS - 1)
        today = now.astimezone(timezone.utc).date()
        if not today - timedelta(days=MAX_RANGE_DAYS) <= first_day <= today + timedelta(days=MAX_AHEAD_DAYS):
            raise Invalid("from_out_of_range", f"`from` is within {MAX_AHEAD_DAYS} days from today", field="from")
        if last_day < first_day:
            raise Invalid("inverted_range", "`to` is on or after `from`", field="to")
        if (last_day - first_day).days + 1 > MAX_RANGE_DAYS:
            raise Invalid("range_too_long", f"at most {MAX_RANGE_DAYS} days from `from` to `to`", field="to")
        window = (datetime(first_day.year, first_day.month, first_day.day, tzinfo=timezone.utc),
                  datetime(last_day.year, last_day.month, last_day.day, tzinfo=timezone.utc) + timedelta(days=1))
        people, zones, missing = [], {}, []
        for employee_id in pairing.parties:
            state = self.current(employee_id)
            zones[employee_id] = self.zone_of(employee_id, state)
            if not state.is_set:
                missing.append(employee_id)
            people.append(Person(employee_id, zones[employee_id].name, tuple(state.weekly)))
        busy = [(start, end) for employee_id in pairing.parties
                for start, end, _ in self.busy.busy(employee_id, window[0], window[1])]
        found = [] if missing else common_slots(people, busy, window, duration_minutes=duration_minutes,
                                                now=now, limit=limit)
        return {
            "pairing_id": pairing.pairing_id, "from": first_day.isoformat(), "to": last_day.isoformat(),
            "duration_minutes": duration_minutes,
            "time_zones": {employee_id: zone.name for employee_id, zone in zones.items()},
            "missing_availability": missing,
            "items": [_slot_out(start, end, zones) for start, end in found],
        }


def _slot_out(start: datetime, end: datetime, zones: dict[str, Zone]) -> dict:
    local = {}
    for employee_id, zone in zones.items():
        tz = ZoneInfo(zone.name)
        local[employee_id] = {"time_zone": zone.name, "starts_at": start.astimezone(tz).isoformat(),
                              "ends_at": end.astimezone(tz).isoformat()}
    return {"starts_at": rfc3339(start), "ends_at": rfc3339(end), "local": local}
