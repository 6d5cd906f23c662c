"""Domain errors of the matching service: a refused command, never an I/O failure."""
from __future__ import annotations


class DomainError(Exception):
    """A command the current state refuses. `code` is machine-readable; `field` names the culprit."""

    status = 409

    def __init__(self, code: str, message: str, *, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field


class InvalidState(DomainError):
    """The aggregate is in a state where the command does not apply (HTTP 409)."""

    status = 409


class Forbidden(DomainError):
    """The actor may not do this (HTTP 403)."""

    status = 403


class Invalid(DomainError):
    """The command's input breaks a rule (HTTP 422, naming `field`)."""

    status = 422


class NotFound(DomainError):
    """The aggregate does not exist (HTTP 404)."""

    status = 404
