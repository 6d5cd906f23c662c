"""In-memory stand-ins for the portal's collaborators: the services' APIs and the IdP."""
from __future__ import annotations

import time

import jwt

from services.portal.backend import ApiError

ADMIN, MENTOR, MENTEE = "E000001", "E000002", "E008101"
PROGRAM, COHORT, PAIRING, MEETING = "prog-1", "coh-1", "pair-1", "meet-1"


def person(employee_id, name):
    return {"employee_id": employee_id, "display_name": name, "title": "Engineer", "department": "Engineering",
            "location": "Berlin", "timezone": "Europe/Berlin", "languages": ["en", "de"], "skills": ["python"]}


class FakeBackend:
    """Answers the routes the pages call from dictionaries; records every call."""

    def __init__(self):
        self.calls: list[tuple] = []
        self.pairing = {"pairing_id": PAIRING, "cohort_id": COHORT, "mentor_id": MENTOR, "mentee_id": MENTEE,
                        "status": "proposed", "score": 0.82, "reasons": ["shares 2 topics: python, feedback"],
                        "answer_by": "2030-01-08T00:00:00Z", "mentor_accepted": False, "mentee_accepted": False}
        self.meeting = {"meeting_id": MEETING, "pairing_id": PAIRING, "cohort_id": COHORT, "mentor_id": MENTOR,
                        "mentee_id": MENTEE, "organizer_id": MENTOR, "starts_at": "2030-01-10T09:00:00Z",
                        "ends_at": "2030-01-10T09:45:00Z", "duration_minutes": 45, "timezone": "Europe/Berlin",
                        "status": "scheduled", "version": 1}
        self.cohort = {"cohort_id": COHORT, "program_id": PROGRAM, "name": "Spring cohort", "status": "enrolling",
                       "starts_on": "2030-01-01", "ends_on": "2030-06-30", "meeting_cadence_days": 14,
                       "answer_deadline_days": 7, "max_mentor_capacity": None, "matching_style": "admin_run",
                       "rules": {"min_level_gap": 1, "require_shared_language": True,
                                 "exclude_management_chain": True, "respect_exclude_list": True,
                                 "require_active": True, "cross_department": "bonus",
                                 "weights": {"topics": 0.7, "timezone": 0.1, "department": 0.1, "level_gap": 0.05,
                                             "preferred": 0.05}}}
        self.enrolments = [
            {"employee_id": MENTOR, "cohort_id": COHORT, "role": "mentor", "capacity": 2, "topics": ["python"],
             "status": "active", "paused": False},
            {"employee_id": MENTEE, "cohort_id": COHORT, "role": "mentee", "capacity": 0, "topics": ["python"],
             "status": "active", "paused": False},
        ]
        self.enrolment_page = 50
        figure = {"n": 12, "rate": 0.5, "ci_low": 0.2538, "ci_high": 0.7462, "suppressed": False}
        hidden = {"n": 3, "rate": None, "ci_low": None, "ci_high": None, "suppressed": True}
        self.outcomes = {"program_id": PROGRAM, "as_of": "2030-09-15", "k": 5, "closed_cohorts": [COHORT], "mentees": 12,
                         "horizons": [{"months": 6, "mentees_observed": 12, "unmatched": 1,
                                       "promotion": {"mentees": figure, "comparison": {**figure, "n": 80, "rate": 0.2}},
                                       "retention": {"mentees": figure, "comparison": figure}},
                                      {"months": 12, "mentees_observed": 3, "unmatched": 0,
                                       "promotion": {"mentees": hidden, "comparison": hidden},
                                       "retention": {"mentees": hidden, "comparison": hidden}}]}
        self.suggestions = {"cohort_id": COHORT, "mentee_id": MENTEE, "eligible": 1, "open_pairing_id": None,
                            "can_request": True, "paused": False, "next": None,
                            "items": [{"mentor_id": MENTOR, "score": 0.82, "seats_left": 2,
                                       "reasons": ["shares 1 topic: python", "goals mention: feedback"],
                                       "card": person(MENTOR, "Zoe Sato")}]}
        self.managers: dict[str, list[str]] = {PROGRAM: []}  # programme -> its managers (matching's word)
        self.goals = {"pairing_id": PAIRING, "revision": 0, "revised_by": None, "revised_at": None, "goals": []}
        self.goal_conflict = False
        self.enrolled: list[dict] = []
        self.withdrawn: list[str] = []
        self.refuse_enrolment_of: str | None = None
        self.run = {"run_id": "run-1", "cohort_id": COHORT, "status": "completed", "mode": "maximize_score",
                    "dry_run": True, "matched": 1, "unmatched_count": 0, "total_score": 0.82, "unmatched": [],
                    "proposals": [{"pairing_id": None, "mentor_id": MENTOR, "mentee_id": MENTEE, "score": 0.82,
                                   "reasons": ["shares 2 topics"]}]}

    def request(self, token, method, service, path, *, json=None, params=None, raw=False, timeout_s=None):
        self.calls.append((method, service, path, json))
        claims = jwt.decode(token, options={"verify_signature": False})
        handler = getattr(self, "_" + method.lower())
        result = handler(service, path, json or {}, params or {}, claims)
        if raw:
            class Raw:
                content = result.encode() if isinstance(result, str) else b""
            return Raw()
        return result

    def _get(self, service, path, body, params, claims):
        people = {ADMIN: person(ADMIN, "Felix Sato"), MENTOR: person(MENTOR, "Zoe Sato"),
                  MENTEE: person(MENTEE, "Uma Lopez")}
        if path.startswith("/v1/participants/"):
            # as matching serves it: the person and admins see the record, a partner a card,
            # anyone else a 404
            wanted, reader = path.rsplit("/", 1)[1], claims.get("sub")
            partners = {self.pairing["mentor_id"], self.pairing["mentee_id"]}
            found = people.get(wanted)
            if not found or not (reader == wanted or "admin" in claims.get("roles", [])
                                 or {reader, wanted} <= partners):
                raise ApiError(404, "Not Found")
            return found
        if path == "/v1/me/pairings":  # as matching answers: the caller's own, in every cohort
            mine = claims["sub"] in (self.pairing["mentor_id"], self.pairing["mentee_id"])
            return {"items": [self.pairing] if mine else [], "next": None}
        if path == "/v1/me/managed-programs":
            return {"items": [{"program_id": program_id, "name": "Engineering mentoring"}
                              for program_id, managers in self.managers.items() if claims["sub"] in managers],
                    "next": None}
        if path == f"/v1/cohorts/{COHORT}/enrollments":
            # an admin route inside the programme: platform admins and its managers (shared.http.scopes)
            if "admin" not in claims.get("roles", []) and claims["sub"] not in self.managers[PROGRAM]:
                raise ApiError(403, "Forbidden", "this needs a platform admin or a manager of the programme")
            return self._enrolments(params)
        if path == f"/v1/cohorts/{COHORT}/suggestions":  # mentee choice (issue 15), as matching answers
            if self.cohort["matching_style"] not in ("mentee_choice", "both"):
                raise ApiError(409, "Conflict", "admins match this cohort", code="mentee_choice_off")
            return self.suggestions
        routes = {
            "/v1/programs": {"items": [{"program_id": PROGRAM, "name": "Engineering mentoring", "description": None,
                                        "cohort_count": 1}], "next": None},
            f"/v1/programs/{PROGRAM}/cohorts": {"items": [self.cohort], "next": None},
            f"/v1/cohorts/{COHORT}": self.cohort,
            f"/v1/cohorts/{COHORT}/pairings": {"items": [self.pairing], "next": None},
            f"/v1/cohorts/{COHORT}/stats": {"enrolled": 2, "mentors": 1, "mentees": 1, "proposed": 1, "active": 0,
                                            "unmatched": 0, "waiting_for_answers": 2, "cohort": self.cohort},
            f"/v1/pairings/{PAIRING}": self.pairing,
            f"/v1/pairings/{PAIRING}/meetings": {"items": [self.meeting], "next": None},
            f"/v1/meetings/{MEETING}": self.meeting,
            f"/v1/meetings/{MEETING}/notes": {"meeting_id": MEETING, "notes": "private"},
            f"/v1/meetings/{MEETING}.ics": "BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
            f"/v1/pairings/{PAIRING}/goals": self.goals,
            f"/v1/pairings/{PAIRING}/goals/revisions": {"items": [], "next": None},
            "/v1/me/notifications": {"items": [{"notification_id": "n1", "category": "pairing_proposed",
                                                "subject": "A proposal", "body": "Hello", "link": f"/pairings/{PAIRING}",
                                                "created_at": "2030-01-01T00:00:00Z", "read": False}],
                                     "next": None, "unread_count": 1},
            "/v1/me/preferences": {"channels": {}, "email_enabled": True, "digest": False, "digest_hour": 8,
                                   "quiet_hours": None, "chat_webhook_url": None, "language": None},
            "/v1/me/reviews": {"items": [{"review_id": "r1", "pairing_id": PAIRING, "cohort_id": COHORT,
                                          "due_on": "2030-02-01", "submitted": False}], "next": None},
            "/v1/me/surveys": {"items": [], "next": None},
            "/v1/me/kudos": {"items": [{"kudos_id": "k1", "pairing_id": PAIRING, "cohort_id": COHORT,
                                        "from_id": MENTOR, "note": "Thanks!", "sent_at": "2030-01-11T00:00:00Z"}],
                             "next": None},
            "/v1/me/kudos/shared": {"items": [{"kudos_id": "k2", "pairing_id": PAIRING, "from_id": MENTEE,
                                               "from_name": "Uma Lopez", "to_id": MENTOR, "to_name": "Zoe Sato",
                                               "note": "She opened doors for me", "sent_at": "2030-01-12T00:00:00Z"}],
                                    "next": None},
            f"/v1/cohorts/{COHORT}/engagement": {"cohort_id": COHORT, "cadence_days": 14, "summary": {
                "on_track": 0, "needs_check_in": 0, "at_risk": 1, "too_early": 0, "pairs": 1, "meetings_held": 1,
                "mentoring_hours": 0.75}, "items": [{"pairing_id": PAIRING, "mentor_id": MENTOR, "mentee_id": MENTEE,
                                                     "status": "at_risk", "last_meeting_at": None, "meetings_held": 0,
                                                     "meetings_per_week": 0, "mentoring_hours": 0}]},
            f"/v1/cohorts/{COHORT}/feedback/summary": {"feedback": {"mean_rating": None, "response_rate": 0.5},
                                                       "good_fit": {}, "survey": {"nps": None},
                                                       "min_respondents": 5, "withheld": ["survey.nps"]},
            f"/v1/cohorts/{COHORT}/feedback/export.csv": "pairing_id,mentor_id\npair-1,E000002\n",
            f"/v1/cohorts/{COHORT}/chat-channel": {"chat_webhook_url": None},
            "/v1/matching-runs/run-1": self.run,
            "/v1/events/ev-1/deliveries": {"items": [{"recipient_id": MENTEE, "channel": "email", "status": "sent",
                                                      "attempts": 1}], "next": None},
        }
        if path == f"/v1/programs/{PROGRAM}/outcomes":  # matching's answer (services/matching/domain/outcomes.py)
            if "admin" not in claims.get("roles", []) and claims["sub"] not in self.managers[PROGRAM]:
                raise ApiError(403, "Forbidden", "this needs a platform admin or a manager of the programme")
            return self.outcomes
        if path not in routes or routes[path] is None:
            raise ApiError(404, "Not Found", f"no route {path}")
        return routes[path]

    def _enrolments(self, params):
        """The API's filters (role, status, id prefix q) and cursor, over `self.enrolments`."""
        rows = sorted(self.enrolments, key=lambda r: r["employee_id"])
        rows = [r for r in rows if (not params.get("role") or r["role"] == params["role"])
                and (not params.get("status") or r["status"] == params["status"])
                and r["employee_id"].startswith(params.get("q", ""))
                and (not params.get("cursor") or r["employee_id"] > params["cursor"])]
        limit = min(int(params.get("limit", 50)), self.enrolment_page)
        page = rows[:limit]
        return {"items": page, "next": page[-1]["employee_id"] if len(rows) > limit else None}

    def _patch(self, service, path, body, params, claims):
        if path == f"/v1/cohorts/{COHORT}":
            if body.get("ends_on") and body.get("starts_on") and body["ends_on"] <= body["starts_on"]:
                raise ApiError(422, "Unprocessable Entity", errors={"ends_on": ["must be after starts_on"]})
            self.cohort.update(body)
            return self.cohort
        if path.startswith(f"/v1/cohorts/{COHORT}/enrollments/"):
            row = next(r for r in self.enrolments if r["employee_id"] == path.rsplit("/", 1)[1])
            if body.get("capacity", 1) > 3:
                raise ApiError(422, "Unprocessable Entity", errors={"capacity": ["at most 3"]})
            row.update(body)
            return row
        raise ApiError(404, "Not Found", f"no route {path}")

    def _post(self, service, path, body, params, claims):
        if path == f"/v1/cohorts/{COHORT}/duplicate":
            return {**self.cohort, "cohort_id": "coh-2", "name": body["name"], "status": "draft",
                    "starts_on": body["starts_on"], "ends_on": body["ends_on"], "duplicated_from": COHORT}
        if path == "/v1/programs":
            return {"program_id": PROGRAM}
        if path == f"/v1/programs/{PROGRAM}/cohorts":
            return {"cohort_id": COHORT, "program_id": PROGRAM, "name": body["name"], "status": "draft"}
        if path == f"/v1/cohorts/{COHORT}/requests":  # a mentee's request: a proposal they accepted
            self.pairing.update(mentor_id=body["mentor_id"], mentee_id=claims["sub"], proposed_by=claims["sub"],
                                mentee_accepted=True, message=body.get("message"),
                                goals_summary="Grow in feedback")
            return self.pairing
        if path.endswith("/accept"):
            role = "mentor" if claims["sub"] == MENTOR else "mentee"
            self.pairing[f"{role}_accepted"] = True
            if self.pairing["mentor_accepted"] and self.pairing["mentee_accepted"]:
                self.pairing["status"] = "active"
            return self.pairing
        if path.endswith("/decline"):
            self.pairing["status"] = "declined"
            return self.pairing
        if path == f"/v1/pairings/{PAIRING}/meetings":
            return self.meeting
        if path == f"/v1/meetings/{MEETING}/complete":
            self.meeting.update(status="held", held_at=self.meeting["starts_at"])
            return self.meeting
        if path.split("?")[0] == f"/v1/cohorts/{COHORT}/enrollments" and isinstance(body, list):
            # as matching answers a bulk enrolment: every row's outcome, the refused one named by field;
            # `?dry_run=true` answers the same and enrols nobody
            dry_run = path.endswith("?dry_run=true")
            rows = []
            for number, row in enumerate(body, start=1):
                if row["employee_id"] == self.refuse_enrolment_of:
                    rows.append({"row": number, "employee_id": row["employee_id"], "outcome": "error", "errors": [
                        {"code": "employee_unknown", "field": "employee_id", "message": "not an active employee"}]})
                    continue
                if not dry_run:
                    self.enrolled.append(row)
                rows.append({"row": number, "employee_id": row["employee_id"], "outcome": "enrolled"})
            enrolled = sum(1 for row in rows if row["outcome"] == "enrolled")
            return {"cohort_id": COHORT, "enrolled": enrolled, "already_enrolled": 0, "failed": len(rows) - enrolled,
                    "rows": rows, **({"dry_run": True} if dry_run else {})}
        if path == f"/v1/cohorts/{COHORT}/enrollments":
            if body["employee_id"] == self.refuse_enrolment_of:
                raise ApiError(409, "Conflict", "already enrolled", code="already_enrolled")
            self.enrolled.append(body)
            return {"employee_id": body["employee_id"], "role": body["role"]}
        if "/withdraw" in path:
            self.withdrawn.append(path.split("/")[-2])
            return {}
        if path == f"/v1/cohorts/{COHORT}/matching-runs":
            return {"run_id": "run-1", "cohort_id": COHORT, "status": "running", "dry_run": body.get("dry_run")}
        if path == f"/v1/cohorts/{COHORT}/status":
            return {"status": body["status"]}
        if path.endswith("/feedback") or path.endswith("/kudos"):
            return {"feedback_id": "f1", "kudos_id": "k1"}
        return {}

    def _put(self, service, path, body, params, claims):
        if path.endswith("/goals"):
            if self.goal_conflict:
                raise ApiError(409, "Conflict", "stale revision", extra={"current_revision": 1})
            self.goals = {**self.goals, "revision": self.goals["revision"] + 1, "goals": body["goals"],
                          "revised_by": claims["sub"]}
            return self.goals
        return body


class FakeOidc:
    """The provider's side of sign-in: a token for whoever the test says is signing in."""

    def __init__(self):
        self.next_user = (MENTEE, ["participant"])
        self.logged_out = False

    def token_for(self, subject, roles, ttl=3600):
        now = int(time.time())
        access = jwt.encode({"sub": subject, "roles": roles, "exp": now + ttl, "name": subject}, "x", algorithm="HS256")
        return {"access_token": access, "id_token": "id-" + subject, "refresh_token": "r-" + subject,
                "expires_at": now + ttl}

    def authorize_redirect(self, redirect_uri, **kwargs):
        from flask import redirect

        return redirect(f"https://idp.example/auth?redirect_uri={redirect_uri}")

    def authorize_access_token(self):
        return self.token_for(*self.next_user)

    def refresh(self, refresh_token):
        return self.token_for(refresh_token.removeprefix("r-"), ["participant"])

    def logout_url(self, id_token, after):
        self.logged_out = True
        return f"https://idp.example/logout?post_logout_redirect_uri={after}"
