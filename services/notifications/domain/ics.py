"""The iCalendar (RFC 5545) invite of a meeting, built from the MeetingScheduled data alone."""
from __future__ import annotations

from datetime import datetime, timedelta
from typing import Sequence

from shared.clock import parse_rfc3339


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%SZ")


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,").replace("\n", "\\n")


def build_ics(meeting: dict, *, sequence: int, dtstamp: str, summary: str = "Mentoring meeting",
              attendees: Sequence[tuple[str | None, str | None]] = (),
              organizer: tuple[str | None, str | None] | None = None,
              method: str = "REQUEST", url: str | None = None, uid: str | None = None) -> str:
    """`meeting` holds meeting_id, starts_at (RFC 3339) and duration_minutes; attendees are (name, email).
    `url`: the meeting's page in the web app (URL, and in DESCRIPTION for calendars that do not show
    URL); the agenda is private to the pair and never reaches this service. `uid`: the event's UID
    (default the meeting's; a circle's group meeting shares one across its members' copies)."""
    start = parse_rfc3339(meeting["starts_at"])
    end = start + timedelta(minutes=int(meeting["duration_minutes"]))
    lines = [
        "BEGIN:VCALENDAR",
        "PRODID:-//Mentoring platform//notifications//EN",
        "VERSION:2.0",
        "CALSCALE:GREGORIAN",
        f"METHOD:{method}",
        "BEGIN:VEVENT",
        f"UID:{uid or (meeting['meeting_id'] + '@mentoring')}",
        f"SEQUENCE:{int(sequence)}",
        f"DTSTAMP:{_stamp(parse_rfc3339(dtstamp))}",
        f"DTSTART:{_stamp(start)}",
        f"DTEND:{_stamp(end)}",
        f"SUMMARY:{_escape(summary)}",
    ]
    if url:
        link = "".join(ch for ch in url if ch >= " " and ch != "\x7f")  # nothing that could end the line
        lines += [f"DESCRIPTION:{_escape('Meeting page: ' + link)}", f"URL:{link}"]
    if meeting.get("timezone"):
        lines.append(f"X-ORGANIZER-TIMEZONE:{_escape(meeting['timezone'])}")
    if organizer and organizer[1]:
        lines.append(f"ORGANIZER;CN={_escape(organizer[0] or organizer[1])}:mailto:{organizer[1]}")
    for name, email in attendees:
        if email:
            lines.append(f"ATTENDEE;CN={_escape(name or email)};ROLE=REQ-PARTICIPANT;RSVP=TRUE:mailto:{email}")
    lines += ["STATUS:CONFIRMED" if method == "REQUEST" else "STATUS:CANCELLED", "END:VEVENT", "END:VCALENDAR"]
    return "\r\n".join(lines) + "\r\n"
