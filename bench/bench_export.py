"""Subject access export (issue 13): one person's `GET /v1/people/{id}/export` per service with each
service's read models at org-20k size, beside a per-person list route of the same service.

The read models are filled directly (insert_many of view-shaped documents): an export scans them
(FerretDB v1 indexes only `{_id: <string>}` filters), so their size is what the export's time
depends on. The event store holds only the person's streams: the export reads streams by `_id`
(indexed), so the rest of the log does not change its cost.

    python -m bench.bench_export          (ORG_DATA: the org directory; default ../shared/data/org-20k)
"""
from __future__ import annotations

import json
import os
import statistics
import time
from pathlib import Path

import pymongo

from bench.harness import drop, isolated_settings, new_run
from shared.clock import utcnow
from shared.events.envelope import new_event
from shared.http.auth import mint_token

ROOT = Path(__file__).resolve().parents[1]
ORG = Path(os.environ.get("ORG_DATA", ROOT.parent / "shared" / "data" / "org-20k"))
COHORT = "bench-cohort"
REPEAT = int(os.environ.get("BENCH_EXPORT_REPEAT", "3"))
BATCH = 2000


def _insert(collection, docs: list[dict]) -> None:
    for start in range(0, len(docs), BATCH):
        collection.insert_many(docs[start:start + BATCH], ordered=False)


def _org() -> tuple[list[dict], list[dict], list[dict]]:
    people = [json.loads(line)["data"] for line in (ORG / "hris-employees.jsonl").open() if line.strip()]
    enrolments = [json.loads(line) for line in (ORG / "cohort-enrollments.jsonl").open() if line.strip()]
    mentors = [e for e in enrolments if e["role"] == "mentor"]
    seats = [m["employee_id"] for m in mentors for _ in range(int(m.get("capacity") or 1))]
    mentees = [e["employee_id"] for e in enrolments if e["role"] == "mentee"]
    pairings = [{"_id": f"bp{i}", "pairing_id": f"bp{i}", "cohort_id": COHORT, "mentor_id": mentor,
                 "mentee_id": mentee, "status": "active", "score": 0.8, "reasons": ["bench"],
                 "activated_at": "2026-01-05T09:00:00.000Z"} for i, (mentor, mentee) in enumerate(zip(seats, mentees))]
    return people, enrolments, pairings


def _append(store, producer: str, aggregate_type: str, stream_id: str, events: list[tuple[str, dict]],
            private: dict | None = None) -> None:
    envelopes = [new_event(event_type=event_type, schema_version=1, producer=producer, aggregate_type=aggregate_type,
                           aggregate_id=stream_id, aggregate_version=n, data=data, correlation_id="bench",
                           causation_id=None) for n, (event_type, data) in enumerate(events, start=1)]
    by_id = {envelopes[0].event_id: private} if private else None
    store.append(stream_id, 0, envelopes, **({"private": by_id} if by_id else {}))


def _meetings(pairings: list[dict]) -> list[dict]:
    return [{"_id": f"{p['_id']}-m{n}", "meeting_id": f"{p['_id']}-m{n}", "pairing_id": p["_id"],
             "cohort_id": COHORT, "mentor_id": p["mentor_id"], "mentee_id": p["mentee_id"],
             "organizer_id": p["mentee_id"], "starts_at": f"2026-0{n + 2}-10T10:00:00.000Z", "duration_minutes": 45,
             "timezone": "Europe/London", "status": "held", "held_at": f"2026-0{n + 2}-10T10:00:00.000Z",
             "held_minutes": 45, "attendees": [p["mentor_id"], p["mentee_id"]], "version": 2}
            for p in pairings for n in range(4)]


def _seed(contexts: dict, people, enrolments, pairings, subject: dict) -> None:
    meetings = _meetings(pairings)
    matching, sessions, feedback, notifications = (contexts[name].database for name in
                                                   ("matching", "sessions", "feedback", "notifications"))
    for database in (matching, sessions, notifications):
        _insert(database["participants" if database is not notifications else "people"],
                [{"_id": p["employee_id"], **p} for p in people])
    _insert(matching["enrollments"], [{"_id": f"{COHORT}|{e['employee_id']}", "cohort_id": COHORT, "status": "active",
                                       **e} for e in enrolments])
    matching["cohorts"].insert_one({"_id": COHORT, "cohort_id": COHORT, "runs": []})
    _insert(matching["pairings"], pairings)
    _insert(sessions["pairings"], pairings)
    _insert(sessions["meetings"], meetings)
    _insert(feedback["fb_members"], [{"_id": f"{COHORT}|{e['employee_id']}", "cohort_id": COHORT,
                                      "employee_id": e["employee_id"], "role": e["role"], "enrolled": True}
                                     for e in enrolments])
    _insert(feedback["fb_pairings"], pairings)
    _insert(feedback["fb_meetings"], meetings)
    rated = [{"_id": f"{p['_id']}|{who}", "feedback_id": f"{p['_id']}|{who}", "pairing_id": p["_id"], "cohort_id": COHORT,
              "meeting_id": None, "from_id": p[who], "about_id": p["mentee_id" if who == "mentor_id" else "mentor_id"],
              "rating": 4, "comment_shared": False, "given_at": "2026-03-01T10:00:00.000Z"}
             for p in pairings for who in ("mentor_id", "mentee_id")]
    _insert(feedback["fb_feedback"], rated)
    _insert(feedback["fb_comments"], [{"_id": f["_id"], "feedback_id": f["_id"], "from_id": f["from_id"],
                                       "comment": "bench words", "shared": False} for f in rated])
    _insert(feedback["fb_reviews"], [{"_id": f"{f['_id']}|r", "review_id": f"{f['_id']}|r", "pairing_id": f["pairing_id"],
                                      "cohort_id": COHORT, "employee_id": f["from_id"], "due_on": "2026-02-04",
                                      "submitted": True, "goal_progress": 3, "satisfaction": 4} for f in rated])
    _insert(feedback["fb_surveys"], [{"_id": f"{COHORT}|{e['employee_id']}|s", "survey_id": f"{COHORT}|{e['employee_id']}|s",
                                      "cohort_id": COHORT, "employee_id": e["employee_id"], "answered": True,
                                      "recommend_score": 8} for e in enrolments])
    _insert(feedback["fb_kudos"], [{"_id": f"{p['_id']}|k", "kudos_id": f"{p['_id']}|k", "pairing_id": p["_id"],
                                    "cohort_id": COHORT, "from_id": p["mentee_id"], "to_id": p["mentor_id"],
                                    "note": "thanks", "sent_at": "2026-03-02T10:00:00.000Z"} for p in pairings])
    _insert(notifications["pairings"], pairings)
    _insert(notifications["meetings"], meetings)
    now = utcnow()
    inbox, deliveries, claims = [], [], []
    for e in enrolments:
        for n in range(3):
            key = f"{e['employee_id']}|n{n}"
            inbox.append({"_id": key, "recipient_id": e["employee_id"], "category": "pairing", "subject": "Bench",
                          "body": "bench", "link": None, "created_at": now, "read_at": None})
            for channel in ("inapp", "email"):
                deliveries.append({"_id": f"{key}|{channel}", "notification_id": f"{key}|{channel}",
                                   "recipient_id": e["employee_id"], "channel": channel, "category": "pairing",
                                   "status": "sent", "created_at": now})
                claims.append({"_id": f"{key}|{channel}|attempt1", "delivery_id": f"{key}|{channel}", "attempt": 1,
                               "claimed_at": now})
    _insert(notifications["inbox"], inbox)
    _insert(notifications["deliveries"], deliveries)
    _insert(notifications["delivery_claims"], claims)

    # The person's own streams (the export loads them by `_id`).
    person, pairing = subject["employee_id"], subject["pairing"]
    fields = {k: pairing[k] for k in ("pairing_id", "cohort_id", "mentor_id", "mentee_id")}
    _append(contexts["matching"].store, "matching", "enrollment", f"{COHORT}|{person}",
            [("ParticipantEnrolled", {"cohort_id": COHORT, "employee_id": person, "role": "mentee"})],
            {"goals_summary": "bench", "preferences": {}})
    _append(contexts["matching"].store, "matching", "pairing", pairing["_id"],
            [("PairingProposed", fields), ("PairingAccepted", fields), ("PairingActivated", fields)])
    for n in range(4):
        _append(contexts["sessions"].store, "sessions", "meeting", f"{pairing['_id']}-m{n}",
                [("MeetingScheduled", {**fields, "actor_id": person, "organizer_id": person}),
                 ("MeetingHeld", {**fields, "recorded_by": person})], {"agenda": "bench"})
    for who in ("mentor_id", "mentee_id"):
        _append(contexts["feedback"].store, "feedback", "feedback", f"{pairing['_id']}|{who}",
                [("FeedbackGiven", {**fields, "from_id": pairing[who]})], {"comment": "bench words"})
    _append(contexts["feedback"].store, "feedback", "kudos", f"{pairing['_id']}|k", [("KudosSent", fields)], {"note": "x"})
    for n in range(3):
        _append(contexts["notifications"].store, "notifications", "notification", f"{person}|n{n}|inapp",
                [("NotificationSent", {"recipient_id": person})])


BASELINES = {  # a per-person list each service already serves (its own scan of the same views)
    "matching": ("GET /v1/cohorts/{c}/pairings (own)", lambda s: f"/v1/cohorts/{COHORT}/pairings"),
    "sessions": ("GET /v1/pairings/{p}/meetings", lambda s: f"/v1/pairings/{s['pairing']['_id']}/meetings"),
    "feedback": ("GET /v1/me/feedback", lambda s: "/v1/me/feedback"),
    "notifications": ("GET /v1/me/notifications", lambda s: "/v1/me/notifications"),
}


def _median_ms(client, path: str, headers: dict) -> tuple[float, dict]:
    samples, body = [], {}
    for _ in range(REPEAT):
        started = time.perf_counter()
        with pymongo.timeout(600):  # the baseline routes keep the 30 s socket timeout otherwise
            response = client.get(path, headers=headers)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (path, response.status_code, response.get_json())
        body = response.get_json()
    return round(statistics.median(samples), 1), body


def run() -> list[dict]:
    from services.feedback.api import create_app as feedback_app
    from services.matching.api import create_app as matching_app
    from services.notifications.api import create_app as notifications_app
    from services.sessions.api import create_app as sessions_app

    factories = {"matching": matching_app, "sessions": sessions_app, "feedback": feedback_app,
                 "notifications": notifications_app}
    reuse = os.environ.get("BENCH_EXPORT_RUN")  # keep (and reuse) one run's seeded databases while tuning
    run_id = reuse or new_run()
    settings = {name: isolated_settings(name, run_id) for name in factories}
    try:
        apps = {name: factory(settings[name]) for name, factory in factories.items()}
        contexts = {name: app.extensions[name] for name, app in apps.items()}
        people, enrolments, pairings = _org()
        subject = {"pairing": pairings[len(pairings) // 2]}
        subject["employee_id"] = subject["pairing"]["mentee_id"]
        started = time.perf_counter()
        reused = bool(reuse and contexts["matching"].database["enrollments"].find_one({}))
        if not reused:
            _seed(contexts, people, enrolments, pairings, subject)
        seeded = "reused" if reused else f"seeded in {time.perf_counter() - started:.0f}s"
        headers = {"Authorization": "Bearer " + mint_token(settings["matching"].jwt_secret, subject["employee_id"],
                                                             ["participant"])}
        rows = []
        for name, app in apps.items():
            client = app.test_client()
            value, body = _median_ms(client, f"/v1/people/{subject['employee_id']}/export", headers)
            label, path = BASELINES[name]
            baseline, _ = _median_ms(client, path(subject), headers)
            print(f"{name}: export {value} ms, {label} {baseline} ms", flush=True)
            counts = ", ".join(f"{key} {len(items)}" for key, items in body["data"].items() if isinstance(items, list))
            rows.append({"benchmark": f"export org-20k: {name} (one person)", "unit": "ms", "value": value,
                         "baseline": label, "baseline_value": baseline, "ratio": round(value / baseline, 2),
                         "note": f"{len(body['events'])} events; {counts}; views {seeded} "
                                 f"({len(people)} people, {len(enrolments)} enrolments, {len(pairings)} pairings)"})
        return rows
    finally:
        if not reuse:
            drop(*settings.values())


if __name__ == "__main__":
    from bench.__main__ import _print

    _print(run())
