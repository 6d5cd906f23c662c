"""Topic names from the public contract (section 2)."""
from __future__ import annotations

HRIS_EMPLOYEES = "hris.employees.v1"
MATCHING = "mentoring.matching.v1"
SESSIONS = "mentoring.sessions.v1"
FEEDBACK = "mentoring.feedback.v1"
NOTIFICATIONS = "mentoring.notifications.v1"

ALL = (HRIS_EMPLOYEES, MATCHING, SESSIONS, FEEDBACK, NOTIFICATIONS)

# The topic each producing service writes its own events to.
BY_PRODUCER = {
    "matching": MATCHING,
    "sessions": SESSIONS,
    "feedback": FEEDBACK,
    "notifications": NOTIFICATIONS,
}


def dlq(topic: str) -> str:
    return f"{topic}.dlq"


def resolve(topic: str, prefix: str = "") -> str:
    """The physical topic name: the contract name behind an optional isolation prefix."""
    return f"{prefix}{topic}"
