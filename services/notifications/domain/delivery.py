"""Deliveries as data: their ids, statuses, claims and retry schedule (pure, no I/O).

A delivery is one message to one recipient on one channel for one source event (or a key derived
from it, e.g. a reminder's). Its id is deterministic, `"<dedupe key>|<recipient>|<channel>"`, so
every replica and every replay names the same delivery the same way. The protocol that uses these
(enqueue, claim, send, record) is described in `application/delivery.py`.
"""
from __future__ import annotations

import uuid
from datetime import datetime, timedelta, timezone

# Waiting: the queue holds an entry and a sender will claim it when due.
QUEUED = "queued"  # due now (the consumer handed it off)
DEFERRED = "deferred"  # quiet hours: due when they end
DIGEST = "digest"  # waits for the recipient's digest hour, then goes out with the others
RETRY = "retry"  # a transient failure: due after the backoff
WAITING = (QUEUED, DEFERRED, DIGEST, RETRY)
# Final: never sent again.
SENT = "sent"
FAILED = "failed"
CANCELLED = "cancelled"  # the recipient turned the channel off before it went out
FINAL = (SENT, FAILED, CANCELLED)
STATUSES = WAITING + FINAL


def delivery_id(dedupe_key: str, recipient_id: str, channel: str) -> str:
    return f"{dedupe_key}|{recipient_id}|{channel}"


def notification_id_for(delivery: str) -> str:
    """The notification's id (its outcome stream, the email's Message-ID, the inbox item): stable per delivery."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mentoring-notification:{delivery}"))


def claim_id(delivery: str, number: int) -> str:
    """The claim document of a delivery's `number`-th claim; inserting it is what claiming means."""
    return f"{delivery}|attempt{number}"


def sent_mark_id(delivery: str, number: int) -> str:
    """The mark a sender inserts the moment the channel accepted attempt `number` (before the
    batch's bookkeeping): a successor that finds it records `sent` instead of sending again."""
    return f"{claim_id(delivery, number)}|sent"


def first_claim_number(doc: dict) -> int:
    """The claim a sender tries first: one past the last claim whose attempt was recorded.

    Claims whose holder died before recording leave their documents behind; a sender that meets
    one (expired) moves on to the next number.
    """
    return int(doc.get("claim") or 0) + 1


def is_due(doc: dict, now: datetime) -> bool:
    due_at = doc.get("due_at")
    return due_at is None or _aware(due_at) <= now


def backoff(attempts: int, base_s: float) -> timedelta:
    """Wait after the `attempts`-th failed attempt: base, 2 x base, 4 x base, ..."""
    return timedelta(seconds=base_s * 2 ** max(0, attempts - 1))


def after_transient(attempts: int, *, max_attempts: int, base_s: float, now: datetime) -> datetime | None:
    """When to try again after a transient failure of attempt `attempts`; None: give up (failed)."""
    if attempts >= max_attempts:
        return None
    return now + backoff(attempts, base_s)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)
