"""Which programmes and cohorts exist, as the matching API lists them (contract §6, issue 15).

`GET /v1/programs` and `GET /v1/programs/{program_id}/cohorts` are readable by every signed-in
employee, so the console and the participants' pages (home, enrol) use the same lists. The portal
keeps no list of its own: what the API says is what the pages show.
"""
from __future__ import annotations

from services.portal.views.common import ok, parallel

PAGE = 500
MAX_PAGES = 20  # 10,000 programmes or cohorts of one programme: far beyond any organisation


def _all(api, path: str) -> list[dict]:
    """Every item of a cursor-paginated list (`{"items", "next"}`)."""
    items: list[dict] = []
    cursor = None
    for _ in range(MAX_PAGES):
        params = {"limit": PAGE, **({"cursor": cursor} if cursor else {})}
        page = api.get("matching", path, **params)
        items += page.get("items", [])
        cursor = page.get("next")
        if not cursor:
            break
    return items


def my_pairings(api) -> list[dict]:
    """The signed-in person's pairings in every cohort (`GET /v1/me/pairings`: one call, whatever the
    number of cohorts)."""
    return _all(api, "/v1/me/pairings")


def programs(api) -> list[dict]:
    return sorted(_all(api, "/v1/programs"), key=lambda p: (p.get("name") or "").lower())


def program(api, program_id: str) -> dict:
    """One programme (the API has no single-programme route: it is found in the list)."""
    return next((p for p in programs(api) if p["program_id"] == program_id), {"program_id": program_id})


def cohorts(api, program_id: str | None = None) -> list[dict]:
    """Cohorts (as the API describes them now) of one programme, or of every programme."""
    if program_id:
        return _all(api, f"/v1/programs/{program_id}/cohorts")
    ids = [p["program_id"] for p in programs(api)]
    found = parallel(**{pid: (lambda pid=pid: _all(api, f"/v1/programs/{pid}/cohorts")) for pid in ids})
    listed = [cohort for pid in ids for cohort in (ok(found[pid], []) or [])]
    return sorted(listed, key=lambda c: (c.get("starts_on") or "", c.get("name") or ""))
