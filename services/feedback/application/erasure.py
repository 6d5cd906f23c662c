"""Erasure of a person in the feedback service (GDPR Art. 17; shared.erasure, README Privacy).

Feedback holds no profile, only words and numbers. Erasure removes the words written by or about
the person: the comment of every feedback they gave or received (`fb_comments`, the `comment` a
shared feedback carries in `fb_feedback`, older versions' `private_comments`) and the note of every
kudos they sent or received (`fb_kudos.note`, older `kudos_notes`), also from the commits' private
part (`EventStore.forget_private`, as retention does: each of these streams is one feedback or one
kudos, so no one else's words are touched). Ratings, review and survey answers stay (the cohort
summaries are k-anonymous aggregates and must still add up), keyed as before. The projections
consult the erased-people record, so a rebuild keeps the words out (application/projections.py).
Issue 15: the person's directory record (`fb_people`, their `manager_id`) becomes the erased form,
and as a manager their list of thank-yous shared with them (`fb_kudos_shared`) is deleted; a rebuild
indexes nothing for an erased manager. The mentee's note to the mentor stays the mentor's (it is
not the manager's word), as `GET /v1/me/kudos` shows it.
"""
from __future__ import annotations

from services.feedback.adapters.mongo import LEGACY_COMMENTS, LEGACY_KUDOS


class FeedbackEraser:
    def __init__(self, models, store, database):
        self.models = models  # ReadModels over the live generation
        self.store = store
        self.db = database  # live handle: the legacy collections

    def erase(self, employee_id: str, at: str) -> dict:
        feedback = [doc["_id"] for doc in self.models.feedback.find(
            {"$or": [{"from_id": employee_id}, {"about_id": employee_id}]}, {"_id": 1})]
        for feedback_id in feedback:
            self.store.forget_private(feedback_id, ("comment",))
            self.models.comments.delete_one({"_id": feedback_id})
            self.db[LEGACY_COMMENTS].delete_one({"_id": feedback_id})
            self.models.feedback.update_one({"_id": feedback_id}, {"$set": {"comment": None}})
        kudos = [doc["_id"] for doc in self.models.kudos.find(
            {"$or": [{"from_id": employee_id}, {"to_id": employee_id}]}, {"_id": 1})]
        for kudos_id in kudos:
            self.store.forget_private(kudos_id, ("note",))
            self.models.kudos.update_one({"_id": kudos_id}, {"$set": {"note": None}})
        legacy = sum(self.db[LEGACY_KUDOS].delete_many({field: employee_id}).deleted_count
                     for field in ("from_id", "to_id"))
        self.models.people.erase(employee_id, at)
        shared = self.models.kudos_shared.delete_one({"_id": employee_id}).deleted_count
        return {"feedback": len(feedback), "kudos": len(kudos), "legacy_kudos": legacy, "shared_with_them": shared}
