#!/usr/bin/env python3
"""What `make run` prints before the services start: where everything is, and an admin token."""
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from scripts.procfile import PORTAL_PORT, SERVICES  # noqa: E402
from shared.http.auth import mint_token  # noqa: E402

token = mint_token(os.environ["JWT_SECRET"], os.environ.get("DEV_ADMIN_SUB", "E000001"), ["admin", "participant"])
print("\nMentoring platform, local run")
for name, (api_port, metrics_port) in SERVICES.items():
    if (Path("services") / name / "api.py").exists():
        print(f"  {name:14} http://127.0.0.1:{api_port}/openapi.json   worker metrics http://127.0.0.1:{metrics_port}/metrics")
print("  prometheus     http://127.0.0.1:9090")
if (Path("services") / "portal" / "api.py").exists():
    idp_port = os.environ.get("IDP_PORT", "8180")
    print(f"\nWeb app          http://127.0.0.1:{PORTAL_PORT}")
    print(f"  sign in with an employee id (e.g. E000002) and the password {os.environ.get('DEV_USER_PASSWORD', 'mentoring-dev')!r}"
          " (DEV_USER_PASSWORD)")
    print(f"  platform admins: {os.environ.get('DEV_ADMIN_IDS', 'E000001')} (DEV_ADMIN_IDS)")
    print(f"  identity provider (Keycloak) http://127.0.0.1:{idp_port}/realms/mentoring"
          " (the first start imports every employee: a minute or two)")
print(f"\nDevelopment admin token (sub E000001, roles admin+participant, 12 h):\n  {token}")
print('  e.g. curl -H "Authorization: Bearer $TOKEN" http://127.0.0.1:8001/v1/participants/E000002')
print("  more tokens: make dev-token SUB=E000123 ROLES=participant\n")
