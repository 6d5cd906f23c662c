"""Goal commands and reads (the pairing's stream in the sessions event store)."""
from __future__ import annotations

from shared.aggregate import AggregateStore, Causation
from shared.eventstore import ConcurrencyError
from services.sessions.domain import goals as rules
from services.sessions.domain.goals import Goals
from services.sessions.domain.pairing import PairingInfo

ATTEMPTS = 3


class GoalsService:
    def __init__(self, aggregates: AggregateStore):
        self.aggregates = aggregates

    def current(self, pairing_id: str) -> Goals:
        return rules.fold(self.aggregates.load(pairing_id).events)

    def revise(self, pairing: PairingInfo, *, expected_revision: int, goals: list[dict], by: str,
               causation: Causation) -> Goals:
        # The stream is shared with engagement events: a conflict with one of those is retried on
        # the reloaded stream, where a really stale revision still gets its 409.
        for attempt in range(ATTEMPTS):
            stream = self.aggregates.load(pairing.pairing_id)
            state = rules.fold(stream.events)
            events = rules.revise(state, pairing, expected_revision=expected_revision, goals=goals, by=by)
            try:
                self.aggregates.append(pairing.pairing_id, stream.version, events, causation)
            except ConcurrencyError:
                if attempt == ATTEMPTS - 1:
                    raise
                continue
            return self.current(pairing.pairing_id)
        raise ConcurrencyError(pairing.pairing_id, -1)
