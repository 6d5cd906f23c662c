"""The local IdP's realm (scripts/idp.py): every employee, the employee id as `sub`, roles, one
pre-computed password hash, the portal as a PKCE client that may only redirect to the portal."""
from __future__ import annotations

import base64
import hashlib
import json
from scripts import idp
from tests.e2e.processes import ORG_DATA

# the org data as every other test finds it: ORG_DATA, else ../shared/data/org-20k beside the checkout
ORG = ORG_DATA / "hris-employees.jsonl"


def test_the_realm_has_the_people_their_roles_and_the_portal_client(tmp_path):
    doc = idp.realm(["http://127.0.0.1:8080"], client_secret="s", password="pw", admins={"E000001"},
                    hris=ORG, only={"E000001", "E000002"})
    users = {u["id"]: u for u in doc["users"]}
    assert set(users) == {"E000001", "E000002"}
    assert users["E000001"]["realmRoles"] == ["participant", "admin"] and users["E000002"]["realmRoles"] == ["participant"]
    assert users["E000002"]["username"] == "e000002"
    (client,) = doc["clients"]
    assert client["redirectUris"] == ["http://127.0.0.1:8080/*"]
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    assert not client["directAccessGrantsEnabled"] and not client["publicClient"]
    mappers = {m["protocolMapper"]: m["config"] for m in client["protocolMappers"]}
    assert mappers["oidc-usermodel-realm-role-mapper"]["claim.name"] == "roles"
    assert mappers["oidc-audience-mapper"]["included.custom.audience"] == idp.API_AUDIENCE
    assert f"hashIterations({idp.HASH_ITERATIONS})" in doc["passwordPolicy"]


def test_every_user_shares_one_hash_of_the_development_password():
    credential = idp.password_credential("pw")
    secret, data = json.loads(credential["secretData"]), json.loads(credential["credentialData"])
    expected = hashlib.pbkdf2_hmac("sha256", b"pw", base64.b64decode(secret["salt"]), data["hashIterations"], dklen=32)
    assert base64.b64decode(secret["value"]) == expected and data["algorithm"] == "pbkdf2-sha256"
