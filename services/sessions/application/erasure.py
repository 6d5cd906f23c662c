"""Erasure of a person in the sessions service (GDPR Art. 17; shared.erasure, README Privacy).

The sessions views hold ids, times and statuses, no text: what they hold of a person's personal
data is the HRIS record (`participants`: name, e-mail, time zone), which becomes the erased form
("former participant"), and what older versions kept in `meeting_texts` for the person's
meetings, which is deleted. Pairings, meetings and engagement stay: they are the partner's history
too, and every count built from them still adds up.

The private text the person wrote (agendas, notes, dispute reasons, goals' milestones, the
agreement's expectations) lives in commits of streams the pair shares, sealed under the author's
key (shared.shredding): erasure deletes the person's key, so their words are unreadable while the
partner's stay. The person's weekly availability (issue 15) is sealed the same way in their own
stream's commits: with the key gone it reads as never set. Not covered yet: goal titles, which travel in `GoalsRevised` events on Kafka, and
text stored before sealing existed (its commits hold it in plain form).
"""
from __future__ import annotations


class SessionsEraser:
    def __init__(self, participants, meetings_view, database, keys):
        self.participants = participants  # DirectoryRepository over the live generation
        self.meetings_view = meetings_view
        self.legacy = database["meeting_texts"]
        self.keys = keys  # shared.shredding.PersonKeys

    def erase(self, employee_id: str, at: str) -> dict:
        legacy = sum(self.legacy.delete_one({"_id": meeting["_id"]}).deleted_count
                     for meeting in self.meetings_view.of_party(employee_id))
        self.participants.erase(employee_id, at)
        shredded = self.keys.shred(employee_id)
        return {"meeting_texts": legacy, "key_shredded": shredded}
