"""The matching-run aggregate: requested -> completed (-> proposals created) or failed.

A run is its own stream. The request handler only appends `MatchingRunRequested` (answering 202);
the worker's run processor computes the assignment and appends the outcome: the proposals and
unmatched mentees in `MatchingRunResultChunk`s of at most `RUN_CHUNK_SIZE` entries each, then
`MatchingRunCompleted` with counts only, all in one commit (atomic: a run has either its whole
result or none). No record grows with the cohort, so a 20,000-mentee run never makes a record
over Kafka's limit. The pairings themselves are created afterwards from the completed run, one
stream per proposal with a computed id, then `MatchingRunProposalsCreated` closes the run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from shared.aggregate import NewEvent
from shared.clock import rfc3339
from shared.errors import Invalid
from shared.events.catalog import matching as ev
from shared.events.envelope import Envelope

from services.matching.domain.cohort import CohortState, require_matchable

MODES = ev.MATCHING_MODES


@dataclass
class RunState:
    run_id: str | None = None
    cohort_id: str | None = None
    mode: str | None = None
    dry_run: bool = False
    requested_by: str | None = None
    status: str | None = None  # running | completed | failed
    proposals_created: bool = False
    proposals: list = field(default_factory=list)
    unmatched: list = field(default_factory=list)
    summary: dict = field(default_factory=dict)

    @property
    def exists(self) -> bool:
        return self.run_id is not None

    @classmethod
    def from_events(cls, events: list[Envelope]) -> "RunState":
        state = cls()
        for event in events:
            state.apply(event.event_type, event.data)
        return state

    def apply(self, event_type: str, data: dict) -> None:
        if event_type == ev.MATCHING_RUN_REQUESTED:
            self.run_id, self.cohort_id = data["run_id"], data["cohort_id"]
            self.mode, self.dry_run, self.requested_by = data["mode"], data["dry_run"], data["requested_by"]
            self.status = "running"
        elif event_type == ev.MATCHING_RUN_RESULT_CHUNK:
            self.proposals.extend(data["proposals"])
            self.unmatched.extend(data["unmatched"])
        elif event_type == ev.MATCHING_RUN_COMPLETED:
            self.status = "completed"
            self.summary = dict(data)
        elif event_type == ev.MATCHING_RUN_PROPOSALS_CREATED:
            self.proposals_created = True
        elif event_type == ev.MATCHING_RUN_FAILED:
            self.status = "failed"
            self.summary = dict(data)


def request(cohort: CohortState, *, run_id: str, mode: str, dry_run: bool, requested_by: str) -> list[NewEvent]:
    require_matchable(cohort)
    if mode not in MODES:
        raise Invalid("mode", f"mode must be one of {', '.join(MODES)}", field="mode")
    return [NewEvent(ev.MATCHING_RUN_REQUESTED, {"cohort_id": cohort.cohort_id, "run_id": run_id, "mode": mode,
                                                 "dry_run": dry_run, "requested_by": requested_by})]


def _chunks(items: list, size: int) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def complete(state: RunState, *, input_hash: str, proposals: list[dict], unmatched: list[dict], total_score: float,
             answer_by: datetime | None, chunk_size: int = ev.RUN_CHUNK_SIZE) -> list[NewEvent]:
    """The run's whole result; `[]` if the run already has an outcome (a replayed request)."""
    if state.status != "running":
        return []
    proposal_chunks, unmatched_chunks = _chunks(proposals, chunk_size), _chunks(unmatched, chunk_size)
    count = max(len(proposal_chunks), len(unmatched_chunks))
    events = [NewEvent(ev.MATCHING_RUN_RESULT_CHUNK, {
        "cohort_id": state.cohort_id, "run_id": state.run_id, "chunk": index,
        "proposals": proposal_chunks[index] if index < len(proposal_chunks) else [],
        "unmatched": unmatched_chunks[index] if index < len(unmatched_chunks) else []})
        for index in range(count)]
    events.append(NewEvent(ev.MATCHING_RUN_COMPLETED, {
        "cohort_id": state.cohort_id, "run_id": state.run_id, "mode": state.mode, "dry_run": state.dry_run,
        "input_hash": input_hash, "matched": len(proposals), "unmatched": len(unmatched),
        "total_score": total_score, "chunks": count, "answer_by": rfc3339(answer_by) if answer_by else None,
        "started_by": state.requested_by}))
    return events


def fail(state: RunState, reason: str, detail: str | None = None) -> list[NewEvent]:
    if state.status != "running":
        return []
    return [NewEvent(ev.MATCHING_RUN_FAILED, {"cohort_id": state.cohort_id, "run_id": state.run_id,
                                              "reason": reason, "detail": detail})]


def proposals_created(state: RunState) -> list[NewEvent]:
    """Closes a real run once every proposal's stream exists; a dry run has nothing to create."""
    if state.status != "completed" or state.dry_run or state.proposals_created:
        return []
    return [NewEvent(ev.MATCHING_RUN_PROPOSALS_CREATED, {"cohort_id": state.cohort_id, "run_id": state.run_id,
                                                         "proposed": len(state.proposals)})]
