"""Pseudonyms: how review and survey events name their respondent (issue 13).

A keyed hash (HMAC-SHA256) of the employee id: stable, so consumers can count distinct
respondents; without the key, not reversible by hashing every employee id (ids are guessable,
so a plain hash would not do). The key is Settings.feedback_pseudonym_secret, else JWT_SECRET
(a running deployment always has one; in-memory unit tests may have neither: then the hash is
keyed with an empty key). The service never goes back from a pseudonym to a person: its own
views keep the id, taken from the review's or survey's request.
"""
from __future__ import annotations

import hashlib
import hmac

PREFIX = "p-"


def pseudonym(secret: str, employee_id: str) -> str:
    digest = hmac.new(secret.encode(), f"respondent|{employee_id}".encode(), hashlib.sha256).hexdigest()
    return PREFIX + digest[:32]
