"""A first draft of a pairing's goals from the mentee's goals summary (issue 15).

When a pairing has no goals yet, the goals editor offers the mentee's own words from their
enrolment (`goals_summary`, which `GET /v1/pairings/{id}` gives the two parties only) as up to
`MAX_DRAFT_GOALS` goal titles, already typed into the form: the pair edit, drop or keep them, and
nothing is stored until they press "Save goals" (the ordinary `PUT .../goals`).

How the summary is split: a summary is usually a list ("- public speaking\\n- delegation"), a few
phrases separated by semicolons, or a few sentences; each of those is a goal. Commas and "and" are
left alone: "Lead a team of five, and hire two" is one goal, and a draft that splits too eagerly
is more work to repair than one to split. Fragments too short to be a goal are dropped, repeats
once, and each title is cut to the sessions API's limit at a word boundary.
"""
from __future__ import annotations

import re

MAX_DRAFT_GOALS = 3
MAX_TITLE = 200  # services/sessions/domain/goals.py MAX_TITLE
MIN_TITLE = 4

_BREAKS = re.compile(r"\n|;|(?<=[.!?])\s+")
_MARKER = re.compile(r"^\s*(?:[-*•–]|\(?\d{1,2}[.)]|\(?[a-z][.)](?=\s))\s*", re.IGNORECASE)


def draft_goal_titles(summary: str | None, limit: int = MAX_DRAFT_GOALS) -> list[str]:
    """Up to `limit` goal titles from a goals summary ([] for none or an empty one)."""
    titles: list[str] = []
    seen: set[str] = set()
    for piece in _BREAKS.split(summary or ""):
        title = _MARKER.sub("", piece).strip().rstrip(".;,").strip()
        if len(title) < MIN_TITLE or title.casefold() in seen:
            continue
        seen.add(title.casefold())
        titles.append(_shorten(title[0].upper() + title[1:]))
        if len(titles) == limit:
            break
    return titles


def _shorten(title: str) -> str:
    if len(title) <= MAX_TITLE:
        return title
    cut = title[: MAX_TITLE - 1].rsplit(" ", 1)[0]
    return cut + "…"
