"""Turning a delivery into the message its channel sends: template, links, the `.ics` invite.

Names of the people a message mentions come from the directory; a `People` cache lives for one
batch of deliveries, so a batch reads each person once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from shared.clock import parse_rfc3339, rfc3339
from services.notifications.adapters.channels import OutgoingMessage
from services.notifications.application.links import unsubscribe_token
from services.notifications.domain.delivery import notification_id_for
from services.notifications.domain.ics import build_ics
from services.notifications.domain.preferences import Preferences, zone


@dataclass(frozen=True)
class DeliveryConfig:
    app_url: str = "http://localhost:8080"  # the web app the links open
    public_url: str = "http://localhost:8004"  # this service's API (unsubscribe links)
    link_secret: str = "change-me"
    link_ttl_s: float = 30 * 86400  # an unsubscribe link works this long after its email was built
    retry_base_s: float = 30.0
    max_attempts: int = 6
    max_event_age_s: float = 72 * 3600  # older events (a replay of old history) notify nobody
    claim_ttl_s: float = 60.0


class People:
    """Look-ups of people and preferences for one batch (each read at most once)."""

    def __init__(self, directory, preferences):
        self.directory = directory
        self.preferences = preferences
        self._people: dict[str, dict] = {}
        self._prefs: dict[str, Preferences] = {}

    def person(self, employee_id: str | None) -> dict:
        if not employee_id:
            return {}
        if employee_id not in self._people:
            self._people[employee_id] = self.directory.person(employee_id) or {}
        return self._people[employee_id]

    def prefs(self, recipient_id: str) -> Preferences:
        if recipient_id not in self._prefs:
            self._prefs[recipient_id] = Preferences.from_doc(self.preferences.get(recipient_id))
        return self._prefs[recipient_id]

    def absorb(self, other: "People") -> None:
        """Take over what `other` has read (the consumer's look-ups, handed over with its deliveries)."""
        for employee_id, person in other._people.items():
            self._people.setdefault(employee_id, person)
        for recipient_id, prefs in other._prefs.items():
            self._prefs.setdefault(recipient_id, prefs)

    def name(self, employee_id: str | None) -> str:
        if not employee_id:
            return ""
        return self.person(employee_id).get("display_name") or employee_id


class MessageBuilder:
    def __init__(self, renderer, config: DeliveryConfig, clock):
        self.renderer = renderer
        self.config = config
        self.clock = clock

    def unsubscribe_url(self, recipient_id: str) -> str:
        expires_at = self.clock.now() + timedelta(seconds=self.config.link_ttl_s)
        token = unsubscribe_token(self.config.link_secret, recipient_id, expires_at)
        return f"{self.config.public_url}/v1/unsubscribe?token={token}"

    def build(self, doc: dict, prefs: Preferences, people: People) -> OutgoingMessage:
        recipient_id, channel = doc["recipient_id"], doc["channel"]
        person = people.person(recipient_id)
        tz = zone(person.get("timezone"))
        ctx = dict(doc.get("context") or {})
        app = self.config.app_url
        pairing_id, meeting_id = ctx.get("pairing_id"), ctx.get("meeting_id")

        def local(value):
            return parse_rfc3339(value).astimezone(tz).strftime("%Y-%m-%d %H:%M %Z") if value else ""

        ctx.update(
            role=doc.get("role"),
            recipient_name=person.get("display_name") or ("all" if recipient_id.startswith("cohort:") else recipient_id),
            other_name=people.name(ctx.get("other_id")),
            mentor_name=people.name(ctx.get("mentor_id")),
            mentee_name=people.name(ctx.get("mentee_id")),
            from_name=people.name(ctx.get("from_id")),
            to_name=people.name(ctx.get("to_id")),
            meeting_local=local(ctx.get("starts_at")),
            answer_by_local=local(ctx.get("answer_by")),
            pairing_url=f"{app}/pairings/{pairing_id}",
            accept_url=f"{app}/pairings/{pairing_id}?action=accept",
            decline_url=f"{app}/pairings/{pairing_id}?action=decline",
            meeting_url=f"{app}/meetings/{meeting_id}",
            feedback_url=f"{app}/pairings/{pairing_id}/feedback" + (f"?meeting_id={meeting_id}" if meeting_id else ""),
            goals_url=f"{app}/pairings/{pairing_id}/goals",
            review_url=f"{app}/reviews/{ctx.get('review_id')}",
            kudos_url=f"{app}/kudos/{ctx.get('kudos_id')}",
            thank_url=f"{app}/pairings/{pairing_id}/kudos",  # the kudos form of the pairing
            shared_kudos_url=f"{app}/kudos/shared/{ctx.get('kudos_id')}",  # a manager's thank-yous shared with them
            unsubscribe_url=self.unsubscribe_url(recipient_id) if channel == "email" else None,
        )
        circle_id = ctx.get("circle_id")
        if circle_id:  # a circle's group meeting (issue 15): its page is the circle's, where every member is
            ctx["meeting_url"] = f"{app}/circles/{circle_id}"
            if doc.get("role") == "mentor":  # one message for the whole circle: feedback per member from there
                ctx["feedback_url"] = ctx["meeting_url"]
        rendered = self.renderer.render(doc["category"], [prefs.language, *(person.get("languages") or [])], ctx)
        attachments = []
        if doc.get("attach_ics") and channel == "email" and ctx.get("starts_at"):
            mentor, mentee = people.person(ctx.get("mentor_id")), people.person(ctx.get("mentee_id"))
            organizer = people.person(ctx.get("organizer_id"))
            attendees = [(mentor.get("display_name"), mentor.get("email")),
                         (mentee.get("display_name"), mentee.get("email"))]
            summary, uid = f"Mentoring: {ctx['mentor_name']} / {ctx['mentee_name']}", None
            if circle_id:  # every member's copy is one calendar event: the group meeting's UID, as sessions' .ics
                summary, uid = f"Mentoring circle: {ctx['mentor_name']}", f"{ctx['group_meeting_id']}@sessions.mentoring"
                attendees = attendees if doc.get("role") == "mentee" else attendees[:1]
            ics = build_ics(ctx, sequence=max(0, int(doc.get("source_version") or 1) - 1),
                            dtstamp=doc.get("source_occurred_at") or rfc3339(self.clock.now()),
                            summary=summary, attendees=attendees,
                            organizer=(organizer.get("display_name"), organizer.get("email")),
                            url=ctx["meeting_url"], uid=uid)
            attachments.append(("invite.ics", "text/calendar", ics))
        return OutgoingMessage(
            notification_id=doc["notification_id"], recipient_id=recipient_id, category=doc["category"],
            subject=rendered.subject, text=rendered.text, html=rendered.html, email=person.get("email"),
            display_name=person.get("display_name"), webhook_url=prefs.chat_webhook_url,
            unsubscribe_url=ctx["unsubscribe_url"], link=ctx["pairing_url"] if pairing_id else None,
            attachments=attachments, extra={"source_event_type": doc["source_event_type"]},
        )

    def digest(self, recipient_id: str, channel: str, docs: list[dict], prefs: Preferences,
               people: People) -> OutgoingMessage:
        """One message for several deliveries (each keeps its own record and outcome event)."""
        items = [self.build(doc, prefs, people) for doc in docs]
        person = people.person(recipient_id)
        digest_id = notification_id_for("digest|" + "|".join(sorted(d["_id"] for d in docs)))
        rendered = self.renderer.render("digest", [prefs.language, *(person.get("languages") or [])], {
            "recipient_name": person.get("display_name") or recipient_id,
            "items": [{"subject": m.subject, "body": m.text.split("\n--\n")[0].strip()} for m in items],
            "unsubscribe_url": self.unsubscribe_url(recipient_id) if channel == "email" else None,
        })
        return OutgoingMessage(
            notification_id=digest_id, recipient_id=recipient_id, category="digest", subject=rendered.subject,
            text=rendered.text, html=rendered.html, email=person.get("email"), display_name=person.get("display_name"),
            webhook_url=prefs.chat_webhook_url, unsubscribe_url=self.unsubscribe_url(recipient_id),
        )
