"""Cadence and risk: is a pair meeting often enough?

A pairing lapses when no meeting has been held within 1.5 x its cadence (the one its parties
agreed to in a confirmed agreement, else its cohort's: application/queries.py) of the last held
one, or, before its first held meeting, within one cadence of becoming active. A lapse is
announced once (`PairingAtRisk`); a held meeting that ends the lapse announces
`PairingBackOnTrack`. The announcements are transitions of a flag folded from the pairing's
stream, so checking again and again changes nothing.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.aggregate import NewEvent
from shared.clock import rfc3339
from shared.events.catalog.sessions import PAIRING_AT_RISK, PAIRING_BACK_ON_TRACK
from services.sessions.domain.pairing import PairingInfo

DEFAULT_CADENCE_DAYS = 14
RISK_FACTOR = 1.5

ON_TRACK = "on_track"
NEEDS_CHECK_IN = "needs_check_in"
AT_RISK = "at_risk"
TOO_EARLY = "too_early"


@dataclass(frozen=True)
class LastHeld:
    meeting_id: str
    held_at: datetime


@dataclass
class Engagement:
    at_risk: bool = False
    detected_at: str | None = None


def fold(events) -> Engagement:
    state = Engagement()
    for event in events:
        if event.event_type == PAIRING_AT_RISK:
            state.at_risk, state.detected_at = True, event.data["detected_at"]
        elif event.event_type == PAIRING_BACK_ON_TRACK:
            state.at_risk, state.detected_at = False, None
    return state


def classify(pairing: PairingInfo, cadence_days: int, last_held: LastHeld | None, now: datetime) -> str:
    cadence = timedelta(days=cadence_days)
    if last_held is None:
        since = pairing.activated_at or now
        return AT_RISK if now - since > cadence else TOO_EARLY
    elapsed = now - last_held.held_at
    if elapsed > cadence * RISK_FACTOR:
        return AT_RISK
    if elapsed > cadence:
        return NEEDS_CHECK_IN
    return ON_TRACK


def is_lapsed(pairing: PairingInfo, cadence_days: int, last_held: LastHeld | None, now: datetime) -> bool:
    return classify(pairing, cadence_days, last_held, now) == AT_RISK


def assess(state: Engagement, pairing: PairingInfo, cadence_days: int, last_held: LastHeld | None,
           now: datetime) -> list[NewEvent]:
    if not pairing.is_active:
        return []
    lapsed = is_lapsed(pairing, cadence_days, last_held, now)
    if lapsed and not state.at_risk:
        since = last_held.held_at if last_held else (pairing.activated_at or now)
        data = dict(pairing.fields(), last_meeting_at=rfc3339(last_held.held_at) if last_held else None,
                    days_without_meeting=max(0, (now - since).days), detected_at=rfc3339(now))
        return [NewEvent(PAIRING_AT_RISK, data)]
    if state.at_risk and not lapsed and last_held is not None:
        data = dict(pairing.fields(), meeting_id=last_held.meeting_id, held_at=rfc3339(last_held.held_at))
        return [NewEvent(PAIRING_BACK_ON_TRACK, data)]
    return []
