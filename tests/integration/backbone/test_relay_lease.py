"""The lease that picks the publishing relay (and other single writers), on the real server."""
from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest

from shared.clock import ManualClock, utcnow
from shared.lease import KEEP_EPOCHS, Lease, holder
from shared.mongo import database_for

pytestmark = pytest.mark.integration


@pytest.fixture
def collection(make_settings):
    return database_for(make_settings("matching"))["leases"]


def test_one_of_many_simultaneous_contenders_wins(collection):
    leases = [Lease(collection, "relay", f"owner-{i}", ttl_s=5) for i in range(8)]
    barrier = threading.Barrier(len(leases))
    won = []

    def contend(lease):
        barrier.wait()
        if lease.acquire():
            won.append(lease)

    threads = [threading.Thread(target=contend, args=(lease,)) for lease in leases]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(won) == 1 and won[0].epoch == 1
    assert holder(collection, "relay")["owner"] == won[0].owner
    assert won[0].acquire()  # renewing keeps the epoch
    assert won[0].epoch == 1
    won[0].release()
    successor = next(lease for lease in leases if lease is not won[0])
    assert successor.acquire() and successor.epoch == 2


def test_expiry_follows_the_server_clock_not_a_skewed_local_one(collection):
    first = Lease(collection, "relay", "first", ttl_s=1.0)
    # A host whose clock runs an hour ahead: the old lease compared expiries with it and stole.
    skewed = Lease(collection, "relay", "skewed", ttl_s=1.0, clock=ManualClock(utcnow() + timedelta(hours=1)))
    assert first.acquire()
    assert not skewed.acquire()
    time.sleep(1.3)  # first stops renewing (paused)
    assert skewed.acquire() and skewed.epoch == 2
    assert not first.acquire() and first.epoch == 0  # the paused holder finds a successor


def test_a_holder_paused_past_its_ttl_takes_a_new_epoch_instead_of_renewing(collection):
    lease = Lease(collection, "relay", "only", ttl_s=1.0)
    assert lease.acquire() and lease.epoch == 1
    time.sleep(1.2)
    assert lease.acquire() and lease.epoch == 2  # a new term: whatever it protects is re-fenced


def test_old_epochs_are_cleaned_up(collection):
    leases = [Lease(collection, "relay", f"o{i}", ttl_s=5) for i in range(2)]
    for turn in range(12):
        lease = leases[turn % 2]
        assert lease.acquire()
        lease.release()
    assert leases[1].epoch == 0 and holder(collection, "relay")["epoch"] == 12
    assert collection.count_documents({"lease": "relay"}) <= KEEP_EPOCHS
    other = Lease(collection, "projector", "x", ttl_s=5)
    assert other.acquire() and other.epoch == 1  # names are independent
