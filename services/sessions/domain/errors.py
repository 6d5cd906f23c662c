"""Domain errors: a rule said no. The HTTP layer maps them (Invalid -> 422, Conflict -> 409)."""
from __future__ import annotations


class DomainError(Exception):
    pass


class Invalid(DomainError):
    """The command itself is wrong (a field's value breaks a rule)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class Conflict(DomainError):
    """The command is fine but the current state does not allow it."""

    def __init__(self, message: str, **extra):
        super().__init__(message)
        self.message = message
        self.extra = extra
