"""The transactional relay carries on after its Kafka broker restarts mid-stream (a private
broker the test may stop): nothing lost, nothing twice, per key in order."""
from __future__ import annotations

import threading
import uuid

import pytest

from shared.config import Settings
from shared.eventstore import EventStore
from shared.kafka import ensure_topics
from shared.mongo import client_for, database_for
from shared.relay import EventRelay
from tests.helpers import wait_until
from tests.integration.backbone.test_relay_fencing import _events, assert_topic_equals_store

# A private broker takes a minute or more to start and restart on this machine: e2e, like the
# fault suite (tests/e2e/test_faults.py restarts Kafka under whole services too).
pytestmark = [pytest.mark.integration, pytest.mark.e2e]


@pytest.fixture
def private_stack(tmp_path, infra):
    from tests.e2e.processes import PrivateStack

    stack = PrivateStack(tmp_path / "stack")
    try:
        yield stack.up()
    finally:
        stack.wipe()


def test_the_relay_resumes_after_a_kafka_restart_without_loss_or_duplicates(private_stack, infra):
    mongo_url, _ = infra
    run = uuid.uuid4().hex[:8]
    settings = Settings(service_name="matching", mongo_url=mongo_url, mongo_database=f"t_{run}_matching",
                        kafka_bootstrap_servers=private_stack.kafka, kafka_topic_prefix=f"t{run}.",
                        relay_poll_interval_s=0.02, relay_gap_timeout_s=1.0, relay_lease_ttl_s=3.0)
    ensure_topics(settings)
    store = EventStore(database_for(settings))
    store.ensure_indexes()
    relay = EventRelay(settings, store)
    stop = threading.Event()
    thread = threading.Thread(target=relay.run, args=(stop,), daemon=True)
    thread.start()
    versions = [0, 0, 0]

    def append(count):
        for n in range(count):
            i = n % 3
            store.append(f"k{i}", versions[i], _events(f"k{i}", versions[i] + 1, 1))
            versions[i] += 1

    try:
        append(15)
        wait_until(lambda: relay.backlog() == 0, timeout_s=60, message="first events relayed")
        private_stack.stop_kafka()
        append(15)  # stored while Kafka is down
        stop.wait(3)  # the relay fails and retries meanwhile
        private_stack.start_kafka()
        append(15)
        wait_until(lambda: EventRelay(settings, store).backlog() == 0, timeout_s=150, interval_s=0.5,
                   message="the relay caught up after the restart")
        assert_topic_equals_store(settings, store)
    finally:
        stop.set()
        thread.join(timeout=60)
        client_for(settings.mongo_url).drop_database(settings.database)
