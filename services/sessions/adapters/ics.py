"""RFC 5545 (iCalendar) invitation for a meeting, written by hand.

The event is expressed in the organiser's time zone (`DTSTART;TZID=...`) with a matching
VTIMEZONE that lists the zone's real UTC-offset transitions around the meeting (from the IANA
database via zoneinfo), so calendars show the right local time. Lines end in CRLF and lines
longer than 75 octets are folded.

Names, e-mail addresses and agendas come from people (HRIS, the organiser): nothing they type
may end a line. TEXT values are escaped (RFC 5545 3.3.11: backslash, semicolon, comma, any line
break -> `\\n`, other control characters dropped), parameter values (CN) lose control characters
and double quotes (3.2: they cannot hold them), and CAL-ADDRESS values are percent-encoded URIs.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from urllib.parse import quote
from zoneinfo import ZoneInfo

from services.sessions.domain.circles import current_slot, ends_at, status_of

PRODID = "-//Mentoring Platform//Sessions 1.0//EN"


_LINE_BREAKS = re.compile(r"\r\n|\r|\n|\u2028|\u2029|\x85")
_CONTROLS = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # every control character but HTAB


def escape_text(value: str) -> str:
    """A TEXT value (RFC 5545 3.3.11): no character of it can end the property or start another."""
    escaped = value.replace("\\", "\\\\").replace(";", "\\;").replace(",", "\\,")
    return _CONTROLS.sub("", _LINE_BREAKS.sub("\\\\n", escaped))


def param_value(value: str) -> str:
    """A quoted parameter value (RFC 5545 3.2): no control characters, no DQUOTE."""
    return '"' + _CONTROLS.sub(" ", _LINE_BREAKS.sub(" ", value)).replace('"', "'") + '"'


def cal_address(email: str) -> str:
    """A CAL-ADDRESS (a mailto URI): anything outside the URI characters is percent-encoded."""
    return "mailto:" + quote(email.strip(), safe="@!$&'()*+,;=-._~")


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
    return f"{prop};CN={param_value(name)}{extra}:{cal_address(email)}"


def _description(agenda: str | None, url: str | None) -> str | None:
    parts = [part for part in ((agenda or "").strip(), f"Meeting page: {url}" if url else "") if part]
    return "\n\n".join(parts) or None


def meeting_page_url(app_url: str, meeting_id: str) -> str:
    """The portal's page of the meeting (services/portal: `/meetings/<id>`), as links in emails open it."""
    return f"{app_url.rstrip('/')}/meetings/{quote(meeting_id, safe='')}"


def meeting_invitation(meeting, participants: dict[str, dict | None], *, stamp: datetime,
                       description: str | None = None, url: str | None = None) -> str:
    """The meeting as a VCALENDAR; `participants` maps employee id -> HRIS profile (or None).

    `description` (the agenda) is private to the two parties: pass it only when one of them asks.
    `url` (the meeting's page in the portal) goes into URL and, for calendars that do not show
    URL, at the end of DESCRIPTION.
    """
    zone = ZoneInfo(meeting.timezone)
    mentor = participants.get(meeting.mentor_id) or {}
    mentee = participants.get(meeting.mentee_id) or {}
    summary = "Mentoring session: {} and {}".format(mentor.get("display_name") or meeting.mentor_id,
                                                     mentee.get("display_name") or meeting.mentee_id)
    # an occurrence of a series is that series' event at its original time (RFC 5545 RECURRENCE-ID)
    # a member's copy of a circle's group meeting shares the group meeting's UID: one calendar event
    return _calendar(
        tzid=meeting.timezone, start=meeting.starts_at.astimezone(zone), cancelled=meeting.status == "cancelled",
        organizer=_person("ORGANIZER", participants.get(meeting.organizer_id), meeting.organizer_id),
        events=[_vevent(
            uid=meeting.series_id or meeting.group_meeting_id or meeting.meeting_id,
            recurrence_id=_recurrence_id(meeting) if meeting.series_id and meeting.original_starts_at else None,
            stamp=stamp, tzid=meeting.timezone, start=meeting.starts_at.astimezone(zone),
            end=meeting.ends_at().astimezone(zone), summary=summary, about=_about(description, url),
            sequence=meeting.sequence, cancelled=meeting.status == "cancelled",
            people=_people(participants, meeting.organizer_id, meeting.parties))])


def _about(description: str | None, url: str | None) -> list[str]:
    """DESCRIPTION (the agenda, then the page) and URL, each when there is one."""
    text = _description(description, url)
    return [*([f"DESCRIPTION:{escape_text(text)}"] if text else []),
            *([f"URL:{_CONTROLS.sub('', _LINE_BREAKS.sub('', url))}"] if url else [])]


def _people(participants: dict[str, dict | None], organizer_id: str, attendee_ids) -> list[str]:
    """ORGANIZER, then one ATTENDEE per person, each only when the HRIS gave them an email."""
    lines = [line] if (line := _person("ORGANIZER", participants.get(organizer_id), organizer_id)) else []
    for employee_id in attendee_ids:
        attendee = _person("ATTENDEE", participants.get(employee_id), employee_id,
                           ";ROLE=REQ-PARTICIPANT;PARTSTAT=NEEDS-ACTION;RSVP=TRUE")
        if attendee:
            lines.append(attendee)
    return lines


def _vevent(*, uid: str, stamp: datetime, tzid: str, start: datetime, end: datetime, summary: str,
            about: list[str], sequence: int, cancelled: bool, people: list[str], recurrence_id: str | None = None,
            rules: tuple[str, ...] = ()) -> list[str]:
    """One VEVENT: start and end in the organiser's zone, `rules` (RRULE, EXDATE) after DTEND."""
    return ["BEGIN:VEVENT", f"UID:{escape_text(uid)}@sessions.mentoring",
            *([recurrence_id] if recurrence_id else []), f"DTSTAMP:{_utc(stamp)}",
            f"DTSTART;TZID={tzid}:{_local(start)}", f"DTEND;TZID={tzid}:{_local(end)}", *rules,
            f"SUMMARY:{escape_text(summary)}", *about, f"SEQUENCE:{sequence}",
            f"STATUS:{'CANCELLED' if cancelled else 'CONFIRMED'}", *people, "END:VEVENT"]


def _calendar(*, tzid: str, start: datetime, cancelled: bool, organizer: str | None, events: list[list[str]]) -> str:
    """The VCALENDAR around `events`: METHOD only with an organiser (RFC 5546), the zone's VTIMEZONE,
    CRLF line ends and folded lines."""
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:{PRODID}", "CALSCALE:GREGORIAN"]
    if organizer:
        lines.append("METHOD:CANCEL" if cancelled else "METHOD:REQUEST")
    lines += vtimezone(tzid, start)
    for event in events:
        lines += event
    lines.append("END:VCALENDAR")
    return "".join(fold_line(line) + "\r\n" for line in lines)


def _recurrence_id(meeting) -> str:
    original = meeting.original_starts_at.astimezone(ZoneInfo(meeting.timezone))
    return f"RECURRENCE-ID;TZID={meeting.timezone}:{_local(original)}"


def series_invitation(series, occurrences: list, participants: dict[str, dict | None], *, stamp: datetime,
                      description: str | None = None, url: str | None = None) -> str:
    """A recurring meeting as one VEVENT with an RRULE (weekly, `interval_weeks`, `count` times, in the
    organiser's zone, so DST keeps the local time), an EXDATE per cancelled occurrence, and one
    overriding VEVENT (same UID, RECURRENCE-ID) per occurrence moved since."""
    zone = ZoneInfo(series.timezone)
    tz = series.timezone
    start = series.starts_at.astimezone(zone)
    mentor = participants.get(series.mentor_id) or {}
    mentee = participants.get(series.mentee_id) or {}
    summary = "Mentoring session: {} and {}".format(mentor.get("display_name") or series.mentor_id,
                                                     mentee.get("display_name") or series.mentee_id)
    same = dict(uid=series.series_id, stamp=stamp, tzid=tz, summary=summary, about=_about(description, url),
                cancelled=False, people=_people(participants, series.organizer_id, series.parties))
    cancelled = [m for m in occurrences if m.status == "cancelled"]
    moved = [m for m in occurrences if m.status != "cancelled" and m.starts_at != m.original_starts_at]
    recurring = _vevent(
        start=start, end=(series.starts_at + timedelta(minutes=series.duration_minutes)).astimezone(zone),
        rules=(f"RRULE:FREQ=WEEKLY;INTERVAL={series.interval_weeks};COUNT={series.count}",
               *[f"EXDATE;TZID={tz}:{_local(m.original_starts_at.astimezone(zone))}" for m in cancelled]),
        sequence=max([0, *(m.sequence for m in occurrences)]), **same)
    overrides = [_vevent(recurrence_id=_recurrence_id(meeting), start=meeting.starts_at.astimezone(zone),
                         end=meeting.ends_at().astimezone(zone), sequence=meeting.sequence, **same)
                 for meeting in moved]
    # a series is never sent as a cancellation: its cancelled occurrences are EXDATEs
    return _calendar(tzid=tz, start=start, cancelled=False,
                     organizer=_person("ORGANIZER", participants.get(series.organizer_id), series.organizer_id),
                     events=[recurring, *overrides])


def circle_page_url(app_url: str, circle_id: str) -> str:
    """The portal's page of a circle (services/portal: `/circles/<id>`), where its group meetings are."""
    return f"{app_url.rstrip('/')}/circles/{quote(circle_id, safe='')}"


def group_invitation(group, copies: list, participants: dict[str, dict | None], *, stamp: datetime,
                     description: str | None = None, url: str | None = None) -> str:
    """A circle's group meeting as one VEVENT: the UID every member's copy has too (so a calendar holding
    both shows one event), the mentor and each member whose copy is not cancelled as attendees, the
    agenda (pass it only to the circle's own people) and the circle's page."""
    starts_at, minutes, sequence = current_slot(group, copies)
    zone = ZoneInfo(group.timezone)
    start = starts_at.astimezone(zone)
    cancelled = status_of(copies) == "cancelled"
    mentor = participants.get(group.mentor_id) or {}
    attendees = [group.mentor_id, *sorted(m.mentee_id for m in copies if m.status != "cancelled")]
    return _calendar(
        tzid=group.timezone, start=start, cancelled=cancelled,
        organizer=_person("ORGANIZER", participants.get(group.organizer_id), group.organizer_id),
        events=[_vevent(uid=group.group_meeting_id, stamp=stamp, tzid=group.timezone, start=start,
                        end=ends_at(starts_at, minutes).astimezone(zone),
                        summary="Mentoring circle: {}".format(mentor.get("display_name") or group.mentor_id),
                        about=_about(description, url), sequence=sequence, cancelled=cancelled,
                        people=_people(participants, group.organizer_id, attendees))])
