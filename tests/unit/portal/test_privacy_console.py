"""The console's Privacy pages (portal, platform admins only): erase a person in two steps (the id,
then the same id again), CSRF on both, a mismatch erases nobody; the status page follows each
service until the erasure is complete; the list of erasures."""
from __future__ import annotations

import pytest

from services.portal.backend import ApiError
from tests.unit.portal.fakes import ADMIN, MENTEE, MENTOR, PROGRAM, FakeBackend
from tests.unit.portal.test_pages import csrf, portal_app, sign_in

SERVICES = ("matching", "sessions", "feedback", "notifications")


class PrivacyBackend(FakeBackend):
    """FakeBackend plus matching's erasure routes, as matching answers them (platform admins only)."""

    def __init__(self):
        super().__init__()
        self.erasures: dict[str, dict] = {}

    def _admin(self, claims):
        if "admin" not in claims.get("roles", []):
            raise ApiError(403, "Forbidden", "platform admins only")

    def _get(self, service, path, body, params, claims):
        if path == "/v1/privacy/erasures":
            self._admin(claims)
            return {"items": [{k: e[k] for k in ("employee_id", "source", "requested_at", "requested_by", "complete")}
                              for e in reversed(self.erasures.values())], "next": None}
        if path.startswith("/v1/privacy/erasures/"):
            self._admin(claims)
            found = self.erasures.get(path.rsplit("/", 1)[1])
            if found is None:
                raise ApiError(404, "Not Found", "no erasure of this person was requested")
            return found
        return super()._get(service, path, body, params, claims)

    def _post(self, service, path, body, params, claims):
        if path == "/v1/privacy/erasures":
            self._admin(claims)
            return self.erasures.setdefault(body["employee_id"], {
                "employee_id": body["employee_id"], "status": "requested", "source": "api",
                "requested_at": "2030-01-01T09:00:00.000Z", "requested_by": claims["sub"], "erased_at": None,
                "services": [{"service": s, "status": "pending", "erased_at": None} for s in SERVICES],
                "complete": False, "overdue": False})
        return super()._post(service, path, body, params, claims)

    def finish(self, employee_id):
        erasure = self.erasures[employee_id]
        for part in erasure["services"]:
            part.update(status="erased", erased_at="2030-01-01T09:00:02.000Z")
        erasure["complete"] = True


@pytest.fixture
def portal():
    return portal_app(PrivacyBackend())


def posted(backend) -> list:
    return [call for call in backend.calls if call[0] == "POST" and call[2] == "/v1/privacy/erasures"]


def test_an_admin_erases_a_person_after_typing_the_id_twice_and_follows_each_service(portal):
    app, backend, oidc = portal
    admin, _ = sign_in(app, oidc, ADMIN, roles=("admin",))
    assert 'href="/console/privacy/"' in admin.get("/console/").get_data(as_text=True)
    page = admin.get("/console/privacy/").get_data(as_text=True)
    assert "Nobody has been erased yet." in page

    # without the form's token: refused, nothing asked of matching
    refused = admin.post("/console/privacy/", data={"step": "erase", "employee_id": MENTEE, "confirm": MENTEE})
    assert refused.status_code == 400 and posted(backend) == []
    token = csrf(admin, "/console/privacy/")
    step_one = admin.post("/console/privacy/", data={"csrf_token": token, "step": "check", "employee_id": MENTEE})
    assert step_one.status_code == 200 and posted(backend) == []
    assert f"You are about to erase {MENTEE}" in step_one.get_data(as_text=True)
    mismatch = admin.post("/console/privacy/", data={"csrf_token": token, "step": "erase", "employee_id": MENTEE,
                                                     "confirm": MENTOR})
    assert mismatch.status_code == 422 and posted(backend) == []
    assert "the two ids differ: nobody was erased" in mismatch.get_data(as_text=True)

    erased = admin.post("/console/privacy/", data={"csrf_token": token, "step": "erase", "employee_id": MENTEE,
                                                   "confirm": f" {MENTEE} "})
    assert erased.status_code == 302 and erased.headers["Location"] == f"/console/privacy/{MENTEE}"
    assert [call[3] for call in posted(backend)] == [{"employee_id": MENTEE}]
    status = admin.get(erased.headers["Location"]).get_data(as_text=True)
    assert "Erasure requested." in status and "In progress" in status and 'http-equiv="refresh"' in status
    assert status.count(">pending<") == 4 and "Uma Lopez" not in status  # ids only, never the name

    backend.finish(MENTEE)
    status = admin.get(f"/console/privacy/{MENTEE}").get_data(as_text=True)
    assert "Complete: no service holds" in status and 'http-equiv="refresh"' not in status
    assert status.count(">erased<") == 4 and "2030-01-01T09:00:02.000Z" in status
    listing = admin.get("/console/privacy/").get_data(as_text=True)
    assert f'href="/console/privacy/{MENTEE}"' in listing and "complete" in listing


def test_only_platform_admins_see_the_privacy_pages(portal):
    app, backend, oidc = portal
    backend.managers = {PROGRAM: [MENTOR]}
    manager, _ = sign_in(app, oidc, MENTOR)  # a programme's manager: the console, but not this
    assert "/console/privacy/" not in manager.get("/console/").get_data(as_text=True)
    assert manager.get("/console/privacy/").status_code == 403
    assert manager.post("/console/privacy/", data={"csrf_token": csrf(manager), "step": "erase",
                                                   "employee_id": MENTEE, "confirm": MENTEE}).status_code == 403
    assert posted(backend) == []
