"""Circles' group meetings on in-memory adapters (no servers): the circle view from matching's events
(one document per partition, a member's later events find its circle), a group meeting as one copy per
active member, a retried request completing instead of doubling, and a held group meeting counting as
held for each member present only (meetings view, engagement roster), the absent one a no-show."""
from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from shared.aggregate import Causation
from shared.clock import rfc3339
from shared.consumer import RecordAt, consuming
from shared.errors import Conflict, Invalid
from shared.events.catalog.matching import PAIRING_ACTIVATED, PAIRING_ENDED, PAIRING_PROPOSED
from shared.events.envelope import new_event
from services.notifications.domain.routing import reminder_intents, route
from services.sessions.adapters.ics import group_invitation
from services.sessions.application.export import person_export
from services.sessions.application.projections import CirclesProjection
from tests.unit.sessions.test_application import NOW, context

MENTEES = {"pa": "mentee-a", "pb": "mentee-b", "pc": "mentee-c", "pd": "mentee-d"}


def _event(event_type, pairing_id, version, **extra):
    data = {"pairing_id": pairing_id, "cohort_id": "c1", "mentor_id": "mentor-1", "mentee_id": MENTEES[pairing_id],
            **extra}
    return new_event(event_type=event_type, schema_version=1, data=data, producer="matching", aggregate_type="pairing",
                     aggregate_id=pairing_id, aggregate_version=version, correlation_id="c", causation_id=None)


def _deliver(projection, partition, offset, envelope):
    with consuming({envelope.event_id: RecordAt("mentoring.matching.v1", partition, offset)}):
        projection.handlers()[envelope.event_type](envelope)


def circle_context():
    """A circle of four member pairings (pd ended): pairings view and circle view as matching's events leave them."""
    ctx = context()
    projection = CirclesProjection(ctx.database)
    offsets: dict[int, int] = {}
    for index, pairing_id in enumerate(MENTEES):
        status = "ended" if pairing_id == "pd" else "active"
        ctx.database["pairings"].insert_one({
            "_id": pairing_id, "cohort_id": "c1", "mentor_id": "mentor-1", "mentee_id": MENTEES[pairing_id],
            "status": status, "activated_at": rfc3339(NOW - timedelta(days=20)), "ended_at": None, "version": 2})
        partition = 2 if pairing_id == "pc" else index % 2  # partition 2 alone: placeholders stand for 0 and 1
        events = [_event(PAIRING_PROPOSED, pairing_id, 1, circle_id="circle-1"),
                  _event(PAIRING_ACTIVATED, pairing_id, 2, activated_at=rfc3339(NOW - timedelta(days=20)))]
        if status == "ended":
            events.append(_event(PAIRING_ENDED, pairing_id, 3, reason="other", ended_by="admin-1"))
        for envelope in events:
            offsets[partition] = offsets.get(partition, -1) + 1
            _deliver(projection, partition, offsets[partition], envelope)
    _deliver(projection, 0, 0, _event(PAIRING_PROPOSED, "pa", 1, circle_id="circle-1"))  # redelivered: no change
    return ctx


def _request(actor="mentor-1") -> Causation:
    return Causation(correlation_id="chain", causation_id=str(uuid.uuid4()), actor_id=actor)


def test_the_circle_view_lists_every_member_with_its_status_from_all_partitions():
    ctx = circle_context()
    circle = ctx.circles.circle("circle-1")
    assert circle.mentor_id == "mentor-1" and circle.cohort_id == "c1"
    assert {pid: m.status for pid, m in circle.members.items()} == {
        "pa": "active", "pb": "active", "pc": "active", "pd": "ended"}
    assert ctx.circles_view.get("p1") is None  # a pair is no circle


def test_a_held_group_meeting_counts_for_each_member_present_and_not_for_the_absent_one():
    ctx = circle_context()
    circle = ctx.circles.circle("circle-1")
    starts = NOW + timedelta(days=2)
    ask = _request()
    scheduled, position = ctx.circles.schedule(circle, actor_id="mentor-1", organizer_id="mentor-1",
                                               starts_at=starts, duration_minutes=60, timezone="Europe/Berlin",
                                               agenda="Giving feedback", causation=ask)
    view = ctx.circles.view(scheduled, from_streams=True)
    assert position > 0 and view.status == "scheduled"
    assert sorted(m.mentee_id for m in view.copies) == ["mentee-a", "mentee-b", "mentee-c"]  # pd ended: no copy
    gid = view.group.group_meeting_id
    assert {m.group_meeting_id for m in view.copies} == {gid} and view.group.agenda == "Giving feedback"
    assert ctx.meetings.texts(view.copies[0].meeting_id)["agenda"] == "Giving feedback"  # each pair sees it
    again, _ = ctx.circles.schedule(circle, actor_id="mentor-1", organizer_id="mentor-1", starts_at=starts,
                                    duration_minutes=60, timezone="Europe/Berlin", agenda="Giving feedback",
                                    causation=ask)
    assert again.group_meeting_id == gid and len(ctx.circles._meetings("circle-1").meetings) == 1
    ctx.projector.catch_up()
    mentor_file, member_file = person_export(ctx, "mentor-1"), person_export(ctx, "mentee-b")
    [group_event] = [e for e in mentor_file["events"] if e["event_type"] == "GroupMeetingScheduled"]
    assert "Giving feedback" in str(group_event)  # the agenda, to its author
    assert "GroupMeetingScheduled" in str(member_file["events"]) and "Giving feedback" not in str(member_file)

    # moved together (a retry moves nothing twice)
    group = ctx.circles.group("circle-1", gid)
    moved_to = starts + timedelta(hours=3)
    assert ctx.circles.reschedule(group, by="mentor-1", starts_at=moved_to, duration_minutes=None, causation=_request())
    assert ctx.circles.reschedule(group, by="mentor-1", starts_at=moved_to, duration_minutes=None,
                                  causation=_request()) == 0
    assert {(m.starts_at, m.sequence) for m in ctx.circles.view(group, from_streams=True).copies} == {(moved_to, 1)}

    ctx.clock.advance(days=3)
    with pytest.raises(Invalid) as incomplete:
        ctx.circles.mark_held(group, by="mentor-1", attendance={"mentee-a": "present"}, held_at=None,
                              duration_minutes=None, causation=_request())
    assert incomplete.value.code == "attendance_incomplete"
    attendance = {"mentee-a": "present", "mentee-b": "absent", "mentee-c": "present"}
    assert ctx.circles.mark_held(group, by="mentor-1", attendance=attendance, held_at=None, duration_minutes=None,
                                 causation=_request())
    assert ctx.circles.mark_held(group, by="mentor-1", attendance=attendance, held_at=None, duration_minutes=None,
                                 causation=_request()) == 0  # a retry records nothing twice
    ctx.projector.catch_up()
    [listed] = ctx.circles.of_circle("circle-1")
    assert listed.status == "held"
    assert {m.mentee_id: m.status for m in listed.copies} == {
        "mentee-a": "held", "mentee-b": "no_show", "mentee-c": "held"}
    held = {pid: ctx.roster_meetings.load_held(pid)[1].summary()[0] for pid in ("pa", "pb", "pc")}
    assert held == {"pa": 1, "pb": 0, "pc": 1}  # the engagement roster: held for the two who came
    with pytest.raises(Conflict):
        ctx.circles.cancel(group, by="mentor-1", reason="conflict", causation=_request())


def test_a_member_recording_their_own_copy_leaves_the_rest_to_the_mentor():
    ctx = circle_context()
    scheduled, _ = ctx.circles.schedule(ctx.circles.circle("circle-1"), actor_id="mentor-1", organizer_id="mentor-1",
                                        starts_at=NOW + timedelta(days=2), duration_minutes=60, timezone="UTC",
                                        agenda=None, causation=_request())
    view = ctx.circles.view(scheduled, from_streams=True)
    ctx.clock.advance(days=3)
    own = next(m for m in view.copies if m.mentee_id == "mentee-a")
    ctx.meetings.complete(own, by="mentee-a", held_at=None, duration_minutes=None, attendees=None, notes=None,
                          causation=_request("mentee-a"))
    group = view.group
    assert ctx.circles.view(group, from_streams=True).status == "scheduled"  # two copies still to record
    ctx.circles.mark_held(group, by="mentor-1", held_at=None, duration_minutes=None, causation=_request(),
                          attendance={"mentee-a": "present", "mentee-b": "present", "mentee-c": "absent"})
    assert ctx.circles.view(group, from_streams=True).status == "held"


def test_the_mentor_is_told_once_per_group_meeting_and_each_member_once():
    ctx = circle_context()
    scheduled, _ = ctx.circles.schedule(ctx.circles.circle("circle-1"), actor_id="mentor-1", organizer_id="mentor-1",
                                        starts_at=NOW + timedelta(days=2), duration_minutes=60, timezone="UTC",
                                        agenda=None, causation=_request())
    view = ctx.circles.view(scheduled, from_streams=True)
    intents = []
    for copy in view.copies:
        [scheduled] = ctx.store.load(copy.meeting_id).events
        intents += route(scheduled.event_type, scheduled.event_id, scheduled.data)
    by_recipient: dict[str, set] = {}
    for intent in intents:  # the delivery store keeps one per (dedupe key, recipient)
        by_recipient.setdefault(intent.recipient_id, set()).add(intent.dedupe_key)
    assert {r: len(keys) for r, keys in by_recipient.items()} == {
        "mentor-1": 1, "mentee-a": 1, "mentee-b": 1, "mentee-c": 1}

    ics = group_invitation(view.group, view.copies, {}, stamp=NOW, description="Agenda",
                           url="https://app.example/circles/circle-1").replace("\r\n ", "")
    assert ics.count("BEGIN:VEVENT") == 1
    assert f"UID:{view.group.group_meeting_id}@sessions.mentoring" in ics
    assert "URL:https://app.example/circles/circle-1" in ics and "DESCRIPTION:Agenda" in ics


def test_a_circles_meeting_reads_as_the_circles_in_both_languages_and_its_invite_shares_the_uid():
    from services.notifications.adapters.templates import TemplateRenderer
    from services.notifications.domain.ics import build_ics

    renderer = TemplateRenderer()
    context = {"recipient_name": "Ann", "other_name": "Bob", "circle_id": "circle-1", "meeting_local": "today",
               "duration_minutes": 60, "meeting_url": "https://app/circles/circle-1", "feedback_url": "u",
               "unsubscribe_url": "x"}
    assert renderer.render("meeting_scheduled", ["en"], context).subject == \
        "Mentoring meeting with your mentoring circle: today"
    assert "mit Ihrem Mentoring-Kreis" in renderer.render("feedback_request", ["de"], context).subject
    assert "Sie treffen Ihren Mentoring-Kreis" in renderer.render("meeting_reminder", ["de"], context).text
    copies = [{"meeting_id": f"copy-{m}", "mentor_id": "mentor-1", "mentee_id": m, "starts_at": rfc3339(NOW),
               "group_meeting_id": "g-1", "circle_id": "circle-1"} for m in ("mentee-a", "mentee-b")]
    keys = {(i.recipient_id, i.dedupe_key) for copy in copies for i in reminder_intents(copy)}
    assert sorted(r for r, _ in keys) == ["mentee-a", "mentee-b", "mentor-1"]  # one reminder for the mentor
    ics = build_ics({"meeting_id": "copy-1", "starts_at": rfc3339(NOW), "duration_minutes": 60}, sequence=0,
                    dtstamp=rfc3339(NOW), uid="g-1@sessions.mentoring")
    assert "UID:g-1@sessions.mentoring" in ics
