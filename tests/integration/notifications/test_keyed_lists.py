"""The notifications views' keyed lists (issue 16), on the real MongoDB: a person's pairings, a
pairing's meetings and the meetings starting in the next hours are read by `_id` (FerretDB v1 scans
every other filter: a leaver's pairings scanned every pairing, the minutely reminders job every
meeting ever scheduled), and stay right when consumers of several partitions write them at once and
events are redelivered."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from pymongo import MongoClient, monitoring

from shared.clock import rfc3339, utcnow
from services.notifications import bootstrap
from services.notifications.adapters.mongo import MEETINGS, PAIRINGS, Directory
from tests.integration.notifications.servers import envelope
from tests.integration.notifications.test_delivery_rules import apply

pytestmark = pytest.mark.integration


class Finds(monitoring.CommandListener):
    """The filters of every `find` this client sends, by collection."""

    def __init__(self):
        self.filters: dict[str, list[dict]] = {}

    def started(self, event):
        if event.command_name == "find":
            self.filters.setdefault(event.command["find"], []).append(dict(event.command.get("filter") or {}))

    def succeeded(self, event):
        pass

    def failed(self, event):
        pass


def proposed(pairing_id: str, mentor_id: str, mentee_id: str) -> dict:
    data = {"pairing_id": pairing_id, "cohort_id": "C1", "mentor_id": mentor_id, "mentee_id": mentee_id,
            "score": 0.5, "reasons": [], "proposed_by": "algorithm", "matching_run_id": None,
            "answer_by": rfc3339(utcnow() + timedelta(days=7))}
    return envelope("PairingProposed", data, producer="matching", aggregate_type="pairing", aggregate_id=pairing_id)


def meeting(event_type: str, meeting_id: str, pairing_id: str, starts_at, *, version: int) -> dict:
    data = {"pairing_id": pairing_id, "cohort_id": "C1", "mentor_id": "M1", "mentee_id": "E1",
            "meeting_id": meeting_id, "organizer_id": "E1", "starts_at": rfc3339(starts_at),
            "duration_minutes": 30, "timezone": "Europe/Berlin"}
    if event_type == "MeetingRescheduled":
        data["rescheduled_by"] = "E1"
    if event_type == "MeetingCancelled":
        data = {k: data[k] for k in ("pairing_id", "cohort_id", "mentor_id", "mentee_id", "meeting_id")} | {
            "cancelled_by": "E1", "reason": "clash"}
    return envelope(event_type, data, producer="sessions", aggregate_type="meeting", aggregate_id=meeting_id,
                    version=version)


@pytest.fixture
def context(make_settings):
    settings = make_settings("notifications")
    context = bootstrap.build(settings)
    context.ensure_indexes()
    listener = Finds()
    client = MongoClient(settings.mongo_url, event_listeners=[listener])
    yield context, Directory(client[context.database.name]), listener
    client.close()


def test_a_persons_pairings_written_from_many_partitions_at_once_are_each_listed_once(context):
    context, directory, finds = context
    pairings = [proposed(f"P{n:02d}", "M1", f"E{n:02d}") for n in range(24)]
    # two consumers (partitions) apply them side by side, and every event is delivered twice
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(lambda raw: apply(context, raw), pairings + pairings))

    assert sorted(doc["_id"] for doc in directory.pairings_of("M1")) == [f"P{n:02d}" for n in range(24)]
    assert [doc["_id"] for doc in directory.pairings_of("E07")] == ["P07"]
    assert directory.pairings_of("NOBODY") == []
    assert all(set(f) <= {"_id"} for f in finds.filters.get(PAIRINGS, [])), finds.filters[PAIRINGS]


def test_the_reminders_read_the_hours_ahead_and_see_meetings_as_they_are_now(context):
    context, directory, finds = context
    now = utcnow()
    soon, later, moved_away, cancelled = (now + timedelta(hours=2), now + timedelta(hours=20),
                                          now + timedelta(hours=3), now + timedelta(hours=5))
    events = [
        meeting("MeetingScheduled", "MT-soon", "P1", soon, version=1),
        meeting("MeetingScheduled", "MT-later", "P1", later, version=1),
        meeting("MeetingScheduled", "MT-past", "P2", now - timedelta(hours=1), version=1),
        meeting("MeetingScheduled", "MT-next-week", "P2", now + timedelta(days=7), version=1),
        meeting("MeetingScheduled", "MT-moved", "P2", moved_away, version=1),
        meeting("MeetingRescheduled", "MT-moved", "P2", now + timedelta(days=3), version=2),
        meeting("MeetingScheduled", "MT-cancelled", "P3", cancelled, version=1),
        meeting("MeetingCancelled", "MT-cancelled", "P3", cancelled, version=2),
    ]
    for raw in events + events[:2]:  # the first two redelivered
        apply(context, raw)

    starting = directory.meetings_starting(now, now + timedelta(hours=24))
    assert sorted(doc["_id"] for doc in starting) == ["MT-later", "MT-soon"]
    assert sorted(doc["_id"] for doc in directory.meetings_of_pairing("P2")) == ["MT-moved", "MT-next-week", "MT-past"]
    assert [doc["_id"] for doc in directory.meetings_starting(now + timedelta(days=2), now + timedelta(days=4))] == [
        "MT-moved"]
    assert all(set(f) <= {"_id"} for f in finds.filters.get(MEETINGS, [])), finds.filters[MEETINGS]
