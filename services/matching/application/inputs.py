"""Inputs of a matching decision over a whole cohort, read from the views.

Who is enrolled (with their private preferences), which mentees already have an open pairing,
how many seats each mentor has taken and which pairs must never be proposed again: callers wait
for the views to include everything stored so far (`MatchingCommands.wait_for_head`) first.
"""
from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

from shared.errors import Invalid

from services.matching.adapters.mongo import Views
from services.matching.domain import pairing as pairings
from services.matching.domain.assignment import MenteeCandidate, MentorCandidate, goal_topics, topic_key

log = logging.getLogger(__name__)

MAX_CHAIN = 32
PROFILE_READERS = 8  # profiles read by `_id` on this many connections at once


class RuleViolations(Invalid):
    """A manual proposal breaks hard constraints (HTTP 422 naming each rule)."""

    def __init__(self, rules: list[str]):
        super().__init__("rule_violations", f"the pair breaks: {', '.join(rules)}", violated_rules=list(rules))
        self.rules = list(rules)


@dataclass
class Taken:
    """A cohort's open pairings, seen from the views: seats per mentor, paired mentees, forbidden pairs."""

    seats: dict[str, int] = field(default_factory=dict)
    holders: dict[str, list[str]] = field(default_factory=dict)  # mentor -> their open pairings' ids
    paired_mentees: set[str] = field(default_factory=set)
    forbidden: set[tuple[str, str]] = field(default_factory=set)


def offered_topics(mentors) -> set[str]:
    """Every topic key the given mentors offer (their topics and HRIS skills)."""
    return {topic_key(t) for m in mentors for t in (*m.topics, *m.skills)}


class MatchingInputs:
    def __init__(self, views: Views, participants):
        self.views = views
        self.participants = participants

    def pairings_of(self, cohort_id: str, *, mentee_id: str | None = None) -> Taken:
        """The cohort's open pairings and forbidden pairs; `mentee_id`: a decision about that mentee
        only (suggestions, a request, a manual proposal), which needs only their pairs never to be
        proposed again (one `_id` read, not the whole collection a run reads)."""
        taken = Taken()
        for entry in self.views.pairing_entries(cohort_id):  # parties and status only: the index
            if entry.status in pairings.OPEN:
                taken.seats[entry.mentor_id] = taken.seats.get(entry.mentor_id, 0) + 1
                taken.holders.setdefault(entry.mentor_id, []).append(entry.pairing_id)
                taken.paired_mentees.add(entry.mentee_id)
            if entry.status in ("declined", "ended"):
                taken.forbidden.add((entry.mentor_id, entry.mentee_id))
        # And in any cohort: a declined proposal or a pairing ended as not a fit is never proposed again.
        taken.forbidden |= self.views.never_again_pairs(mentee_id)
        return taken

    def candidates(self, cohort_id: str, taken: Taken) -> tuple[dict[str, MentorCandidate], dict[str, MenteeCandidate]]:
        """Active mentors (with seats taken) and the mentees without an open pairing; paused people are
        no candidates at all (their pairings stay; they only get no new proposals)."""
        cache: dict = {}
        mentors, mentees = {}, {}
        enrolled = [e for e in self.views.enrollments_of_cohort(cohort_id, status="active")
                    if e["status"] == "active" and not e.get("paused")]
        self._prefetch([e["employee_id"] for e in enrolled], cache)
        for enrollment in enrolled:
            employee_id = enrollment["employee_id"]
            if enrollment["role"] == "mentor":
                mentors[employee_id] = self.mentor(enrollment, taken.seats.get(employee_id, 0), cache)
        offered = offered_topics(mentors.values())
        for enrollment in enrolled:
            employee_id = enrollment["employee_id"]
            if enrollment["role"] == "mentee" and employee_id not in taken.paired_mentees:
                mentees[employee_id] = self.mentee(enrollment, cache, offered=offered)
        return mentors, mentees

    def mentors_for(self, cohort_id: str, taken: Taken) -> dict[str, MentorCandidate]:
        """The cohort's active, unpaused mentors with the seats they hold (a mentee's suggestions):
        only the active mentors' enrolments are read, by `_id` (their ids from the enrolments index)."""
        cache: dict = {}
        enrolled = [e for e in self.views.enrollments_of_cohort(cohort_id, role="mentor", status="active")
                    if e["status"] == "active" and not e.get("paused")]
        self._prefetch([e["employee_id"] for e in enrolled], cache)
        return {e["employee_id"]: self.mentor(e, taken.seats.get(e["employee_id"], 0), cache) for e in enrolled}

    def mentee_of(self, enrollment: dict, mentors: dict[str, MentorCandidate]) -> MenteeCandidate:
        """The mentee as suggestions score them against `mentors` (the cohort's)."""
        return self.mentee(enrollment, {}, offered=offered_topics(mentors.values()))

    def pair(self, cohort_id: str, mentor_id: str, mentee_id: str,
             taken: Taken) -> tuple[MentorCandidate, MenteeCandidate]:
        cache: dict = {}
        mentor_doc = self.views.enrollments.get(Views.enrollment_key(cohort_id, mentor_id)) or {
            "employee_id": mentor_id}
        mentee_doc = self.views.enrollments.get(Views.enrollment_key(cohort_id, mentee_id)) or {
            "employee_id": mentee_id}
        return self.mentor(mentor_doc, taken.seats.get(mentor_id, 0), cache), self.mentee(mentee_doc, cache)

    # -- candidates ----------------------------------------------------------------------------

    def _prefetch(self, employee_ids: list[str], cache: dict) -> None:
        """The people's profiles and their management chains, by `_id`, one level of the hierarchy at
        a time, PROFILE_READERS look-ups at once (the managers of a level are read together, each once).

        Never the whole directory: a scan of it grew with the organisation (FerretDB v1, org-20k: 12 s
        of the 15-57 s a cohort's suggestions took to build), and `_id: {$in: [...]}` is no index read
        there either (measured at org-20k: 170 s for 5,000 ids). Single `_id` look-ups side by side cost
        what the cohort's people and their managers are, whatever the size of the organisation.
        """
        wanted = [employee_id for employee_id in dict.fromkeys(employee_ids) if employee_id not in cache]
        for _ in range(MAX_CHAIN + 1):
            if not wanted:
                return
            with ThreadPoolExecutor(PROFILE_READERS) as pool:
                profiles = list(pool.map(self.participants.get, wanted))
            cache.update(zip(wanted, profiles))
            wanted = list(dict.fromkeys(profile["manager_id"] for profile in profiles
                                        if profile is not None and profile.get("manager_id")
                                        and profile["manager_id"] not in cache))

    def _profile(self, employee_id: str, cache: dict) -> dict | None:
        if employee_id not in cache:
            cache[employee_id] = self.participants.get(employee_id)
        return cache[employee_id]

    def _management_chain(self, employee_id: str, cache: dict) -> list[str]:
        chain: list[str] = []
        seen = {employee_id}
        current = self._profile(employee_id, cache)
        while current is not None and current.get("manager_id") and len(chain) < MAX_CHAIN:
            manager_id = current["manager_id"]
            if manager_id in seen:
                break
            seen.add(manager_id)
            chain.append(manager_id)
            current = self._profile(manager_id, cache)
        return chain

    def mentee(self, enrollment: dict, cache: dict, *, offered: set[str] | None = None) -> MenteeCandidate:
        """`offered`: the topic keys the mentors being scored offer; the goals summary is reduced to
        those and the mentee's own topics (the same scores, a smaller candidate: goal_topics)."""
        employee_id = enrollment["employee_id"]
        profile = self._profile(employee_id, cache) or {}
        prefs = enrollment.get("preferences") or {}
        topics = tuple(enrollment.get("topics") or ())
        vocabulary = None if offered is None else offered | {topic_key(t) for t in topics}
        return MenteeCandidate(
            employee_id=employee_id, level=int(profile.get("level") or 0),
            languages=tuple(prefs.get("languages") or profile.get("languages") or ()),
            timezone=profile.get("timezone") or "UTC", department=profile.get("department") or "",
            management_chain=tuple(self._management_chain(employee_id, cache)),
            topics=topics, exclude=tuple(prefs.get("exclude") or ()),
            preferred_mentors=tuple(prefs.get("preferred_mentors") or ()),
            active=profile.get("status") == "active",
            goal_topics=goal_topics(enrollment.get("goals_summary"), vocabulary))

    def mentor(self, enrollment: dict, seats_taken: int, cache: dict) -> MentorCandidate:
        employee_id = enrollment["employee_id"]
        profile = self._profile(employee_id, cache) or {}
        prefs = enrollment.get("preferences") or {}
        return MentorCandidate(
            employee_id=employee_id, level=int(profile.get("level") or 0),
            languages=tuple(profile.get("languages") or ()), timezone=profile.get("timezone") or "UTC",
            department=profile.get("department") or "",
            management_chain=tuple(self._management_chain(employee_id, cache)),
            topics=tuple(enrollment.get("topics") or ()), skills=tuple(profile.get("skills") or ()),
            capacity=int(enrollment.get("capacity") or 0), seats_taken=seats_taken,
            exclude=tuple(prefs.get("exclude") or ()), active=profile.get("status") == "active")


class CohortMentors:
    """The cohort's mentor candidates for suggestions, kept per process and refreshed every `ttl_s`.

    Why: building them reads the cohort's active mentors' enrolments and their profiles with their
    management chains by `_id` (measured, bench/bench_cohort_reads.py: 2,500 mentors, 2.1 s and 2.6 s
    on the 2-core machine); a mentee's page cannot wait for that each time. Only the first call of a
    process for a cohort builds while it waits; afterwards a call past `ttl_s` gets the kept entry at
    once and starts one rebuild in the background. What is kept is only what changes slowly
    (enrolment, profile, chain); the seats taken are applied fresh on every call (`Taken`, read after
    the views caught up), so a request or proposal is seen at once. A mentor enrolled, paused or
    withdrawn within the last `ttl_s` (plus a rebuild) may be missing or shown a moment too long: the
    request itself decides on the mentor's enrolment stream and fresh profiles.
    """

    def __init__(self, inputs: MatchingInputs, ttl_s: float = 60.0, max_cohorts: int = 16, clock=time.monotonic):
        self.inputs = inputs
        self.ttl_s = ttl_s
        self.max_cohorts = max_cohorts
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, dict[str, MentorCandidate]]] = OrderedDict()
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()

    def get(self, cohort_id: str, taken: Taken) -> dict[str, MentorCandidate]:
        with self._guard:
            lock = self._locks.setdefault(cohort_id, threading.Lock())
            entry = self._entries.get(cohort_id)
        if entry is None:
            with lock:  # one build per cohort at a time: the others wait for it and share it
                with self._guard:
                    entry = self._entries.get(cohort_id)
                if entry is None:
                    entry = self._build(cohort_id)
        elif self.clock() - entry[0] > self.ttl_s and lock.acquire(blocking=False):
            threading.Thread(target=self._rebuild, args=(cohort_id, lock), daemon=True,
                             name=f"cohort-mentors-{cohort_id}").start()
        return {employee_id: replace(mentor, seats_taken=taken.seats[employee_id]) if taken.seats.get(employee_id)
                else mentor for employee_id, mentor in entry[1].items()}

    def _build(self, cohort_id: str) -> tuple[float, dict[str, MentorCandidate]]:
        entry = (self.clock(), self.inputs.mentors_for(cohort_id, Taken()))
        with self._guard:
            self._entries[cohort_id] = entry
            self._entries.move_to_end(cohort_id)
            while len(self._entries) > self.max_cohorts:
                self._entries.popitem(last=False)
        return entry

    def _rebuild(self, cohort_id: str, lock: threading.Lock) -> None:
        """In the background, holding the cohort's lock (taken by the caller); a failure keeps the old
        entry, and the next call past `ttl_s` tries again."""
        try:
            self._build(cohort_id)
        except Exception:  # noqa: BLE001 - logged; the kept entry still answers
            log.exception("rebuilding the mentors of cohort %s for suggestions failed", cohort_id)
        finally:
            lock.release()
