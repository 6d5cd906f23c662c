"""Subject access export of the notifications service (GDPR Art. 15, issue 13; docs/api-privacy.md).

What notifications holds about a person: their HRIS record as this service keeps it (`people`), the
pairings and meetings it knows them in, cohorts whose chat channel they administer, their
preferences (channels, digest, quiet hours, chat webhook), their in-app inbox, their delivery log
with its queue entries and delivery claims, and the events: the outcome stream of each of their
notifications (NotificationSent / NotificationFailed, one stream per notification).

Nothing of it is someone else's private text: every message was addressed to the person. The
retention periods (README Privacy) apply: an inbox item or delivery past its period is no longer
there to export.
"""
from __future__ import annotations

from shared import export

SERVICE = "notifications"
WITHHELD: list[str] = []  # nothing here is another person's private text


def person_export(context, employee_id: str) -> dict:
    directory, deliveries = context.directory, context.deliveries
    log = deliveries.of_recipient(employee_id)
    delivery_ids = [doc["_id"] for doc in log]
    streams = {doc["notification_id"] for doc in log if doc.get("notification_id")}
    streams |= {doc["digest_id"] for doc in log if doc.get("digest_id")}
    data = {
        "person": export.plain(directory.person(employee_id)),
        "pairings": export.documents(directory.pairings_of(employee_id)),
        "meetings": export.documents(directory.meetings_of(employee_id)),
        "cohorts_administered": export.documents(directory.cohorts_administered_by(employee_id)),
        "preferences": export.plain(context.preferences.get(employee_id)),
        "inbox": export.documents(context.inbox.of_recipient(employee_id)),
        "deliveries": export.documents(log),
        "delivery_queue": export.documents(deliveries.queued(delivery_ids)),
        "delivery_claims": export.documents(claim for doc in log for claim in deliveries.claims_of(doc)),
    }
    events = export.events_of(context.store, streams)
    return export.envelope(SERVICE, employee_id, context.clock.now(), data, events, WITHHELD)
