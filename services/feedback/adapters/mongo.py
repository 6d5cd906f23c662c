"""MongoDB collections of the feedback service.

Read models (rebuilt by replay; `ReadModels.drop()` empties them):
  fb_cohorts, fb_members, fb_pairings, fb_meetings  - from matching and sessions events
  fb_feedback, fb_reviews, fb_surveys               - from the service's own events
Source data that exists nowhere else and is never dropped by a rebuild:
  private_comments (comments an author did not share), kudos_notes (the kudos' words).
Documents are keyed by a computed string `_id` (FerretDB indexes only that); lists per cohort
or person scan with a secondary index for a real mongod.
"""
from __future__ import annotations

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

READ_MODELS = ("fb_cohorts", "fb_members", "fb_pairings", "fb_meetings", "fb_feedback", "fb_reviews", "fb_surveys")


def _clean(doc: dict | None) -> dict | None:
    if doc is not None:
        doc = dict(doc)
        doc.pop("_id", None)
    return doc


class ReadModels:
    def __init__(self, database):
        self.db = database
        self.cohorts = database["fb_cohorts"]
        self.members = database["fb_members"]
        self.pairings = database["fb_pairings"]
        self.meetings = database["fb_meetings"]
        self.feedback = database["fb_feedback"]
        self.reviews = database["fb_reviews"]
        self.surveys = database["fb_surveys"]

    def ensure_indexes(self) -> None:
        for collection, key in ((self.members, "cohort_id"), (self.pairings, "cohort_id"), (self.pairings, "status"),
                                (self.meetings, "pairing_id"), (self.meetings, "cohort_id"),
                                (self.feedback, "cohort_id"), (self.feedback, "about_id"),
                                (self.reviews, "cohort_id"), (self.reviews, "employee_id"),
                                (self.surveys, "cohort_id"), (self.surveys, "employee_id")):
            collection.create_index([(key, ASCENDING)])

    def drop(self) -> None:
        for name in READ_MODELS:
            self.db[name].drop()

    # -- writing ---------------------------------------------------------------------------

    @staticmethod
    def apply_versioned(collection, doc_id: str, version: int, fields: dict) -> bool:
        """Set `fields` unless this document already applied `version` or a later one."""
        current = collection.find_one({"_id": doc_id}, {"version": 1})
        if current is not None and current.get("version", 0) >= version:
            return False
        collection.find_one_and_update({"_id": doc_id}, {"$set": {**fields, "version": version}}, upsert=True)
        return True

    @staticmethod
    def put(collection, doc_id: str, fields: dict) -> None:
        collection.find_one_and_update({"_id": doc_id}, {"$set": fields}, upsert=True)

    # -- reading ---------------------------------------------------------------------------

    def cohort(self, cohort_id: str) -> dict | None:
        return _clean(self.cohorts.find_one({"_id": cohort_id}))

    def pairing(self, pairing_id: str) -> dict | None:
        return _clean(self.pairings.find_one({"_id": pairing_id}))

    def meeting(self, meeting_id: str) -> dict | None:
        return _clean(self.meetings.find_one({"_id": meeting_id}))

    def held_meetings_of_pairing(self, pairing_id: str) -> list[dict]:
        return [_clean(d) for d in self.meetings.find({"pairing_id": pairing_id}) if d.get("held_at")]

    def held_meetings_of_cohort(self, cohort_id: str) -> list[dict]:
        return [_clean(d) for d in self.meetings.find({"cohort_id": cohort_id}) if d.get("held_at")]

    def pairings_of_cohort(self, cohort_id: str) -> list[dict]:
        return [_clean(d) for d in self.pairings.find({"cohort_id": cohort_id})]

    def active_pairings(self) -> list[dict]:
        return [_clean(d) for d in self.pairings.find({"status": "active"})]

    def enrolled_members(self, cohort_id: str) -> list[dict]:
        return [_clean(d) for d in self.members.find({"cohort_id": cohort_id}) if d.get("enrolled")]

    def all_cohorts(self) -> list[dict]:
        return [_clean(d) for d in self.cohorts.find({})]

    def feedback_of_cohort(self, cohort_id: str) -> list[dict]:
        return [_clean(d) for d in self.feedback.find({"cohort_id": cohort_id})]

    def feedback_about(self, employee_id: str) -> list[dict]:
        return [_clean(d) for d in self.feedback.find({"about_id": employee_id})]

    def reviews_of_cohort(self, cohort_id: str) -> list[dict]:
        return [_clean(d) for d in self.reviews.find({"cohort_id": cohort_id})]

    def reviews_of(self, employee_id: str) -> list[dict]:
        return [_clean(d) for d in self.reviews.find({"employee_id": employee_id})]

    def surveys_of_cohort(self, cohort_id: str) -> list[dict]:
        return [_clean(d) for d in self.surveys.find({"cohort_id": cohort_id})]

    def surveys_of(self, employee_id: str) -> list[dict]:
        return [_clean(d) for d in self.surveys.find({"employee_id": employee_id})]


class PrivateNotes:
    """Words that stay in this service: unshared feedback comments and kudos notes."""

    def __init__(self, database):
        self.comments = database["private_comments"]
        self.kudos = database["kudos_notes"]

    def ensure_indexes(self) -> None:
        self.kudos.create_index([("to_id", ASCENDING)])

    def keep_comment(self, feedback_id: str, from_id: str, comment: str, shared: bool) -> None:
        try:
            self.comments.insert_one({"_id": feedback_id, "from_id": from_id, "comment": comment, "shared": shared})
        except DuplicateKeyError:
            pass  # a retried request: the first comment stays

    def comment(self, feedback_id: str) -> dict | None:
        return self.comments.find_one({"_id": feedback_id})

    def keep_kudos(self, kudos: dict) -> None:
        self.kudos.insert_one({"_id": kudos["kudos_id"], **kudos})

    def kudos_to(self, employee_id: str) -> list[dict]:
        return [_clean(d) for d in self.kudos.find({"to_id": employee_id})]
