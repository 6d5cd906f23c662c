"""The notifications service's HTTP API (gunicorn: `services.notifications.api:create_app()`)."""
from __future__ import annotations

from shared.config import Settings
from shared.http.app import create_service_app
from shared.kafka import kafka_reachable
from shared.mongo import ping
from services.notifications import bootstrap
from services.notifications.adapters.http import blp


def create_app(settings: Settings | None = None):
    context = bootstrap.build(settings)

    def configure(app):
        app.extensions["notifications"] = context

    return create_service_app(
        context.settings,
        title="Mentoring — notifications",
        blueprints=[blp],
        readiness_checks={
            "mongodb": lambda: ping(context.database),
            "kafka": lambda: kafka_reachable(context.settings),
        },
        configure=configure,
    )
