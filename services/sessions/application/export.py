"""Subject access export of the sessions service (GDPR Art. 15, issue 13; docs/api-privacy.md).

What sessions holds about a person: their HRIS record as this service keeps it, the pairings they
are a party of, those pairings' meetings, goals (current list and every revision) and engagement
state, and the events of those streams: each meeting's stream and each pairing's goals/engagement
stream (stream id = pairing id).

Private text is given only to its author: an agenda to whoever scheduled the meeting (MeetingScheduled
`actor_id`; `organizer_id` for v1 events that never recorded it), notes to `notes_by`, a dispute reason
to the one who disputed. The partner's agenda, notes and dispute reason stay out of the file: they
are the partner's words (the pair still reads shared notes and agendas in the app, as before).

Recurring meetings' series streams (their rule) come with the meetings, and so do the streams of the
circles whose group meetings they are copies of (issue 15; the agenda, again, to its author). The person's weekly
availability (issue 15) is theirs alone: its current state, and its stream's
events with the intervals and zone each change stored privately.
"""
from __future__ import annotations

from shared import export
from shared.events.catalog.sessions import (
    AVAILABILITY_SET, GROUP_MEETING_SCHEDULED, MEETING_DISPUTED, MEETING_HELD, MEETING_SCHEDULED,
)
from shared.events.envelope import Envelope
from services.sessions.application.circles import circle_stream
from services.sessions.application.series import series_stream
from services.sessions.domain.availability import stream_id as availability_stream

SERVICE = "sessions"
WITHHELD = [
    "agendas, meeting notes and dispute reasons the partner wrote: the partner's words (readable by the pair "
    "in the app while they are kept, see README Privacy)",
]


def authored_text(employee_id: str):
    """The private-part rule of meeting streams: the fields the person wrote themselves."""

    def rule(event: Envelope, private: dict) -> dict:
        data = event.data
        if event.event_type in (MEETING_SCHEDULED, GROUP_MEETING_SCHEDULED):
            author = data.get("actor_id") or data.get("organizer_id")
            return {"agenda": private["agenda"]} if author == employee_id and private.get("agenda") else {}
        if event.event_type == MEETING_HELD:
            return ({name: private[name] for name in ("notes", "notes_by") if name in private}
                    if private.get("notes_by") == employee_id else {})
        if event.event_type == MEETING_DISPUTED:
            return ({"dispute_reason": private["dispute_reason"]}
                    if data.get("disputed_by") == employee_id and "dispute_reason" in private else {})
        return {}
    return rule


def own_availability(event: Envelope, private: dict) -> dict:
    """The private-part rule of the person's availability stream: all of it is theirs."""
    return dict(private) if event.event_type == AVAILABILITY_SET else {}


def _availability(context, employee_id: str) -> dict | None:
    state = context.availability.current(employee_id)
    if not state.version:
        return None
    return {"weekly": [interval.as_dict() for interval in state.weekly], "time_zone": state.time_zone,
            "updated_at": state.updated_at}


def _legacy_texts(legacy, meeting: dict, employee_id: str) -> dict | None:
    """What older versions kept in `meeting_texts`, by the same rule (the agenda by the organiser)."""
    if legacy is None:
        return None
    texts = legacy.get(meeting["_id"])
    mine = {}
    if texts.get("notes") and texts.get("notes_by") == employee_id:
        mine["notes"] = texts["notes"]
    if texts.get("agenda") and (meeting.get("scheduled_by") or meeting.get("organizer_id")) == employee_id:
        mine["agenda"] = texts["agenda"]
    return {"meeting_id": meeting["_id"], **mine} if mine else None


def person_export(context, employee_id: str) -> dict:
    pairings = context.pairings.docs_of_party(employee_id)
    pairing_ids = sorted(doc["_id"] for doc in pairings)
    meetings = context.meetings_view.of_party(employee_id)
    goals = []
    for pairing_id in pairing_ids:
        state = context.goals.current(pairing_id)
        if state.revision:
            goals.append({"pairing_id": pairing_id, "revision": state.revision, "goals": state.goals,
                          "revisions": state.history})
    legacy = getattr(context.meetings, "legacy_texts", None)
    data = {
        "participant": export.plain(context.participants.get(employee_id)),
        "pairings": export.documents(pairings),
        "meetings": export.documents(meetings),
        "meeting_texts": export.plain([t for m in meetings if (t := _legacy_texts(legacy, m, employee_id))]),
        "goals": export.plain(goals),
        "engagement": export.documents(context.engagement_view.collection.find_one({"_id": pairing_id})
                                       for pairing_id in pairing_ids),
        "availability": export.plain(_availability(context, employee_id)),
    }
    events = (export.events_of(context.store, [m["_id"] for m in meetings], authored_text(employee_id),
                               sealer=context.sealer)
              + export.events_of(context.store, pairing_ids, sealer=context.sealer)
              + export.events_of(context.store, sorted({series_stream(m["series_id"]) for m in meetings
                                                        if m.get("series_id")}))
              + export.events_of(context.store, sorted({circle_stream(m["circle_id"]) for m in meetings
                                                        if m.get("circle_id")}), authored_text(employee_id),
                                 sealer=context.sealer)
              + export.stream_events(context.store, availability_stream(employee_id), own_availability,
                                     sealer=context.sealer))
    return export.envelope(SERVICE, employee_id, context.clock.now(), data, events, WITHHELD)
