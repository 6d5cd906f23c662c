"""On the real servers: a year after the pairing ended, the retention job removes comments and
kudos notes from the event store's commits and the views; ratings stay, and a rebuild brings no
words back."""
from __future__ import annotations

import json
import uuid
from datetime import datetime, timezone

import pytest

from shared.aggregate import Causation
from shared.clock import ManualClock
from shared.events.envelope import Envelope
from shared.projector import rebuild_service
from services.feedback import bootstrap
from services.feedback.application.projections import ProgrammeView
from services.feedback.domain.rules import GiveFeedback
from tests.helpers import apply_consumed
from tests.integration.feedback.support import (
    _pairing_fields, cohort_created, envelope, meeting_held, pairing_activated, pairing_proposed,
)

pytestmark = pytest.mark.integration
ENDED_AT = "2026-03-01T09:00:00.000Z"


def _cause() -> Causation:
    return Causation(correlation_id="c", causation_id=str(uuid.uuid4()))


def test_comments_and_kudos_notes_are_gone_after_the_period_and_ratings_stay(make_settings):
    settings = make_settings("feedback")
    clock = ManualClock(datetime(2026, 2, 1, 9, tzinfo=timezone.utc))
    context = bootstrap.build(settings, clock=clock)
    context.ensure_indexes()
    view = ProgrammeView(context.database)
    ended = envelope("PairingEnded", "pairing", "P1", 3, {**_pairing_fields("P1", "C1", "M1", "E1"),
                     "reason": "completed", "ended_by": "A1"}, producer="matching", occurred_at=ENDED_AT)
    raws = (cohort_created(), pairing_proposed(), pairing_activated(), meeting_held())
    for raw in raws:
        apply_consumed(view, Envelope.from_dict(raw))
    feedback = context.commands.give_feedback(GiveFeedback("P1", "E1", 2, meeting_id="MT1",
                                                           comment="Too many interruptions"), _cause())
    context.commands.send_kudos("P1", "M1", "Brave questions today", _cause())
    context.projector.catch_up()
    apply_consumed(view, Envelope.from_dict(ended))

    def everything() -> str:
        return json.dumps([list(context.database[name].find({})) for name in context.database.list_collection_names()],
                          default=str)

    clock.set(datetime(2027, 2, 1, tzinfo=timezone.utc))  # 337 days after the end
    assert context.retention.run() == 0
    assert "interruptions" in everything()

    clock.advance(days=30)
    assert context.retention.run() == 1
    assert "interruptions" not in everything() and "Brave" not in everything()
    assert context.models.comment(feedback.id) is None
    assert [f["rating"] for f in context.models.feedback_about("M1")] == [2]

    rebuild_service(context, None, grace_s=0)
    assert "interruptions" not in everything() and "Brave" not in everything()
    assert [f["rating"] for f in context.models.feedback_about("M1")] == [2]
    assert [k["note"] for k in context.models.kudos_to("E1")] == [None]
