"""What a decision that carries private text returns: the new events, and their commit's private part."""
from __future__ import annotations


class Decision(list):
    """The new events (a list, so callers that only append events treat it as one) and the private
    fields of their commit (`{index of the event: {...}}`, as `AggregateStore.append(private=)` takes)."""

    private: dict

    def __init__(self, events=(), private: dict | None = None):
        super().__init__(events)
        self.private = private or {}
