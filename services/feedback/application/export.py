"""Subject access export of the feedback service (GDPR Art. 15, issue 13; docs/api-privacy.md).

What feedback holds about a person, and what of it they get:
- their memberships and pairings as this service knows them, and the held meetings of those pairings;
- feedback they gave: all of it, with their own comment whether they shared it or not;
- feedback about them: as `GET /v1/me/feedback` shows it (the rating, who gave it, a comment only if
  its author shared it: an unshared comment is the author's private word);
- their progress reviews and end-of-cohort surveys with their own answers. The answer events name
  the respondent by a keyed pseudonym; the export gives the person their pseudonym and the answers of
  the events that carry it (or, for v1 events, their employee id). Nobody else's answers are ever in
  it: the service finds review and survey streams by the person's own requests, never by pseudonym
  lists, and the cohort summaries (k-anonymous aggregates) are not personal data of anyone;
- kudos they sent and kudos they received, notes included (a note is written to its recipient, who
  reads it in `GET /v1/me/kudos`), with whom a mentee shared each (`shared_with_id`);
- as a manager: the thank-yous mentees shared with them about their reports, as
  `GET /v1/me/kudos/shared` shows them (note included: shared with them to read), and the events of
  those kudos without the private part.
The events: the streams of that feedback (given: with the comment in the private part; about them:
without), of their reviews and surveys (with their scores), and of their kudos (with the note).
"""
from __future__ import annotations

from shared import export
from shared.events.catalog.feedback import REVIEW_SUBMITTED, SURVEY_ANSWERED
from shared.events.envelope import Envelope
from services.feedback.domain.pseudonym import pseudonym
from services.feedback.domain.rules import visible_to_subject

SERVICE = "feedback"
WITHHELD = [
    "comments others wrote about the person and did not share: the author's private words",
    "other people's review and survey answers, individually or as a pseudonym list: only the k-anonymous "
    "cohort summaries (for admins) are built from them",
    "the daily cohort summary snapshots: aggregates over at least k people, nobody's personal data",
]


def _private_parts(_event: Envelope, private: dict) -> dict:
    return private  # the stream is the person's own (given feedback, sent kudos)


def _received_kudos_note(_event: Envelope, private: dict) -> dict:
    return {"note": private["note"]} if "note" in private else {}


def _own_answers(employee_id: str, respondent: str):
    """Scores of an answer event only when it is the person's: v2 names them by their pseudonym, v1
    by their employee id; anything else (a null "not recorded" respondent) is kept out."""

    def rule(event: Envelope, private: dict) -> dict:
        if event.event_type not in (REVIEW_SUBMITTED, SURVEY_ANSWERED):
            return {}
        data = event.data
        mine = data.get("respondent") == respondent or data.get("employee_id") == employee_id
        return private if mine else {}
    return rule


def _kudos_order(kudos: dict) -> tuple:
    return (str(kudos.get("sent_at") or ""), str(kudos.get("kudos_id") or ""))


def _kudos_ids(kudos: list[dict]) -> list[str]:
    return [k["kudos_id"] for k in kudos if k.get("kudos_id")]  # legacy `kudos_notes` rows may have none


def person_export(context, employee_id: str) -> dict:
    models = context.models
    respondent = pseudonym(context.commands.pseudonym_key, employee_id)
    pairings = models.pairings_of(employee_id)
    given = models.feedback_from(employee_id)
    for item in given:
        comment = models.comment(item["feedback_id"])
        item["comment"] = (comment or {}).get("comment", item.get("comment"))
    about = [visible_to_subject(item) for item in models.feedback_about(employee_id)]
    reviews = models.reviews_of(employee_id)
    surveys = models.surveys_of(employee_id)
    sent, received = models.kudos_from(employee_id), models.kudos_to(employee_id)
    shared_with_them = context.queries.kudos_shared_with(employee_id)
    data = {
        "memberships": export.plain(sorted(models.memberships_of(employee_id), key=lambda m: m["cohort_id"])),
        "pairings": export.plain(sorted(pairings, key=lambda p: p["pairing_id"])),
        "held_meetings": export.plain(sorted(models.held_meetings_of_party(employee_id),
                                             key=lambda m: m["meeting_id"])),
        "feedback_given": export.plain(sorted(given, key=lambda f: f["feedback_id"])),
        "feedback_received": export.plain(sorted(about, key=lambda f: f["feedback_id"])),
        "respondent_pseudonym": respondent,
        "reviews": export.plain(sorted(reviews, key=lambda r: r["review_id"])),
        "surveys": export.plain(sorted(surveys, key=lambda s: s["survey_id"])),
        "kudos_sent": export.plain(sorted(sent, key=_kudos_order)),
        "kudos_received": export.plain(sorted(received, key=_kudos_order)),
        "kudos_shared_with_them": export.plain(sorted(shared_with_them, key=_kudos_order)),
    }
    events = (export.events_of(context.store, [f["feedback_id"] for f in given], _private_parts)
              + export.events_of(context.store, [f["feedback_id"] for f in about])
              + export.events_of(context.store, [r["review_id"] for r in reviews] + [s["survey_id"] for s in surveys],
                                 _own_answers(employee_id, respondent))
              + export.events_of(context.store, _kudos_ids(sent), _private_parts)
              + export.events_of(context.store, _kudos_ids(received), _received_kudos_note)
              + export.events_of(context.store, _kudos_ids(shared_with_them)))
    return export.envelope(SERVICE, employee_id, context.clock.now(), data, events, WITHHELD)
