"""A cohort's pairings, members, meetings, feedback, reviews and surveys, read by `_id` (issue 16).

The daily cohort summary, the CSV export and the closing survey read whole cohorts. On FerretDB v1 a
`{cohort_id}` filter scans every cohort's documents (~11 s at 50,000 feedback documents), so each of
these lists is kept per cohort as a `shared.cohort_index.CohortIndex`: content-defined chunks of
slim rows (the fields the readers need, one JSON string per chunk) and a directory, each read by
`_id`. A reader's cost follows the cohort's size, not the organisation's.

- Fed from Kafka (`ProgrammeView`): `fb_cohort_pairings`, `fb_cohort_members` (matching's topic)
  and `fb_cohort_meetings` (sessions'). Each partition's consumer is a writer, so each keeps one
  index per cohort *and partition* (`CohortIndex.writing_partition`), versions being offsets;
  readers merge the partitions (a pairing's, member's or meeting's events share one partition).
- Fed from the store (`FeedbackView`, one store projector): `fb_cohort_feedback`,
  `fb_cohort_reviews`, `fb_cohort_surveys`, versions being store orders.

A person's lists (`fb_person_*`: the feedback about them, their reviews, surveys and the kudos
sent to them; the `/v1/me/...` routes) are the same index keyed by the person, rows being ids only;
the documents are then read by `_id`, side by side.

A row is written before the document it comes from and only when it changes (a crash in between
applies the event again: the document is still old, the row is set again, harmlessly); a rebuild
applies the same events and writes the same documents (chunk boundaries depend only on the keys).
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from shared.cohort_index import CHUNK_READERS, CohortIndex, CohortIndexWrite

ROW_SPREAD = 256  # ~30 kB chunks at ~120 bytes a row: one change rewrites one chunk and the directory


class CohortList(CohortIndex):
    """One kind of documents as rows (`key` and `fields` of each) per `owner` (the cohort, or a person)."""

    spread = ROW_SPREAD

    def __init__(self, collection, key: str, fields: tuple[str, ...], *, partitioned: bool, owner: str = "cohort_id"):
        super().__init__(collection)
        self.key, self.fields, self.partitioned, self.owner = key, fields, partitioned, owner
        self._last: CohortIndexWrite | None = None  # the writer's last save (its chunks are reused)

    @staticmethod
    def count_key(values: tuple) -> str:
        return "rows"  # readers take a cohort's rows whole

    def entry_of(self, doc: dict) -> tuple:
        return (str(doc[self.key]), *(doc.get(name) for name in self.fields))

    def row_of(self, doc: dict) -> dict:
        """What a reader gets of a document (the same whether read from the index or a scan)."""
        return {self.key: doc[self.key], **{name: doc.get(name) for name in self.fields}}

    def rows(self, cohort_id: str) -> list[dict]:
        """The cohort's rows in key order: directories and chunks, all by `_id`."""
        entries = self.entries_of_partitions(cohort_id) if self.partitioned else self.entries(cohort_id)
        return [{self.key: key, **dict(zip(self.fields, values))} for key, values in sorted(entries.items())]

    def index(self, before: dict | None, after: dict, order: int, *, partition: int | None = None) -> None:
        """Set `after`'s row in its owner's list (of `partition`'s, for a Kafka-fed list) as of the
        event at `order`, unless `before` (the document as stored) already has that row."""
        cohort_id = after.get(self.owner)
        if not cohort_id or (before is not None and before.get(self.owner) == cohort_id
                             and self.entry_of(before) == self.entry_of(after)):
            return
        last, self._last = self._last, None
        if self.partitioned:
            assert partition is not None, "a Kafka-fed list is written per partition"
            writing = self.writing_partition(cohort_id, partition, after=last)
        else:
            writing = self.writing(cohort_id, after=last)
        writing.put(self.entry_of(after), order)
        writing.save()
        self._last = writing


PAIRINGS = "fb_cohort_pairings"
MEMBERS = "fb_cohort_members"
MEETINGS = "fb_cohort_meetings"
FEEDBACK = "fb_cohort_feedback"
REVIEWS = "fb_cohort_reviews"
SURVEYS = "fb_cohort_surveys"
FEEDBACK_ABOUT = "fb_person_feedback"
REVIEWS_OF = "fb_person_reviews"
SURVEYS_OF = "fb_person_surveys"
KUDOS_TO = "fb_person_kudos"
PROGRAMME_LISTS = (PAIRINGS, MEMBERS, MEETINGS)
OWN_LISTS = (FEEDBACK, REVIEWS, SURVEYS, FEEDBACK_ABOUT, REVIEWS_OF, SURVEYS_OF)
KUDOS_LISTS = (KUDOS_TO,)


def read_by_ids(collection, ids: list[str]) -> list[dict]:
    """The documents of `ids` (those that exist), in that order: `_id` reads side by side (FerretDB
    v1 scans the collection for `{_id: {$in: [...]}}`)."""
    if not ids:
        return []
    with ThreadPoolExecutor(min(CHUNK_READERS, len(ids))) as pool:
        found = list(pool.map(lambda doc_id: collection.find_one({"_id": doc_id}), ids))
    return [doc for doc in found if doc is not None]


class CohortLists:
    """The cohorts' and the people's lists on one database handle (readers: live; a projection: its generation)."""

    def __init__(self, database):
        self.pairings = CohortList(database[PAIRINGS], "pairing_id", ("mentor_id", "mentee_id", "status",
                                                                      "activated_at"), partitioned=True)
        self.members = CohortList(database[MEMBERS], "employee_id", ("role", "enrolled"), partitioned=True)
        self.meetings = CohortList(database[MEETINGS], "meeting_id", ("pairing_id", "held_at", "disputed_status"),
                                   partitioned=True)
        self.feedback = CohortList(database[FEEDBACK], "feedback_id", ("pairing_id", "from_id", "rating",
                                                                       "meeting_id", "good_fit", "given_at"),
                                   partitioned=False)
        self.reviews = CohortList(database[REVIEWS], "review_id", (
            "employee_id", "respondent", "due_on", "requested_at", "submitted", "submitted_at", "satisfaction",
            "goal_progress"), partitioned=False)
        self.surveys = CohortList(database[SURVEYS], "survey_id", (
            "employee_id", "respondent", "requested_at", "answered", "answered_at", "recommend_score"),
            partitioned=False)
        self.feedback_about = CohortList(database[FEEDBACK_ABOUT], "feedback_id", (), partitioned=False,
                                         owner="about_id")
        self.reviews_of = CohortList(database[REVIEWS_OF], "review_id", (), partitioned=False, owner="employee_id")
        self.surveys_of = CohortList(database[SURVEYS_OF], "survey_id", (), partitioned=False, owner="employee_id")
        self.kudos_to = CohortList(database[KUDOS_TO], "kudos_id", (), partitioned=False, owner="to_id")
