"""Reads over the feedback read models: what a person may see, and the admins' insight."""
from __future__ import annotations

from services.feedback.adapters.mongo import ReadModels
from services.feedback.domain import insight
from services.feedback.domain.rules import visible_to_subject


class FeedbackQueries:
    def __init__(self, models: ReadModels):
        self.models = models

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

    def cohort_summary(self, cohort_id: str) -> dict | None:
        cohort = self.models.cohort(cohort_id)
        pairings = self.models.pairings_of_cohort(cohort_id)
        feedback = self.models.feedback_of_cohort(cohort_id)
        if cohort is None and not pairings and not feedback:
            return None
        mentor_ids = {p["mentor_id"] for p in pairings}
        mentor_ids.update(m["employee_id"] for m in self.models.enrolled_members(cohort_id) if m["role"] == "mentor")
        summary = insight.cohort_summary(
            held_meetings=self.models.held_meetings_of_cohort(cohort_id), feedback=feedback,
            reviews=self.models.reviews_of_cohort(cohort_id), surveys=self.models.surveys_of_cohort(cohort_id),
            mentor_ids=mentor_ids,
        )
        return {"cohort_id": cohort_id, **summary}

    def export_rows(self, cohort_id: str) -> list[dict] | None:
        """The export's rows; None for a cohort this service does not know (as `cohort_summary`)."""
        pairings = self.models.pairings_of_cohort(cohort_id)
        if self.models.cohort(cohort_id) is None and not pairings:
            return None
        return insight.pairing_rows(pairings, self.models.held_meetings_of_cohort(cohort_id),
                                    self.models.feedback_of_cohort(cohort_id))
