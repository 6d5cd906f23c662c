"""MeetingScheduled v1 -> v2: any valid v1 event upcasts to a valid v2 with nothing lost or guessed,
and reading an event again changes nothing (the write path and the read path share one chain)."""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

from hypothesis import given, settings, strategies as st

from shared.clock import rfc3339
from shared.events.catalog import default_registry
from shared.events.catalog.sessions import MEETING_SCHEDULED
from shared.events.envelope import Envelope

ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-", min_size=1, max_size=12)
v1_data = st.fixed_dictionaries({
    "meeting_id": ids, "pairing_id": ids, "cohort_id": ids, "mentor_id": ids, "mentee_id": ids,
    "organizer_id": ids, "timezone": st.sampled_from(["UTC", "Europe/Berlin", "Asia/Tokyo"]),
    "duration_minutes": st.integers(15, 240),
    "starts_at": st.integers(0, 10**8).map(
        lambda s: rfc3339(datetime(2025, 1, 1, tzinfo=timezone.utc) + timedelta(seconds=s))),
})


def envelope(data: dict, version: int) -> Envelope:
    return Envelope(event_id=str(uuid.uuid4()), event_type=MEETING_SCHEDULED, schema_version=version,
                    occurred_at="2025-01-01T00:00:00.000Z", producer="sessions", aggregate_type="meeting",
                    aggregate_id=data["meeting_id"], aggregate_version=1, correlation_id="c", causation_id=None,
                    data=data)


@given(v1_data)
@settings(max_examples=40, deadline=None)
def test_every_v1_event_upcasts_to_a_valid_v2_keeping_every_field(data):
    registry = default_registry()
    current = registry.to_current(envelope(data, 1))
    assert current.schema_version == registry.current_version(MEETING_SCHEDULED) == 2
    assert current.data == {**data, "actor_id": None}  # nothing lost, nothing guessed
    assert registry.to_current(current) is current  # reading again changes nothing
    decoded = registry.decode(envelope(data, 1).to_json())  # what a consumer gets from Kafka
    assert decoded.data == current.data and decoded.schema_version == 2


@given(v1_data, ids)
@settings(max_examples=20, deadline=None)
def test_a_v2_event_is_read_as_it_was_written(data, actor):
    registry = default_registry()
    written = envelope({**data, "actor_id": actor}, 2)
    assert registry.to_current(written) is written
