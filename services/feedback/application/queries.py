"""Reads over the feedback read models: what a person may see, and the admins' insight.

A cohort summary is published once a day (issue 13): the summary served on day D is computed
from what was answered before D began (UTC), released against the previous published one
(`insight.release`) and stored by the first reader (adapters/snapshots.py); every later read that
day gets the stored figures, so a new answer cannot be isolated by reading before and after it.
"""
from __future__ import annotations

from datetime import date, datetime, time, timezone
from typing import Callable

from shared.clock import parse_rfc3339
from services.feedback.adapters.mongo import ReadModels
from services.feedback.adapters.snapshots import SnapshotStore
from services.feedback.domain import insight
from services.feedback.domain.rules import visible_to_subject


def _before(moment: str | None, cutoff: datetime) -> bool:
    return bool(moment) and parse_rfc3339(str(moment)) < cutoff


def _as_of(items: list[dict], cutoff: datetime, requested_at: str, answered: str, answered_at: str,
           answer_fields: tuple[str, ...]) -> list[dict]:
    """Reviews or surveys as they stood at `cutoff`: requested before it, answered only if before it."""
    out = []
    for item in items:
        if item.get(requested_at) and not _before(item[requested_at], cutoff):
            continue
        if item.get(answered) and not _before(item.get(answered_at), cutoff):
            item = {k: v for k, v in item.items() if k not in answer_fields}
            item[answered] = False
        out.append(item)
    return out


class FeedbackQueries:
    def __init__(self, models: ReadModels, snapshots: SnapshotStore | None = None, clock=None,
                 settle: Callable[[], object] | None = None):
        self.models = models
        self.snapshots = snapshots
        self.clock = clock
        self.settle = settle or (lambda: None)  # wait until the views hold everything stored so far

    def feedback_about(self, employee_id: str) -> list[dict]:
        items = sorted(self.models.feedback_about(employee_id), key=lambda f: f.get("given_at") or "")
        return [visible_to_subject(item) for item in items]

    def personal_summary(self, employee_id: str) -> dict:
        return insight.personal_summary(self.models.feedback_about(employee_id))

    def reviews_of(self, employee_id: str) -> list[dict]:
        return sorted(self.models.reviews_of(employee_id), key=lambda r: str(r.get("due_on")))

    def surveys_of(self, employee_id: str) -> list[dict]:
        return self.models.surveys_of(employee_id)

    def kudos_for(self, employee_id: str) -> list[dict]:
        return sorted(self.models.kudos_to(employee_id), key=lambda k: k["sent_at"], reverse=True)

    def kudos_shared_with(self, manager_id: str) -> list[dict]:
        """Thank-yous mentees shared with this manager about their report, newest first; one whose
        note is gone (retention, or an erased author or mentor) has nothing left to read and is left out."""
        names: dict[str, str] = {}  # a manager's few reports recur: each name read once (by `_id`)

        def name(employee_id: str) -> str:
            if employee_id not in names:
                names[employee_id] = self.models.name_of(employee_id)
            return names[employee_id]

        items = [{**k, "from_name": name(k["from_id"]), "to_name": name(k["to_id"])}
                 for k in self.models.kudos_shared_with(manager_id)
                 if k.get("note") and k.get("shared_with_id") == manager_id]
        return sorted(items, key=lambda k: k["sent_at"], reverse=True)

    def cohort_summary(self, cohort_id: str) -> dict | None:
        """Today's published summary (stored once per day), or None for an unknown cohort."""
        cohort = self.models.cohort(cohort_id)
        if cohort is None and not self.models.pairings_of_cohort(cohort_id) \
                and not self.models.feedback_of_cohort(cohort_id):
            return None
        day = self.clock.now().astimezone(timezone.utc).date() if self.clock else date.today()
        summary = self.snapshots.published(cohort_id, day) if self.snapshots else None
        if summary is None:
            self.settle()
            previous = self.snapshots.latest_before(cohort_id, day) if self.snapshots else None
            snapshot = self.release(cohort_id, day, previous)
            if self.snapshots:
                snapshot = self.snapshots.put_once(cohort_id, day, snapshot)
            summary = snapshot["summary"]
        return {"cohort_id": cohort_id, "as_of": f"{day.isoformat()}T00:00:00Z", **summary}

    def release(self, cohort_id: str, day: date, previous: dict | None) -> dict:
        """The snapshot of `day`: answers given before the day began, released against `previous`."""
        cutoff = datetime.combine(day, time(0), tzinfo=timezone.utc)
        pairings = self.models.pairings_of_cohort(cohort_id)
        mentor_ids = {p["mentor_id"] for p in pairings}
        mentor_ids.update(m["employee_id"] for m in self.models.enrolled_members(cohort_id) if m["role"] == "mentor")
        held = [m for m in self.models.held_meetings_of_cohort(cohort_id) if _before(m.get("held_at"), cutoff)]
        feedback = [f for f in self.models.feedback_of_cohort(cohort_id) if _before(f.get("given_at"), cutoff)]
        reviews = _as_of(self.models.reviews_of_cohort(cohort_id), cutoff, "requested_at", "submitted",
                         "submitted_at", ("satisfaction", "goal_progress", "goals"))
        surveys = _as_of(self.models.surveys_of_cohort(cohort_id), cutoff, "requested_at", "answered",
                         "answered_at", ("recommend_score",))
        return insight.release(previous, held_meetings=held, feedback=feedback, reviews=reviews, surveys=surveys,
                               mentor_ids=mentor_ids)

    def export_rows(self, cohort_id: str) -> list[dict] | None:
        """The export's rows; None for a cohort this service does not know (as `cohort_summary`)."""
        pairings = self.models.pairings_of_cohort(cohort_id)
        if self.models.cohort(cohort_id) is None and not pairings:
            return None
        return insight.pairing_rows(pairings, self.models.held_meetings_of_cohort(cohort_id),
                                    self.models.feedback_of_cohort(cohort_id))
