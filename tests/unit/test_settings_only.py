"""Every setting is read in one place: shared/config.py `Settings.from_env` (issue 11).

A process's configuration is then one object a test can build and a reader can look up, and
nothing deep in a module quietly depends on the environment of whoever imported it.
"""
from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ENV_READ = re.compile(r"\bos\.environ\b|\bos\.getenv\b|\bgetenv\(|from os import .*\b(environ|getenv)\b")


def test_no_environment_reads_outside_shared_config():
    offenders = []
    for folder in ("services", "shared"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "shared" / "config.py":
                continue
            for number, line in enumerate(path.read_text().splitlines(), 1):
                if ENV_READ.search(line):
                    offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert not offenders, "read settings through shared.config.Settings:\n" + "\n".join(offenders)
