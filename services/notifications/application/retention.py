"""Retention of what notifications keeps about people (README "Privacy"): inbox items after
`retention_inbox_days`, the delivery log (deliveries: recipient, channel, outcome history) and the
claims on their attempts after `retention_delivery_log_days`.

A periodic job deletes them, because FerretDB v1 has no TTL monitor. On a real mongod the same
periods are also declared as TTL indexes (`ensure_ttl_indexes`), so the server deletes on its own
between runs; FerretDB accepts the index and ignores its expiry, and the job does the work.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from pymongo import ASCENDING
from pymongo.errors import OperationFailure

from services.notifications.adapters.mongo import CLAIMS, DELIVERIES, INBOX

log = logging.getLogger(__name__)


class NotificationsRetention:
    def __init__(self, deliveries, inbox, clock, *, inbox_days: float, delivery_log_days: float):
        self.deliveries = deliveries
        self.inbox = inbox
        self.clock = clock
        self.inbox_days = inbox_days
        self.delivery_log_days = delivery_log_days

    def run(self) -> dict:
        now = self.clock.now()
        inbox = self.inbox.purge_before(now - timedelta(days=self.inbox_days))
        deliveries, claims = self.deliveries.purge_before(now - timedelta(days=self.delivery_log_days))
        if inbox or deliveries or claims:
            log.info("retention: deleted %d inbox items, %d deliveries, %d claims", inbox, deliveries, claims)
        return {"inbox": inbox, "deliveries": deliveries, "claims": claims}

    def ensure_ttl_indexes(self, database) -> None:
        """TTL indexes for a real mongod; a changed period is applied with collMod."""
        for name, key, days in ((INBOX, "created_at", self.inbox_days), (DELIVERIES, "created_at", self.delivery_log_days),
                                (CLAIMS, "claimed_at", self.delivery_log_days)):
            seconds = int(days * 86400)
            try:
                database[name].create_index([(key, ASCENDING)], name=f"retention_{key}", expireAfterSeconds=seconds)
            except OperationFailure:  # the index exists with another period
                try:
                    database.command("collMod", name, index={"name": f"retention_{key}", "expireAfterSeconds": seconds})
                except OperationFailure:
                    log.warning("could not set the TTL of %s.%s; the retention job still deletes", name, key)
