"""Read-your-writes waits (StoreProjector.wait_for): every request thread of a process waiting at
once shares one checkpoint read at a time, and each still gets its answer from a read begun after it
started waiting (never from an older one)."""
from __future__ import annotations

import threading
import time

from shared.memory import InMemoryEventStore
from shared.projector import StoreProjector
from tests.unit.sessions.fakedb import FakeDatabase

WAITERS = 8


class SlowCheckpoint:
    """The checkpoint as a server under load reports it: each read takes a while, and the projector
    gets past the waited-for commit at the `ready_at`-th read."""

    def __init__(self, ready_at: int, read_s: float = 0.01):
        self.ready_at, self.read_s = ready_at, read_s
        self.reads = 0
        self.lock = threading.Lock()

    def __call__(self) -> int:
        with self.lock:
            self.reads += 1
            reads = self.reads
        time.sleep(self.read_s)
        return 11 if reads >= self.ready_at else 5


def _projector(checkpoint) -> StoreProjector:
    projector = StoreProjector(InMemoryEventStore(), [], name="test-own", database=FakeDatabase(),
                               poll_interval_s=0.02)
    projector.checkpoint = checkpoint
    return projector


def _wait_together(projector, position: int, timeout_s: float = 5.0) -> list[bool]:
    start = threading.Barrier(WAITERS)
    answers: list[bool] = []

    def wait():
        start.wait()
        answers.append(projector.wait_for(position, timeout_s=timeout_s))

    threads = [threading.Thread(target=wait) for _ in range(WAITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return answers


def test_waiting_threads_share_one_checkpoint_read_at_a_time():
    checkpoint = SlowCheckpoint(ready_at=4)
    answers = _wait_together(_projector(checkpoint), position=10)
    assert answers == [True] * WAITERS
    # each thread polling on its own reads at least once per thread (8), here 3 more a thread
    assert checkpoint.reads <= 5


def test_a_wait_times_out_when_the_projector_does_not_get_there():
    checkpoint = SlowCheckpoint(ready_at=10**9)
    assert _wait_together(_projector(checkpoint), position=10, timeout_s=0.2) == [False] * WAITERS


def test_a_read_begun_before_the_wait_is_not_taken_as_its_answer():
    checkpoint = SlowCheckpoint(ready_at=1)
    projector = _projector(checkpoint)
    assert projector.wait_for(10) is True  # the checkpoint read says 11
    checkpoint.ready_at = 10**9  # from now on reads say 5 (another generation's checkpoint, say)
    assert projector.wait_for(10, timeout_s=0.2) is False  # the earlier 11 does not answer this wait
    assert projector.wait_for(0) is True  # nothing to wait for
