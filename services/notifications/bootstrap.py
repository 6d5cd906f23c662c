"""Wiring: builds the notifications service's parts from Settings (used by the API, worker and CLI).

Settings (shared/config.py): `notifications_app_url` (the web app links open),
`notifications_public_url` (this API, for unsubscribe links), `notifications_link_secret` (signs
unsubscribe links; None: a key derived from JWT_SECRET; neither: the service refuses to start),
`notifications_link_ttl_days`, `notifications_webhook_deadline_s` (one chat post, all told),
`notifications_retry_base_s`, `notifications_max_attempts`, `notifications_max_event_age_h`, and for
the senders `notifications_sender_threads`, `notifications_claim_ttl_s`, `notifications_sweep_interval_s`,
`notifications_send_batch`.
`smtp_url` is the mail server: smtp://user:pass@host:port?starttls=true&from=addr.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from shared.aggregate import AggregateStore
from shared.clock import SystemClock
from shared.config import Settings
from shared.events.catalog import default_registry
from shared.events.catalog.notifications import NOTIFICATION
from shared import topics
from shared.erasure import ErasurePolicy, PersonEraser
from shared.eventstore import EventStore
from shared.generations import live_database
from shared.scopes import ProgrammeScopeReader, ProgrammeScopes
from shared.mongo import database_for
from shared.projector import StoreProjector
from services.notifications.adapters.channels import ChatChannel, EmailChannel, InAppChannel
from services.notifications.adapters.mongo import (
    DeliveriesRepository, Directory, HeldMeetingOrdinals, InboxIndexRepository, InboxRepository, PreferencesRepository,
    RemindersSent, ServerClock,
)
from services.notifications.adapters.templates import TemplateRenderer
from services.notifications.adapters.webhooks import WebhookGuard
from services.notifications.application.retention import NotificationsRetention
from services.notifications.application.delivery import Enqueuer, Sender, SenderPool
from services.notifications.application.links import link_key
from services.notifications.application.messages import DeliveryConfig
from services.notifications.application.policies import Reminders, RoutingPolicy
from services.notifications.application.erasure import NotificationsEraser
from services.notifications.application.projections import InboxIndex, NotificationsViews, people_projection

SERVICE = "notifications"
OWN_PROJECTOR = "notifications-own"  # = shared.worker.projector_for's name: API and worker share its checkpoint
CONSUMER_GROUP = "notifications-worker"


def delivery_config(settings: Settings) -> DeliveryConfig:
    return DeliveryConfig(
        app_url=settings.notifications_app_url.rstrip("/"),
        public_url=settings.notifications_public_url.rstrip("/"),
        link_secret=link_key(settings.notifications_link_secret, settings.jwt_secret),
        link_ttl_s=settings.notifications_link_ttl_days * 86400,
        retry_base_s=settings.notifications_retry_base_s,
        max_attempts=settings.notifications_max_attempts,
        max_event_age_s=settings.notifications_max_event_age_h * 3600,
        claim_ttl_s=settings.notifications_claim_ttl_s,
    )


@dataclass
class NotificationsContext:
    settings: Settings
    database: object
    store: EventStore
    clock: object
    config: DeliveryConfig
    webhooks: WebhookGuard  # where chat webhook URLs may point (checked when saved and when sent)
    directory: Directory  # readers' view (follows the live generation)
    preferences: PreferencesRepository
    deliveries: DeliveriesRepository
    inbox: InboxRepository
    inbox_index: InboxIndexRepository  # readers' view (follows the live generation)
    outcomes: AggregateStore  # notification streams: the delivery outcome, then the read mark
    people: object  # shared.directory.DirectoryProjection over `people`
    views: NotificationsViews
    policy: RoutingPolicy
    enqueuer: Enqueuer
    sender: Sender
    senders: SenderPool
    reminders: Reminders
    retention: NotificationsRetention
    projector: StoreProjector = field(init=False)  # the inbox index (own-stream projection)
    eraser: PersonEraser = field(init=False)  # GDPR Art. 17 (application/erasure.py)

    def __post_init__(self):
        self.inbox_projection = InboxIndex(self.database, retention_days=self.settings.retention_inbox_days)
        self.projector = StoreProjector(self, self.own_projections(), name=OWN_PROJECTOR, registry=registry())
        live = live_database(self.database)
        scrub = NotificationsEraser(directory=self.directory, preferences=self.preferences, deliveries=self.deliveries,
                                    inbox=self.inbox, inbox_index=InboxIndexRepository(live))
        self.eraser = PersonEraser(service=SERVICE, store=self.store, registry=registry(), database=self.database,
                                   clock=self.clock, erase=scrub.erase)

    def projections(self) -> list:
        """Kafka-fed, in the order the consumer applies them to one event: views before routing."""
        return [self.people, self.views, ProgrammeScopes(self.database), self.policy,
                ErasurePolicy(self.eraser, name="notifications-erasures",
                              topics=(topics.HRIS_EMPLOYEES, topics.MATCHING), on_hris=True)]

    def own_projections(self) -> list:
        return [self.inbox_projection]

    def ensure_indexes(self) -> None:
        self.store.ensure_indexes()
        Directory(self.database).ensure_indexes()
        self.deliveries.ensure_indexes()
        self.inbox.ensure_indexes()
        ProgrammeScopeReader(self.database).ensure_indexes()
        self.retention.ensure_ttl_indexes(self.database)


def build(settings: Settings | None = None, *, clock=None) -> NotificationsContext:
    settings = settings or Settings.from_env(SERVICE)
    clock = clock or SystemClock()
    database = database_for(settings)
    store = EventStore(database)
    directory = Directory(live_database(database))
    preferences = PreferencesRepository(database)
    deliveries = DeliveriesRepository(database)
    inbox = InboxRepository(database)
    config = delivery_config(settings)
    outcomes = AggregateStore(store, registry(), producer=SERVICE, aggregate_type=NOTIFICATION)
    webhooks = WebhookGuard(development=settings.development)
    sender = Sender(
        directory=directory, preferences=preferences, deliveries=deliveries,
        channels={"email": EmailChannel(settings.smtp_url),
                  "chat": ChatChannel(webhooks, deadline_s=settings.notifications_webhook_deadline_s),
                  "inapp": InAppChannel(inbox)},
        renderer=TemplateRenderer(),
        outcomes=outcomes,
        clock=clock, server_clock=ServerClock(database), config=config,
        unmarked_sends=settings.notifications_unmarked_sends,
    )
    senders = SenderPool(sender, deliveries, clock, threads=settings.notifications_sender_threads,
                         batch=settings.notifications_send_batch,
                         sweep_interval_s=settings.notifications_sweep_interval_s)
    enqueuer = Enqueuer(directory=directory, preferences=preferences, deliveries=deliveries, clock=clock,
                        config=config, handoff=senders.submit)
    return NotificationsContext(
        settings=settings, database=database, store=store, clock=clock, config=config, webhooks=webhooks,
        directory=directory, preferences=preferences, deliveries=deliveries, inbox=inbox,
        inbox_index=InboxIndexRepository(live_database(database)), outcomes=outcomes,
        people=people_projection(database), views=NotificationsViews(database),
        policy=RoutingPolicy(directory=directory, deliveries=deliveries, enqueuer=enqueuer,
                             scopes=ProgrammeScopeReader(live_database(database)), held=HeldMeetingOrdinals(database)),
        enqueuer=enqueuer, sender=sender, senders=senders,
        reminders=Reminders(directory=directory, reminded=RemindersSent(database), enqueuer=enqueuer, clock=clock),
        retention=NotificationsRetention(deliveries, inbox, clock, inbox_days=settings.retention_inbox_days,
                                         delivery_log_days=settings.retention_delivery_log_days),
    )


def registry():
    return default_registry()
