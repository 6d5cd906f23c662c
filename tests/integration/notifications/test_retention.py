"""On the real servers: inbox items go after RETENTION_INBOX_DAYS, the delivery log and its claims
after RETENTION_DELIVERY_LOG_DAYS; what is still queued, and anything newer, stays."""
from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest

from shared.clock import ManualClock, utcnow
from services.notifications import bootstrap

pytestmark = pytest.mark.integration


def _delivery(delivery_id: str, created_at) -> dict:
    return {"_id": delivery_id, "recipient_id": "E1", "channel": "email", "status": "sent", "claim": 1,
            "history": [], "created_at": created_at}


def test_inbox_items_deliveries_and_claims_go_after_their_periods(make_settings):
    settings = make_settings("notifications", retention_inbox_days=180, retention_delivery_log_days=90)
    clock = ManualClock(utcnow())
    context = bootstrap.build(settings, clock=clock)
    context.ensure_indexes()  # TTL indexes too: FerretDB accepts them (and ignores their expiry)
    old = clock.now()
    context.inbox.put(SimpleNamespace(notification_id="n-old", recipient_id="E1", category="meeting",
                                      subject="Meeting with Maria", text="Tomorrow at 10", link=None, extra=None))
    context.deliveries.insert_new([_delivery("d-old", old), _delivery("d-queued", old)])
    context.deliveries.enqueue_new([{"_id": "d-queued", "due_at": old + timedelta(days=400)}])
    context.deliveries.insert_claims([{"_id": f"{d}|attempt1", "delivery_id": d, "attempt": 1, "owner": "w",
                                       "claimed_at": old, "expires_at": old + timedelta(seconds=60)}
                                      for d in ("d-old", "d-queued")])

    clock.advance(days=89)
    assert context.retention.run() == {"inbox": 0, "deliveries": 0, "claims": 0}
    clock.advance(days=2)
    assert context.retention.run() == {"inbox": 0, "deliveries": 1, "claims": 1}
    assert context.deliveries.get("d-old") is None and context.deliveries.claim("d-old|attempt1") is None
    assert context.deliveries.get("d-queued") is not None and context.deliveries.claim("d-queued|attempt1") is not None
    assert context.inbox.get("n-old") is not None
    clock.advance(days=90)
    assert context.retention.run()["inbox"] == 1
    assert context.inbox.get("n-old") is None
