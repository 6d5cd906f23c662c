"""The run processor: a process manager over the service's own event store (worker only).

- `MatchingRunRequested` -> compute the assignment and store the run's whole result in one commit
  (result chunks + `MatchingRunCompleted`), or `MatchingRunFailed` with the reason;
- `MatchingRunCompleted` (real runs) -> one `PairingProposed` stream per proposal, with the id
  computed from (run, mentee), then `MatchingRunProposalsCreated`;
- `EnrollmentWithdrawn` -> the person's open pairings in that cohort end (again, if the request
  that withdrew them crashed before doing it);
- `CohortStatusChanged` to `closed` -> each active pairing of the cohort is completed
  (`PairingCompleted`, issue 15), decided on each pairing's stream: processed twice, once.

It is fed by its own StoreProjector (checkpoint + lease: one replica at a time, so two workers
never run one run twice) and it is not rebuilt: its effects are events. Every step decides on the
run's stream, so a replay or a crash anywhere repeats nothing: a run whose request is processed
again after a crash resumes (it has no outcome yet: computed again) or only completes its pairings
(it has one); a pairing that already exists refuses the second `PairingProposed` by version.
The views are read only after they include everything stored so far, the previous run's
pairings included, so two runs of one cohort never propose the same mentee twice.
"""
from __future__ import annotations

import logging
import time
from datetime import timedelta

from shared.aggregate import Causation
from shared.clock import parse_rfc3339
from shared.consumer import Projection
from shared.events.catalog import matching as ev
from shared.events.envelope import Envelope
from shared.eventstore import ConcurrencyError
from shared.metrics import MATCHING_MATCHED_RATIO, MATCHING_RUN_DURATION
from shared.mongo import TRANSIENT_ERRORS

from services.matching.adapters.mongo import RunProgress
from services.matching.application.commands import MatchingCommands
from services.matching.domain import cohort as cohorts
from services.matching.domain import pairing as pairings
from services.matching.domain import run as runs
from services.matching.domain.assignment import assign
from services.matching.domain.circles import assign_circles, circle_id_for
from services.matching.domain.rules import MatchingRules

log = logging.getLogger(__name__)

PROGRESS_EVERY = 500


class RunProcessor(Projection):
    name = "matching-runs"
    topics = ()
    collections = ()  # a process manager: its effects are events, never replayed by a rebuild

    def __init__(self, commands: MatchingCommands, progress: RunProgress | None = None):
        self.commands = commands
        self.progress = progress

    def handlers(self):
        return {
            ev.MATCHING_RUN_REQUESTED: self.run_requested,
            ev.MATCHING_RUN_COMPLETED: self.run_completed,
            ev.ENROLLMENT_WITHDRAWN: self.enrollment_withdrawn,
            ev.COHORT_STATUS_CHANGED: self.cohort_status_changed,
        }

    def reset(self) -> None:
        """Nothing of its own to drop."""

    def _progress(self, run_id: str, **fields) -> None:
        if self.progress is not None:
            self.progress.set(run_id, **fields)

    # ---------------------------------------------------------------- a run

    def run_requested(self, envelope: Envelope) -> None:
        run_id = envelope.data["run_id"]
        state, _ = self.commands.run(run_id)
        if state.status == "running":
            self.execute(run_id, Causation.from_event(envelope))
            state, _ = self.commands.run(run_id)
        if state.status == "completed":
            self.create_proposals(run_id, Causation.from_event(envelope))

    def run_completed(self, envelope: Envelope) -> None:
        if not envelope.data.get("dry_run"):
            self.create_proposals(envelope.data["run_id"], Causation.from_event(envelope))

    def execute(self, run_id: str, causation: Causation) -> None:
        """Compute the run and store its outcome (or its failure); a run with an outcome is left alone."""
        started = time.perf_counter()
        commands = self.commands
        state, version = commands.run(run_id)
        if state.status != "running":
            return
        self._progress(run_id, phase="computing")
        try:
            cohort, _ = commands.cohort(state.cohort_id)
            if cohort.status not in cohorts.MATCHABLE:
                self._append_outcome(run_id, version, runs.fail(
                    state, "cohort_not_matching", f"the cohort is {cohort.status}"), causation)
                return
            if not commands.wait_for_head():
                raise RuntimeError("matching views are behind the event store; the run is retried")
            taken = commands.inputs.pairings_of(state.cohort_id)
            mentors, mentees = commands.inputs.candidates(state.cohort_id, taken)
            rules = MatchingRules.from_dict(cohort.rules)
            if cohort.is_circle:  # one circle per mentor, its members a mixed-integer optimum (domain/circles.py)
                result = assign_circles(list(mentors.values()), list(mentees.values()), rules,
                                        sorted(taken.forbidden), state.mode, min_size=cohort.circle_min_size,
                                        max_size=cohort.circle_max_size)
                log.info("circle run %s: %s", run_id, result.stats)
            else:
                result = assign(list(mentors.values()), list(mentees.values()), rules, sorted(taken.forbidden),
                                state.mode)
        except TRANSIENT_ERRORS:
            raise  # the projector retries: the run resumes
        except RuntimeError:
            raise
        except Exception as exc:  # noqa: BLE001 - a run that cannot be computed fails visibly
            log.exception("matching run %s failed", run_id)
            self._append_outcome(run_id, version, runs.fail(state, "error", f"{type(exc).__name__}: {exc}"[:500]),
                                 causation)
            self._progress(run_id, phase="failed")
            return
        answer_by = None if state.dry_run else commands.clock.now() + timedelta(days=cohort.answer_deadline_days)
        proposals = [{"pairing_id": None if state.dry_run else pairings.pairing_id_for_run(run_id, p.mentee_id),
                      "mentor_id": p.mentor_id, "mentee_id": p.mentee_id, "score": p.score,
                      "reasons": list(p.reasons),
                      **({"circle_id": circle_id_for(state.cohort_id, p.mentor_id)} if cohort.is_circle else {})}
                     for p in result.assignments]
        unmatched = [{"mentee_id": mentee_id, "reason": u.code, "detail": u.text}
                     for mentee_id, u in result.unmatched.items()]
        self._append_outcome(run_id, version, runs.complete(
            state, input_hash=result.input_hash, proposals=proposals, unmatched=unmatched,
            total_score=result.totals.total_score, answer_by=answer_by), causation)
        self._progress(run_id, phase="proposing" if not state.dry_run else "done", matched=len(proposals))
        MATCHING_RUN_DURATION.observe(time.perf_counter() - started)
        if mentees:
            MATCHING_MATCHED_RATIO.labels(state.cohort_id).set(result.totals.matched / len(mentees))

    def _append_outcome(self, run_id: str, version: int, events, causation: Causation) -> None:
        if not events:
            return
        try:
            self.commands._append(self.commands.runs, run_id, version, events, causation)
        except ConcurrencyError:
            log.info("run %s got its outcome elsewhere", run_id)

    def create_proposals(self, run_id: str, causation: Causation) -> int:
        """One PairingProposed stream per proposal of a completed run, each exactly once."""
        commands = self.commands
        state, version = commands.run(run_id)
        if state.status != "completed" or state.dry_run or state.proposals_created:
            return 0
        answer_by = parse_rfc3339(state.summary["answer_by"])
        created = 0
        for index, proposal in enumerate(state.proposals, start=1):
            events = pairings.propose(
                pairing_id=proposal["pairing_id"], cohort_id=state.cohort_id, mentor_id=proposal["mentor_id"],
                mentee_id=proposal["mentee_id"], score=proposal["score"], reasons=proposal["reasons"],
                proposed_by="algorithm", matching_run_id=run_id, answer_by=answer_by,
                circle_id=proposal.get("circle_id"))
            try:
                commands._append(commands.pairings, proposal["pairing_id"], 0, events, causation)
                created += 1
            except ConcurrencyError:
                pass  # created before a crash or by a replay: exactly once
            if index % PROGRESS_EVERY == 0:
                self._progress(run_id, phase="proposing", matched=len(state.proposals), proposals_created=index)
        try:
            commands._append(commands.runs, run_id, version, runs.proposals_created(state), causation)
        except ConcurrencyError:
            pass
        self._progress(run_id, phase="done", matched=len(state.proposals), proposals_created=len(state.proposals))
        return created

    # ---------------------------------------------------------------- withdrawals

    def enrollment_withdrawn(self, envelope: Envelope) -> None:
        data = envelope.data
        self.commands.end_pairings_after_withdrawal(data["cohort_id"], data["employee_id"], data["reason"],
                                                    envelope.occurred_at, Causation.from_event(envelope))

    # ---------------------------------------------------------------- cohort close

    def cohort_status_changed(self, envelope: Envelope) -> None:
        self.commands.complete_pairings_of_cohort(envelope)


def circles_of(proposals: list[dict]) -> list[dict]:
    """A circle run's proposals grouped by circle (what a dry run previews): each circle's mentor and
    the mentees it proposes, by circle id; [] for a pair cohort's run."""
    circles: dict[str, dict] = {}
    for proposal in proposals:
        if proposal.get("circle_id"):
            circle = circles.setdefault(proposal["circle_id"], {"circle_id": proposal["circle_id"],
                                                                "mentor_id": proposal["mentor_id"], "mentee_ids": []})
            circle["mentee_ids"].append(proposal["mentee_id"])
    return [circles[key] for key in sorted(circles)]


def run_summary(run: dict, proposals: list[dict], unmatched: list[dict], progress: dict | None) -> dict:
    """`GET /v1/matching-runs/{run_id}`: status, progress and the summary (proposals included)."""
    from services.matching.application.projections import run_status

    status = run_status(run)
    phase = "done" if status == "completed" else "failed" if status == "failed" else (
        (progress or {}).get("phase") or ("proposing" if run.get("completed") else "queued"))
    return {
        "run_id": run["_id"], "cohort_id": run["cohort_id"], "status": status, "mode": run.get("mode"),
        "dry_run": bool(run.get("dry_run")), "requested_by": run.get("requested_by"),
        "requested_at": run.get("requested_at"), "completed_at": run.get("completed_at"),
        "progress": {"phase": phase, "matched": run.get("matched"),
                     "proposals_created": run.get("proposed") if run.get("proposals_created") else
                     (progress or {}).get("proposals_created", 0)},
        "input_hash": run.get("input_hash"), "matched": run.get("matched"),
        "unmatched_count": run.get("unmatched"), "total_score": run.get("total_score"),
        "answer_by": run.get("answer_by"), "unmatched": unmatched, "proposals": proposals,
        "circles": circles_of(proposals),
        "failure": {"reason": run.get("failure_reason"), "detail": run.get("failure_detail")}
        if status == "failed" else None,
    }
