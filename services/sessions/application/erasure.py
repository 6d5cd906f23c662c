"""Erasure of a person in the sessions service (GDPR Art. 17; shared.erasure, README Privacy).

The sessions views hold ids, times and statuses, no text: what they hold of a person's personal
data is the HRIS record (`participants`: name, e-mail, time zone), which becomes the erased form
("former participant"), and what older versions kept in `meeting_texts` for the person's
meetings, which is deleted. Pairings, meetings and engagement stay: they are the partner's history
too, and every count built from them still adds up.

Not here yet (README Privacy, next slice): the private text of the person's meetings and goals
(agendas, notes, milestones) lives in the commits of streams the pair shares, and goal titles in
`GoalsRevised` events; removing the person's words there without the partner's needs per-person
keys (crypto-shredding).
"""
from __future__ import annotations


class SessionsEraser:
    def __init__(self, participants, meetings_view, database):
        self.participants = participants  # DirectoryRepository over the live generation
        self.meetings_view = meetings_view
        self.legacy = database["meeting_texts"]

    def erase(self, employee_id: str, at: str) -> dict:
        legacy = sum(self.legacy.delete_one({"_id": meeting["_id"]}).deleted_count
                     for meeting in self.meetings_view.of_party(employee_id))
        self.participants.erase(employee_id, at)
        return {"meeting_texts": legacy}
