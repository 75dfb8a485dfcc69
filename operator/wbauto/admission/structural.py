"""A CRD's structural schema applied as the apiserver applies it to a request (pure).

In the apiserver's order: unknown fields are refused (``kubectl`` asks for strict field validation), nulls
of non-nullable fields are pruned and defaults applied, then the value is checked against the schema with
Kubernetes' type rules (jsonschema, draft 4 as OpenAPI v3.0 uses it):

- no coercion: ``"8"`` is not an integer and ``true`` is not a number;
- an integer is an int64; a float counts as an integer only when it is integral and at most 2^53 in
  size (what Go's JSON decoding keeps exact), so ``8.0`` is ``8`` but ``1e20`` is a number;
- ``pattern`` is RE2 (Go's ``regexp``), as the apiserver runs it.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Iterator
from typing import Any

import jsonschema
from jsonschema import Draft4Validator
from jsonschema.exceptions import ValidationError

from wbauto.admission import regex

INT64 = (-(2**63), 2**63 - 1)
EXACT_FLOAT = 2**53 - 1  # go-openapi swag.IsFloat64AJSONInteger
Schema = dict[str, Any]


def child(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name


def key(path: str, name: object) -> str:
    return f"{path}[{name}]"


# --- types -------------------------------------------------------------------------------------------


def is_integer(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return INT64[0] <= value <= INT64[1]
    return isinstance(value, float) and math.isfinite(value) and value.is_integer() and abs(value) <= EXACT_FLOAT


def is_number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


def go_type(value: Any) -> str:
    """The name the apiserver gives a value's type in its messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer" if INT64[0] <= value <= INT64[1] else "float64"
    if isinstance(value, float):
        return "float64"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_TYPES = Draft4Validator.TYPE_CHECKER.redefine_many({
    "integer": lambda _checker, value: is_integer(value),
    "number": lambda _checker, value: is_number(value),
})


def _pattern(validator: Any, pattern: str, instance: Any, schema: Schema) -> Iterator[ValidationError]:
    if isinstance(instance, str) and not regex.search(pattern, instance):
        yield ValidationError(f"does not match {pattern!r}")


_Validator = jsonschema.validators.extend(Draft4Validator, validators={"pattern": _pattern}, type_checker=_TYPES)


# --- schema conversion -----------------------------------------------------------------------------------

_KEEP = ("type", "enum", "pattern", "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum",
         "exclusiveMaximum", "minItems", "maxItems", "minProperties", "maxProperties", "required")


def to_jsonschema(node: Schema) -> Schema:
    """A structural schema node as a draft-4 JSON Schema (Kubernetes extensions mapped, the rest dropped)."""
    out: Schema = {k: node[k] for k in _KEEP if k in node}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if "properties" in node:
        out["properties"] = {k: to_jsonschema(v) for k, v in node["properties"].items()}
    if isinstance(node.get("additionalProperties"), dict):
        out["additionalProperties"] = to_jsonschema(node["additionalProperties"])
    if isinstance(node.get("items"), dict):
        out["items"] = to_jsonschema(node["items"])
    if node.get("nullable") and "type" in out:
        out["type"] = [out["type"], "null"]
    return out


def compile_schema(node: Schema) -> Any:
    """A reusable validator for one structural schema node."""
    return _Validator(to_jsonschema(node))


# --- strict field validation -------------------------------------------------------------------------------


def unknown_fields(value: Any, node: Schema, path: str) -> list[str]:
    """Paths of fields the schema does not declare (``strict decoding error: unknown field``)."""
    out: list[str] = []
    stack: list[tuple[Any, Schema, str]] = [(value, node, path)]
    while stack:
        item, schema, where = stack.pop()
        if isinstance(item, dict):
            props = schema.get("properties") or {}
            extra = schema.get("additionalProperties")
            for name, sub in item.items():
                if name in props:
                    stack.append((sub, props[name], child(where, name)))
                elif isinstance(extra, dict):
                    stack.append((sub, extra, child(where, name)))
                elif not schema.get("x-kubernetes-preserve-unknown-fields"):
                    out.append(child(where, name))
        elif isinstance(item, list) and isinstance(schema.get("items"), dict):
            stack.extend((sub, schema["items"], f"{where}[{i}]") for i, sub in enumerate(item))
    return sorted(out)


# --- defaulting -----------------------------------------------------------------------------------------------


def apply_defaults(value: Any, node: Schema) -> Any:
    """Prune nulls of non-nullable fields without a default, apply defaults (in place; returns ``value``)."""
    stack: list[tuple[Any, Schema]] = [(value, node)]
    while stack:
        item, schema = stack.pop()
        if isinstance(item, dict):
            props = schema.get("properties") or {}
            for name, prop in props.items():
                if (name not in item or (item[name] is None and not prop.get("nullable"))) and "default" in prop:
                    item[name] = copy.deepcopy(prop["default"])
            extra = schema.get("additionalProperties")
            for name in list(item):
                sub = props.get(name) or (extra if isinstance(extra, dict) else None)
                if sub is None:
                    continue
                if item[name] is None and not sub.get("nullable"):
                    del item[name]
                else:
                    stack.append((item[name], sub))
        elif isinstance(item, list) and isinstance(schema.get("items"), dict):
            stack.extend((sub, schema["items"]) for sub in item)
    return value


def normalize_integers(value: Any, node: Schema) -> Any:
    """Integral floats in integer fields become ints, as the apiserver stores them."""
    if isinstance(value, dict):
        props = node.get("properties") or {}
        extra = node.get("additionalProperties")
        for name, sub in value.items():
            schema = props.get(name) or (extra if isinstance(extra, dict) else None)
            if schema is not None:
                value[name] = normalize_integers(sub, schema)
        return value
    if isinstance(value, list) and isinstance(node.get("items"), dict):
        return [normalize_integers(sub, node["items"]) for sub in value]
    if node.get("type") == "integer" and isinstance(value, float) and is_integer(value):
        return int(value)
    return value


# --- validation ------------------------------------------------------------------------------------------------


class SchemaError:
    """One schema violation: where, what the apiserver would say, and whether it blocks the CEL rules (a
    wrong type, a missing required field, an unsupported enum value, too long or too many: the apiserver
    then skips every rule, "some validation rules were not checked")."""

    __slots__ = ("blocking", "message", "path")

    def __init__(self, path: str, message: str, blocking: bool = False) -> None:
        self.path = path
        self.message = message
        self.blocking = blocking


def _render_path(error: ValidationError, prefix: str) -> str:
    path = prefix
    values = list(error.absolute_path)
    steps = list(error.absolute_schema_path)
    i = 0
    while i < len(steps):
        step = steps[i]
        if step == "properties" and i + 1 < len(steps):
            path = child(path, str(steps[i + 1]))
            values.pop(0)
            i += 2
            continue
        if step == "additionalProperties" and values:
            path = child(path, str(values.pop(0)))  # the apiserver's schema errors name map keys as fields
        elif step == "items" and values:
            path = key(path, values.pop(0))
        elif step in ("anyOf", "allOf", "oneOf"):
            i += 1
        i += 1
    return path


def _show(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return f'"{go_type(value)}"'
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    return str(value)


def _message(error: ValidationError, path: str) -> SchemaError:
    kind = error.validator
    value = error.instance
    bound = error.validator_value
    if kind == "required":
        missing = str(error.message).split("'")[1]
        return SchemaError(child(path, missing), "Required value", blocking=True)
    if kind in ("type", "anyOf"):
        expected = bound if kind == "type" else "integer or string"
        if isinstance(expected, list):
            expected = expected[0]
        if expected == "integer" and is_number(value):
            expected = "int64"
        return SchemaError(path, f'Invalid value: "{go_type(value)}": {path} in body must be of type {expected}: '
                                 f'"{go_type(value)}"', blocking=True)
    if kind == "enum":
        supported = ", ".join(_show(v) for v in bound)
        return SchemaError(path, f"Unsupported value: {_show(value)}: supported values: {supported}", blocking=True)
    if kind == "pattern":
        return SchemaError(path, f"Invalid value: {_show(value)}: {path} in body should match '{bound}'")
    if kind == "maxLength":
        return SchemaError(path, f"Too long: may not be more than {bound} bytes", blocking=True)
    if kind == "minLength":
        return SchemaError(path, f"Invalid value: {_show(value)}: {path} in body should be at least {bound} chars long")
    if kind in ("minimum", "maximum"):
        exclusive = error.schema.get("exclusiveMinimum" if kind == "minimum" else "exclusiveMaximum")
        words = ("greater than" if kind == "minimum" else "less than") + ("" if exclusive else " or equal to")
        return SchemaError(path, f"Invalid value: {_show(value)}: {path} in body should be {words} {_show(bound)}")
    if kind in ("maxItems", "maxProperties"):
        return SchemaError(path, f"Too many: {len(value)}: must have at most {bound} items", blocking=True)
    if kind in ("minItems", "minProperties"):
        unit = "items" if kind == "minItems" else "properties"
        return SchemaError(path, f"Invalid value: {len(value)}: {path} in body should have at least {bound} {unit}")
    return SchemaError(path, f"Invalid value: {_show(value)}: {error.message}")


def validate(value: Any, compiled: Any, path: str) -> list[SchemaError]:
    """Every schema violation of ``value`` (already defaulted) against ``compiled`` (:func:`compile_schema`),
    with apiserver-style paths and messages."""
    errors: Iterable[ValidationError] = compiled.iter_errors(value)
    return [_message(e, _render_path(e, path)) for e in errors]
