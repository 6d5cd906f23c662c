"""Mentor/mentee assignment of a cohort: pure domain, no I/O.

The cohort matching is a maximum-weight bipartite b-matching: every mentee takes at most one
mentor, every mentor at most ``capacity - seats_taken`` mentees, only pairs that pass the hard
constraints of :class:`MatchingRules` may be proposed.  :func:`assign` solves it *exactly*:

* every pair is scored with numpy, giving an integer score matrix ``S`` (int16: score * 10_000,
  -1 = ineligible): the parts that depend only on a mentee's group (time zone, level, department;
  level, language set, active) are tables computed once, the topic overlap is a sum of 0/1 rows
  (the topics a mentee's goals summary names are among those rows, see :func:`goal_topics`);
* the optimiser works on integer edge weights so that ties and rounding cannot hide a better
  assignment: ``maximize_score`` uses ``w = S * (n_mentees + 1) + 1`` (best total score, and among
  equal totals the most matches), ``maximize_coverage`` uses ``w = M + S`` with
  ``M > n_mentees * 10_000`` (most matches, then best total score);
* a sparse candidate graph (the 8 best mentors of every mentee, the ``6 * free seats`` best
  mentees of every mentor) is solved exactly as a
  min-cost assignment with SciPy's LAPJVsp (:func:`scipy.sparse.csgraph.min_weight_full_bipartite_matching`)
  after splitting every mentor into seat rows and giving every seat a private "stays empty" column;
* optimality over *all* pairs is then proved with LP duality: node potentials are computed with
  Bellman-Ford on the residual graph of the sparse solution (it has no negative cycle because the
  solution is optimal there), and every eligible pair of the full matrix must have a
  non-negative reduced cost ``pi[mentee] - pi[mentor] - w >= 0`` (checked in integers, one pass
  over ``S`` in blocks, ``w`` from a table of the 10,001 possible scores).  The rows that violate
  it bring their best pairs by reduced cost into the candidate graph and the problem is solved
  again, until none violates.  The result is therefore optimal for the full problem, never just
  for the pruned one: the candidate sizes only decide how many rounds that takes.

Memory: ``S`` (2 bytes a pair) is the only n x m array; everything else is per block of rows or
per candidate pair (org-20k: ~100,000 pairs of 25 million).

Everything is deterministic: candidates are put in id order first, the solvers are deterministic,
and greedy ties are broken by (mentee id, mentor id).
"""
from __future__ import annotations

import hashlib
import heapq
import json
import re
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from functools import lru_cache
from typing import Callable, Iterable, Sequence
from zoneinfo import ZoneInfo

import numpy as np
from scipy import sparse
from scipy.sparse.csgraph import min_weight_full_bipartite_matching

from services.matching.domain.rules import MatchingRules

MODES = ("maximize_score", "maximize_coverage")
NEAR_UNITS = 800  # "nearly tight" pairs: reduced cost within 0.08 of score (see _exact_solve)
SCORE_SCALE = 10_000  # scores are rounded to 4 decimals: integer score = round(score * 10_000)
DEFAULT_REFERENCE_INSTANT = datetime(2026, 1, 15, 12, 0, tzinfo=timezone.utc)

# Names of the hard-constraint rules, in the order eligibility_violations reports them.
RULE_INACTIVE = "inactive"
RULE_SELF = "self_pairing"
RULE_LEVEL = "min_level_gap"
RULE_LANGUAGE = "shared_language"
RULE_CHAIN = "management_chain"
RULE_EXCLUDE = "exclude_list"
RULE_CAPACITY = "capacity"
RULE_DECLINED = "declined_before"
RULE_NAMES = (
    RULE_INACTIVE,
    RULE_SELF,
    RULE_LEVEL,
    RULE_LANGUAGE,
    RULE_CHAIN,
    RULE_EXCLUDE,
    RULE_CAPACITY,
    RULE_DECLINED,
)

UNMATCHED_INACTIVE = "inactive"
UNMATCHED_NO_ELIGIBLE = "no_eligible_mentor"
UNMATCHED_SEATS = "seats_exhausted"


# --------------------------------------------------------------------------- data types


@dataclass(frozen=True)
class MenteeCandidate:
    employee_id: str
    level: int
    languages: Sequence[str] = ()
    timezone: str = "UTC"
    department: str = ""
    management_chain: Sequence[str] = ()  # ancestors from the HRIS manager chain, nearest first
    topics: Sequence[str] = ()  # wanted
    exclude: Sequence[str] = ()  # employee ids never to pair with
    preferred_mentors: Sequence[str] = ()
    active: bool = True
    goal_topics: Sequence[str] = ()  # topic keys the goals summary names (goal_topics())


@dataclass(frozen=True)
class MentorCandidate:
    employee_id: str
    level: int
    languages: Sequence[str] = ()
    timezone: str = "UTC"
    department: str = ""
    management_chain: Sequence[str] = ()
    topics: Sequence[str] = ()  # offered
    skills: Sequence[str] = ()  # HRIS skills; count for topic overlap like offered topics
    capacity: int = 1
    seats_taken: int = 0  # proposed + active pairings already held in this cohort
    exclude: Sequence[str] = ()
    active: bool = True

    @property
    def free_seats(self) -> int:
        return max(0, int(self.capacity) - int(self.seats_taken))


@dataclass(frozen=True)
class Proposal:
    mentor_id: str
    mentee_id: str
    score: float  # in [0, 1], rounded to 4 decimals
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class Unmatched:
    code: str  # "inactive" | "no_eligible_mentor" | "seats_exhausted"
    text: str


@dataclass(frozen=True)
class MatchingTotals:
    matched: int
    unmatched: int
    total_score: float  # sum of the (rounded) proposal scores, rounded to 4 decimals
    mean_score: float
    seats_free: int  # seats that were free before this run


@dataclass(frozen=True)
class MatchingResult:
    assignments: list[Proposal]  # sorted by mentee_id
    unmatched: dict[str, Unmatched]  # mentee_id -> reason, sorted by mentee_id
    totals: MatchingTotals
    input_hash: str
    mode: str
    method: str  # "exact" | "greedy"
    stats: dict = field(default_factory=dict)  # solver diagnostics (rounds, edges, ...)

    def to_dict(self) -> dict:
        return {
            "assignments": [
                {"mentor_id": p.mentor_id, "mentee_id": p.mentee_id, "score": p.score,
                 "reasons": list(p.reasons)}
                for p in self.assignments
            ],
            "unmatched": {k: {"code": u.code, "text": u.text} for k, u in self.unmatched.items()},
            "totals": asdict(self.totals),
            "input_hash": self.input_hash,
            "mode": self.mode,
            "method": self.method,
        }


# --------------------------------------------------------------------------- helpers


@lru_cache(maxsize=65536)  # a few hundred distinct topics, hundreds of thousands of look-ups
def _topic_key(topic: str) -> str:
    return "-".join(str(topic).strip().lower().replace("_", "-").split())


def topic_key(topic: str) -> str:
    """A topic's canonical key ("Public speaking" -> `public-speaking`): how topics are compared."""
    return _topic_key(topic)


def _topic_label(key: str) -> str:
    return key.replace("-", " ")


_WORDS = re.compile(r"[a-z0-9+#.]+")
GOAL_PHRASE_WORDS = 3  # "people management" names `people-management`; longer topic names are rare


def goal_topics(summary: str | None, vocabulary: Iterable[str] | None = None) -> tuple[str, ...]:
    """The topic keys a goals summary names: every run of 1 to 3 of its words, as a topic key
    ("public speaking" -> `public-speaking`), in order of appearance, each once.

    ``vocabulary``: keep only these keys (the topics the mentee lists and the mentors offer). It
    only makes the candidate smaller: a pair's score depends only on the keys its mentee lists
    or its mentor offers, so any vocabulary holding those gives the same scores.

    How they count (:class:`_Problem`): a named topic the mentee also lists counts twice in the
    topic part (it is what they said they want most); a named topic the mentee does not list
    counts as one more shared topic when the mentor offers it, the topic part staying at most 1.
    """
    if not summary:
        return ()
    words = [w.strip(".") for w in _WORDS.findall(str(summary).lower())]
    words = [w for w in words if w]
    keep = None if vocabulary is None else set(vocabulary)
    found: dict[str, None] = {}
    for size in range(1, GOAL_PHRASE_WORDS + 1):
        for start in range(len(words) - size + 1):
            key = _topic_key("-".join(words[start:start + size]))
            if keep is None or key in keep:
                found.setdefault(key, None)
    return tuple(found)


@lru_cache(maxsize=4096)
def _lang_key(lang: str) -> str:
    return str(lang).strip().lower()


@lru_cache(maxsize=4096)
def _utc_offset_minutes(tz_name: str, instant: datetime) -> int | None:
    try:
        off = instant.astimezone(ZoneInfo(tz_name)).utcoffset()
    except Exception:  # noqa: BLE001 - unknown or malformed zone name
        return None
    return int(off.total_seconds() // 60) if off is not None else None


def _tz_distance_minutes(a: int | None, b: int | None) -> int | None:
    if a is None or b is None:
        return None
    d = abs(a - b) % 1440
    return min(d, 1440 - d)


def _fmt_hours(minutes: int) -> str:
    h = minutes / 60
    txt = f"{h:g}" if minutes % 30 == 0 else f"{h:.1f}"
    return f"{txt} hour{'' if h == 1 else 's'} apart"


def _level_component(gap: np.ndarray) -> np.ndarray:
    g = gap.astype(np.float64)
    return np.where(g <= 0, 0.0, np.where(g <= 2, 1.0, np.maximum(0.0, 1.0 - (g - 2.0) / 6.0)))


def _reference(reference_instant: datetime | None) -> datetime:
    inst = reference_instant or DEFAULT_REFERENCE_INSTANT
    if inst.tzinfo is None:
        inst = inst.replace(tzinfo=timezone.utc)
    return inst.astimezone(timezone.utc)


def _check_mode(mode: str) -> None:
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")


# --------------------------------------------------------------------------- hashing


def _candidate_json(c: MenteeCandidate | MentorCandidate) -> dict:
    # what asdict() gave, without its deep copies (a third of a run's time on org-20k)
    d = {}
    for name in _field_names(type(c)):
        v = getattr(c, name)
        d[name] = list(map(str, v)) if isinstance(v, (list, tuple)) else v
    return d


@lru_cache(maxsize=None)
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def compute_input_hash(
    mentors: Iterable[MentorCandidate],
    mentees: Iterable[MenteeCandidate],
    rules: MatchingRules | None = None,
    forbidden_pairs: Iterable[tuple[str, str]] = (),
    mode: str = "maximize_score",
    reference_instant: datetime | None = None,
    extra: dict | None = None,
) -> str:
    """sha256 of a canonical JSON of all inputs (candidate order does not matter); `extra`: more
    inputs a solver has (a circle run's sizes), absent for pairs (their hashes stay as they were)."""
    payload = {
        "rules": (rules or MatchingRules()).to_dict(),
        "mode": mode,
        "reference_instant": _reference(reference_instant).isoformat(),
        "mentors": sorted((_candidate_json(m) for m in mentors), key=lambda d: d["employee_id"]),
        "mentees": sorted((_candidate_json(m) for m in mentees), key=lambda d: d["employee_id"]),
        "forbidden_pairs": sorted({(str(a), str(b)) for a, b in forbidden_pairs}),
    }
    if extra:
        payload["extra"] = extra
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


# --------------------------------------------------------------------------- encoding


class _Vocab:
    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def ids(self, items: Iterable[str]) -> list[int]:
        index = self.index
        return [index.setdefault(it, len(index)) for it in items]  # a new item gets the next id

    def id_sets(self, lists: Iterable[Sequence[str]], key: Callable[[str], str]) -> list[list[int]]:
        """Sorted distinct ids of every list's keys; lists seen before (most are: a cohort's
        people share a few topic and language lists) reuse their answer."""
        seen: dict[tuple, list[int]] = {}
        out = []
        for items in lists:
            t = tuple(items)
            ids = seen.get(t)
            if ids is None:
                ids = seen[t] = sorted(set(self.ids({key(x) for x in t})))
            out.append(ids)
        return out


def _unique_sorted(keys: np.ndarray) -> np.ndarray:
    """np.unique of integer keys by sorting (NumPy 2's np.unique hashes: ~40x slower here)."""
    keys = np.sort(keys)
    if len(keys) > 1:
        keys = keys[np.concatenate([[True], keys[1:] != keys[:-1]])]
    return keys


def _pairs_of(owner_lists: Iterable[Sequence[str]], pos: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """(owner index, position) of every id in the owners' lists that ``pos`` knows."""
    lens: list[int] = []
    flat: list[str] = []
    for ids in owner_lists:
        lens.append(len(ids))
        flat.extend(ids)
    cols = np.array([pos.get(a, -1) for a in flat], dtype=np.int64)
    owners = np.repeat(np.arange(len(lens), dtype=np.int64), lens)
    known = cols >= 0
    return owners[known], cols[known]


def _onehot(id_lists: list[list[int]], width: int) -> np.ndarray:
    """0/1 float32 matrix (exact small-integer dot products through BLAS)."""
    out = np.zeros((len(id_lists), max(width, 1)), dtype=np.float32)
    rows = [r for r, ids in enumerate(id_lists) for _ in ids]
    cols = [b for ids in id_lists for b in ids]
    if cols:
        out[np.asarray(rows, dtype=np.int64), np.asarray(cols, dtype=np.int64)] = 1.0
    return out


class _Problem:
    """Numeric encoding of one matching problem (candidates in id order)."""

    def __init__(
        self,
        mentors: Sequence[MentorCandidate],
        mentees: Sequence[MenteeCandidate],
        rules: MatchingRules,
        forbidden_pairs: Iterable[tuple[str, str]],
        reference_instant: datetime | None,
    ) -> None:
        self.rules = rules
        self.mentors = sorted(mentors, key=lambda c: c.employee_id)
        self.mentees = sorted(mentees, key=lambda c: c.employee_id)
        for role, cands in (("mentor", self.mentors), ("mentee", self.mentees)):
            for a, b in zip(cands, cands[1:]):
                if a.employee_id == b.employee_id:
                    raise ValueError(f"duplicate {role} id {a.employee_id!r}")
        self.instant = _reference(reference_instant)
        self.mentor_pos = {c.employee_id: j for j, c in enumerate(self.mentors)}
        self.mentee_pos = {c.employee_id: i for i, c in enumerate(self.mentees)}
        m, n = len(self.mentors), len(self.mentees)
        self.n, self.m = n, m

        topics, langs, depts, zones = _Vocab(), _Vocab(), _Vocab(), _Vocab()
        want = [list(ids) for ids in topics.id_sets((c.topics for c in self.mentees), _topic_key)]
        offer = topics.id_sets(((*c.topics, *c.skills) for c in self.mentors), _topic_key)
        # the goals summary (goal_topics): a named topic the mentee lists counts twice (its id a
        # second time in the row, and in the divisor); one they do not list counts as one more
        # match where a mentor offers it (its id in the row, not in the divisor: the overlap is
        # then capped at the divisor). Keys no mentor offers and nobody lists add nothing.
        weight = [len(w) for w in want]
        self.goal_capped = False
        for i, c in enumerate(self.mentees):
            if not c.goal_topics:
                continue
            listed = set(want[i])
            named = sorted({topics.index[k] for k in map(_topic_key, c.goal_topics) if k in topics.index})
            emphasis = [t for t in named if t in listed]
            extra = [t for t in named if t not in listed]
            want[i] = want[i] + emphasis + extra
            weight[i] += len(emphasis)
            self.goal_capped |= bool(extra)
        # topic overlap = sum of the offered-topic rows a mentee wants: each mentee's wanted topic
        # ids, padded with the id of an all-zero row (no BLAS: exact, and no thread pool)
        n_topics = len(topics.index)
        self.e_nwant = np.array(weight, dtype=np.int64)
        self.e_want = np.full((n, max([1, *map(len, want)])), n_topics, dtype=np.int64)
        counts = np.uint8 if self.e_want.shape[1] < 256 else np.uint16  # holds any overlap
        self.m_topics = np.zeros((n_topics + 1, m), dtype=counts)  # (T + 1) x m, last row 0
        self.m_topics[:n_topics] = _onehot(offer, n_topics).T[:n_topics]
        for i, ids in enumerate(want):
            self.e_want[i, : len(ids)] = ids
        e_lang = langs.id_sets((c.languages for c in self.mentees), _lang_key)
        m_lang = langs.id_sets((c.languages for c in self.mentors), _lang_key)
        lang_sets = _Vocab()
        self.e_langset = np.array(lang_sets.ids(tuple(x) for x in e_lang), dtype=np.int64)
        self.langset_onehot = _onehot([list(k) for k in lang_sets.index], len(langs.index))
        self.m_lang = _onehot(m_lang, len(langs.index)).T.copy()  # L x m
        self.e_dept = np.array(depts.ids(c.department for c in self.mentees), dtype=np.int64)
        self.m_dept = np.array(depts.ids(c.department for c in self.mentors), dtype=np.int64)
        self.e_level = np.array([int(c.level) for c in self.mentees], dtype=np.int64)
        self.m_level = np.array([int(c.level) for c in self.mentors], dtype=np.int64)
        self.e_active = np.array([bool(c.active) for c in self.mentees], dtype=bool)
        self.m_active = np.array([bool(c.active) for c in self.mentors], dtype=bool)
        self.m_free = np.array([c.free_seats for c in self.mentors], dtype=np.int64)
        # time zones -> index; closeness table between zone indices
        self.e_tz = np.array(zones.ids(c.timezone for c in self.mentees), dtype=np.int64)
        self.m_tz = np.array(zones.ids(c.timezone for c in self.mentors), dtype=np.int64)
        names = list(zones.index)
        offs = [_utc_offset_minutes(z, self.instant) for z in names]
        k = len(names)
        self.tz_table = np.zeros((max(k, 1), max(k, 1)), dtype=np.float64)
        for a in range(k):
            for b in range(k):
                d = _tz_distance_minutes(offs[a], offs[b])
                self.tz_table[a, b] = 0.0 if d is None else 1.0 - (d / 60.0) / 12.0

        # sparse pair relations (mentee index, mentor index), each as sorted unique keys i * m + j
        mp, ep = self.mentor_pos, self.mentee_pos

        def keys(pairs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
            return pairs[0] * m + pairs[1]

        def mentors_side(pairs: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
            return pairs[1] * m + pairs[0]  # (mentor, mentee) pairs as mentee-major keys

        chain = np.concatenate([keys(_pairs_of((c.management_chain for c in self.mentees), mp)),
                                mentors_side(_pairs_of((c.management_chain for c in self.mentors), ep))])
        excl = np.concatenate([keys(_pairs_of((c.exclude for c in self.mentees), mp)),
                               mentors_side(_pairs_of((c.exclude for c in self.mentors), ep))])
        selfp = keys(_pairs_of(([c.employee_id] for c in self.mentees), mp))
        forb = [(ep[b], mp[a]) for a, b in forbidden_pairs if a in mp and b in ep]
        banned = [selfp, np.array([i * m + j for i, j in forb], dtype=np.int64)]
        if rules.exclude_management_chain:
            banned.append(chain)
        if rules.respect_exclude_list:
            banned.append(excl)
        banned_keys = _unique_sorted(np.concatenate(banned))
        pref_keys = _unique_sorted(keys(_pairs_of((c.preferred_mentors for c in self.mentees), mp)))
        self.banned = (banned_keys // max(m, 1), banned_keys % max(m, 1))
        self.preferred = (pref_keys // max(m, 1), pref_keys % max(m, 1))
        self.weights = rules.weights
        self.weight_sum = float(sum(self.weights.values()))

        self._offered: dict[int, set[str]] = {}  # mentor -> topic keys offered (reasons)
        self._build_tables()

    def _build_tables(self) -> None:
        """Everything of the score that does not depend on the pair itself, computed once.

        ``base_table[g]``: time zone + department + level parts (+ 0.5 for rounding) of every
        mentor for mentee group g = distinct (time zone, level, department); ``ok_table[h]``:
        the hard rules that depend only on h = distinct (level, language set, active), without
        capacity.  A block of rows then only gathers rows of these tables, so the per-pair work
        is the topic overlap and the exceptions (banned and preferred pairs).
        """
        r, wts = self.rules, self.weights
        unit = SCORE_SCALE / self.weight_sum
        self.unit = unit
        keys = np.stack([self.e_tz, self.e_level, self.e_dept], axis=1).reshape(-1, 3)
        ukeys, inv = np.unique(keys, axis=0, return_inverse=True)
        self.e_group = inv.reshape(-1).astype(np.int64)
        gap = self.m_level[None, :] - ukeys[:, 1, None]
        same_dept = ukeys[:, 2, None] == self.m_dept[None, :]
        c_dept = (~same_dept if r.cross_department == "bonus" else same_dept).astype(np.float64)
        # the same expression, in the same order, as the scores have always been computed with
        self.base_table = (
            (wts["timezone"] * unit) * self.tz_table[ukeys[:, 0, None], self.m_tz[None, :]]
            + (wts["department"] * unit) * c_dept
            + (wts["level_gap"] * unit) * _level_component(gap)
            + 0.5  # rounding: floor(x + 0.5)
        )
        ekeys = np.stack(
            [self.e_level, self.e_langset, self.e_active.astype(np.int64)], axis=1
        ).reshape(-1, 3)
        uek, einv = np.unique(ekeys, axis=0, return_inverse=True)
        self.e_okgroup = einv.reshape(-1).astype(np.int64)
        ok_u = np.ones((len(uek), self.m), dtype=bool)
        if r.require_active:
            ok_u &= (uek[:, 2, None] == 1) & self.m_active[None, :]
        if r.level_gap_enabled:
            ok_u &= (self.m_level[None, :] - uek[:, 0, None]) >= int(r.min_level_gap)
        if r.require_shared_language:
            ok_u &= (self.langset_onehot[uek[:, 1]] @ self.m_lang) > 0.5
        self.ok_table = ok_u
        self.topic_coef = np.where(
            self.e_nwant > 0, (wts["topics"] * unit) / np.maximum(self.e_nwant, 1), 0.0
        )

    @staticmethod
    def _pairs_in(pairs: tuple[np.ndarray, np.ndarray], rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(row position in ``rows``, mentor) of the pairs whose mentee is in ``rows`` (sorted)."""
        pi, pj = pairs
        lo = np.searchsorted(pi, rows, "left")
        cnt = np.searchsorted(pi, rows, "right") - lo
        total = int(cnt.sum())
        if total == 0:
            return np.zeros(0, np.int64), np.zeros(0, np.int64)
        pos = np.repeat(np.arange(len(rows)), cnt)
        idx = np.repeat(lo - np.cumsum(cnt) + cnt, cnt) + np.arange(total)
        return pos, pj[idx]

    # ---- vectorised scoring ------------------------------------------------------------
    def block(
        self, rows: np.ndarray, constraints: bool = True, with_capacity: bool = True
    ) -> np.ndarray:
        """Integer scores (0..10_000) of mentees ``rows`` (ascending) x all mentors; -1 = ineligible.

        The score is ``round(10_000 * sum_k(w_k * c_k) / sum_k(w_k))``: a row of the group table
        plus the topic overlap (an exact 0/1 matrix product) times the mentee's topic weight,
        plus the preferred-mentor bonus, truncated (the tables carry the + 0.5).
        ``constraints=False`` returns the raw score of every pair.
        """
        e = np.asarray(rows, dtype=np.int64)
        nrows = len(e)
        if nrows == 0 or self.m == 0:
            return np.full((nrows, self.m), -1, dtype=np.int16)
        total = self.base_table[self.e_group[e]]
        want = self.e_want[e]
        overlap = self.m_topics[want[:, 0]]  # exact small integers
        for k in range(1, want.shape[1]):
            overlap += self.m_topics[want[:, k]]
        if self.goal_capped:  # unlisted goal topics: at most "every wanted topic shared"
            np.minimum(overlap, self.e_nwant[e, None].astype(overlap.dtype), out=overlap)
        total += overlap * self.topic_coef[e, None]
        pr, pc = self._pairs_in(self.preferred, e)
        total[pr, pc] += self.weights["preferred"] * self.unit
        s = total.astype(np.int16)  # values are >= 0.5, so truncation == floor
        if constraints:
            bad = ~self.ok_table[self.e_okgroup[e]]
            if with_capacity:
                bad |= (self.m_free <= 0)[None, :]
            br, bc = self._pairs_in(self.banned, e)
            bad[br, bc] = True
            np.putmask(s, bad, -1)
        return s

    def eligible_counts(self, rows: np.ndarray) -> np.ndarray:
        """Number of mentors each mentee of ``rows`` (ascending) passes the hard rules with,
        capacity left aside (the reason an unmatched mentee is given)."""
        e = np.asarray(rows, dtype=np.int64)
        if self.m == 0:
            return np.zeros(len(e), dtype=np.int64)
        per_group = self.ok_table.sum(axis=1)
        counts = per_group[self.e_okgroup[e]].astype(np.int64)
        br, bc = self._pairs_in(self.banned, e)
        hit = self.ok_table[self.e_okgroup[e[br]], bc]  # banned pairs the group rules allowed
        np.subtract.at(counts, br[hit], 1)
        return counts

    def score_matrix(self, with_capacity: bool = True, chunk_cells: int = 262_144) -> np.ndarray:
        """The n x m int16 score matrix, built in cache-sized blocks of rows."""
        out = np.empty((self.n, self.m), dtype=np.int16)
        step = max(1, chunk_cells // max(self.m, 1))
        for lo in range(0, self.n, step):
            hi = min(self.n, lo + step)
            out[lo:hi] = self.block(np.arange(lo, hi), with_capacity=with_capacity)
        return out

    # ---- reasons -----------------------------------------------------------------------
    def reasons(self, i: int, j: int) -> tuple[str, ...]:
        e, m = self.mentees[i], self.mentors[j]
        out: list[str] = []
        offered = self._offered.get(j)
        if offered is None:  # a mentor's proposals share it
            offered = self._offered[j] = {_topic_key(t) for t in (*m.topics, *m.skills)}
        wanted: list[str] = []
        for t in e.topics:
            k = _topic_key(t)
            if k not in wanted:
                wanted.append(k)
        shared = [k for k in wanted if k in offered]
        if shared:
            n = len(shared)
            out.append(
                f"shares {n} topic{'' if n == 1 else 's'}: "
                + ", ".join(_topic_label(k) for k in shared)
            )
        elif wanted:
            out.append("no shared topics")
        named = [k for k in dict.fromkeys(map(_topic_key, e.goal_topics)) if k in offered]
        if named:
            out.append("goals mention: " + ", ".join(_topic_label(k) for k in named))
        d = _tz_distance_minutes(
            _utc_offset_minutes(e.timezone, self.instant), _utc_offset_minutes(m.timezone, self.instant)
        )
        if d is None:
            out.append("time zone unknown")
        elif d == 0:
            out.append("same time zone")
        else:
            out.append(_fmt_hours(d))
        out.append("same department" if e.department == m.department else "different department")
        gap = int(m.level) - int(e.level)
        if gap > 0:
            out.append(f"{gap} level{'' if gap == 1 else 's'} senior")
        elif gap == 0:
            out.append("same level")
        else:
            out.append(f"{-gap} level{'' if gap == -1 else 's'} junior")
        if m.employee_id in set(e.preferred_mentors):
            out.append("a preferred mentor")
        return tuple(out)


# --------------------------------------------------------------------------- exact solver


def _solve_candidate_graph(
    n: int, free: np.ndarray, ei: np.ndarray, ej: np.ndarray, w: np.ndarray
) -> np.ndarray:
    """Exact max-weight b-matching on the candidate edges; returns a 0/1 flow per edge.

    Every mentor j becomes ``free[j]`` identical seat rows, every seat gets a private
    "stays empty" column of cost C0 next to the n mentee columns; a seat-mentee edge costs
    ``C0 - w`` (all costs >= 1 and integers far below 2**53, so float64 arithmetic is exact).
    A minimum-cost matching saturating every seat row is then a maximum-weight b-matching.
    Edges are unique (mentee, mentor) pairs with w >= 1.
    """
    x = np.zeros(len(ei), dtype=bool)
    if len(ei) == 0:
        return x
    m = len(free)
    seat_off = np.zeros(m + 1, dtype=np.int64)
    np.cumsum(free, out=seat_off[1:])
    n_seats = int(seat_off[-1])
    reps = free[ej]
    e_rep = np.repeat(np.arange(len(ei)), reps)
    within = np.arange(len(e_rep)) - np.repeat(np.cumsum(reps) - reps, reps)
    seat_rows = seat_off[ej[e_rep]] + within
    c0 = float(w.max()) + 1.0
    g = sparse.csr_matrix(
        (
            np.concatenate([c0 - w[e_rep].astype(np.float64), np.full(n_seats, c0)]),
            (
                np.concatenate([seat_rows, np.arange(n_seats)]),
                np.concatenate([ei[e_rep], n + np.arange(n_seats)]),
            ),
        ),
        shape=(n_seats, n + n_seats),
    )
    row_ind, col_ind = min_weight_full_bipartite_matching(g)
    used = col_ind < n
    seat_mentor = np.repeat(np.arange(m), free)
    mi = col_ind[used].astype(np.int64)
    mj = seat_mentor[row_ind[used]]
    key = ei.astype(np.int64) * (m + 1) + ej
    order = np.argsort(key, kind="stable")
    pos = np.searchsorted(key[order], mi * (m + 1) + mj)
    x[order[pos]] = True
    return x


def _potentials(
    n: int, m: int, free: np.ndarray, ei: np.ndarray, ej: np.ndarray, w: np.ndarray, x: np.ndarray
) -> np.ndarray:
    """Node potentials proving optimality of flow x on the candidate graph.

    Flow network: s -> mentee (cap 1), mentee -> mentor (cost -w), mentor -> t (cap free),
    s -> t (bypass, so that any number of mentees may stay unmatched).  Shortest distances
    from a virtual root (0-cost arcs to every node) in the residual graph are valid potentials:
    every residual arc (u, v) has ``cost + pi[u] - pi[v] >= 0``.  Raises if x is not optimal
    (negative cycle).  Nodes: mentees 0..n-1, mentors n..n+m-1, s, t, root.
    """
    s_node, t_node = n + m, n + m + 1  # (root = n + m + 2)
    matched_mentee = np.zeros(n, dtype=bool)
    matched_mentee[ei[x]] = True
    load = np.bincount(ej[x], minlength=m)
    src, dst, cost = [], [], []

    def add(u, v, c):
        src.append(np.asarray(u, dtype=np.int64))
        dst.append(np.asarray(v, dtype=np.int64))
        cost.append(np.broadcast_to(np.asarray(c, dtype=np.float64), np.shape(u)))

    idx = np.arange(n)
    add(np.full((~matched_mentee).sum(), s_node), idx[~matched_mentee], 0.0)
    add(idx[matched_mentee], np.full(matched_mentee.sum(), s_node), 0.0)
    add(ei[~x], n + ej[~x], -w[~x].astype(np.float64))
    add(n + ej[x], ei[x], w[x].astype(np.float64))
    jdx = np.arange(m)
    add(n + jdx[load < free], np.full((load < free).sum(), t_node), 0.0)
    add(np.full((load > 0).sum(), t_node), n + jdx[load > 0], 0.0)
    add(np.array([s_node]), np.array([t_node]), 0.0)
    if int(matched_mentee.sum()) < n:  # bypass carries the unmatched mentees' flow
        add(np.array([t_node]), np.array([s_node]), 0.0)
    return _bellman_ford_all(
        n + m + 2, np.concatenate(src), np.concatenate(dst), np.concatenate(cost)
    )


def _bellman_ford_all(n_nodes: int, src: np.ndarray, dst: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """Distances from a virtual root with 0-cost arcs to every node (queue-based, vectorised).

    Only arcs leaving nodes whose distance changed in the previous pass are relaxed.  Raises
    ArithmeticError on a negative cycle (more than n_nodes passes).
    """
    order = np.argsort(src, kind="stable")
    src, dst, cost = src[order], dst[order], cost[order]
    indptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(src, minlength=n_nodes), out=indptr[1:])
    d = np.zeros(n_nodes, dtype=np.float64)
    active = np.arange(n_nodes)
    for _ in range(n_nodes + 1):
        starts, ends = indptr[active], indptr[active + 1]
        counts = ends - starts
        total = int(counts.sum())
        if total == 0:
            return d
        arc = np.repeat(starts - np.cumsum(counts) + counts, counts) + np.arange(total)
        cand = d[src[arc]] + cost[arc]
        tgt = dst[arc]
        better = cand < d[tgt]
        if not better.any():
            return d
        cand, tgt = cand[better], tgt[better]
        best = np.full(n_nodes, np.inf)
        np.minimum.at(best, tgt, cand)
        changed = np.zeros(n_nodes, dtype=bool)
        changed[tgt] = True
        active = np.flatnonzero(changed)
        d[active] = best[active]
    raise ArithmeticError("negative cycle: the candidate solution is not optimal")


def _edge_weights(scores: np.ndarray, n: int, mode: str) -> np.ndarray:
    """Integer objective weights (see module doc); all >= 1 for eligible pairs."""
    s = scores.astype(np.int64)
    if mode == "maximize_coverage":
        return s + (n * SCORE_SCALE + 1)
    return s * (n + 1) + 1


TOP_GROUP = 16  # entries per group in _top_per_row / _top_per_column (their group maxima are SIMD passes)


def _top_per_row(block: np.ndarray, k: int, group: int = TOP_GROUP) -> np.ndarray:
    """Column indices of (up to) the k largest entries of every row (ties: argpartition's pick).

    A wide row is cut into ``width // group`` interleaved groups of columns (group g holds the
    columns g, g + G, g + 2G, ...; the remainder columns are looked at in every row): the k
    largest entries lie in the k groups with the largest maxima (a group left out has k groups
    whose maxima are at least its own, each holding an entry that large), so only those groups'
    entries go through argpartition.  The maxima are one vectorised pass over the row, ~3x
    cheaper than argpartition of the whole row."""
    rows, width = block.shape
    if k <= 0:
        return np.zeros((rows, 0), dtype=np.int64)
    if k >= width:
        return np.broadcast_to(np.arange(width), (rows, width))
    n_groups = width // group
    if n_groups <= 2 * k:
        return np.argpartition(block, width - k, axis=1)[:, width - k:]
    covered = n_groups * group
    maxima = block[:, :covered].reshape(rows, group, n_groups).max(axis=1)
    best_groups = np.argpartition(maxima, n_groups - k, axis=1)[:, n_groups - k:]
    cols = (best_groups[:, :, None] + n_groups * np.arange(group)).reshape(rows, k * group)
    if covered < width:
        cols = np.concatenate([cols, np.broadcast_to(np.arange(covered, width), (rows, width - covered))], axis=1)
    values = np.take_along_axis(block, cols, axis=1)
    pick = np.argpartition(values, values.shape[1] - k, axis=1)[:, values.shape[1] - k:]
    return np.take_along_axis(cols, pick, axis=1)


def _best_rows_per_column(
    S: np.ndarray, want: np.ndarray, chunk_cells: int, group: int = TOP_GROUP
) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of the ``want[j]`` largest entries of every column j of S (ties: by
    argpartition's pick), column by column and best first within a column.

    As :func:`_top_per_row`, but by interleaved groups of rows: the group maxima are an
    element-wise maximum of ``group`` contiguous slabs of S (no transposed copy of S), and
    only the k best groups' rows of each column are gathered, k = the largest want.  Columns
    go in blocks of about ``chunk_cells`` gathered entries (a mentor with hundreds of seats
    must not make an n x m temporary)."""
    n, m = S.shape
    k = int(min(n, want.max(initial=0)))
    if k <= 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    n_groups = n // group
    grouped = n_groups > 2 * k
    covered = n_groups * group
    if grouped:
        maxima = np.ascontiguousarray(S[:covered].reshape(group, n_groups, m).max(axis=0).T)  # m x groups
    width = k * group + (n - covered) if grouped else n
    step = max(1, chunk_cells // width)
    parts_i, parts_j = [], []
    for lo in range(0, m, step):
        hi = min(m, lo + step)
        if grouped:
            best_groups = _top_per_row(maxima[lo:hi], k)
            cand = (best_groups[:, :, None] + n_groups * np.arange(group)).reshape(hi - lo, k * group)
            if covered < n:
                cand = np.concatenate([cand, np.broadcast_to(np.arange(covered, n), (hi - lo, n - covered))],
                                      axis=1)
            values = S[cand, np.arange(lo, hi)[:, None]]
        else:
            cand = np.broadcast_to(np.arange(n), (hi - lo, n))
            values = np.ascontiguousarray(S[:, lo:hi].T)
        pick = _top_per_row(values, k)
        order = np.argsort(-np.take_along_axis(values, pick, axis=1).astype(np.int32), axis=1, kind="stable")
        rows = np.take_along_axis(np.take_along_axis(cand, pick, axis=1), order, axis=1)
        keep = np.arange(k)[None, :] < want[lo:hi, None]
        parts_i.append(rows[keep])
        parts_j.append(np.repeat(np.arange(lo, hi), keep.sum(axis=1)))
    return np.concatenate(parts_i).astype(np.int64), np.concatenate(parts_j).astype(np.int64)


def _initial_candidates(
    S: np.ndarray, free: np.ndarray, k_mentee: int, k_mentor_per_seat: int, chunk_cells: int
) -> tuple[np.ndarray, np.ndarray]:
    """The k best mentors of every mentee and the ``k_mentor_per_seat * free`` best mentees of
    every mentor, eligible pairs only, as sorted unique (mentee, mentor) index arrays.  Built in
    blocks: no n x m temporary besides S itself."""
    n, m = S.shape
    parts_i, parts_j = [], []
    step = max(1, chunk_cells // m)
    for lo in range(0, n, step):
        top = _top_per_row(S[lo : lo + step], k_mentee)
        parts_i.append(np.repeat(np.arange(lo, lo + top.shape[0]), top.shape[1]))
        parts_j.append(top.reshape(-1))
    best_i, best_j = _best_rows_per_column(S, (k_mentor_per_seat * free).astype(np.int64), chunk_cells)
    parts_i.append(best_i)
    parts_j.append(best_j)
    ei = np.concatenate(parts_i).astype(np.int64)
    ej = np.concatenate(parts_j).astype(np.int64)
    ok = (S[ei, ej] >= 0) & (free[ej] > 0)
    key = _unique_sorted(ei[ok] * m + ej[ok])
    return key // m, key % m


def _violations(
    S: np.ndarray,
    lut: np.ndarray,
    u: np.ndarray,
    q: np.ndarray,
    mi: np.ndarray,
    mj: np.ndarray,
    add_per_mentee: int,
    chunk_cells: int,
    near: int = 0,
) -> tuple[np.ndarray, np.ndarray, int]:
    """Pairs (i, j), eligible and unmatched, with ``w[i, j] + q[j] > u[i]``: the potentials
    (u of the mentees, q of the mentors) do not prove the solution optimal there.

    One pass over S in integers: ``w`` comes from the table ``lut`` (lut[s] = weight of score s,
    lut[-1] far below anything for s = -1, ineligible; q <= 0).  Returns, for every row with a
    pair whose reduced cost is below ``near``, its ``add_per_mentee`` pairs of smallest reduced
    cost that are below it (violating, or nearly: when the solution changes, the mentees it
    displaces move along such pairs, and a round found missing them costs a whole solve), and
    the count of violating pairs.
    """
    n, m = S.shape
    add_i, add_j = [], []
    n_viol = 0
    matched_of = np.full(n, -1, dtype=np.int64)
    matched_of[mi] = mj
    step = max(1, chunk_cells // max(m, 1))
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        val = lut.take(S[lo:hi])  # w, or the sentinel where ineligible
        val += q[None, :]  # w + q: what mentee i would gain with mentor j, in potential terms
        r = np.nonzero(matched_of[lo:hi] >= 0)[0]
        val[r, matched_of[lo + r]] = lut[-1]  # a matched pair may have a negative reduced cost
        below = val > np.maximum(u[lo:hi] - near, lut[-1])[:, None]  # reduced cost below `near`
        count = np.count_nonzero(below, axis=1)
        rows = np.flatnonzero(count)
        if len(rows) == 0:
            continue
        n_viol += int(np.count_nonzero(val > u[lo:hi, None])) if near else int(count.sum())
        few = rows[count[rows] <= add_per_mentee]  # all of theirs (most rows)
        flat = np.flatnonzero(below[few])  # (a 2-D np.nonzero is ~10x slower)
        add_i.append(lo + few[flat // m])
        add_j.append(flat % m)
        many = rows[count[rows] > add_per_mentee]  # the add_per_mentee smallest reduced costs
        if len(many):
            top = _top_per_row(val[many], add_per_mentee)
            add_i.append(np.repeat(lo + many, top.shape[1]))
            add_j.append(top.reshape(-1))
    if not n_viol:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), 0
    return np.concatenate(add_i), np.concatenate(add_j), n_viol


def _weight_table(n: int, mode: str, bound: int) -> np.ndarray:
    """lut[s] = integer weight of score s (0..SCORE_SCALE); lut[-1] (s = -1) a sentinel below
    any ``w + q`` and ``u`` with |q|, |u| <= bound.  int32 when everything the proof computes
    fits (its smallest value is ``sentinel + q``; a 40,000-mentee cohort's does), else int64."""
    w = _edge_weights(np.arange(SCORE_SCALE + 1), n, mode)
    sentinel = -(int(w.max()) + 2 * bound + 2)
    dtype = np.int32 if -sentinel + bound < 2**31 else np.int64
    return np.concatenate([w, [sentinel]]).astype(dtype)


def _exact_solve(
    S: np.ndarray,
    free: np.ndarray,
    mode: str,
    k_mentee: int = 8,
    k_mentor_per_seat: int = 6,
    add_per_mentee: int = 16,
    chunk_cells: int = 1 << 20,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """Optimal (mentee, mentor) pairs over the full score matrix S (-1 = ineligible).

    Solve on candidate pairs, prove optimality over all pairs with the duals, add the pairs
    that fail the proof, repeat (see the module doc).  ``k_*`` only size the first candidate
    graph: any values give the same optimum (the proof decides), only the number of rounds
    changes.
    """
    n, m = S.shape
    stats: dict = {"rounds": 0, "candidate_edges": 0, "violations_per_round": []}
    if n == 0 or m == 0 or int(free.sum()) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), stats
    ei, ej = _initial_candidates(S, free, k_mentee, k_mentor_per_seat, chunk_cells)
    w = _edge_weights(S[ei, ej], n, mode)
    while True:
        stats["rounds"] += 1
        x = _solve_candidate_graph(n, free, ei, ej, w)
        pi = np.rint(_potentials(n, m, free, ei, ej, w, x)).astype(np.int64)
        # proof: pi[i] - pi[n + j] >= w[i, j] for every eligible unmatched pair.  Potentials
        # are defined up to a constant: shift them so that the mentors' are <= 0 and small
        shift = int(pi[n : n + m].max())
        u, q = pi[:n] - shift, pi[n : n + m] - shift
        lut = _weight_table(n, mode, int(max(np.abs(u).max(), np.abs(q).max())))
        # the first proof also brings in the nearly tight pairs (NEAR_UNITS): most of what
        # later rounds would otherwise find one solve at a time (org-20k: 2 rounds, not 4)
        near = int(lut[NEAR_UNITS] - lut[0]) if stats["rounds"] == 1 else 0
        vi, vj, n_viol = _violations(S, lut, u.astype(lut.dtype), q.astype(lut.dtype), ei[x], ej[x],
                                     add_per_mentee, chunk_cells, near)
        stats["violations_per_round"].append(n_viol)
        if n_viol == 0:
            break
        key = ei * m + ej  # sorted and unique
        new = _unique_sorted(vi * m + vj)
        if len(key):
            new = new[key[np.minimum(np.searchsorted(key, new), len(key) - 1)] != new]
        key = np.sort(np.concatenate([key, new]))
        ei, ej = key // m, key % m
        w = _edge_weights(S[ei, ej], n, mode)
    stats["candidate_edges"] = int(len(ei))
    return ei[x], ej[x], stats


# --------------------------------------------------------------------------- greedy


def _greedy_solve(S: np.ndarray, free: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best score first; ties by (mentee id, mentor id).  Lazy heap of each mentee's best."""
    n, m = S.shape
    if n == 0 or m == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    left = free.astype(np.int64).copy()
    open_cols = left > 0
    best = np.argmax(S, axis=1)
    heap = [(-int(S[i, best[i]]), i, int(best[i])) for i in range(n) if S[i, best[i]] >= 0]
    heapq.heapify(heap)
    out_i, out_j = [], []
    while heap:
        neg, i, j = heapq.heappop(heap)
        if left[j] > 0:
            out_i.append(i)
            out_j.append(j)
            left[j] -= 1
            if left[j] == 0:
                open_cols[j] = False
            continue
        row = np.where(open_cols, S[i], -1)
        j2 = int(np.argmax(row))
        if row[j2] >= 0:
            heapq.heappush(heap, (-int(row[j2]), i, j2))
    return np.asarray(out_i, dtype=np.int64), np.asarray(out_j, dtype=np.int64)


# --------------------------------------------------------------------------- public API


# A solver other than the two below (circles: domain/circles.py): (scores S, the problem, mode) ->
# (mentee rows, mentor columns, stats) of the chosen pairs
Solver = Callable[[np.ndarray, "_Problem", str], tuple[np.ndarray, np.ndarray, dict]]
SEATS_TEXT = "other mentees"  # "... but all their seats went to <SEATS_TEXT>"


def _run(
    method: str,
    mentors: Sequence[MentorCandidate],
    mentees: Sequence[MenteeCandidate],
    rules: MatchingRules | None,
    forbidden_pairs: Iterable[tuple[str, str]],
    mode: str,
    reference_instant: datetime | None,
    solver: Solver | None = None,
    hash_extra: dict | None = None,
    seats_text: str = SEATS_TEXT,
) -> MatchingResult:
    _check_mode(mode)
    rules = rules or MatchingRules()
    forbidden = {(str(a), str(b)) for a, b in forbidden_pairs}
    input_hash = compute_input_hash(mentors, mentees, rules, forbidden, mode, reference_instant, extra=hash_extra)
    prob = _Problem(mentors, mentees, rules, forbidden, reference_instant)
    S = prob.score_matrix(with_capacity=True)
    if solver is not None:
        mi, mj, stats = solver(S, prob, mode)
    elif method == "exact":
        mi, mj, stats = _exact_solve(S, prob.m_free, mode)
    else:
        mi, mj = _greedy_solve(S, prob.m_free)
        stats = {}
    order = np.argsort(mi, kind="stable")  # mentees are in id order
    mi, mj = mi[order], mj[order]
    int_scores = S[mi, mj].astype(np.int64)
    assignments = [
        Proposal(
            mentor_id=prob.mentors[j].employee_id,
            mentee_id=prob.mentees[i].employee_id,
            score=int(sc) / SCORE_SCALE,
            reasons=prob.reasons(int(i), int(j)),
        )
        for i, j, sc in zip(mi.tolist(), mj.tolist(), int_scores.tolist())
    ]
    matched = np.zeros(prob.n, dtype=bool)
    matched[mi] = True
    unmatched_rows = np.nonzero(~matched)[0]
    unmatched: dict[str, Unmatched] = {}
    if len(unmatched_rows):
        n_elig = prob.eligible_counts(unmatched_rows)
        for r, i in enumerate(unmatched_rows.tolist()):
            c = prob.mentees[i]
            if rules.require_active and not c.active:
                unmatched[c.employee_id] = Unmatched(UNMATCHED_INACTIVE, "mentee is not active")
            elif n_elig[r] == 0:
                unmatched[c.employee_id] = Unmatched(
                    UNMATCHED_NO_ELIGIBLE,
                    "no mentor passes the hard constraints (level gap, shared language, "
                    "management chain, exclude lists, declined pairs)",
                )
            else:
                k = int(n_elig[r])
                unmatched[c.employee_id] = Unmatched(
                    UNMATCHED_SEATS,
                    f"{k} eligible mentor{'' if k == 1 else 's'}, but all their seats went to "
                    f"{seats_text}",
                )
    total_int = int(int_scores.sum())
    totals = MatchingTotals(
        matched=len(assignments),
        unmatched=len(unmatched),
        total_score=round(total_int / SCORE_SCALE, 4),
        mean_score=round(total_int / SCORE_SCALE / len(assignments), 4) if assignments else 0.0,
        seats_free=int(prob.m_free.sum()),
    )
    stats = dict(stats, total_score_units=total_int)
    return MatchingResult(assignments, unmatched, totals, input_hash, mode, method, stats)


def assign(
    mentors: Sequence[MentorCandidate],
    mentees: Sequence[MenteeCandidate],
    rules: MatchingRules | None = None,
    forbidden_pairs: Iterable[tuple[str, str]] = (),
    mode: str = "maximize_score",
    reference_instant: datetime | None = None,
) -> MatchingResult:
    """Exact optimal assignment.

    ``forbidden_pairs``: (mentor_id, mentee_id) never to propose.  ``mode``:
    "maximize_score" (highest total score; among equal totals the most matches) or
    "maximize_coverage" (most matched mentees; among those the highest total score).
    ``reference_instant``: instant at which UTC offsets are taken (default
    DEFAULT_REFERENCE_INSTANT, so results never depend on the wall clock).
    """
    return _run("exact", mentors, mentees, rules, forbidden_pairs, mode, reference_instant)


def greedy_assignment(
    mentors: Sequence[MentorCandidate],
    mentees: Sequence[MenteeCandidate],
    rules: MatchingRules | None = None,
    forbidden_pairs: Iterable[tuple[str, str]] = (),
    mode: str = "maximize_score",
    reference_instant: datetime | None = None,
) -> MatchingResult:
    """Baseline: repeatedly take the best-scoring eligible pair whose mentor has a free seat
    (ties by mentee id then mentor id).  ``mode`` is only recorded."""
    return _run("greedy", mentors, mentees, rules, forbidden_pairs, mode, reference_instant)


@dataclass(frozen=True)
class Suggestion:
    mentor_id: str
    score: float  # in [0, 1], 4 decimals: the optimiser's score of the pair
    reasons: tuple[str, ...]
    seats_left: int


def suggest_mentors(
    mentors: Sequence[MentorCandidate],
    mentee: MenteeCandidate,
    rules: MatchingRules | None = None,
    forbidden_pairs: Iterable[tuple[str, str]] = (),
    limit: int = 10,
    reference_instant: datetime | None = None,
) -> tuple[list[Suggestion], int]:
    """The ``limit`` best mentors a mentee may choose (mentee choice, issue 15) and how many are
    eligible in all: every hard rule holds and a seat is free, best score first, ties by mentor id.

    It is the mentee's row of the matrix :func:`assign` optimises (same rules, same integer
    score), so a suggestion's score is the one a run or a manual proposal would give the pair.
    """
    rules = rules or MatchingRules()
    forbidden = {(str(a), str(b)) for a, b in forbidden_pairs if str(b) == mentee.employee_id}
    if not mentors:
        return [], 0
    prob = _Problem(mentors, [mentee], rules, forbidden, reference_instant)
    row = prob.block(np.arange(1))[0]
    eligible = np.flatnonzero(row >= 0)  # mentors are in id order: a stable sort breaks ties by id
    best = eligible[np.argsort(-row[eligible].astype(np.int32), kind="stable")][: max(0, int(limit))]
    return [
        Suggestion(mentor_id=prob.mentors[j].employee_id, score=int(row[j]) / SCORE_SCALE,
                   reasons=prob.reasons(0, int(j)), seats_left=int(prob.m_free[j]))
        for j in best.tolist()
    ], int(len(eligible))


def eligibility_violations(
    mentor: MentorCandidate,
    mentee: MenteeCandidate,
    rules: MatchingRules | None = None,
    forbidden_pairs: Iterable[tuple[str, str]] = (),
) -> list[str]:
    """Names of the hard-constraint rules the pair breaks, in RULE_NAMES order ([] = eligible)."""
    rules = rules or MatchingRules()
    out: list[str] = []
    if rules.require_active and not (mentor.active and mentee.active):
        out.append(RULE_INACTIVE)
    if mentor.employee_id == mentee.employee_id:
        out.append(RULE_SELF)
    if rules.level_gap_enabled and int(mentor.level) - int(mentee.level) < int(rules.min_level_gap):
        out.append(RULE_LEVEL)
    if rules.require_shared_language and not (
        {_lang_key(x) for x in mentor.languages} & {_lang_key(x) for x in mentee.languages}
    ):
        out.append(RULE_LANGUAGE)
    if rules.exclude_management_chain and (
        mentor.employee_id in set(mentee.management_chain)
        or mentee.employee_id in set(mentor.management_chain)
    ):
        out.append(RULE_CHAIN)
    if rules.respect_exclude_list and (
        mentor.employee_id in set(mentee.exclude) or mentee.employee_id in set(mentor.exclude)
    ):
        out.append(RULE_EXCLUDE)
    if mentor.free_seats <= 0:
        out.append(RULE_CAPACITY)
    if (mentor.employee_id, mentee.employee_id) in {(str(a), str(b)) for a, b in forbidden_pairs}:
        out.append(RULE_DECLINED)
    return out


def score_pair(
    mentor: MentorCandidate,
    mentee: MenteeCandidate,
    rules: MatchingRules | None = None,
    reference_instant: datetime | None = None,
) -> tuple[float, list[str]]:
    """Score in [0, 1] (4 decimals) and readable reasons; ignores the hard constraints."""
    rules = rules or MatchingRules()
    # ids are per role: give the lone mentee a distinct id so a person may score against
    # their own mentor record (the self_pairing rule is eligibility_violations' business)
    prob = _Problem([mentor], [mentee], rules, (), reference_instant)
    s = int(prob.block(np.arange(1), constraints=False)[0, 0])
    return s / SCORE_SCALE, list(prob.reasons(0, 0))
