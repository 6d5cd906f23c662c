"""HTTP: the caller's inbox and preferences, unsubscribe links, and the delivery log (admins)."""
from __future__ import annotations

import re
from html import escape
from urllib.parse import urlencode

from flask import Response, current_app, request
from flask_smorest import Blueprint
from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from shared.clock import utcnow
from shared.http.app import request_causation
from shared.http.auth import current_principal, require
from shared.http.scopes import admin_of_cohort, require_admin_of_cohort
from services.notifications.adapters.webhooks import MAX_URL_LENGTH
from services.notifications.application import commands
from services.notifications.domain.delivery import STATUSES
from services.notifications.domain.preferences import CHANNELS, DEFAULT_DIGEST_HOUR
from services.notifications.domain.routing import CATEGORIES

blp = Blueprint("notifications", __name__, url_prefix="/v1", description="Inbox, preferences and delivery log")

_HHMM = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")


def _context():
    return current_app.extensions["notifications"]


# -- schemas ------------------------------------------------------------------------------------

class InboxQuerySchema(Schema):
    limit = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))
    cursor = fields.String(load_default=None)
    unread = fields.Boolean(load_default=False, metadata={"description": "only unread notifications"})


class NotificationSchema(Schema):
    notification_id = fields.String()
    category = fields.String()
    subject = fields.String()
    body = fields.String()
    link = fields.String(allow_none=True)
    created_at = fields.DateTime()
    read_at = fields.DateTime(allow_none=True)
    read = fields.Boolean()


class InboxPageSchema(Schema):
    items = fields.List(fields.Nested(NotificationSchema))
    next = fields.String(allow_none=True)
    unread_count = fields.Integer()


class ChannelTogglesSchema(Schema):
    email = fields.Boolean()
    chat = fields.Boolean()
    inapp = fields.Boolean()


class QuietHoursSchema(Schema):
    start = fields.String(required=True, validate=validate.Regexp(_HHMM, error="Use HH:MM (24 h)."))
    end = fields.String(required=True, validate=validate.Regexp(_HHMM, error="Use HH:MM (24 h)."))


class PreferencesSchema(Schema):
    channels = fields.Dict(keys=fields.String(validate=validate.OneOf(sorted(CATEGORIES))),
                           values=fields.Nested(ChannelTogglesSchema), load_default=dict,
                           metadata={"description": "category -> {email, chat, inapp}: on/off; absent means on"})
    email_enabled = fields.Boolean(load_default=True, metadata={"description": "false: no email at all (unsubscribed)"})
    digest = fields.Boolean(load_default=False, metadata={"description": "non-urgent messages in one daily digest"})
    digest_hour = fields.Integer(load_default=DEFAULT_DIGEST_HOUR, validate=validate.Range(min=0, max=23))
    quiet_hours = fields.Nested(QuietHoursSchema, load_default=None, allow_none=True,
                                metadata={"description": "local time in the caller's HRIS time zone"})
    chat_webhook_url = fields.Url(load_default=None, allow_none=True, schemes={"http", "https"}, require_tld=False,
                                  validate=validate.Length(max=MAX_URL_LENGTH),
                                  metadata={"description": "https only, to a public address (http: loopback, "
                                                           "development mode only)"})
    language = fields.String(load_default=None, allow_none=True, validate=validate.Length(equal=2))

    @validates_schema
    def _quiet_hours_differ(self, data, **kwargs):
        quiet = data.get("quiet_hours")
        if quiet and quiet["start"] == quiet["end"]:
            raise ValidationError("start and end must differ", "quiet_hours")


class UnsubscribeQuerySchema(Schema):
    token = fields.String(required=True, validate=validate.Length(max=512))


class UnsubscribedSchema(Schema):
    employee_id = fields.String()
    email_enabled = fields.Boolean()


class AttemptSchema(Schema):
    at = fields.DateTime()
    outcome = fields.String()
    error = fields.String(allow_none=True)


class DeliverySchema(Schema):
    delivery_id = fields.String()
    notification_id = fields.String()
    recipient_id = fields.String()
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    category = fields.String()
    status = fields.String(metadata={"description": "|".join(STATUSES)})
    attempts = fields.Integer()
    error = fields.String(allow_none=True)
    source_event_type = fields.String()
    created_at = fields.DateTime()
    sent_at = fields.DateTime(allow_none=True)
    next_attempt_at = fields.DateTime(allow_none=True)
    history = fields.List(fields.Nested(AttemptSchema))


class DeliveryLogSchema(Schema):
    items = fields.List(fields.Nested(DeliverySchema))
    next = fields.String(allow_none=True)


# -- routes -------------------------------------------------------------------------------------

def _public(doc: dict) -> dict:
    return {"notification_id": doc["_id"], "category": doc.get("category"), "subject": doc.get("subject"),
            "body": doc.get("body"), "link": doc.get("link"), "created_at": doc.get("created_at"),
            "read_at": doc.get("read_at"), "read": doc.get("read_at") is not None}


@blp.route("/me/notifications")
@require()
@blp.arguments(InboxQuerySchema, location="query")
@blp.response(200, InboxPageSchema)
def list_notifications(query):
    """The caller's in-app inbox, newest first, with the unread count."""
    page = commands.inbox_page(_context(), current_principal().subject, limit=query["limit"],
                               cursor=query["cursor"], unread_only=query["unread"])
    return {"items": [_public(d) for d in page["docs"]], "next": page["next"], "unread_count": page["unread_count"]}


@blp.route("/me/notifications/<notification_id>/read", methods=["POST"])
@require()
@blp.response(200, NotificationSchema)
def mark_read(notification_id: str):
    """Mark one of the caller's notifications read."""
    return _public(commands.mark_read(_context(), current_principal().subject, notification_id, utcnow(),
                                      request_causation()))


@blp.route("/me/preferences", methods=["GET"])
@require()
@blp.response(200, PreferencesSchema)
def get_preferences():
    """The caller's notification preferences (defaults when never set)."""
    doc = _context().preferences.get(current_principal().subject) or {}
    return PreferencesSchema().load({k: v for k, v in doc.items() if k in PreferencesSchema().fields})


@blp.route("/me/preferences", methods=["PUT"])
@require()
@blp.arguments(PreferencesSchema)
@blp.response(200, PreferencesSchema)
def put_preferences(body):
    """Replace the caller's preferences: channels per category, digest, quiet hours, chat webhook."""
    return commands.put_preferences(_context(), current_principal().subject, body)


class CohortChannelSchema(Schema):
    chat_webhook_url = fields.Url(required=True, allow_none=True, schemes={"http", "https"}, require_tld=False,
                                  validate=validate.Length(max=MAX_URL_LENGTH),
                                  metadata={"description": "Slack- or Teams-compatible incoming webhook; null removes it; "
                                                           "https only, to a public address"})


@blp.route("/cohorts/<cohort_id>/chat-channel", methods=["GET"])
@require()
@admin_of_cohort()
@blp.response(200, CohortChannelSchema)
def get_cohort_channel(cohort_id):
    """The cohort's chat channel (admins): what its admins are told is also posted there."""
    return commands.cohort_channel(_context(), cohort_id)


@blp.route("/cohorts/<cohort_id>/chat-channel", methods=["PUT"])
@require()
@admin_of_cohort()
@blp.arguments(CohortChannelSchema)
@blp.response(200, CohortChannelSchema)
def put_cohort_channel(body, cohort_id):
    """Set or remove the cohort's chat channel (admins)."""
    return commands.put_cohort_channel(_context(), cohort_id, body["chat_webhook_url"])


_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex"><title>{title}</title></head>
<body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto; padding: 0 1rem">
<h1 style="font-size: 1.4rem">{title}</h1>
{body}
</body></html>
"""


def _page(title: str, body: str) -> Response:
    response = Response(_PAGE.format(title=title, body=body), mimetype="text/html")
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"
    return response


@blp.route("/unsubscribe", methods=["GET"])
@blp.arguments(UnsubscribeQuerySchema, location="query")
@blp.response(200, {"type": "string"}, content_type="text/html",
              description="A confirmation page whose button POSTs back here; nothing changes on GET")
def unsubscribe(query):
    """The link in every email: asks first (mail scanners and link previews follow links; they
    must not unsubscribe anyone). A mangled, forged or expired link is a 400 problem."""
    commands.unsubscribe_target(_context(), query["token"])
    action = escape(f"?{urlencode({'token': query['token']})}", quote=True)
    return _page("Stop mentoring emails?", f"""<p>You will no longer get emails from the mentoring programme. \
Notifications in the app are not affected, and you can turn email back on in your preferences.</p>
<form method="post" action="{action}"><input type="hidden" name="List-Unsubscribe" value="One-Click">
<button type="submit">Unsubscribe</button></form>""")


@blp.route("/unsubscribe", methods=["POST"])
@blp.arguments(UnsubscribeQuerySchema, location="query")
@blp.response(200, UnsubscribedSchema)
def unsubscribe_one_click(query):
    """Unsubscribe: the confirmation page's button, and RFC 8058 one-click (mail clients POST
    `List-Unsubscribe=One-Click` to the `List-Unsubscribe` URL). JSON, or a page for a browser."""
    done = commands.unsubscribe(_context(), query["token"])
    if request.accept_mimetypes.best_match(["application/json", "text/html"]) == "text/html":
        return _page("You are unsubscribed", "<p>You will no longer get emails from the mentoring programme.</p>")
    return done


@blp.route("/events/<event_id>/deliveries")
@require()
@blp.response(200, DeliveryLogSchema)
def delivery_log(event_id: str):
    """Every delivery an event caused, with each attempt (admins; a programme's managers for events
    of its cohorts: an event they cannot place in one, an unknown one included, is a 403)."""
    docs = _context().deliveries.for_event(event_id)
    if not current_principal().is_admin:
        for cohort_id in {(doc.get("context") or {}).get("cohort_id") for doc in docs} or {None}:
            require_admin_of_cohort(cohort_id)
    items = []
    for doc in docs:
        items.append({**{k: doc.get(k) for k in DeliverySchema().fields}, "delivery_id": doc["_id"],
                      "history": [{"at": h.get("at"), "outcome": h.get("outcome"), "error": h.get("error")}
                                  for h in doc.get("history", [])]})
    return {"items": items, "next": None}
