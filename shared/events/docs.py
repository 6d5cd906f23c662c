"""docs/events.md, generated from the catalog: `python -m shared.events.docs [--check]`.

The catalog (`shared/events/catalog/<producer>.py`) is the one definition of every event on the
contract topics; the document is that definition written out for people, so it cannot drift: a
unit test runs `--check`, which fails while the file differs from what the catalog says.

Per field: its type, whether it is required and may be null, the values it allows, and a privacy
marking read from the field's metadata (`fields.String(..., metadata={"privacy": "personal"})`;
one of PRIVACY_MARKINGS, blank until a schema says).
"""
from __future__ import annotations

import argparse
import importlib
import inspect
import pkgutil
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

from marshmallow import Schema, fields, validate

from shared import topics
from shared.events import catalog as catalog_package
from shared.events.envelope import Rfc3339Utc
from shared.events.registry import EventRegistry

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "events.md"
PRIVACY_MARKINGS = ("identifier", "personal", "personal-encrypted", "none")
INBOUND = {"hris": topics.HRIS_EMPLOYEES}  # catalog modules of events this project does not produce


@dataclass
class TopicCatalog:
    """The event types one catalog module registers, and the topic they travel on."""

    module: ModuleType
    producer: str
    topic: str
    inbound: bool
    versions: dict[str, dict[int, type[Schema]]] = field(default_factory=dict)
    upcasters: set[tuple[str, int]] = field(default_factory=set)

    @property
    def event_types(self) -> list[str]:
        return list(self.versions)


class _Recorder(EventRegistry):
    """An EventRegistry that also remembers what was registered, in order."""

    def __init__(self, entry: TopicCatalog):
        super().__init__()
        self.entry = entry

    def register(self, event_type: str, version: int, schema: type[Schema]) -> None:
        super().register(event_type, version, schema)
        self.entry.versions.setdefault(event_type, {})[version] = schema

    def register_upcaster(self, event_type: str, from_version: int, upcaster) -> None:
        super().register_upcaster(event_type, from_version, upcaster)
        self.entry.upcasters.add((event_type, from_version))


def catalogs() -> list[TopicCatalog]:
    """Every catalog module: the producer's own topic first by contract order, inbound last."""
    found = []
    for info in sorted(pkgutil.iter_modules(catalog_package.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{catalog_package.__name__}.{info.name}")
        if not hasattr(module, "register"):
            continue
        topic = INBOUND.get(info.name) or topics.BY_PRODUCER.get(info.name)
        if topic is None:
            raise LookupError(f"catalog module {info.name!r} is neither a producer nor an inbound topic")
        entry = TopicCatalog(module=module, producer=info.name, topic=topic, inbound=info.name in INBOUND)
        module.register(_Recorder(entry))
        found.append(entry)
    return sorted(found, key=lambda c: topics.ALL.index(c.topic))


def types_on_topic(topic: str) -> set[str]:
    """The event types registered for a contract topic (what a consumer of it may handle)."""
    return {t for c in catalogs() if c.topic == topic for t in c.event_types}


# -- rendering -----------------------------------------------------------------------------------

def _type_of(f: fields.Field) -> str:
    if isinstance(f, fields.List):
        return "list of objects" if isinstance(f.inner, fields.Nested) else f"list of {_type_of(f.inner)}"
    if isinstance(f, fields.Nested):
        return "list of objects" if f.many else "object"
    for kind, name in ((Rfc3339Utc, "instant (RFC 3339 UTC)"), (fields.Email, "email"), (fields.Date, "date"),
                       (fields.DateTime, "date-time"), (fields.Integer, "int"), (fields.Float, "number"),
                       (fields.Boolean, "bool"), (fields.Dict, "object"), (fields.String, "string")):
        if isinstance(f, kind):
            return name
    return type(f).__name__.lower()


def _values(f: fields.Field) -> str:
    notes = [_constraint(v) for v in f.validators]
    if isinstance(f, fields.List):
        notes += ["item " + _constraint(v) for v in f.inner.validators]
    return "; ".join(n for n in notes if n and n != "item ")


def _constraint(v) -> str:
    if isinstance(v, validate.OneOf):
        return "\\|".join(f"`{c}`" for c in v.choices)
    if isinstance(v, validate.Range):
        return f"{v.min if v.min is not None else ''}–{v.max}" if v.max is not None else f"≥ {v.min}"
    if isinstance(v, validate.Length):
        if v.equal is not None:
            return f"length {v.equal}"
        if v.min == 1 and v.max is None:
            return "non-empty"
        if not v.min and v.max is not None:
            return f"at most {v.max}"
        return f"length {v.min or 0}–{v.max if v.max is not None else ''}"
    if inspect.isfunction(v):
        return v.__name__.strip("_").replace("_", " ")
    return ""


def _required(f: fields.Field) -> str:
    text = "yes" if f.required else "no"
    return f"{text}, nullable" if f.allow_none else text


def _privacy(f: fields.Field) -> str:
    marking = (f.metadata or {}).get("privacy", "")
    if marking and marking not in PRIVACY_MARKINGS:
        raise ValueError(f"privacy marking {marking!r} is not one of {PRIVACY_MARKINGS}")
    return marking


def _nested_schema(f: fields.Field) -> type[Schema] | None:
    """The schema of an object field or of a list of objects, else None."""
    if isinstance(f, fields.List):
        return _nested_schema(f.inner)
    if isinstance(f, fields.Nested):
        return f.nested if isinstance(f.nested, type) else type(f.nested)
    return None


def _rows(schema: type[Schema], prefix: str) -> list[str]:
    """One table row per field; an object's fields follow it as `parent.field` (`parent[].field` in lists)."""
    rows = []
    for name, f in schema._declared_fields.items():
        key = prefix + (f.data_key or name)
        rows.append(f"| `{key}` | {_type_of(f)} | {_required(f)} | {_values(f)} | {_privacy(f)} |")
        nested = _nested_schema(f)
        if nested is not None:
            many = isinstance(f, fields.List) or getattr(f, "many", False)
            rows += _rows(nested, key + ("[]." if many else "."))
    return rows


def _prose(obj) -> str:
    """An object's docstring without its first line (that line names the module, not the events)."""
    doc = inspect.getdoc(obj) or ""
    return doc.split("\n", 1)[1].strip() if "\n" in doc else ""


HEADER = """# Events

Generated from `shared/events/catalog/` by `python -m shared.events.docs` — edit the catalog, then
run it; a unit test fails while this file is stale.

Every event travels in the contract envelope (`../shared/contract.md` §1); below are the `data`
shapes, one table per event type and schema version. The catalog holds one marshmallow schema per
(type, version) so producers and consumers validate alike; an older version is read through its
upcaster to the current one. Consumers accept unknown extra fields.

Rules for all payloads: ids, not personal data (no names, emails, free text) unless the person
chose to share it. Dates are `YYYY-MM-DD`, instants RFC 3339 UTC (`...Z`).
*required*: the field must be present (`no`: it may be absent); *nullable*: it may be null.
*privacy*: `identifier` (an id of a person), `personal` (data about a person), `personal-encrypted`
(personal, stored encrypted), `none`; blank where not yet marked.
"""


def render() -> str:
    out = [HEADER]
    for entry in catalogs():
        who = "inbound from the HRIS, contract §3" if entry.inbound else f"producer `{entry.producer}`"
        out.append(f"## `{entry.topic}` ({who})\n")
        prose = _prose(entry.module)
        if prose:
            out.append(prose + "\n")
        for event_type, versions in entry.versions.items():
            current = max(versions)
            for version in sorted(versions, reverse=True):
                schema = versions[version]
                label = "current" if version == current else "older; read through the upcaster"
                if version != current and (event_type, version) not in entry.upcasters:
                    label = "older; no upcaster registered"
                out.append(f"### `{event_type}` v{version}" + ("" if len(versions) == 1 else f" ({label})") + "\n")
                if schema.__doc__:  # the class's own docstring (not inherited)
                    out.append(inspect.cleandoc(schema.__doc__) + "\n")
                out.append("| field | type | required | values | privacy |\n|---|---|---|---|---|")
                out += _rows(schema, "")
                out.append("")
    return "\n".join(out).rstrip() + "\n"


def stale(path: Path = DOC) -> bool:
    return not path.exists() or path.read_text() != render()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.events.docs", description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if docs/events.md differs from the catalog")
    args = parser.parse_args(argv)
    if args.check:
        if stale():
            print(f"{DOC.relative_to(ROOT)} is stale: run `python -m shared.events.docs`", file=sys.stderr)
            return 1
        return 0
    DOC.write_text(render())
    print(f"wrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
