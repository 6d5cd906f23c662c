"""Wiring: builds the notifications service's parts from Settings (used by the API, worker and CLI).

Service-specific settings come from `settings.extra` (tests) or the environment:
NOTIFICATIONS_APP_URL (the web app links open), NOTIFICATIONS_PUBLIC_URL (this API, for
unsubscribe links), NOTIFICATIONS_LINK_SECRET (signs unsubscribe links; defaults to JWT_SECRET),
NOTIFICATIONS_RETRY_BASE_S, NOTIFICATIONS_MAX_ATTEMPTS, NOTIFICATIONS_MAX_EVENT_AGE_H.
SMTP_URL (shared Settings) is the mail server: smtp://user:pass@host:port?starttls=true&from=addr.
"""
from __future__ import annotations

import os
from dataclasses import dataclass

from shared.aggregate import AggregateStore
from shared.clock import SystemClock
from shared.config import Settings
from shared.events.catalog import default_registry
from shared.eventstore import EventStore
from shared.mongo import database_for
from services.notifications.adapters.channels import ChatChannel, EmailChannel, InAppChannel
from services.notifications.adapters.mongo import (
    DeliveriesRepository, Directory, InboxRepository, PreferencesRepository,
)
from services.notifications.adapters.templates import TemplateRenderer
from services.notifications.application.delivery import DeliveryConfig, Notifier
from services.notifications.application.projection import NotificationsProjection, Reminders

SERVICE = "notifications"
CONSUMER_GROUP = "notifications-worker"


def _setting(settings: Settings, name: str, default):
    value = settings.extra.get(name, os.environ.get(name))
    if value in (None, ""):
        return default
    return type(default)(value) if default is not None else value


def delivery_config(settings: Settings) -> DeliveryConfig:
    return DeliveryConfig(
        app_url=_setting(settings, "NOTIFICATIONS_APP_URL", "http://localhost:8080").rstrip("/"),
        public_url=_setting(settings, "NOTIFICATIONS_PUBLIC_URL", "http://localhost:8004").rstrip("/"),
        link_secret=_setting(settings, "NOTIFICATIONS_LINK_SECRET", settings.jwt_secret or "unsigned-local-dev"),
        retry_base_s=_setting(settings, "NOTIFICATIONS_RETRY_BASE_S", 30.0),
        max_attempts=_setting(settings, "NOTIFICATIONS_MAX_ATTEMPTS", 6),
        max_event_age_s=_setting(settings, "NOTIFICATIONS_MAX_EVENT_AGE_H", 72.0) * 3600,
    )


@dataclass
class NotificationsContext:
    settings: Settings
    database: object
    store: EventStore
    directory: Directory
    preferences: PreferencesRepository
    deliveries: DeliveriesRepository
    inbox: InboxRepository
    notifier: Notifier
    projection: NotificationsProjection
    reminders: Reminders
    config: DeliveryConfig

    def projections(self) -> list:
        return [self.projection]

    def ensure_indexes(self) -> None:
        self.store.ensure_indexes()
        self.directory.ensure_indexes()
        self.deliveries.ensure_indexes()
        self.inbox.ensure_indexes()


def build(settings: Settings | None = None, *, clock=None) -> NotificationsContext:
    settings = settings or Settings.from_env(SERVICE)
    clock = clock or SystemClock()
    database = database_for(settings)
    store = EventStore(database)
    directory = Directory(database)
    preferences = PreferencesRepository(database)
    deliveries = DeliveriesRepository(database)
    inbox = InboxRepository(database)
    config = delivery_config(settings)
    notifier = Notifier(
        directory=directory, preferences=preferences, deliveries=deliveries,
        channels={"email": EmailChannel(settings.smtp_url), "chat": ChatChannel(), "inapp": InAppChannel(inbox)},
        renderer=TemplateRenderer(),
        outcomes=AggregateStore(store, registry(), producer=SERVICE, aggregate_type="notification"),
        clock=clock, config=config,
    )
    projection = NotificationsProjection(directory, notifier)
    return NotificationsContext(
        settings=settings, database=database, store=store, directory=directory, preferences=preferences,
        deliveries=deliveries, inbox=inbox, notifier=notifier, projection=projection,
        reminders=Reminders(directory, notifier, projection, clock), config=config,
    )


def registry():
    return default_registry()
