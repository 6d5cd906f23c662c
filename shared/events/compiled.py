"""Marshmallow schemas, checked cheaply: the same answers for the hot path of every consumer.

A marshmallow `load` walks a chain of generic calls per field (about 10 µs a field here), and the
consumers load every record twice (envelope, data) and dump the data once: most of a record's cost.
`FastSchema(schema)` answers `load(data)` and `json(data)` (= `schema.dump(schema.load(data))`)
exactly as marshmallow would, through plain type checks compiled once from the schema's fields.

The compiled check only ever *accepts*: input it is not sure about (a wrong type, a missing
required field, a failing validator, a field kind it does not know) goes to marshmallow itself,
which gives the answer or the `ValidationError` naming the field. So every record is still
validated by the same rules, and bad input is reported as before; only valid input gets faster.
What is compiled: String (and subclasses declaring `fast_pattern`, a regex the value must match),
Email, Integer, Float, Boolean, Date, UUID, plain Dict, List, Nested, with their validators,
`required`, `allow_none` and `load_default`. A schema using anything else (hooks, data keys,
`unknown=INCLUDE`, other field kinds) is always loaded by marshmallow.
"""
from __future__ import annotations

import datetime
import math
import re
import uuid
from typing import Any, Callable

from marshmallow import EXCLUDE, RAISE, Schema, fields
from marshmallow.utils import missing

_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\Z")
_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")

Convert = Callable[[Any], Any]


class Unsupported(Exception):
    """The schema uses something the compiled check does not know: marshmallow loads it."""


class _Unsure(Exception):
    """Input the compiled check does not accept: marshmallow decides."""


def _unsure(value):
    raise _Unsure()


class FastSchema:
    """`schema.load` / `schema.dump(schema.load(...))` with a compiled fast path for valid input."""

    def __init__(self, schema: Schema):
        self.schema = schema
        try:
            self._load: Convert | None = _compile_schema(schema, as_json=False)
            self._json: Convert | None = _compile_schema(schema, as_json=True)
        except Unsupported:
            self._load = self._json = None

    @property
    def compiled(self) -> bool:
        return self._load is not None

    def load(self, data):
        """What `schema.load(data)` returns; raises its ValidationError."""
        return _fast_or(self._load, data, lambda: self.schema.load(data))

    def json(self, data):
        """What `schema.dump(schema.load(data))` returns (the JSON form); raises the load's ValidationError."""
        return _fast_or(self._json, data, lambda: self.schema.dump(self.schema.load(data)))


def _fast_or(compiled: Convert | None, data, marshmallow):
    """The compiled conversion's answer, or marshmallow's (the authority) when there is none or it is unsure."""
    if compiled is not None:
        try:
            return compiled(data)
        except Exception:  # noqa: BLE001 - anything unexpected: marshmallow is the authority
            pass
    return marshmallow()


def _compile_schema(schema: Schema, *, as_json: bool) -> Convert:
    if schema.many or schema.partial or schema.only is not None or schema.exclude:
        raise Unsupported("many/partial/only/exclude")
    if any(type(schema)._hooks.values()):
        raise Unsupported("hooks")
    if schema.unknown not in (EXCLUDE, RAISE):
        raise Unsupported(f"unknown={schema.unknown}")
    if set(schema.load_fields) != set(schema.dump_fields):
        raise Unsupported("load-only or dump-only fields")
    plan = []
    for name, field in schema.load_fields.items():
        if field.data_key is not None or field.attribute is not None or field.dump_default is not missing:
            raise Unsupported(f"{name}: data_key/attribute/dump_default")
        plan.append((name, _with_presence(field, _compile_field(field, as_json=as_json), as_json=as_json)))
    names = frozenset(name for name, _ in plan)
    exclude = schema.unknown == EXCLUDE

    def convert(data):
        if type(data) is not dict or (not exclude and not names.issuperset(data)):
            raise _Unsure()
        out = {}
        for name, field_convert in plan:
            value = data.get(name, missing)
            value = field_convert(value)
            if value is not missing:
                out[name] = value
        return out

    return convert


def _with_presence(field: fields.Field, convert: Convert, *, as_json: bool) -> Convert:
    """Missing keys (required, load_default), None (allow_none), then the field's own check."""
    required, allow_none = field.required, field.allow_none
    default = field.load_default
    if default is missing or default is None:
        make_default: Callable[[], Any] = lambda: default  # noqa: E731
    elif default is list or default is dict:
        make_default = default
    elif type(default) in (str, int, bool) and _is_own_json_form(convert, default):
        make_default = lambda: default  # noqa: E731
    else:
        raise Unsupported(f"load_default {default!r}")

    def present(value):
        if value is missing:
            if required:
                raise _Unsure()
            return make_default()
        if value is None:
            if allow_none:
                return None
            raise _Unsure()
        return convert(value)

    return present


def _is_own_json_form(convert: Convert, value) -> bool:
    try:
        return convert(value) == value
    except Exception:  # noqa: BLE001 - a default the field itself would not accept: leave it to marshmallow
        return False


def _validated(field: fields.Field, convert: Convert) -> Convert:
    validators = tuple(field.validators)
    if not validators:
        return convert

    def checked(value):
        out = convert(value)
        for validator in validators:
            validator(out)  # a ValidationError (or anything) sends the input to marshmallow
        return out

    return checked


def _compile_field(field: Any, *, as_json: bool) -> Convert:  # a marshmallow Field of any kind
    if field.load_only or field.dump_only:
        raise Unsupported("load_only/dump_only")
    kind = type(field)
    if kind in (fields.String, fields.Email) or (isinstance(field, fields.String) and hasattr(kind, "fast_pattern")):
        pattern = getattr(kind, "fast_pattern", None)

        def string(value):
            if type(value) is not str or (pattern is not None and not pattern.match(value)):
                raise _Unsure()
            return value

        return _validated(field, string)
    if kind is fields.Integer:
        if field.as_string:
            raise Unsupported("as_string")

        def integer(value):
            if type(value) is not int:
                raise _Unsure()
            return value

        return _validated(field, integer)
    if kind is fields.Float:
        if field.as_string:
            raise Unsupported("as_string")
        allow_nan = field.allow_nan

        def floating(value):
            if type(value) is float:
                if not allow_nan and not math.isfinite(value):
                    raise _Unsure()
                return value
            if type(value) is int:
                return float(value)
            raise _Unsure()

        return _validated(field, floating)
    if kind is fields.Boolean:
        if field.truthy and True not in field.truthy or field.falsy and False not in field.falsy:
            raise Unsupported("custom truthy/falsy")

        def boolean(value):
            if value is True or value is False:
                return value
            raise _Unsure()

        return _validated(field, boolean)
    if kind is fields.Date:
        if field.format not in (None, "iso"):
            raise Unsupported("date format")
        if field.validators and as_json:
            raise Unsupported("validators on a date's JSON form")

        def date(value):
            if type(value) is not str or not _DATE.match(value):
                raise _Unsure()
            parsed = datetime.date.fromisoformat(value)
            return value if as_json else parsed

        return _validated(field, date)
    if kind is fields.UUID:
        if field.validators and as_json:
            raise Unsupported("validators on a UUID's JSON form")

        def uuid_(value):
            if type(value) is not str or not _UUID.match(value):
                raise _Unsure()
            return value if as_json else uuid.UUID(value)

        return _validated(field, uuid_)
    if kind is fields.Dict:
        if field.key_field is not None or field.value_field is not None:
            raise Unsupported("typed Dict")

        def mapping(value):
            if type(value) is not dict:
                raise _Unsure()
            return dict(value)

        return _validated(field, mapping)
    if kind is fields.List:
        inner = _with_presence_in_list(field.inner, _compile_field(field.inner, as_json=as_json))
        if field.validators and as_json and not _same_forms(field.inner):
            raise Unsupported("validators on a list's JSON form")

        def listing(value):
            if type(value) is not list:
                raise _Unsure()
            return [inner(item) for item in value]

        return _validated(field, listing)
    if kind is fields.Nested:
        if field.many or field.only is not None or field.exclude or field.unknown is not None or getattr(field, "partial", None):
            raise Unsupported("Nested options")
        nested = field.schema
        if field.validators and as_json and not all(_same_forms(f) for f in nested.load_fields.values()):
            raise Unsupported("validators on a nested JSON form")
        return _validated(field, _compile_schema(nested, as_json=as_json))
    raise Unsupported(f"field {kind.__name__}")


def _with_presence_in_list(field: fields.Field, convert: Convert) -> Convert:
    """A list item: None only where the item field allows it (no defaults inside a list)."""
    allow_none = field.allow_none

    def item(value):
        if value is None:
            if allow_none:
                return None
            raise _Unsure()
        return convert(value)

    return item


def _same_forms(field: fields.Field) -> bool:
    """Whether the field's loaded value is also its JSON form (validators then see the same value)."""
    if isinstance(field, (fields.Date, fields.UUID)):
        return False
    if isinstance(field, fields.List):
        return _same_forms(field.inner)
    if isinstance(field, fields.Nested):
        return all(_same_forms(f) for f in field.schema.load_fields.values())
    return True
