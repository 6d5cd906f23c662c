"""MongoDB collections of the feedback service.

Every collection here is a read model written by exactly one projection and rebuildable:
  fb_cohorts, fb_members, fb_pairings, fb_meetings  - from matching and sessions events (Kafka)
  fb_feedback, fb_reviews, fb_surveys               - from the service's own event store
  fb_comments, fb_kudos                             - the same, with the private text stored in
                                                      each event's commit (unshared comments, kudos notes)
  fb_kudos_shared                                   - per manager (`_id` = their employee id): the ids of
                                                      the kudos mentees shared with them (issue 15)
  fb_people                                         - the HRIS directory, only `manager_id` and `display_name`
                                                      (whom a mentee may share a thank-you with; shared.directory)
  fb_cohort_pairings, _members, _meetings,          - per cohort, the rows the summary, the export and the
  fb_cohort_feedback, _reviews, _surveys              closing survey read, by `_id` (adapters/cohort_lists.py)
  fb_person_feedback, _reviews, _surveys, _kudos    - per person, the ids their `/v1/me/...` lists read
Projections write through the (generation-bound) database they are bound to; readers use
`shared.generations.live_database`, so a rebuild's swap is followed without a restart. Request
handlers never write here.

`private_comments` and `kudos_notes` are where versions before the commit-private store kept the
words; they are only read (never dropped: nothing else holds what is in them).
Documents are keyed by a computed string `_id` (FerretDB indexes only that); a cohort's lists are
read from the cohort lists, a person's feedback, reviews, surveys and kudos from theirs; the rare
reads left (a subject access export, erasure, retention, the periodic jobs) filter fields, with a
secondary index for a real mongod.
"""
from __future__ import annotations

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from shared.directory import DirectoryRepository
from services.feedback.adapters.cohort_lists import KUDOS_LISTS, OWN_LISTS, PROGRAMME_LISTS, CohortLists, read_by_ids

PROGRAMME = ("fb_cohorts", "fb_members", "fb_pairings", "fb_meetings", *PROGRAMME_LISTS)
OWN = ("fb_feedback", "fb_reviews", "fb_surveys", "fb_comments", *OWN_LISTS)
KUDOS = ("fb_kudos", "fb_kudos_shared", *KUDOS_LISTS)
PEOPLE = "fb_people"
READ_MODELS = PROGRAMME + OWN + KUDOS
LEGACY_COMMENTS = "private_comments"
LEGACY_KUDOS = "kudos_notes"


def _clean(doc: dict | None) -> dict | None:
    if doc is not None:
        doc = dict(doc)
        doc.pop("_id", None)
    return doc


def apply_versioned(collection, doc_id: str, version: int, fields: dict) -> bool:
    """Set `fields` unless this document already applied `version` or a later one.

    A version-conditioned update (atomic per document on mongod), else a first insert, whose
    DuplicateKeyError sends it back to the conditional update. FerretDB v1 does not isolate the
    conditional update, so correctness there rests on one writer per key at a time (one consumer
    per partition, one store projector per service).
    """
    update = {"$set": {**fields, "version": version}}
    condition = {"_id": doc_id, "version": {"$lt": version}}
    if collection.update_one(condition, update).matched_count:
        return True
    try:
        collection.insert_one({"_id": doc_id, **fields, "version": version})
        return True
    except DuplicateKeyError:
        return collection.update_one(condition, update).matched_count > 0


def put(collection, doc_id: str, fields: dict) -> None:
    collection.find_one_and_update({"_id": doc_id}, {"$set": fields}, upsert=True)


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
        self.comments = database["fb_comments"]
        self.kudos = database["fb_kudos"]
        self.kudos_shared = database["fb_kudos_shared"]
        self.people = DirectoryRepository(database, PEOPLE)
        self.lists = CohortLists(database)  # a cohort's rows, by `_id` (adapters/cohort_lists.py)

    def ensure_indexes(self) -> None:
        """What a real mongod serves from an index: the field filters left (a person's lists, the
        periodic jobs' and retention's filters); a cohort's lists are `_id` reads."""
        for collection, key in ((self.members, "employee_id"), (self.pairings, "status"),
                                (self.feedback, "about_id"), (self.feedback, "from_id"),
                                (self.reviews, "employee_id"), (self.surveys, "employee_id"),
                                (self.pairings, "mentor_id"), (self.pairings, "mentee_id"),
                                (self.kudos, "to_id"), (self.kudos, "from_id"), (self.feedback, "pairing_id"),
                                (self.kudos, "pairing_id")):
            collection.create_index([(key, ASCENDING)])

    def drop(self, names=READ_MODELS) -> None:
        for name in names:
            self.db[name].drop()

    # -- reading ---------------------------------------------------------------------------

    def cohort(self, cohort_id: str) -> dict | None:
        return _clean(self.cohorts.find_one({"_id": cohort_id}))

    def pairing(self, pairing_id: str) -> dict | None:
        return _clean(self.pairings.find_one({"_id": pairing_id}))

    def meeting(self, meeting_id: str) -> dict | None:
        return _clean(self.meetings.find_one({"_id": meeting_id}))

    def held_meetings_of_pairing(self, pairing_id: str, cohort_id: str) -> list[dict]:
        """Rows (as `held_meetings_of_cohort`'s) of the pairing's held meetings, disputed ones too: its
        cohort's list, by `_id` (a `{pairing_id}` filter scans every meeting on FerretDB v1)."""
        return [m for m in self.lists.meetings.rows(cohort_id) if m["pairing_id"] == pairing_id and m["held_at"]]

    def held_meetings_of_cohort(self, cohort_id: str) -> list[dict]:
        """Held and undisputed (summary and export counts): a disputed held meeting does not count.
        Rows: meeting_id, pairing_id, held_at, disputed_status."""
        return [m for m in self.lists.meetings.rows(cohort_id) if m["held_at"] and m["disputed_status"] != "held"]

    def pairings_of_cohort(self, cohort_id: str) -> list[dict]:
        """Rows: pairing_id, mentor_id, mentee_id, status, activated_at."""
        return self.lists.pairings.rows(cohort_id)

    def active_pairings(self) -> list[dict]:
        return [_clean(d) for d in self.pairings.find({"status": "active"})]

    def enrolled_members(self, cohort_id: str) -> list[dict]:
        """Rows: employee_id, role, enrolled."""
        return [m for m in self.lists.members.rows(cohort_id) if m["enrolled"]]

    def all_cohorts(self) -> list[dict]:
        return [_clean(d) for d in self.cohorts.find({})]

    def feedback_of_cohort(self, cohort_id: str) -> list[dict]:
        """Rows: feedback_id, pairing_id, from_id, rating, meeting_id, good_fit, given_at."""
        return self.lists.feedback.rows(cohort_id)

    def _listed(self, collection, rows, owner_id: str) -> list[dict]:
        ids = [row[rows.key] for row in rows.rows(owner_id)]
        return [_clean(doc) for doc in read_by_ids(collection, ids)]

    def feedback_about(self, employee_id: str) -> list[dict]:
        return self._listed(self.feedback, self.lists.feedback_about, employee_id)

    def review(self, review_id: str) -> dict | None:
        return _clean(self.reviews.find_one({"_id": review_id}))

    def reviews_of_cohort(self, cohort_id: str) -> list[dict]:
        """Rows: review_id, employee_id, respondent, due_on, requested_at, submitted, submitted_at,
        satisfaction, goal_progress."""
        return self.lists.reviews.rows(cohort_id)

    def reviews_of(self, employee_id: str) -> list[dict]:
        return self._listed(self.reviews, self.lists.reviews_of, employee_id)

    def survey(self, survey_id: str) -> dict | None:
        return _clean(self.surveys.find_one({"_id": survey_id}))

    def surveys_of_cohort(self, cohort_id: str) -> list[dict]:
        """Rows: survey_id, employee_id, respondent, requested_at, answered, answered_at, recommend_score."""
        return self.lists.surveys.rows(cohort_id)

    def surveys_of(self, employee_id: str) -> list[dict]:
        return self._listed(self.surveys, self.lists.surveys_of, employee_id)

    def comment(self, feedback_id: str) -> dict | None:
        """The comment of a feedback as its author wrote it (shared or not): for the author and exports."""
        doc = self.comments.find_one({"_id": feedback_id}) or self.db[LEGACY_COMMENTS].find_one({"_id": feedback_id})
        return _clean(doc)

    def kudos_to(self, employee_id: str) -> list[dict]:
        """The kudos sent to the person: theirs by `_id`, and those versions before the commit-private
        store left in `kudos_notes` (a collection nothing adds to any more: its scan does not grow)."""
        seen = {doc["_id"]: _clean(doc) for doc in self.db[LEGACY_KUDOS].find({"to_id": employee_id})}
        ids = [row["kudos_id"] for row in self.lists.kudos_to.rows(employee_id)]
        seen.update((doc["_id"], _clean(doc)) for doc in read_by_ids(self.kudos, ids))
        return list(seen.values())

    def kudos_by_id(self, kudos_id: str) -> dict | None:
        return _clean(self.kudos.find_one({"_id": kudos_id}))

    def manager_of(self, employee_id: str) -> str | None:
        """The person's manager as the HRIS names them now (None: unknown person or no manager)."""
        doc = self.people.get(employee_id) or {}
        return None if doc.get("erased") else doc.get("manager_id")

    def name_of(self, employee_id: str) -> str:
        """The person's HRIS display name (an erased person's is the erased form's), else the id."""
        return (self.people.get(employee_id) or {}).get("display_name") or employee_id

    def kudos_shared_with(self, manager_id: str) -> list[dict]:
        """The kudos mentees shared with this manager: their index document, then each kudos, all by
        `_id` (FerretDB v1 would scan `fb_kudos` for a `shared_with_id` filter)."""
        index = self.kudos_shared.find_one({"_id": manager_id}) or {}
        found = (self.kudos_by_id(kudos_id) for kudos_id in index.get("kudos_ids") or [])
        return [k for k in found if k is not None]

    # -- one person's records (the subject access export, application/export.py): scans on
    # FerretDB, which is acceptable for a rare request; indexes on mongod where they exist.

    def memberships_of(self, employee_id: str) -> list[dict]:
        return [_clean(d) for d in self.members.find({"employee_id": employee_id})]

    def pairings_of(self, employee_id: str) -> list[dict]:
        return [_clean(d) for d in self.pairings.find({"$or": [{"mentor_id": employee_id},
                                                                {"mentee_id": employee_id}]})]

    def held_meetings_of_party(self, employee_id: str) -> list[dict]:
        return [_clean(d) for d in self.meetings.find({"$or": [{"mentor_id": employee_id}, {"mentee_id": employee_id}]})
                if d.get("held_at")]

    def feedback_from(self, employee_id: str) -> list[dict]:
        return [_clean(d) for d in self.feedback.find({"from_id": employee_id})]

    def kudos_from(self, employee_id: str) -> list[dict]:
        seen = {}
        for doc in list(self.db[LEGACY_KUDOS].find({"from_id": employee_id})) + list(self.kudos.find({"from_id": employee_id})):
            seen[doc["_id"]] = _clean(doc)
        return list(seen.values())
