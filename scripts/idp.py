#!/usr/bin/env python3
"""The local OpenID Connect provider: Keycloak, from its distribution zip on Maven Central.

  python scripts/idp.py install         fetch and unpack Keycloak (cached), build it once
  python scripts/idp.py realm FILE      write the realm (every employee of ORG_DATA, roles, the portal client)
  python scripts/idp.py serve           run Keycloak in the foreground (what `make run`'s Procfile runs)

Why Keycloak (see README, "Web app"): the Go module proxy here does not serve a Dex release
recent enough to put groups on its static users, and Keycloak gives us, by configuration only,
what the services need from a token: `sub` = the employee id (users are imported with the
employee id as their id), `roles` = realm roles (`participant` for everyone, `admin` for
DEV_ADMIN_IDS), an audience for the APIs, RP-initiated logout and PKCE.

20,000 users cheaply: one PBKDF2 hash of DEV_USER_PASSWORD is computed once and written to every
user (same salt: development only), with a realm password policy whose iteration count matches,
so Keycloak neither hashes at import nor re-hashes at the first login. The import runs once per
database (`IGNORE_EXISTING`); later starts only read the H2 file under MENTORING_STATE.

Environment: IDP_PORT (8180), DEV_USER_PASSWORD, DEV_ADMIN_IDS (E000001), IDP_CLIENT_SECRET,
PORTAL_URLS (comma-separated origins allowed to receive the login redirect), ORG_DATA,
MENTORING_CACHE, MENTORING_STATE, IDP_DB (dev-file | dev-mem).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("MENTORING_CACHE", Path.home() / ".cache" / "mentoring"))
STATE = Path(os.environ.get("MENTORING_STATE", ROOT / ".local"))
ORG_DATA = Path(os.environ.get("ORG_DATA", ROOT.parent / "shared" / "data" / "org-20k"))

KEYCLOAK_VERSION = "26.5.6"
KEYCLOAK_ZIP = CACHE / "keycloak" / f"keycloak-quarkus-dist-{KEYCLOAK_VERSION}.zip"
KEYCLOAK_HOME = CACHE / "keycloak" / f"keycloak-{KEYCLOAK_VERSION}"
REALM = "mentoring"
CLIENT_ID = "mentoring-portal"
API_AUDIENCE = "mentoring"
DEFAULT_PORT = 8180
# Build-time options, baked in once by `kc.sh build`: `start --optimized` then skips the
# re-augmentation `start-dev` does at every start (80 s instead of 20 s on this machine).
BUILD_OPTIONS = ("--db=dev-file", "--health-enabled=true", "--cache=local")
DEFAULT_PASSWORD = "mentoring-dev"
DEFAULT_CLIENT_SECRET = "local-portal-secret-change-me"
# One PBKDF2 for everyone: cheap to compute once, and 27,500 rounds keep a login near 20 ms.
HASH_ITERATIONS = 27500
DEV_SALT = b"mentoring-dev-salt"


def log(message: str) -> None:
    print(f"[idp] {message}", flush=True)


def port() -> int:
    return int(os.environ.get("IDP_PORT", DEFAULT_PORT))


def issuer(idp_port: int | None = None) -> str:
    return f"http://127.0.0.1:{idp_port or port()}/realms/{REALM}"


def admin_ids() -> set[str]:
    return {part.strip() for part in os.environ.get("DEV_ADMIN_IDS", "E000001").split(",") if part.strip()}


def java_home() -> str | None:
    """Keycloak 26.5 wants Java 21+; the machine's default is 17, a Temurin 25 sits beside it."""
    if os.environ.get("KEYCLOAK_JAVA_HOME"):
        return os.environ["KEYCLOAK_JAVA_HOME"]
    jvms = sorted(Path("/usr/lib/jvm").glob("*-2[1-9]-*"), reverse=True) if Path("/usr/lib/jvm").exists() else []
    return str(jvms[0]) if jvms else os.environ.get("JAVA_HOME")


def keycloak_env() -> dict:
    env = dict(os.environ)
    home = java_home()
    if home:
        env["JAVA_HOME"] = home
        env["PATH"] = f"{home}/bin:{env.get('PATH', '')}"
    # a small heap: this is one realm on a 2-core development machine
    env.setdefault("JAVA_OPTS_KC_HEAP", "-Xms64m -Xmx512m -XX:MaxMetaspaceSize=256m")
    # start fast on 2 busy cores: the C1 compiler only and one GC thread each (a development IdP needs no peak
    # throughput); Java 24+ wants java.lang opened for JBoss threads' thread-local reset
    env.setdefault("JAVA_OPTS_APPEND", "-XX:TieredStopAtLevel=1 -XX:ParallelGCThreads=1 -XX:ConcGCThreads=1 "
                                       "--add-opens=java.base/java.lang=ALL-UNNAMED")
    return env


# -- install ------------------------------------------------------------------------------------

def install() -> None:
    marker = KEYCLOAK_HOME / ".built"
    if marker.exists() and marker.read_text() == " ".join(BUILD_OPTIONS):
        return
    if not KEYCLOAK_ZIP.exists():
        if not shutil.which("mvn"):
            sys.exit("idp: `mvn` is needed to fetch Keycloak from Maven Central")
        log(f"fetching Keycloak {KEYCLOAK_VERSION} from Maven Central (once; cached in {KEYCLOAK_ZIP.parent})")
        subprocess.run(["mvn", "-q", "-B", "dependency:copy",
                        f"-Dartifact=org.keycloak:keycloak-quarkus-dist:{KEYCLOAK_VERSION}:zip",
                        f"-DoutputDirectory={KEYCLOAK_ZIP.parent}"], check=True)
    if not (KEYCLOAK_HOME / "bin" / "kc.sh").exists():
        with zipfile.ZipFile(KEYCLOAK_ZIP) as archive:
            archive.extractall(KEYCLOAK_ZIP.parent)
        for script in (KEYCLOAK_HOME / "bin").glob("*.sh"):
            script.chmod(0o755)
    log("building Keycloak's optimized server image (once)")
    subprocess.run([str(KEYCLOAK_HOME / "bin" / "kc.sh"), "build", *BUILD_OPTIONS],
                   check=True, env=keycloak_env(), stdout=subprocess.DEVNULL)
    marker.write_text(" ".join(BUILD_OPTIONS))


# -- the realm ----------------------------------------------------------------------------------

def password_credential(password: str) -> dict:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), DEV_SALT, HASH_ITERATIONS, dklen=32)
    return {
        "type": "password",
        "secretData": json.dumps({"value": base64.b64encode(digest).decode(), "salt": base64.b64encode(DEV_SALT).decode(),
                                  "additionalParameters": {}}),
        "credentialData": json.dumps({"hashIterations": HASH_ITERATIONS, "algorithm": "pbkdf2-sha256",
                                      "additionalParameters": {}}),
    }


def employees(path: Path, only: set[str] | None = None):
    with open(path) as lines:
        for line in lines:
            data = json.loads(line)["data"]
            if only is None or data["employee_id"] in only:
                yield data


def user(data: dict, credential: dict, admins: set[str]) -> dict:
    first, _, last = (data.get("display_name") or data["employee_id"]).partition(" ")
    roles = ["participant", "admin"] if data["employee_id"] in admins else ["participant"]
    return {
        # the employee id as Keycloak's user id makes it the token's `sub` with no mapping at all
        "id": data["employee_id"], "username": data["employee_id"].lower(), "enabled": True,
        "email": data.get("email"), "emailVerified": True, "firstName": first, "lastName": last or first,
        "attributes": {"locale": [(data.get("languages") or ["en"])[0]]},
        "credentials": [credential], "realmRoles": roles,
    }


def realm(portal_urls: list[str], *, client_secret: str, password: str, admins: set[str],
          hris: Path | None = None, only: set[str] | None = None) -> dict:
    credential = password_credential(password)
    users = [user(data, credential, admins) for data in employees(hris or ORG_DATA / "hris-employees.jsonl", only)]
    role_mapper = {
        "name": "roles", "protocol": "openid-connect", "protocolMapper": "oidc-usermodel-realm-role-mapper",
        "config": {"claim.name": "roles", "multivalued": "true", "jsonType.label": "String",
                   "id.token.claim": "true", "access.token.claim": "true", "userinfo.token.claim": "true"},
    }
    audience_mapper = {
        "name": "api-audience", "protocol": "openid-connect", "protocolMapper": "oidc-audience-mapper",
        "config": {"included.custom.audience": API_AUDIENCE, "id.token.claim": "false", "access.token.claim": "true"},
    }
    return {
        "realm": REALM, "enabled": True, "displayName": "Mentoring",
        "sslRequired": "none", "loginWithEmailAllowed": False, "registrationAllowed": False,
        "internationalizationEnabled": True, "supportedLocales": ["en", "de"], "defaultLocale": "en",
        "passwordPolicy": f"hashAlgorithm(pbkdf2-sha256) and hashIterations({HASH_ITERATIONS})",
        "accessTokenLifespan": 3600, "ssoSessionIdleTimeout": 36000, "ssoSessionMaxLifespan": 86400,
        "bruteForceProtected": False,
        "roles": {"realm": [{"name": "participant", "description": "any employee"},
                            {"name": "admin", "description": "runs programmes"}]},
        "clients": [{
            "clientId": CLIENT_ID, "name": "Mentoring portal", "enabled": True, "protocol": "openid-connect",
            "publicClient": False, "clientAuthenticatorType": "client-secret", "secret": client_secret,
            "standardFlowEnabled": True, "directAccessGrantsEnabled": False, "implicitFlowEnabled": False,
            "redirectUris": [f"{url.rstrip('/')}/*" for url in portal_urls],
            "webOrigins": [url.rstrip("/") for url in portal_urls],
            "attributes": {"pkce.code.challenge.method": "S256", "post.logout.redirect.uris": "+"},
            "protocolMappers": [role_mapper, audience_mapper],
        }],
        "users": users,
    }


def write_realm(target: Path, portal_urls: list[str] | None = None, only: set[str] | None = None, *,
                password: str | None = None, client_secret: str | None = None, admins: set[str] | None = None) -> Path:
    urls = portal_urls or [u for u in os.environ.get(
        "PORTAL_URLS", "http://127.0.0.1:8080,http://localhost:8080").split(",") if u]
    doc = realm(urls, client_secret=client_secret or os.environ.get("IDP_CLIENT_SECRET", DEFAULT_CLIENT_SECRET),
                password=password or os.environ.get("DEV_USER_PASSWORD", DEFAULT_PASSWORD),
                admins=admins if admins is not None else admin_ids(), only=only)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(doc))
    return target


# -- run ----------------------------------------------------------------------------------------

def serve_argv(idp_port: int, data_dir: Path) -> list[str]:
    argv = [str(KEYCLOAK_HOME / "bin" / "kc.sh"), "start", "--optimized", "--http-enabled=true",
            f"--http-port={idp_port}", "--http-host=127.0.0.1", f"--hostname=http://127.0.0.1:{idp_port}",
            "--import-realm", "--log-level=warn,org.keycloak.services:info",
            f"--http-management-port={idp_port + 1}",
            f"--db-url=jdbc:h2:file:{data_dir}/keycloakdb;NON_KEYWORDS=VALUE;DB_CLOSE_DELAY=-1"]
    return argv


def prepare_import(import_dir: Path, **kwargs) -> None:
    """Keycloak imports every realm file in `data/import`; we point it at our own folder."""
    write_realm(import_dir / f"{REALM}-realm.json", **kwargs)


def serve() -> None:
    install()
    data_dir = STATE / "data" / "keycloak"
    import_dir = STATE / "idp-import"
    data_dir.mkdir(parents=True, exist_ok=True)
    if not (data_dir / "keycloakdb.mv.db").exists():
        log("first start: importing every employee of the org (one minute or two, once)")
    prepare_import(import_dir)
    env = keycloak_env()
    argv = serve_argv(port(), data_dir)
    link_import_dir(import_dir)
    os.execve(argv[0], argv, env)


def link_import_dir(import_dir: Path) -> None:
    """kc.sh --import-realm reads $KEYCLOAK_HOME/data/import: make it our folder (per state dir)."""
    target = KEYCLOAK_HOME / "data" / "import"
    target.parent.mkdir(parents=True, exist_ok=True)
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        shutil.rmtree(target)
    target.symlink_to(import_dir)


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "serve"
    if command == "install":
        install()
    elif command == "realm":
        print(write_realm(Path(sys.argv[2])))
    elif command == "serve":
        serve()
    else:
        sys.exit(__doc__)
