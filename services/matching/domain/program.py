"""The programme aggregate: its creation and who manages it (pure: state + command -> events).

A programme manager may do every admin thing inside the programmes naming them (issue 12); the
list is set whole by a platform admin, so the last event says who manages it.
"""
from __future__ import annotations

from dataclasses import dataclass

from shared.aggregate import NewEvent
from shared.errors import Invalid, NotFound
from shared.events.catalog import matching as ev
from shared.events.envelope import Envelope


@dataclass
class ProgramState:
    program_id: str | None = None
    managers: tuple[str, ...] = ()

    @property
    def exists(self) -> bool:
        return self.program_id is not None

    @classmethod
    def from_events(cls, events: list[Envelope]) -> "ProgramState":
        state = cls()
        for event in events:
            if event.event_type == ev.PROGRAM_CREATED:
                state.program_id = event.data["program_id"]
            elif event.event_type == ev.PROGRAM_MANAGERS_SET:
                state.managers = tuple(event.data["managers"])
        return state


def set_managers(state: ProgramState, managers: list[str], *, set_by: str) -> list[NewEvent]:
    """Replace the programme's managers; the same list again changes nothing."""
    if not state.exists:
        raise NotFound("program_unknown", "no such programme")
    wanted = tuple(sorted(set(managers)))
    if len(wanted) > ev.MAX_PROGRAM_MANAGERS:
        raise Invalid("too_many_managers", f"at most {ev.MAX_PROGRAM_MANAGERS} managers", field="managers")
    if wanted == state.managers:
        return []
    return [NewEvent(ev.PROGRAM_MANAGERS_SET, {"program_id": state.program_id, "managers": list(wanted),
                                               "set_by": set_by})]
