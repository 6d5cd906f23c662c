"""RFC 5545 (iCalendar) invitation for a meeting, written by hand.

The event is expressed in the organiser's time zone (`DTSTART;TZID=...`) with a matching
VTIMEZONE that lists the zone's real UTC-offset transitions around the meeting (from the IANA
database via zoneinfo), so calendars show the right local time. Lines end in CRLF, text values
are escaped, and lines longer than 75 octets are folded.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

PRODID = "-//Mentoring Platform//Sessions 1.0//EN"


def escape_text(value: str) -> str:
    return (value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
            .replace("\r\n", "\\n").replace("\n", "\\n"))


def fold_line(line: str) -> str:
    """Fold to at most 75 octets per line, never splitting a UTF-8 character."""
    encoded = line.encode("utf-8")
    if len(encoded) <= 75:
        return line
    parts, current, limit = [], b"", 75
    for char in line:
        piece = char.encode("utf-8")
        if len(current) + len(piece) > limit:
            parts.append(current.decode("utf-8"))
            current, limit = b"", 74  # continuation lines start with a space
        current += piece
    parts.append(current.decode("utf-8"))
    return "\r\n ".join(parts)


def _utc(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _local(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


def _offset(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    sign = "+" if seconds >= 0 else "-"
    seconds = abs(seconds)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours:02d}{minutes:02d}" + (f"{secs:02d}" if secs else "")


def _transitions(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """UTC instants in [start, end) where the zone's offset changes (found in 6-hour steps, then to the second)."""
    found = []
    step = timedelta(hours=6)
    moment = start
    previous = moment.astimezone(zone).utcoffset()
    while moment < end:
        following = moment + step
        offset = following.astimezone(zone).utcoffset()
        if offset != previous:
            low, high = moment, following
            while high - low > timedelta(seconds=1):
                middle = low + (high - low) / 2
                if middle.astimezone(zone).utcoffset() == previous:
                    low = middle
                else:
                    high = middle
            found.append(high.replace(microsecond=0))
            previous = offset
        moment = following
    return found


def vtimezone(tzid: str, around: datetime) -> list[str]:
    zone = ZoneInfo(tzid)
    start = datetime(around.year - 1, 1, 1, tzinfo=timezone.utc)
    end = datetime(around.year + 2, 1, 1, tzinfo=timezone.utc)
    lines = ["BEGIN:VTIMEZONE", f"TZID:{tzid}"]
    changes = _transitions(zone, start, end)
    if not changes:
        local = start.astimezone(zone)
        offset = _offset(local.utcoffset())
        lines += ["BEGIN:STANDARD", "DTSTART:19700101T000000", f"TZOFFSETFROM:{offset}", f"TZOFFSETTO:{offset}",
                  f"TZNAME:{escape_text(local.tzname() or tzid)}", "END:STANDARD"]
    # The offset in force at `start` is the observance before the first change.
    first_before = start.astimezone(zone)
    previous = first_before.utcoffset()
    if changes:
        lines += ["BEGIN:STANDARD" if not first_before.dst() else "BEGIN:DAYLIGHT",
                  f"DTSTART:{_local(start.astimezone(zone).replace(tzinfo=None))}",
                  f"TZOFFSETFROM:{_offset(previous)}", f"TZOFFSETTO:{_offset(previous)}",
                  f"TZNAME:{escape_text(first_before.tzname() or tzid)}",
                  "END:STANDARD" if not first_before.dst() else "END:DAYLIGHT"]
    for change in changes:
        after = change.astimezone(zone)
        kind = "DAYLIGHT" if after.dst() else "STANDARD"
        # DTSTART of an observance is the local time *before* the change (RFC 5545 3.6.5).
        local_before = (change.astimezone(timezone.utc) + previous).replace(tzinfo=None)
        lines += [f"BEGIN:{kind}", f"DTSTART:{_local(local_before)}", f"TZOFFSETFROM:{_offset(previous)}",
                  f"TZOFFSETTO:{_offset(after.utcoffset())}", f"TZNAME:{escape_text(after.tzname() or tzid)}",
                  f"END:{kind}"]
        previous = after.utcoffset()
    lines.append("END:VTIMEZONE")
    return lines


def _person(prop: str, person: dict | None, employee_id: str, extra: str = "") -> str | None:
    email = (person or {}).get("email")
    if not email:
        return None
    name = (person or {}).get("display_name") or employee_id
    cn = name.replace('"', "'")
    return f'{prop};CN="{cn}"{extra}:mailto:{email}'


def meeting_invitation(meeting, participants: dict[str, dict | None], *, stamp: datetime) -> str:
    """The meeting as a VCALENDAR; `participants` maps employee id -> HRIS profile (or None)."""
    zone = ZoneInfo(meeting.timezone)
    start = meeting.starts_at.astimezone(zone)
    end = meeting.ends_at().astimezone(zone)
    cancelled = meeting.status == "cancelled"
    organizer = _person("ORGANIZER", participants.get(meeting.organizer_id), meeting.organizer_id)
    mentor = participants.get(meeting.mentor_id) or {}
    mentee = participants.get(meeting.mentee_id) or {}
    summary = "Mentoring session: {} and {}".format(mentor.get("display_name") or meeting.mentor_id,
                                                     mentee.get("display_name") or meeting.mentee_id)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN"]
    if organizer:
        lines.append("METHOD:CANCEL" if cancelled else "METHOD:REQUEST")
    lines += vtimezone(meeting.timezone, start)
    lines += [
        "BEGIN:VEVENT",
        f"UID:{meeting.meeting_id}@sessions.mentoring",
        f"DTSTAMP:{_utc(stamp)}",
        f"DTSTART;TZID={meeting.timezone}:{_local(start)}",
        f"DTEND;TZID={meeting.timezone}:{_local(end)}",
        f"SUMMARY:{escape_text(summary)}",
        f"SEQUENCE:{meeting.sequence}",
        f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}",
    ]
    if organizer:
        lines.append(organizer)
    for employee_id in meeting.parties:
        attendee = _person("ATTENDEE", participants.get(employee_id), employee_id,
                           ";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE")
        if attendee:
            lines.append(attendee)
    lines += ["END:VEVENT", "END:VCALENDAR"]
    return "".join(fold_line(line) + "\r\n" for line in lines)
