"""docs/events.md is the catalog written out, never edited by hand (issue 11)."""
from __future__ import annotations

from collections import Counter

from shared import topics
from shared.events import docs
from shared.events.catalog import default_registry
from shared.events.catalog.matching import PERSON_ERASED, PersonErasedV1

# Contract §6: every service publishes PersonErased on its own topic, one schema for all of them.
ON_EVERY_PRODUCER_TOPIC = {PERSON_ERASED: PersonErasedV1}


def test_docs_events_md_is_what_the_catalog_says():
    assert not docs.stale(), "docs/events.md is stale: run `python -m shared.events.docs` and commit it"


def test_every_catalog_module_names_its_topic_and_registers_each_type_once():
    entries = docs.catalogs()
    assert {e.topic for e in entries} <= set(topics.ALL)
    owners = Counter(t for e in entries for t in e.event_types)
    assert not [t for t, n in owners.items() if n > 1 and t not in ON_EVERY_PRODUCER_TOPIC], \
        "an event type registered by two catalog modules"
    for event_type, schema in ON_EVERY_PRODUCER_TOPIC.items():
        assert [e.topic for e in entries if event_type in e.event_types] == list(topics.BY_PRODUCER.values())
        assert {e.versions[event_type][1] for e in entries if event_type in e.event_types} == {schema}
    assert set(owners) == set(default_registry().event_types())


def test_every_older_schema_version_has_an_upcaster():
    for entry in docs.catalogs():
        for event_type, versions in entry.versions.items():
            assert sorted(versions) == list(range(1, max(versions) + 1)), f"{event_type}: a version is missing"
            for version in range(1, max(versions)):
                assert (event_type, version) in entry.upcasters, f"{event_type} v{version} has no upcaster"


def test_privacy_markings_are_known_values():
    docs.render()  # raises on a marking outside PRIVACY_MARKINGS
