"""The compiled fast path (shared.events.compiled) answers exactly as marshmallow does.

Every catalog schema and both envelope schemas are fed thousands of generated inputs, valid and
not (wrong types, None, missing and extra keys, bad dates, uppercase UUIDs, bools for integers,
values outside ranges and choices): the fast load and JSON form equal marshmallow's, and where
marshmallow refuses, the fast path raises the very same ValidationError (the field named).
"""
from __future__ import annotations

import json
import random
import uuid
from pathlib import Path

import pytest
from marshmallow import Schema, ValidationError, fields, validate

from shared.events.catalog import default_registry
from shared.events.compiled import FastSchema
from shared.events.envelope import EnvelopeSchema, InboundHrisEnvelopeSchema
from shared.events.registry import EventRegistry, InvalidData

ROUNDS = 250

_GENERIC = [None, "", "ab", "en", "EN", "x" * 40, 0, 1, 5, 11, -3, True, False, 1.5, float("nan"), "2026-01-01",
            "2026-02-30", "2026-1-1", "2026-01-01T09:30:00Z", "2026-01-01T09:30:00.123456Z", "2026-01-01T09:30:00+01:00",
            "Europe/London", "Mars/Olympus", "a@example.com", "not an email", str(uuid.uuid4()),
            str(uuid.uuid4()).upper(), [], ["en"], ["en", "fr"], ["english"], ["en", None], ["en", 3], {}, {"a": 1},
            b"bytes", "\u0661\u0662\u0663\u0664-01-01"]


def _valid_for(name: str, field: fields.Field, rng: random.Random, depth: int):
    """A value the field most likely accepts (so the fuzz also compares accepted outputs)."""
    for validator in field.validators:
        if isinstance(validator, validate.OneOf):
            return rng.choice(list(validator.choices))
        if isinstance(validator, validate.Range) and isinstance(field, fields.Integer):
            return rng.randint(int(validator.min or 0) if validator.min is not None else 0,
                               int(validator.max) if validator.max is not None else 50)
    if isinstance(field, fields.Nested):
        return _sample(field.schema, rng, depth + 1, valid=0.95)
    if isinstance(field, fields.List):
        return [_valid_for(name, field.inner, rng, depth + 1) for _ in range(rng.randint(0, 3))]
    if isinstance(field, fields.UUID):
        return str(uuid.uuid4())
    if isinstance(field, fields.Date):
        return f"20{rng.randint(10, 30)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    if hasattr(type(field), "fast_pattern"):
        return rng.choice(["2026-01-01T09:30:00Z", "2026-11-27T23:59:59.123456Z"])
    if isinstance(field, fields.Email):
        return "a@example.com"
    if isinstance(field, fields.Boolean):
        return rng.choice([True, False])
    if isinstance(field, fields.Float):
        return rng.choice([0.5, 3, 1.25])
    if isinstance(field, fields.Integer):
        return rng.randint(1, 9)
    if isinstance(field, fields.Dict):
        return {"k": rng.randint(0, 3)}
    if "zone" in name:
        return "Europe/London"
    return rng.choice(["ab", "en", "Ada Lovelace"])


def _value_for(field: fields.Field, rng: random.Random, depth: int = 0):
    candidates = list(_GENERIC)
    for validator in field.validators:
        if isinstance(validator, validate.OneOf):
            candidates += list(validator.choices) * 6
    if isinstance(field, fields.Nested) and depth < 3:
        candidates += [_sample(field.schema, rng, depth + 1) for _ in range(6)]
    if isinstance(field, fields.List):
        candidates += [[_value_for(field.inner, rng, depth + 1) for _ in range(rng.randint(0, 3))] for _ in range(6)]
    if isinstance(field, fields.Integer):
        candidates += [rng.randint(-2, 12) for _ in range(6)]
    if isinstance(field, fields.UUID):
        candidates += [str(uuid.uuid4()) for _ in range(6)]
    return rng.choice(candidates)


def _sample(schema: Schema, rng: random.Random, depth: int = 0, valid: float = 0.0) -> dict:
    """`valid`: the share of fields given a value they most likely accept."""
    out = {}
    for name, field in schema.load_fields.items():
        if rng.random() < 0.1 - valid / 10:
            continue  # missing
        out[name] = _valid_for(name, field, rng, depth) if rng.random() < valid else _value_for(field, rng, depth)
    if rng.random() < 0.1:
        out["unexpected_extra"] = "x"
    return out


def _outcome(call, data):
    try:
        return "ok", call(data)
    except ValidationError as exc:
        return "error", exc.messages


def _schemas():
    registry = default_registry()
    out = [("envelope", EnvelopeSchema), ("inbound HRIS envelope", InboundHrisEnvelopeSchema)]
    out += [(f"{event_type} v{version}", cls) for (event_type, version), cls in sorted(registry._schemas.items())]
    return out


@pytest.mark.parametrize("label,schema_cls", _schemas(), ids=[label for label, _ in _schemas()])
def test_fast_path_answers_like_marshmallow(label, schema_cls):
    schema = schema_cls()
    fast = FastSchema(schema_cls())
    assert fast.compiled, f"{label} is not compiled: its consumers take the slow path"
    rng = random.Random(label)
    for round_ in range(ROUNDS):
        data = _sample(schema, rng, valid=0.97 if round_ % 2 else 0.0)
        expected = _outcome(schema.load, data)
        assert _outcome(fast.load, data) == expected, data
        expected_json = _outcome(lambda d: schema.dump(schema.load(d)), data)
        assert _outcome(fast.json, data) == expected_json, data


def test_real_hris_records_take_the_fast_path_and_equal_marshmallow():
    registry = default_registry()
    schema = registry._instances.get(("EmployeeUpserted", 1)) or FastSchema(registry._schemas[("EmployeeUpserted", 1)]())
    envelope = FastSchema(InboundHrisEnvelopeSchema())
    path = Path(__file__).resolve().parents[4] / "shared" / "data" / "org-20k" / "hris-employees.jsonl"
    records = [json.loads(line) for _, line in zip(range(300), path.open())] if path.exists() else []
    if not records:
        records = [{"event_id": str(uuid.uuid4()), "event_type": "EmployeeUpserted", "schema_version": 1,
                    "occurred_at": "2026-11-01T06:00:00Z", "source": "hris",
                    "data": {"employee_id": "E1", "email": "e1@example.com", "level": 3, "languages": ["en"],
                             "timezone": "Europe/London", "hire_date": "2020-01-01", "skills": ["python"]}}]
    for raw in records:
        assert envelope._load(raw) == envelope.schema.load(raw)  # the compiled path itself, no fallback
        data = raw["data"]
        assert schema._json(data) == schema.schema.dump(schema.schema.load(data))


def test_bad_data_is_still_refused_with_its_field_named():
    registry = default_registry()
    good = {"employee_id": "E1", "level": 3, "languages": ["en"], "timezone": "Europe/London"}
    assert registry.validate_data("EmployeeUpserted", 1, good)["level"] == 3
    for field, bad in [("level", 11), ("level", "3"), ("level", True), ("languages", ["english"]),
                       ("timezone", "Mars/Olympus"), ("hire_date", "2026-02-30"), ("email", "nope")]:
        with pytest.raises(InvalidData) as caught:
            registry.validate_data("EmployeeUpserted", 1, {**good, field: bad})
        assert field in caught.value.details


def test_schemas_it_cannot_compile_are_left_to_marshmallow():
    class WithHook(Schema):
        name = fields.String(required=True)

        from marshmallow import post_load

        @post_load
        def shout(self, data, **kwargs):
            return {"name": data["name"].upper()}

    fast = FastSchema(WithHook())
    assert not fast.compiled
    assert fast.load({"name": "ada"}) == {"name": "ADA"}
    registry = EventRegistry()
    registry.register("Hooked", 1, WithHook)
    assert registry.validate_data("Hooked", 1, {"name": "ada"}) == {"name": "ADA"}
