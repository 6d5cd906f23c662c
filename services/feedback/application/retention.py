"""Retention of feedback's private words (README "Privacy"): the comment of each feedback and the
note of each kudos are forgotten `retention_private_text_days` after their pairing ended, or
completed without the pair staying in touch (shared/retention.py says when the clock starts).

The words live in the private part of the event's commit and in the views that copied them
(`fb_comments`, `fb_kudos.note`), and for older data in `private_comments` / `kudos_notes`; all are
removed. Ratings, scores and the events stay, so summaries and counts do not move, and a rebuild
(which reads the same commits) cannot bring the words back.
"""
from __future__ import annotations

from datetime import timedelta

from shared.clock import parse_rfc3339
from shared.retention import already_done, mark_done, private_text_clock_start
from services.feedback.adapters.mongo import LEGACY_COMMENTS, LEGACY_KUDOS

DONE = "retention_done"  # pairing id -> when its words were forgotten (`at`) and the clock it followed (`from`)


class ForgetFeedbackTexts:
    """The feedback worker's periodic retention job (shared/worker.py PeriodicJob)."""

    def __init__(self, models, store, database, clock, days: float):
        self.models = models  # ReadModels over the live generation
        self.store = store
        self.db = database
        self.done = database[DONE]
        self.clock = clock
        self.days = days

    def run(self) -> int:
        """Forget the words of every pairing whose retention clock (shared/retention.py: ended, or
        completed and not staying in touch) started more than `days` ago; returns how many pairings.

        Why scans: ended pairings, and a pairing's feedback and kudos, are found by field filters,
        which read whole collections on FerretDB (only `_id` filters use an index there); once an
        hour that is acceptable. The purge itself is keyed by `_id` (commits, views, markers). A
        pairing is marked only when all its words are gone, so an interrupted run finishes it later.
        """
        now = self.clock.now()
        cutoff = now - timedelta(days=self.days)
        forgotten = 0
        for pairing in self.models.pairings.find({"status": {"$in": ["ended", "completed"]}}):
            start = clock_start(pairing)
            if start is None or start > cutoff:
                continue
            if already_done(self.done.find_one({"_id": pairing["_id"]}), start):
                continue
            for feedback in self.models.feedback.find({"pairing_id": pairing["_id"]}, {"_id": 1}):
                self.store.forget_private(feedback["_id"], ("comment",))
                self.models.comments.delete_one({"_id": feedback["_id"]})
                self.db[LEGACY_COMMENTS].delete_one({"_id": feedback["_id"]})
            for kudos in self.models.kudos.find({"pairing_id": pairing["_id"]}, {"_id": 1}):
                self.store.forget_private(kudos["_id"], ("note",))
                self.models.kudos.update_one({"_id": kudos["_id"]}, {"$set": {"note": None}})
                self.db[LEGACY_KUDOS].delete_one({"_id": kudos["_id"]})
            self.db[LEGACY_KUDOS].delete_many({"pairing_id": pairing["_id"]})
            mark_done(self.done, pairing["_id"], start, now)
            forgotten += 1
        return forgotten


def clock_start(pairing: dict):
    def instant(name: str):
        return parse_rfc3339(pairing[name]) if pairing.get(name) else None

    return private_text_clock_start(status=pairing["status"], ended_at=instant("ended_at"),
                                    completed_at=instant("completed_at"),
                                    staying_in_touch=bool(pairing.get("staying_in_touch")),
                                    parted_at=instant("parted_at"))
