"""The matching service's HTTP API (gunicorn: `services.matching.api:create_app()`)."""
from __future__ import annotations

from shared.config import Settings
from shared.http.app import create_service_app
from shared.kafka import kafka_reachable
from shared.mongo import ping
from services.matching import bootstrap
from services.matching.adapters.http_participants import blp as participants_blp


def create_app(settings: Settings | None = None):
    context = bootstrap.build(settings)

    def configure(app):
        app.extensions["matching"] = context

    return create_service_app(
        context.settings,
        title="Mentoring — matching",
        blueprints=[participants_blp],
        readiness_checks={
            "mongodb": lambda: ping(context.database),
            "kafka": lambda: kafka_reachable(context.settings),
        },
        configure=configure,
    )
