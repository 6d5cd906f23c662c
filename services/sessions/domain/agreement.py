"""A pairing's mentoring agreement: how often and how the pair meets, what stays between them, and
what each of them expects, in their own words.

Either party proposes a revision (`AgreementRevised`; guarded by `revision` like the goals: a stale
`expected_revision` is a 409 carrying the current one). Each party then confirms that revision
(`AgreementConfirmedByParty`); the second confirmation also appends `AgreementConfirmed` in the same
commit. A later revision needs both confirmations again; until then the last confirmed revision
stays in force (its cadence keeps driving the at-risk clock, domain/engagement.py): what both
agreed to holds until both agree to something else.

Expectations are free text, personal data: they travel in the commit's private part (the decision
returns them in `Decision.private`), never in the events, and are forgotten with the pairing's
other private text (application/retention.py). A revision by one party replaces only that party's
own expectations; the other's words are carried over untouched.

The agreement shares the pairing's stream with goals and engagement (aggregate type
`pairing-agreement`); `revision` counts `AgreementRevised` events only.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from shared.aggregate import NewEvent
from shared.clock import rfc3339
from shared.errors import Conflict, Forbidden, Invalid
from shared.events.catalog.sessions import (
    AGREEMENT_CHANNELS, AGREEMENT_CONFIDENTIALITY, AGREEMENT_CONFIRMED, AGREEMENT_CONFIRMED_BY_PARTY,
    AGREEMENT_MAX_CADENCE_DAYS, AGREEMENT_REVISED,
)
from services.sessions.domain.decision import Decision
from services.sessions.domain.pairing import PairingInfo

CHANNELS = AGREEMENT_CHANNELS
CONFIDENTIALITY = AGREEMENT_CONFIDENTIALITY
MAX_CADENCE_DAYS = AGREEMENT_MAX_CADENCE_DAYS
MAX_EXPECTATIONS = 5  # per party
MAX_EXPECTATION = 280  # characters each
TERMS = ("cadence_days", "channel", "confidentiality")
PRIVATE_FIELDS = ("expectations",)  # what an AgreementRevised commit keeps privately (retention)


@dataclass
class Agreement:
    revision: int = 0
    terms: dict = field(default_factory=dict)  # cadence_days, channel, confidentiality
    expectations: dict[str, list[str]] = field(default_factory=dict)  # party id -> their own words
    revised_by: str | None = None
    revised_at: str | None = None
    revision_request: str | None = None  # the causation id of the request that stored the revision
    confirmed_by: list[str] = field(default_factory=list)  # parties who confirmed the current revision
    confirmed_revision: int = 0  # the last revision both confirmed (0: none yet)
    confirmed_terms: dict = field(default_factory=dict)  # its terms: the ones in force
    confirmed_at: str | None = None

    @property
    def confirmed(self) -> bool:
        """Both parties confirmed the current revision."""
        return self.revision > 0 and self.confirmed_revision == self.revision

    @property
    def cadence_in_force(self) -> int | None:
        """The cadence both parties agreed to (the last confirmed revision's), or None."""
        return self.confirmed_terms.get("cadence_days")


def fold(events, private: dict | None = None) -> Agreement:
    """The agreement from the pairing's stream; `private` (event id -> fields) gives the expectations
    (absent once retention forgot them: then nobody's words are shown)."""
    state = Agreement()
    private = private or {}
    for event in events:
        data = event.data
        if event.event_type == AGREEMENT_REVISED:
            state.revision = data["revision"]
            state.terms = {name: data[name] for name in TERMS}
            stored = (private.get(event.event_id) or {}).get("expectations") or []
            state.expectations = {entry["by"]: list(entry["texts"]) for entry in stored}
            state.revised_by, state.revised_at = data["revised_by"], event.occurred_at
            state.revision_request = event.causation_id
            state.confirmed_by = []
        elif event.event_type == AGREEMENT_CONFIRMED_BY_PARTY and data["revision"] == state.revision:
            if data["confirmed_by"] not in state.confirmed_by:
                state.confirmed_by.append(data["confirmed_by"])
        elif event.event_type == AGREEMENT_CONFIRMED:
            state.confirmed_revision = data["revision"]
            state.confirmed_terms = {name: data[name] for name in TERMS}
            state.confirmed_at = data["confirmed_at"]
    return state


def _require_party_of_active(pairing: PairingInfo, by: str, state: Agreement, action: str) -> None:
    if by not in pairing.parties:
        raise Forbidden("not_a_party", f"only the mentor and the mentee {action} their agreement")
    if not pairing.is_active:
        raise Conflict("pairing_not_active",
                       f"pairing {pairing.pairing_id} is {pairing.status}; the agreement changes only while it is active",
                       current_revision=state.revision)


def _expectations(values: list[str]) -> list[str]:
    if len(values) > MAX_EXPECTATIONS:
        raise Invalid("too_many_expectations", f"at most {MAX_EXPECTATIONS} expectations each", field="expectations")
    cleaned = []
    for index, value in enumerate(values):
        text = (value or "").strip()
        if not text or len(text) > MAX_EXPECTATION:
            raise Invalid("expectation_length", f"1 to {MAX_EXPECTATION} characters", field=f"expectations.{index}")
        cleaned.append(text)
    return cleaned


def revise(state: Agreement, pairing: PairingInfo, *, expected_revision: int, by: str, cadence_days: int,
           channel: str, confidentiality: str, expectations: list[str] | None) -> Decision:
    """A new revision of the terms and of `by`'s own expectations (None: keep theirs as they are).

    A revision identical to the current one appends nothing: confirmations already given stand.
    """
    _require_party_of_active(pairing, by, state, "revise")
    if expected_revision != state.revision:
        raise Conflict("stale_revision",
                       f"the agreement is at revision {state.revision}, not {expected_revision}; reload and retry",
                       current_revision=state.revision)
    if not 1 <= cadence_days <= MAX_CADENCE_DAYS:
        raise Invalid("cadence_out_of_range", f"1 to {MAX_CADENCE_DAYS} days", field="cadence_days")
    if channel not in CHANNELS:
        raise Invalid("unknown_channel", f"one of {', '.join(CHANNELS)}", field="channel")
    if confidentiality not in CONFIDENTIALITY:
        raise Invalid("unknown_confidentiality", f"one of {', '.join(CONFIDENTIALITY)}", field="confidentiality")
    words = {party: list(state.expectations.get(party, [])) for party in pairing.parties}
    if expectations is not None:
        words[by] = _expectations(expectations)
    words = {party: texts for party, texts in words.items() if texts}
    terms = {"cadence_days": cadence_days, "channel": channel, "confidentiality": confidentiality}
    if state.revision and terms == state.terms and words == state.expectations:
        return Decision()
    data = dict(pairing.fields(), revision=state.revision + 1, revised_by=by, **terms)
    # stored as a list, not keyed by employee id: an id is data, never a field name in MongoDB
    stored = [{"by": party, "texts": texts} for party, texts in words.items()]
    return Decision([NewEvent(AGREEMENT_REVISED, data)], {0: {"expectations": stored}} if stored else None)


def confirm(state: Agreement, pairing: PairingInfo, *, by: str, revision: int | None, now) -> Decision:
    """`by` confirms the current revision (`revision`, when given, must be it: nobody confirms terms
    they have not seen). Confirming twice appends nothing; the second party's confirmation also
    appends `AgreementConfirmed`."""
    _require_party_of_active(pairing, by, state, "confirm")
    if state.revision == 0:
        raise Conflict("no_agreement", "there is no agreement to confirm yet; propose one first",
                       current_revision=0)
    if revision is not None and revision != state.revision:
        raise Conflict("stale_revision",
                       f"the agreement is at revision {state.revision}, not {revision}; read it again before confirming",
                       current_revision=state.revision)
    if by in state.confirmed_by:
        return Decision()
    events = [NewEvent(AGREEMENT_CONFIRMED_BY_PARTY, dict(pairing.fields(), revision=state.revision, confirmed_by=by))]
    if set(state.confirmed_by) | {by} >= set(pairing.parties):
        events.append(NewEvent(AGREEMENT_CONFIRMED, dict(pairing.fields(), revision=state.revision,
                                                         confirmed_at=rfc3339(now), **state.terms)))
    return Decision(events)
