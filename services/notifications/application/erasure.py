"""Erasure of a person in the notifications service (GDPR Art. 17; shared.erasure, README Privacy).

What notifications holds about a person, and what erasure does with it:
- their own things go: in-app inbox and inbox index, delivery log with its queue entries and
  claims, preferences (channels, quiet hours, chat webhook);
- what others received about them stays, without them: in others' inbox items their name and
  e-mail become "former participant", and text of theirs a message carried (goal titles of a
  `goals_revised` notice) becomes "(erased)"; the deliveries' context loses the same text;
- their HRIS record becomes the erased form (shared.erasure.erased_record). It is written last:
  the name and e-mail are what the scrub of others' messages looks for, so a retry after a crash
  half-way still finds them.
No new notification goes to them (the erased record's status is terminated, which routing skips),
and the inbox index never lists an erased person again (application/projections.py).

Cost: others' messages about the person are found by queries on `context.*_id` and on the name
(scans on FerretDB v1; an erasure is rare).
"""
from __future__ import annotations

import re

from shared.erasure import FORMER_PARTICIPANT

ERASED_TEXT = "(erased)"
# The context fields that name a person (routing.py: the source events' ids)
PERSON_FIELDS = ("mentor_id", "mentee_id", "from_id", "to_id", "employee_id", "organizer_id", "left_id",
                 "ended_by", "proposed_by")
# Free text of the person a context may carry (GoalsRevised: goal titles), by key
TEXT_KEYS = ("title", "comment", "note", "message")


def _texts_of(value) -> list[str]:
    """Every free-text string of `value` under a TEXT_KEYS key (nested lists and dicts)."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key in TEXT_KEYS and isinstance(item, str) and item:
                found.append(item)
            else:
                found.extend(_texts_of(item))
    elif isinstance(value, list):
        for item in value:
            found.extend(_texts_of(item))
    return found


def _redact(value):
    if isinstance(value, dict):
        return {key: (ERASED_TEXT if key in TEXT_KEYS and isinstance(item, str) and item else _redact(item))
                for key, item in value.items()}
    if isinstance(value, list):
        return [_redact(item) for item in value]
    return value


def _replace_all(text, replacements: dict[str, str]):
    if not isinstance(text, str):
        return text
    for old in sorted(replacements, key=len, reverse=True):  # the longest first: a title containing the name
        text = text.replace(old, replacements[old])
    return text


class NotificationsEraser:
    def __init__(self, *, directory, preferences, deliveries, inbox, inbox_index):
        self.directory = directory  # live views (people, pairings, meetings)
        self.preferences = preferences
        self.deliveries = deliveries
        self.inbox = inbox
        self.inbox_index = inbox_index

    def erase(self, employee_id: str, at: str) -> dict:
        person = self.directory.person(employee_id) or {}
        names = {value: FORMER_PARTICIPANT for value in (person.get("display_name"), person.get("email"))
                 if value and not person.get("erased")}
        others = self._scrub_others(employee_id, names)
        own = self._delete_own(employee_id)
        self.preferences.collection.delete_one({"_id": employee_id})
        self.inbox_index.collection.delete_one({"_id": employee_id})
        self.directory.people.erase(employee_id, at)
        return {"others_messages": others, **own}

    def _scrub_others(self, employee_id: str, names: dict[str, str]) -> int:
        """Deliveries to others whose context names the person, and the inbox items they became;
        then any other inbox item still showing the name (a message rendered from another source)."""
        changed = 0
        about = self.deliveries.collection.find({"$or": [{f"context.{name}": employee_id} for name in PERSON_FIELDS]})
        for delivery in about:
            if delivery.get("recipient_id") == employee_id:
                continue  # their own: deleted below
            context = delivery.get("context") or {}
            replacements = {**names, **{text: ERASED_TEXT for text in _texts_of(context)}}
            if _texts_of(context):
                self.deliveries.collection.update_one({"_id": delivery["_id"]}, {"$set": {"context": _redact(context)}})
            if delivery.get("notification_id"):
                changed += self._scrub_item(self.inbox.get(delivery["notification_id"]), replacements)
        if names:
            pattern = "|".join(re.escape(name) for name in names)
            for item in self.inbox.collection.find({"$or": [{"subject": {"$regex": pattern}},
                                                            {"body": {"$regex": pattern}}]}):
                if item.get("recipient_id") != employee_id:
                    changed += self._scrub_item(item, names)
        return changed

    def _scrub_item(self, item: dict | None, replacements: dict[str, str]) -> int:
        if item is None or not replacements:
            return 0
        fields = {name: _replace_all(item.get(name), replacements) for name in ("subject", "body")}
        if all(fields[name] == item.get(name) for name in fields):
            return 0
        self.inbox.collection.update_one({"_id": item["_id"]}, {"$set": fields})
        return 1

    def _delete_own(self, employee_id: str) -> dict:
        log = self.deliveries.of_recipient(employee_id)
        ids = [doc["_id"] for doc in log]
        claims = self.deliveries.claims.delete_many({"delivery_id": {"$in": ids}}).deleted_count if ids else 0
        for delivery_id in ids:  # by `_id`: FerretDB indexes no `$in`
            self.deliveries.queue.delete_one({"_id": delivery_id})
            self.deliveries.collection.delete_one({"_id": delivery_id})
        inbox = self.inbox.collection.delete_many({"recipient_id": employee_id}).deleted_count
        return {"deliveries": len(log), "claims": claims, "inbox": inbox}
