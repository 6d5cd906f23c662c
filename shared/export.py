"""Subject access export (GDPR Art. 15, issue 13): the parts every service's export shares.

Each service decides what it holds about a person in `services/<svc>/application/export.py`
(which views, which streams, which private fields the person authored); this module only turns
what they found into JSON: view documents made JSON-safe, and a stream's events with the private
fields the service's rule lets through. docs/api-privacy.md says what is left out and why.

Streams are read by id (`EventStore.load`: `_id` look-ups only, indexed on FerretDB too); the
service finds the ids of the person's streams in its own views, never by scanning the log.
"""
from __future__ import annotations

import dataclasses
from datetime import date, datetime, timezone
from typing import Callable, Iterable

from shared.clock import rfc3339
from shared.events.envelope import Envelope

FORMAT = "mentoring.person-export.v1"  # what a reader of the file checks first

# (event, the commit's private fields of that event) -> the fields the person may have
PrivateRule = Callable[[Envelope, dict], dict]


def no_private(_event: Envelope, _private: dict) -> dict:
    return {}


def plain(value):
    """A JSON-safe copy of a stored document (datetimes as RFC 3339 UTC, dates ISO, ids as text)."""
    if isinstance(value, dict):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(item) for item in value]
    if isinstance(value, datetime):
        return rfc3339(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    if isinstance(value, date):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)  # ObjectId and the like


def documents(docs: Iterable[dict | None]) -> list[dict]:
    """Stored documents (None skipped), JSON-safe, in `_id` order so two exports compare line by line."""
    return [plain(doc) for doc in sorted((d for d in docs if d), key=lambda d: str(d.get("_id", "")))]


def stream_events(store, stream_id: str, private_rule: PrivateRule = no_private, *, sealer=None) -> list[dict]:
    """The events of one stream as stored (contract envelope), each with `private`: the fields of
    its commit's private part that `private_rule` gives the person (left out when none), opened
    by `sealer` where the service seals them (shared.shredding)."""
    loaded = store.load(stream_id)
    if sealer is not None:
        loaded = dataclasses.replace(loaded, private=sealer.open_all(loaded.private))
    out = []
    for event in loaded.events:
        item = event.to_dict()
        mine = private_rule(event, dict(loaded.private.get(event.event_id) or {}))
        if mine:
            item["private"] = plain(mine)
        out.append(item)
    return out


def events_of(store, stream_ids: Iterable[str], private_rule: PrivateRule = no_private, *,
              sealer=None) -> list[dict]:
    """The events of every named stream (each stream once), streams in id order."""
    out: list[dict] = []
    for stream_id in sorted(set(stream_ids)):
        out.extend(stream_events(store, stream_id, private_rule, sealer=sealer))
    return out


def envelope(service: str, employee_id: str, generated_at: datetime, data: dict, events: list[dict],
             withheld: list[str]) -> dict:
    """One service's export: what it holds (`data`, by collection), the events that made it, and
    what it deliberately left out (`withheld`: one sentence each, so nobody mistakes it for a gap)."""
    return {"format": FORMAT, "service": service, "employee_id": employee_id,
            "generated_at": rfc3339(generated_at), "data": data, "events": events, "withheld": withheld}
