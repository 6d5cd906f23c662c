"""Events of the notifications service on `mentoring.notifications.v1` (docs/events.md).

One event per delivery outcome: `NotificationSent` when a message reached its channel,
`NotificationFailed` when it cannot (a permanent error, or retries exhausted). Neither carries
personal data: ids, the channel, the category and a short error code/message only.
`NotificationRead`: the recipient marked an in-app notification read (version 2 of its stream,
after `NotificationSent`); the inbox index (unread counts) follows it.
"""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, fields, validate

from shared.events.catalog.matching import PERSON_ERASED, PersonErasedV1
from shared.events.registry import EventRegistry

NOTIFICATION_SENT = "NotificationSent"
NOTIFICATION_FAILED = "NotificationFailed"
NOTIFICATION_READ = "NotificationRead"
NOTIFICATION = "notification"  # aggregate type: one stream per notification (its outcome is version 1)

CHANNELS = ("email", "chat", "inapp")


class NotificationSentV1(Schema):
    class Meta:
        unknown = EXCLUDE

    notification_id = fields.String(required=True, validate=validate.Length(min=1))
    recipient_id = fields.String(required=True, validate=validate.Length(min=1))
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    category = fields.String(required=True, validate=validate.Length(min=1))
    source_event_id = fields.String(required=True, validate=validate.Length(min=1))
    source_event_type = fields.String(required=True, validate=validate.Length(min=1))


class NotificationFailedV1(NotificationSentV1):
    error = fields.String(required=True, validate=validate.Length(min=1, max=500))


class NotificationReadV1(Schema):
    class Meta:
        unknown = EXCLUDE

    notification_id = fields.String(required=True, validate=validate.Length(min=1))
    recipient_id = fields.String(required=True, validate=validate.Length(min=1))


def register(registry: EventRegistry) -> None:
    registry.register(NOTIFICATION_SENT, 1, NotificationSentV1)
    registry.register(NOTIFICATION_FAILED, 1, NotificationFailedV1)
    registry.register(NOTIFICATION_READ, 1, NotificationReadV1)
    registry.register(PERSON_ERASED, 1, PersonErasedV1)  # `service`: "notifications" (shared.erasure)
