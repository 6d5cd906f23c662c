"""Route guards for programme scopes (issue 12): platform admins everywhere, a programme's
managers inside it, 403 for everyone else.

One way in every service: `create_app` installs the service's `ProgrammeScopeReader`
(`install_scopes`), routes call `require_admin_of(program_id)` / `require_admin_of_cohort(cohort_id)`
or are decorated with `@admin_of_program()` / `@admin_of_cohort()` in place of `@require("admin")`
(above `@blp.arguments`, so a caller out of scope gets 403 whatever the body). Programme-wide
things (creating programmes, naming managers) stay `@require("admin")`.

A cohort or programme the service does not know is nobody's scope but the platform admins': they
go on to the route's 404, everyone else gets 403 (the answer does not tell them it is unknown).
"""
from __future__ import annotations

import functools

from flask import current_app

from shared.errors import Forbidden
from shared.http import audit
from shared.http.auth import Principal, current_principal
from shared.scopes import ProgrammeScopeReader

EXTENSION = audit.SCOPES_EXTENSION


def install_scopes(app, reader: ProgrammeScopeReader) -> None:
    app.extensions[EXTENSION] = reader


def scopes() -> ProgrammeScopeReader:
    return current_app.extensions[EXTENSION]


def manages_program(principal: Principal, program_id: str | None) -> bool:
    """Platform admin, or named among the programme's managers."""
    return principal.is_admin or (program_id is not None and principal.subject in scopes().managers_of(program_id))


def manages_cohort(principal: Principal, cohort_id: str | None) -> bool:
    return principal.is_admin or manages_program(principal, scopes().program_of(cohort_id))


def _refuse() -> Forbidden:
    return Forbidden("not_a_manager", "this needs a platform admin or a manager of the programme")


def require_admin_of(program_id: str | None) -> Principal:
    """The caller, if they may administer the programme (None: no programme, platform admins only)."""
    principal = current_principal()
    if not manages_program(principal, program_id):
        raise _refuse()
    if program_id is not None:
        audit.note_scope(program_id)  # audited, and the entry visible to the programme's managers
    return principal


def require_admin_of_cohort(cohort_id: str | None) -> Principal:
    """The caller, if they may administer the cohort's programme (an unknown cohort or None: platform
    admins only)."""
    principal = current_principal()
    if not manages_cohort(principal, cohort_id):
        raise _refuse()
    program_id = scopes().program_of(cohort_id)
    if program_id is not None:
        audit.note_scope(program_id)
    return principal


def admin_of_program(param: str = "program_id"):
    """Route decorator: `require_admin_of(<the path's program_id>)` before anything else."""
    return _guard(require_admin_of, param)


def admin_of_cohort(param: str = "cohort_id"):
    """Route decorator: `require_admin_of_cohort(<the path's cohort_id>)` before anything else."""
    return _guard(require_admin_of_cohort, param)


def _guard(check, param: str):
    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            check(kwargs[param])
            return view(*args, **kwargs)

        return wrapper

    return decorate
