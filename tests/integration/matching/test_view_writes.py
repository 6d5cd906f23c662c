"""Matching's view writes on the real server: a snapshot older than the stored one never
overwrites it (a store projector paused past its lease wakes up holding stale state)."""
from __future__ import annotations

import pytest

from shared.mongo import client_for, database_for
from services.matching.adapters.mongo import Documents

pytestmark = pytest.mark.integration


def test_an_older_snapshot_never_overwrites_a_newer_one(make_settings):
    settings = make_settings("matching")
    pairings = Documents(database_for(settings)["pairings"])
    try:
        assert pairings.put({"_id": "p1", "status": "proposed", "version": 1})
        assert pairings.put({"_id": "p1", "status": "active", "version": 3})
        # the paused holder's write of version 2 comes after its successor's version 3
        assert not pairings.put({"_id": "p1", "status": "accepted", "version": 2})
        assert pairings.get("p1")["status"] == "active"
        # the same version again (another stream's event touching this view) still applies
        assert pairings.put({"_id": "p1", "status": "active", "version": 3, "note": "runs listed"})
        assert pairings.get("p1")["note"] == "runs listed"
    finally:
        client_for(settings.mongo_url).drop_database(settings.database)
