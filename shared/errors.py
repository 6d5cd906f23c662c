"""One error model for every service: what a command can be refused for.

Domain and application code raise these (never HTTP exceptions); `shared.http.app` maps each to
an RFC 9457 problem document once. `code` is machine-readable and stable (clients and the portal
branch on it); `field` names the culprit for validation failures; `extra` carries whatever helps
the caller recover (e.g. the current revision on a stale write).
"""
from __future__ import annotations


class DomainError(Exception):
    """A refused command. Subclasses fix the HTTP status; nothing here knows about HTTP."""

    status = 400
    title = "Bad Request"

    def __init__(self, code: str, message: str, *, field: str | None = None, **extra):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field
        self.extra = extra


class NotFound(DomainError):
    """The thing does not exist, or the caller may not know that it does."""

    status = 404
    title = "Not Found"


class Forbidden(DomainError):
    """The caller is known but may not do this."""

    status = 403
    title = "Forbidden"


class Conflict(DomainError):
    """The command is well-formed but the current state refuses it (wrong status, duplicate, stale)."""

    status = 409
    title = "Conflict"


class Invalid(DomainError):
    """The command's input breaks a rule; `field` names which input."""

    status = 422
    title = "Unprocessable Entity"

    def __init__(self, code: str, message: str, *, field: str | None = None, **extra):
        super().__init__(code, message, field=field, **extra)
