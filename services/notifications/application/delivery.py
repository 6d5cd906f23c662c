"""Delivering notifications once per (event, recipient, channel), and honest about failures.

The protocol (the only place deliveries are sent)
-------------------------------------------------
Every delivery has one document in `deliveries` whose string `_id` is
`"<dedupe key>|<recipient>|<channel>"`; the dedupe key is the source event's `event_id` (or a
key derived from it, e.g. for reminders). For one attempt:

1. create the document if absent (`$setOnInsert`, by `_id`): a redelivered or replayed event
   finds it and does not start over;
2. write `status = "sending"` (attempts + 1);
3. send on the channel (SMTP, webhook, inbox);
4. write `status = "sent"` (or `"retry"` / `"failed"`), then append the outcome event
   (`NotificationSent` / `NotificationFailed`) to the service's event store as version 1 of the
   stream named by the notification id, then mark `outcome_recorded`.

A document found `sent` or `failed` is never sent again (only its outcome event is re-appended
if step 4 was cut short; the event store's expected-version check makes that exactly once).
A document found `sending` means the process died between steps 2 and 4: we cannot know
whether step 3 happened, so it is sent again. **That is the single crash window: a crash after
the channel accepted the message and before step 4 wrote "sent" yields one duplicate, and only
one per crash,** because each worker sends one delivery at a time and writes "sent" right after
each send. Emails carry a stable `Message-ID` (the notification id), so most mail clients fold
such a duplicate away; the in-app inbox is keyed by the notification id and never duplicates.

Transient failures (SMTP 4xx or unreachable, webhook 5xx/429/timeout, address not known yet)
go to `delivery_queue` with exponential backoff (`retry_base_s * 2**(attempts-1)`), processed
by `process_queue()` (a PeriodicJob in the worker); after `max_attempts` they fail
permanently. Deferred (quiet hours) and digest deliveries wait in the same queue.
"""
from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from datetime import timedelta

from shared.aggregate import AggregateStore, Causation, NewEvent
from shared.clock import parse_rfc3339, rfc3339
from shared.eventstore import ConcurrencyError
from shared.events.envelope import Envelope
from shared.metrics import NOTIFICATION_DELIVERIES
from services.notifications.adapters.channels import (
    OutgoingMessage, PermanentFailure, TransientFailure,
)
from services.notifications.application.links import unsubscribe_token
from services.notifications.domain.ics import build_ics
from services.notifications.domain.preferences import Preferences, channel_enabled, decide, enabled_channels, zone
from services.notifications.domain.routing import Intent

log = logging.getLogger(__name__)

FINAL = ("sent", "failed", "cancelled")
WAITING = ("retry", "deferred", "digest")


@dataclass(frozen=True)
class Source:
    """The event a notification comes from."""

    event_id: str
    event_type: str
    occurred_at: str
    version: int
    correlation_id: str

    @classmethod
    def of(cls, envelope: Envelope) -> "Source":
        return cls(envelope.event_id, envelope.event_type, envelope.occurred_at, envelope.aggregate_version,
                   envelope.correlation_id)


@dataclass(frozen=True)
class DeliveryConfig:
    app_url: str = "http://localhost:8080"  # the web app the links open
    public_url: str = "http://localhost:8004"  # this service's API (unsubscribe links)
    link_secret: str = "change-me"
    retry_base_s: float = 30.0
    max_attempts: int = 6
    max_event_age_s: float = 72 * 3600  # older events (a replay of old history) notify nobody


def delivery_id(dedupe_key: str, recipient_id: str, channel: str) -> str:
    return f"{dedupe_key}|{recipient_id}|{channel}"


def notification_id_for(delivery: str) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"mentoring-notification:{delivery}"))


class Notifier:
    def __init__(self, *, directory, preferences, deliveries, channels: dict, renderer, outcomes: AggregateStore,
                 clock, config: DeliveryConfig, after_send=None):
        self.directory = directory
        self.preferences = preferences
        self.deliveries = deliveries
        self.channels = channels
        self.renderer = renderer
        self.outcomes = outcomes
        self.clock = clock
        self.config = config
        # Called between a successful send and writing "sent" (tests simulate a crash there).
        self.after_send = after_send

    # -- entry: intents from an event --------------------------------------------------------

    def notify(self, intents: list[Intent], source: Source, *, check_age: bool = True) -> None:
        """Deliver each intent on each channel the recipient has on (reminders skip the age check)."""
        now = self.clock.now()
        if check_age and (now - parse_rfc3339(source.occurred_at)).total_seconds() > self.config.max_event_age_s:
            return
        for intent in intents:
            prefs = Preferences.from_doc(self.preferences.get(intent.recipient_id))
            person = self.directory.person(intent.recipient_id) or {}
            for channel in enabled_channels(prefs, intent.category):
                self._deliver(intent, channel, source, prefs, person)

    def _deliver(self, intent: Intent, channel: str, source: Source, prefs: Preferences, person: dict) -> None:
        key = delivery_id(intent.dedupe_key, intent.recipient_id, channel)
        now = self.clock.now()
        doc, created = self.deliveries.create_if_absent({
            "_id": key,
            "notification_id": notification_id_for(key),
            "recipient_id": intent.recipient_id,
            "channel": channel,
            "category": intent.category,
            "role": intent.role,
            "dedupe_key": intent.dedupe_key,
            "source_event_id": source.event_id,
            "source_event_type": source.event_type,
            "source_occurred_at": source.occurred_at,
            "source_version": source.version,
            "correlation_id": source.correlation_id,
            "context": intent.context,
            "attach_ics": intent.attach_ics,
            "status": "new",
            "attempts": 0,
            "history": [],
            "created_at": now,
            "outcome_recorded": False,
        })
        status = doc["status"]
        if status in FINAL:
            if not doc.get("outcome_recorded") and status != "cancelled":
                self._record_outcome(doc)
            return
        if status in WAITING:
            return  # the queue owns it
        if status == "sending":
            log.warning("delivery %s was interrupted after 'sending': sending again (at most one duplicate)", key)
            self._attempt(doc)
            return
        decision = decide(prefs, intent.category, channel, now, person.get("timezone"))
        if decision.action == "send":
            self._attempt(doc)
        else:
            kind = "digest" if decision.action == "digest" else "deferred"
            self.deliveries.update(key, {"status": kind, "next_attempt_at": decision.not_before},
                                   {"at": now, "outcome": kind, "until": decision.not_before})
            self.deliveries.enqueue(key, kind, decision.not_before, doc["recipient_id"], channel)

    # -- one attempt ---------------------------------------------------------------------------

    def _attempt(self, doc: dict) -> None:
        key, channel = doc["_id"], doc["channel"]
        prefs = Preferences.from_doc(self.preferences.get(doc["recipient_id"]))
        now = self.clock.now()
        if not channel_enabled(prefs, doc["category"], channel):
            self.deliveries.update(key, {"status": "cancelled"}, {"at": now, "outcome": "cancelled",
                                                                 "error": "channel turned off by the recipient"})
            self.deliveries.dequeue(key)
            return
        message = self.build_message(doc, prefs)
        attempts = int(doc.get("attempts", 0)) + 1
        self.deliveries.update(key, {"status": "sending", "attempts": attempts, "last_attempt_at": now})
        try:
            self.channels[channel].send(message)
        except TransientFailure as exc:
            self._transient(doc, attempts, exc)
            return
        except PermanentFailure as exc:
            self._fail(doc, exc.code, str(exc))
            return
        if self.after_send is not None:
            self.after_send(doc)
        self._succeed(doc)

    def _succeed(self, doc: dict) -> None:
        now = self.clock.now()
        doc = self.deliveries.update(doc["_id"], {"status": "sent", "sent_at": now}, {"at": now, "outcome": "sent"})
        self.deliveries.dequeue(doc["_id"])
        NOTIFICATION_DELIVERIES.labels(doc["channel"], "sent").inc()
        self._record_outcome(doc)

    def _transient(self, doc: dict, attempts: int, exc: TransientFailure) -> None:
        if attempts >= self.config.max_attempts:
            self._fail(doc, "retries_exhausted", f"retries exhausted after {attempts} attempts; last {exc}")
            return
        now = self.clock.now()
        due = now + timedelta(seconds=self.config.retry_base_s * 2 ** (attempts - 1))
        self.deliveries.update(doc["_id"], {"status": "retry", "next_attempt_at": due, "last_error": exc.code},
                               {"at": now, "outcome": "retry", "error": str(exc), "next_attempt_at": due})
        self.deliveries.enqueue(doc["_id"], "retry", due, doc["recipient_id"], doc["channel"])
        NOTIFICATION_DELIVERIES.labels(doc["channel"], "retry").inc()

    def _fail(self, doc: dict, code: str, message: str) -> None:
        now = self.clock.now()
        error = f"{code}: {message}"[:500] if not message.startswith(code) else message[:500]
        doc = self.deliveries.update(doc["_id"], {"status": "failed", "error": error},
                                     {"at": now, "outcome": "failed", "error": error})
        self.deliveries.dequeue(doc["_id"])
        NOTIFICATION_DELIVERIES.labels(doc["channel"], "failed").inc()
        self._record_outcome(doc)

    def _record_outcome(self, doc: dict) -> None:
        """Exactly one outcome event per delivery: version 1 of the notification's own stream."""
        stream = doc["notification_id"]
        if self.outcomes.load(stream).version == 0:
            data = {
                "notification_id": doc["notification_id"], "recipient_id": doc["recipient_id"],
                "channel": doc["channel"], "category": doc["category"],
                "source_event_id": doc["source_event_id"], "source_event_type": doc["source_event_type"],
            }
            event_type = "NotificationSent" if doc["status"] == "sent" else "NotificationFailed"
            if event_type == "NotificationFailed":
                data["error"] = doc.get("error") or "failed"
            try:
                self.outcomes.append(stream, 0, [NewEvent(event_type, data)],
                                     Causation(correlation_id=doc.get("correlation_id") or doc["source_event_id"],
                                               causation_id=doc["source_event_id"]))
            except ConcurrencyError:
                pass  # recorded by an earlier, interrupted pass
        self.deliveries.update(doc["_id"], {"outcome_recorded": True})

    # -- the queue: retries, quiet hours, digests ----------------------------------------------

    def process_queue(self) -> int:
        """Send what is due (PeriodicJob); returns how many deliveries it handled."""
        now = self.clock.now()
        handled = 0
        digests: dict[tuple[str, str], list[dict]] = {}
        for entry in self.deliveries.due(now):
            doc = self.deliveries.get(entry["_id"])
            if doc is None or doc["status"] in FINAL:
                self.deliveries.dequeue(entry["_id"])
                continue
            if doc["status"] == "digest":
                digests.setdefault((doc["recipient_id"], doc["channel"]), []).append(doc)
                continue
            self._attempt(doc)
            handled += 1
        for (recipient_id, channel), docs in digests.items():
            self._send_digest(recipient_id, channel, docs)
            handled += len(docs)
        return handled

    def _send_digest(self, recipient_id: str, channel: str, docs: list[dict]) -> None:
        """One message for several deliveries; each keeps its own record and outcome event."""
        prefs = Preferences.from_doc(self.preferences.get(recipient_id))
        now = self.clock.now()
        docs = [d for d in docs if channel_enabled(prefs, d["category"], channel)]
        if not docs:
            return
        items = [self.build_message(doc, prefs) for doc in docs]
        person = self.directory.person(recipient_id) or {}
        digest_id = notification_id_for("digest|" + "|".join(sorted(d["_id"] for d in docs)))
        rendered = self.renderer.render("digest", [prefs.language, *(person.get("languages") or [])], {
            "recipient_name": person.get("display_name") or recipient_id,
            "items": [{"subject": m.subject, "body": m.text.split("\n--\n")[0].strip()} for m in items],
            "unsubscribe_url": self._unsubscribe_url(recipient_id) if channel == "email" else None,
        })
        message = OutgoingMessage(
            notification_id=digest_id, recipient_id=recipient_id, category="digest", subject=rendered.subject,
            text=rendered.text, html=rendered.html, email=person.get("email"), display_name=person.get("display_name"),
            webhook_url=prefs.chat_webhook_url, unsubscribe_url=self._unsubscribe_url(recipient_id),
        )
        for doc in docs:
            self.deliveries.update(doc["_id"], {"status": "sending", "attempts": int(doc.get("attempts", 0)) + 1,
                                                "digest_id": digest_id})
        try:
            self.channels[channel].send(message)
        except TransientFailure as exc:
            for doc in docs:
                attempts = int(doc.get("attempts", 0)) + 1
                if attempts >= self.config.max_attempts:
                    self._fail(doc, "retries_exhausted", f"retries exhausted after {attempts} attempts; last {exc}")
                    continue
                due = now + timedelta(seconds=self.config.retry_base_s * 2 ** (attempts - 1))
                self.deliveries.update(doc["_id"], {"status": "digest", "next_attempt_at": due, "last_error": exc.code},
                                       {"at": now, "outcome": "retry", "error": str(exc), "next_attempt_at": due})
                self.deliveries.enqueue(doc["_id"], "digest", due, recipient_id, channel)
                NOTIFICATION_DELIVERIES.labels(channel, "retry").inc()
            return
        except PermanentFailure as exc:
            for doc in docs:
                self._fail(doc, exc.code, str(exc))
            return
        for doc in docs:
            if self.after_send is not None:
                self.after_send(doc)
            self._succeed(doc)

    # -- building the message ------------------------------------------------------------------

    def _name(self, employee_id: str | None) -> str:
        if not employee_id:
            return ""
        person = self.directory.person(employee_id) or {}
        return person.get("display_name") or employee_id

    def _unsubscribe_url(self, recipient_id: str) -> str:
        token = unsubscribe_token(self.config.link_secret, recipient_id)
        return f"{self.config.public_url}/v1/unsubscribe?token={token}"

    def build_message(self, doc: dict, prefs: Preferences) -> OutgoingMessage:
        recipient_id, channel = doc["recipient_id"], doc["channel"]
        person = self.directory.person(recipient_id) or {}
        tz = zone(person.get("timezone"))
        ctx = dict(doc.get("context") or {})
        app = self.config.app_url
        pairing_id, meeting_id = ctx.get("pairing_id"), ctx.get("meeting_id")

        def local(value):
            return parse_rfc3339(value).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if value else ""

        ctx.update(
            role=doc.get("role"),
            recipient_name=person.get("display_name") or ("all" if recipient_id.startswith("cohort:") else recipient_id),
            other_name=self._name(ctx.get("other_id")),
            mentor_name=self._name(ctx.get("mentor_id")),
            mentee_name=self._name(ctx.get("mentee_id")),
            from_name=self._name(ctx.get("from_id")),
            meeting_local=local(ctx.get("starts_at")),
            answer_by_local=local(ctx.get("answer_by")),
            pairing_url=f"{app}/pairings/{pairing_id}",
            accept_url=f"{app}/pairings/{pairing_id}?action=accept",
            decline_url=f"{app}/pairings/{pairing_id}?action=decline",
            meeting_url=f"{app}/meetings/{meeting_id}",
            feedback_url=f"{app}/pairings/{pairing_id}/feedback" + (f"?meeting_id={meeting_id}" if meeting_id else ""),
            goals_url=f"{app}/pairings/{pairing_id}/goals",
            review_url=f"{app}/reviews/{ctx.get('review_id')}",
            kudos_url=f"{app}/kudos/{ctx.get('kudos_id')}",
            unsubscribe_url=self._unsubscribe_url(recipient_id) if channel == "email" else None,
        )
        rendered = self.renderer.render(doc["category"], [prefs.language, *(person.get("languages") or [])], ctx)
        attachments = []
        if doc.get("attach_ics") and channel == "email" and ctx.get("starts_at"):
            mentor, mentee = (self.directory.person(ctx.get("mentor_id")) or {}), (self.directory.person(ctx.get("mentee_id")) or {})
            organizer = self.directory.person(ctx.get("organizer_id") or "") or {}
            ics = build_ics(ctx, sequence=max(0, int(doc.get("source_version") or 1) - 1),
                            dtstamp=doc.get("source_occurred_at") or rfc3339(self.clock.now()),
                            summary=f"Mentoring: {ctx['mentor_name']} / {ctx['mentee_name']}",
                            attendees=[(mentor.get("display_name"), mentor.get("email")),
                                       (mentee.get("display_name"), mentee.get("email"))],
                            organizer=(organizer.get("display_name"), organizer.get("email")))
            attachments.append(("invite.ics", "text/calendar", ics))
        return OutgoingMessage(
            notification_id=doc["notification_id"], recipient_id=recipient_id, category=doc["category"],
            subject=rendered.subject, text=rendered.text, html=rendered.html, email=person.get("email"),
            display_name=person.get("display_name"), webhook_url=prefs.chat_webhook_url,
            unsubscribe_url=ctx["unsubscribe_url"], link=ctx["pairing_url"] if pairing_id else None,
            attachments=attachments, extra={"source_event_type": doc["source_event_type"]},
        )
