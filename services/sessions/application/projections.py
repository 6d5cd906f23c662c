"""The sessions service's read models. Each is a projection with a checkpoint, rebuildable, idempotent.

Kafka-fed (`SessionsContext.projections()`):
- participants (hris.employees.v1): name, e-mail and time zone, newest record wins (shared.directory);
- pairings and cohorts (mentoring.matching.v1): status, parties, activation, cadence. A document
  remembers the `aggregate_version` it applied (matching's streams are gap-free and ordered per key).

Own-stream (`SessionsContext.own_projections()`, fed from the event store by shared.projector):
- meetings: each meeting's current state, for lists and engagement numbers;
- engagement: whether each pairing is announced at risk;
- agreements: the cadence each pairing's parties last agreed to (AgreementConfirmed);
- busy times: per person and UTC week, their scheduled meetings in every pairing (finding slots).
Both remember the aggregate version they applied; a replayed commit changes nothing.

The engagement roster (domain/roster.py, adapters/roster.py): what the cohort engagement report
reads by `_id`, in two parts with one writer each: `RosterPairsProjection` (Kafka-fed: per
partition of matching's topic, that partition's consumer) and `RosterMeetingsProjection`
(own-stream: held meetings and confirmed cadences).

Reactions with side effects (cancelling the meetings of an ended pairing, announcing a pairing
back on track) are policies (application/policies.py), not callbacks here.
"""
from __future__ import annotations

from datetime import timedelta

from shared import topics
from shared.consumer import Projection, record_of
from shared.directory import DirectoryProjection
from shared.events.catalog.matching import (
    COHORT_CREATED, COHORT_REVISED, PAIRING_ACTIVATED, PAIRING_COMPLETED, PAIRING_ENDED, PAIRING_PROPOSED,
    PAIRING_STATUS_BY_EVENT, STAY_IN_TOUCH_CHOSEN,
)
from shared.events.catalog.sessions import (
    AGREEMENT_CONFIRMED, AVAILABILITY_SET, MEETING_DISPUTED, MEETING_EVENTS, MEETING_HELD, MEETING_RESCHEDULED,
    MEETING_SCHEDULED, MEETING_STREAM_EVENTS, PAIRING_AT_RISK, PAIRING_BACK_ON_TRACK,
)
from shared.clock import parse_rfc3339, rfc3339
from shared.events.envelope import Envelope
from shared.projector import order_of
from shared.metrics import PAIRINGS_ACTIVE
from services.sessions.adapters.mongo import (
    AGREEMENTS, AVAILABILITY_INDEX, BUSY_PLACEMENTS, BUSY_WEEKS, COHORTS, ENGAGEMENT, MEETINGS, PAIRING_MEETINGS,
    PAIRINGS, AgreementsRepository, AvailabilityIndex, BusyTimesRepository, EngagementRepository,
    MeetingsRepository, PairingsRepository, busy_week_id, from_doc, to_doc, week_of,
)
from services.sessions.adapters.circles import CIRCLE_MEMBERS, CIRCLES, CirclesView
from services.sessions.adapters.roster import ROSTER_HELD, ROSTER_MEETINGS, ROSTER_PAIRS, RosterMeetings, RosterPairs
from services.sessions.domain import meetings as meeting_rules
from services.sessions.domain.meetings import Meeting

PARTICIPANT_FIELDS = ("display_name", "email", "timezone")


def participants_projection(database) -> DirectoryProjection:
    return DirectoryProjection(database, name="sessions-participants", fields=PARTICIPANT_FIELDS)


class PairingsProjection(Projection):
    name = "sessions-pairings"
    topics = (topics.MATCHING,)
    collections = (PAIRINGS, COHORTS)

    def __init__(self, database):
        self.bind(database)

    def bind(self, database) -> None:
        self.repository = PairingsRepository(database)

    def handlers(self):
        handlers = {event_type: self.pairing_event for event_type in PAIRING_STATUS_BY_EVENT}
        handlers[COHORT_CREATED] = self.cohort_created
        handlers[COHORT_REVISED] = self.cohort_revised
        return handlers

    def reset(self) -> None:
        self.repository.drop()

    def cohort_created(self, envelope: Envelope) -> None:
        data = envelope.data
        self.repository.put_cohort({"_id": data["cohort_id"], "name": data["name"],
                                    "meeting_cadence_days": data["meeting_cadence_days"],
                                    "version": envelope.aggregate_version})

    def cohort_revised(self, envelope: Envelope) -> None:
        # a revised cadence moves the at-risk clock of every pairing in the cohort from now on
        data = envelope.data
        kept = {name: data[name] for name in ("name", "meeting_cadence_days") if name in data["changed"]}
        doc = self.repository.get_cohort(data["cohort_id"])
        if not kept or doc is None:
            return
        self.repository.put_cohort({**doc, **kept, "version": envelope.aggregate_version})

    def pairing_event(self, envelope: Envelope) -> None:
        data = envelope.data
        doc = self.repository.get_doc(data["pairing_id"])
        if doc is not None and doc.get("version", 0) >= envelope.aggregate_version:
            return  # already applied (redelivery or replay)
        doc = doc or {"_id": data["pairing_id"], "status": "proposed", "activated_at": None, "ended_at": None}
        doc.update(cohort_id=data["cohort_id"], mentor_id=data["mentor_id"], mentee_id=data["mentee_id"],
                   version=envelope.aggregate_version)
        status = PAIRING_STATUS_BY_EVENT[envelope.event_type]
        if status:
            doc["status"] = status
        if envelope.event_type == PAIRING_ACTIVATED:
            doc["activated_at"] = data["activated_at"]
        if envelope.event_type == PAIRING_ENDED:
            doc["ended_at"] = envelope.occurred_at
        if envelope.event_type == PAIRING_COMPLETED:
            doc["completed_at"] = envelope.occurred_at
        if envelope.event_type == STAY_IN_TOUCH_CHOSEN:
            doc["staying_in_touch"] = data["staying_in_touch"]
            if not data["stay_in_touch"]:
                doc["parted_at"] = envelope.occurred_at  # its meetings still to come are cancelled
        self.repository.put(doc)


class MeetingsProjection(Projection):
    """meetings: the meeting's state after each of its events (own stream, in stream order)."""

    name = "sessions-meetings"
    topics = ()
    collections = (MEETINGS, PAIRING_MEETINGS)

    def __init__(self, database):
        self.bind(database)

    def bind(self, database) -> None:
        self.repository = MeetingsRepository(database)

    def handlers(self):
        return {event_type: self.meeting_event for event_type in MEETING_STREAM_EVENTS}

    def reset(self) -> None:
        self.repository.drop()

    # Runs of new meetings (requests scheduling at once, a series' or a circle's occurrences) are
    # stored in one insert and filed once per pairing: the store projector applies commits one at a
    # time for every request of the service, and each request waits for its own (read-your-writes).
    batchable = frozenset({MEETING_SCHEDULED})

    def apply_batch(self, envelopes: list[Envelope]) -> None:
        if not _new_meetings(envelopes):
            return super().apply_batch(envelopes)
        stored = self.repository.insert_first([to_doc(meeting_rules.fold(e.aggregate_id, [e])) for e in envelopes])
        for envelope in envelopes:
            if envelope.aggregate_id in stored:  # applied before (a replay): decided on what is stored
                self._advance(envelope)

    def meeting_event(self, envelope: Envelope) -> None:
        if _new_meetings([envelope]):  # a new meeting alone is a run of one: inserted first, not looked up
            self.apply_batch([envelope])
        else:
            self._advance(envelope)

    def _advance(self, envelope: Envelope) -> None:
        doc = self.repository.get(envelope.aggregate_id)
        if doc is not None and doc.get("version", 0) >= envelope.aggregate_version:
            return
        meeting = from_doc(doc) if doc is not None else Meeting(meeting_id=envelope.aggregate_id)
        meeting_rules.apply(meeting, envelope.event_type, envelope.data)
        meeting.version = envelope.aggregate_version
        meeting.updated_at = envelope.occurred_at
        self.repository.put(to_doc(meeting), new=doc is None)


class EngagementProjection(Projection):
    """engagement: per pairing, the at-risk flag its stream announces (own stream)."""

    name = "sessions-engagement"
    topics = ()
    collections = (ENGAGEMENT,)

    def __init__(self, database):
        self.bind(database)

    def bind(self, database) -> None:
        self.repository = EngagementRepository(database)

    def handlers(self):
        return {PAIRING_AT_RISK: self.flag, PAIRING_BACK_ON_TRACK: self.flag}

    def reset(self) -> None:
        self.repository.drop()

    def flag(self, envelope: Envelope) -> None:
        self.repository.put({"_id": envelope.aggregate_id, "at_risk": envelope.event_type == PAIRING_AT_RISK,
                             "cohort_id": envelope.data["cohort_id"], "version": envelope.aggregate_version,
                             "since": envelope.occurred_at})


class AgreementsProjection(Projection):
    """agreements: per pairing, the cadence both parties last confirmed (own stream). Only confirmed
    terms are here: a revision waiting for confirmation changes nothing until it is confirmed."""

    name = "sessions-agreements"
    topics = ()
    collections = (AGREEMENTS,)

    def __init__(self, database):
        self.bind(database)

    def bind(self, database) -> None:
        self.repository = AgreementsRepository(database)

    def handlers(self):
        return {AGREEMENT_CONFIRMED: self.confirmed}

    def reset(self) -> None:
        self.repository.drop()

    def confirmed(self, envelope: Envelope) -> None:
        data = envelope.data
        self.repository.put({"_id": envelope.aggregate_id, "cohort_id": data["cohort_id"],
                             "revision": data["revision"], "cadence_days": data["cadence_days"],
                             "version": envelope.aggregate_version, "confirmed_at": data["confirmed_at"]})


class AvailabilityIndexProjection(Projection):
    """availability_index: per person, when they last set their weekly availability (own stream);
    the retention job's list of whose availability may age (application/retention.py)."""

    name = "sessions-availability-index"
    topics = ()
    collections = (AVAILABILITY_INDEX,)

    def __init__(self, database):
        self.bind(database)

    def bind(self, database) -> None:
        self.repository = AvailabilityIndex(database)

    def handlers(self):
        return {AVAILABILITY_SET: self.availability_set}

    def reset(self) -> None:
        self.repository.drop()

    def availability_set(self, envelope: Envelope) -> None:
        self.repository.put({"_id": envelope.data["employee_id"], "set_at": envelope.occurred_at,
                             "version": envelope.aggregate_version})


class BusyTimesProjection(Projection):
    """busy_weeks / busy_placements: when each person is in a scheduled meeting (own stream).

    A week document gathers many meetings' events (both parties', every pairing), so it keeps the
    `order_of` of the last event it applied and skips any at or below it (DEVELOPERS.md, views that
    sum many streams). A meeting's placement (which week documents hold it) is written last: after
    a crash between the writes, the replay finds the placement old and the week documents done.
    """

    name = "sessions-busy-times"
    topics = ()
    collections = (BUSY_WEEKS, BUSY_PLACEMENTS)

    def __init__(self, database):
        self.bind(database)

    def bind(self, database) -> None:
        self.repository = BusyTimesRepository(database)

    def handlers(self):
        return {event_type: self.meeting_event for event_type in MEETING_EVENTS}

    def reset(self) -> None:
        self.repository.drop()

    # Runs of new meetings: each week document they touch is read and written once for the run,
    # their placements inserted together (see MeetingsProjection.batchable).
    batchable = frozenset({MEETING_SCHEDULED})

    def apply_batch(self, envelopes: list[Envelope]) -> None:
        """As one by one: a new meeting has no placement yet, so only week documents at a lower
        order take its entry (a replayed one finds every week of its placement at its order or
        later, since the placement is written after them and any later event rewrites them)."""
        if not _new_meetings(envelopes):
            return super().apply_batch(envelopes)
        entries: dict[str, list[tuple[int, dict]]] = {}
        placements = []
        for envelope in envelopes:
            order = order_of(envelope)
            keys, entry = _busy_entry(envelope)
            for key in keys:
                entries.setdefault(key, []).append((order, entry))
            placements.append({"_id": envelope.aggregate_id, "keys": keys, "version": order})
        docs = self.repository.week_docs(sorted(entries))
        writes = []
        for key in sorted(entries):
            doc = docs[key]
            fresh = [(order, entry) for order, entry in entries[key] if doc is None or order > doc["version"]]
            if not fresh:
                continue
            ids = {entry["meeting_id"] for _, entry in fresh}
            meetings = [m for m in (doc or {}).get("meetings") or [] if m["meeting_id"] not in ids]
            meetings += [entry for _, entry in fresh]
            writes.append(({"_id": key, "meetings": sorted(meetings, key=lambda m: (m["starts_at"], m["meeting_id"])),
                            "version": max(order for order, _ in fresh)}, doc is None))
        self.repository.put_weeks(writes)
        self.repository.insert_placements(placements)  # last, as one by one; one already there is this event's

    def meeting_event(self, envelope: Envelope) -> None:
        if _new_meetings([envelope]):  # a new meeting alone is a run of one: no placement to look up yet
            self.apply_batch([envelope])
        else:
            self._move(envelope)

    def _move(self, envelope: Envelope) -> None:
        order = order_of(envelope)
        meeting_id = envelope.aggregate_id
        placement = self.repository.placement(meeting_id)
        if placement is not None and placement["version"] >= order:
            return
        keys, entry = _busy_entry(envelope)
        for key in sorted(set(keys) | set((placement or {}).get("keys") or [])):
            doc = self.repository.week_doc(key)
            if doc is not None and doc["version"] >= order:
                continue
            meetings = [m for m in (doc or {}).get("meetings") or [] if m["meeting_id"] != meeting_id]
            if key in keys:
                meetings.append(entry)
            self.repository.put_week({"_id": key, "meetings": sorted(meetings, key=lambda m: (m["starts_at"], m["meeting_id"])),
                                      "version": order}, new=doc is None)
        self.repository.put_placement({"_id": meeting_id, "keys": keys, "version": order}, new=placement is None)


class RosterPairsProjection(Projection):
    """The roster's pairs part: each partition of matching's topic writes its own document per cohort
    (`record_of(envelope).partition`), so no two consumers ever write one document."""

    name = "sessions-roster-pairs"
    topics = (topics.MATCHING,)
    collections = (ROSTER_PAIRS,)

    def __init__(self, database):
        self.bind(database)

    def bind(self, database) -> None:
        self.roster = RosterPairs(database)

    def handlers(self):
        return {event_type: self.pairing_event for event_type in PAIRING_STATUS_BY_EVENT}

    def reset(self) -> None:
        self.roster.drop()

    def pairing_event(self, envelope: Envelope) -> None:
        data = envelope.data
        at = record_of(envelope)
        offset, part = self.roster.load(data["cohort_id"], at.partition)
        if offset is not None and offset >= at.offset:
            return  # this partition's document already reflects the record (redelivery, replay)
        activated_at = data.get("activated_at") if envelope.event_type == PAIRING_ACTIVATED else None
        active_before = len(part.active)
        if part.apply(data["pairing_id"], envelope.aggregate_version, PAIRING_STATUS_BY_EVENT[envelope.event_type],
                      data["mentor_id"], data["mentee_id"], activated_at):
            self.roster.save(data["cohort_id"], at.partition, at.offset, part, exists=offset is not None)
            if len(part.active) != active_before:  # the gauge moves now, not at the next risk check
                # every partition's document by `_id` (3-6 reads), where counting scanned the pairings view
                PAIRINGS_ACTIVE.labels(data["cohort_id"]).set(len(self.roster.active(data["cohort_id"])))


class CirclesProjection(Projection):
    """circles / circle_members (adapters/circles.py): each circle's member pairings and their status,
    one document per circle and partition of matching's topic, written only by that partition's consumer."""

    name = "sessions-circles"
    topics = (topics.MATCHING,)
    collections = (CIRCLES, CIRCLE_MEMBERS)

    def __init__(self, database):
        self.bind(database)

    def bind(self, database) -> None:
        self.view = CirclesView(database)

    def handlers(self):
        return {event_type: self.pairing_event for event_type in PAIRING_STATUS_BY_EVENT}

    def reset(self) -> None:
        self.view.drop()

    def pairing_event(self, envelope: Envelope) -> None:
        data = envelope.data
        if envelope.event_type == PAIRING_PROPOSED:
            circle_id = data.get("circle_id")
            if circle_id:  # the membership first: every later event of the pairing finds its circle there
                self.view.remember(data["pairing_id"], circle_id)
        else:
            circle_id = self.view.circle_of(data["pairing_id"])
        if not circle_id:
            return  # a pair, not a circle member
        at = record_of(envelope)
        offset, part = self.view.load(circle_id, at.partition)
        if offset is not None and offset >= at.offset:
            return  # this partition's document already reflects the record
        if part.apply(data["pairing_id"], envelope.aggregate_version, PAIRING_STATUS_BY_EVENT[envelope.event_type],
                      cohort_id=data["cohort_id"], mentor_id=data["mentor_id"], mentee_id=data["mentee_id"]):
            self.view.save(circle_id, at.partition, at.offset, part, exists=offset is not None)


def _new_meetings(envelopes: list[Envelope]) -> bool:
    """Whether a run is only meetings' first events, each meeting once (what the batches write)."""
    return (all(e.event_type == MEETING_SCHEDULED and e.aggregate_version == 1 for e in envelopes)
            and len({e.aggregate_id for e in envelopes}) == len(envelopes))


def _busy_entry(envelope: Envelope) -> tuple[list[str], dict | None]:
    """The week documents a meeting event puts the meeting in (none once it is no longer
    scheduled), and its entry there."""
    if envelope.event_type not in (MEETING_SCHEDULED, MEETING_RESCHEDULED):
        return [], None
    data = envelope.data
    starts_at = parse_rfc3339(data["starts_at"])
    ends_at = starts_at + timedelta(minutes=data["duration_minutes"])
    entry = {"meeting_id": envelope.aggregate_id, "starts_at": data["starts_at"], "ends_at": rfc3339(ends_at)}
    weeks = sorted({week_of(starts_at), week_of(ends_at - timedelta(microseconds=1))})
    return [busy_week_id(person, week) for person in (data["mentor_id"], data["mentee_id"]) for week in weeks], entry


class RosterMeetingsProjection(Projection):
    """The roster's meetings part (own stream): held and undisputed meetings per pairing, and the
    cadence its parties confirmed, summed per cohort."""

    name = "sessions-roster-meetings"
    topics = ()
    collections = (ROSTER_MEETINGS, ROSTER_HELD)

    def __init__(self, database):
        self.bind(database)

    def bind(self, database) -> None:
        self.roster = RosterMeetings(database)

    def handlers(self):
        return {MEETING_HELD: self.meeting_recorded, MEETING_DISPUTED: self.meeting_recorded,
                AGREEMENT_CONFIRMED: self.agreement_confirmed}

    def reset(self) -> None:
        self.roster.drop()

    def meeting_recorded(self, envelope: Envelope) -> None:
        data = envelope.data
        order = order_of(envelope)
        version, held = self.roster.load_held(data["pairing_id"])
        if version is None or version < order:
            if envelope.event_type == MEETING_HELD:
                changed = held.held(data["meeting_id"], data["held_at"], data["duration_minutes"])
            else:
                changed = held.disputed(data["meeting_id"])
            if changed:
                self.roster.save_held(data["pairing_id"], data["cohort_id"], order, held, exists=version is not None)
        # the summary last, from the pairing's list: after a crash in between, this finishes it
        version, part = self.roster.load(data["cohort_id"])
        if (version is None or version < order) and part.summarise(data["pairing_id"], held):
            self.roster.save(data["cohort_id"], order, part, exists=version is not None)

    def agreement_confirmed(self, envelope: Envelope) -> None:
        data = envelope.data
        order = order_of(envelope)
        version, part = self.roster.load(data["cohort_id"])
        if (version is None or version < order) and part.agreed(envelope.aggregate_id, data["cadence_days"]):
            self.roster.save(data["cohort_id"], order, part, exists=version is not None)
