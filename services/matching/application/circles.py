"""Who sees a mentoring circle, and how (domain/circles.py; the `circles` view in adapters/mongo.py).

A circle's document lists every pairing ever proposed into it with its status. Its mentor and the
admins (platform admins and the programme's managers) see all of them; a member — a mentee whose
pairing in it is proposed, active or completed, the statuses that let partners see each other's
card (partners.PARTNER_STATUSES) — sees those members only, never who declined or left; anyone
else gets nothing (the route answers 404, so circles cannot be probed).

Co-members (two mentees, each with a proposed or active pairing in the same circle) may see each
other's card (`GET /v1/participants/{id}`): `co_members` answers it from the reader's own pairings
list (one `_id` read), their pairing documents and their circles' documents, all by `_id`.
"""
from __future__ import annotations

from shared.events.catalog import matching as ev

from services.matching.adapters.mongo import Views
from services.matching.application.partners import PARTNER_STATUSES

OPEN = ev.OPEN_PAIRING_STATUSES


def circle_out(doc: dict, *, reader: str, reader_is_admin: bool) -> dict | None:
    """The circle as `reader` may see it, or None (not theirs to see)."""
    members = list(doc.get("members") or ())
    if not reader_is_admin and reader != doc["mentor_id"]:
        if not any(m["mentee_id"] == reader and m["status"] in PARTNER_STATUSES for m in members):
            return None
        members = [m for m in members if m["status"] in PARTNER_STATUSES]
    return {"circle_id": doc["_id"], "cohort_id": doc["cohort_id"], "mentor_id": doc["mentor_id"],
            "members": [{"mentee_id": m["mentee_id"], "pairing_id": m["pairing_id"], "status": m["status"]}
                        for m in members]}


def member_count(doc: dict) -> int:
    """Members with an open (proposed or active) pairing: the circle's size now."""
    return sum(1 for m in doc.get("members") or () if m["status"] in OPEN)


def co_members(views: Views, a: str, b: str) -> bool:
    """`a` and `b` are both open members (proposed or active) of one circle."""
    if a == b:
        return False
    for pairing_id in (views.party_pairings.get(a) or {}).get("pairings") or ():
        pairing = views.pairings.get(pairing_id)
        if (pairing is None or not pairing.get("circle_id") or pairing["mentee_id"] != a
                or pairing["status"] not in OPEN):
            continue
        circle = views.circles.get(pairing["circle_id"]) or {}
        if any(m["mentee_id"] == b and m["status"] in OPEN for m in circle.get("members") or ()):
            return True
    return False
