"""The CRDs' ``x-kubernetes-validations`` rules, evaluated offline with cel-python (pure).

Values are typed by their schema as the apiserver types them (``number`` is a double even when written
``3``, ``integer`` an int, objects and maps are maps), so a rule means the same here and there. The
functions beyond standard CEL that the rules use come from Kubernetes' CEL libraries (``lowerAscii``);
``matches()`` is RE2, as in Go. A rule that cannot be evaluated (a regex that does not compile, a
duration that overflows) refuses the object, as the apiserver does: ``<error> evaluating rule: <message>``.
"""

from __future__ import annotations

import collections
import functools
import re
from dataclasses import dataclass
from typing import Any

import celpy
from celpy import celtypes
from celpy.evaluation import CELEvalError

from wbauto.admission import regex
from wbauto.admission.structural import INT64, Schema, child, key

_ENV = celpy.Environment()


def _lower_ascii(text: celtypes.StringType) -> celtypes.StringType:
    return celtypes.StringType("".join(c.lower() if c.isascii() else c for c in text))


def _matches(text: celtypes.StringType, pattern: celtypes.StringType) -> Any:
    try:
        return celtypes.BoolType(regex.search(str(pattern), str(text)))
    except regex.RegexError as exc:
        return CELEvalError(f"invalid regular expression: {exc}", exc.__class__, exc.args)


GO_DURATION_LIMIT = (2**63 - 1) / 1e9
"""Go's time.Duration holds int64 nanoseconds (about 292 years): cel-go's duration() fails beyond that."""


def _duration(value: Any) -> Any:
    try:
        result = celtypes.DurationType(value)
    except (ValueError, TypeError, OverflowError) as exc:
        return CELEvalError("type conversion error from 'string' to 'google.protobuf.Duration'", type(exc), ())
    if abs(result.total_seconds()) > GO_DURATION_LIMIT:
        return CELEvalError("type conversion error from 'string' to 'google.protobuf.Duration'", OverflowError, ())
    return result


FUNCTIONS: dict[str, Any] = {"lowerAscii": _lower_ascii, "matches": _matches, "duration": _duration}


@functools.lru_cache(maxsize=1024)
def program(rule: str) -> Any:
    """The compiled rule (compiled once per rule text)."""
    return _ENV.program(_ENV.compile(rule), functions=FUNCTIONS)


def json_to_cel(value: Any) -> Any:
    """A JSON value as CEL's dynamic value; integers beyond int64 are doubles (as Go's JSON decoding keeps
    them)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return celtypes.BoolType(value)
    if isinstance(value, int):
        return celtypes.IntType(value) if INT64[0] <= value <= INT64[1] else celtypes.DoubleType(float(value))
    if isinstance(value, float):
        return celtypes.DoubleType(value)
    if isinstance(value, str):
        return celtypes.StringType(value)
    if isinstance(value, list):
        return celtypes.ListType([json_to_cel(v) for v in value])
    return celtypes.MapType({celtypes.StringType(k): json_to_cel(v) for k, v in value.items()})


def to_cel(value: Any, node: Schema) -> Any:
    """``value`` as the CEL value the apiserver binds to ``self`` for a node of this schema."""
    if value is None:
        return None
    if node.get("x-kubernetes-int-or-string") or (
            node.get("x-kubernetes-preserve-unknown-fields") and not node.get("properties")):
        return json_to_cel(value)
    kind = node.get("type")
    if kind == "object" and isinstance(value, dict):
        props = node.get("properties") or {}
        extra = node.get("additionalProperties")
        out = {}
        for name, sub in value.items():
            schema = props.get(name) or (extra if isinstance(extra, dict) else {})
            out[celtypes.StringType(name)] = to_cel(sub, schema)
        return celtypes.MapType(out)
    if kind == "array" and isinstance(value, list):
        items = node.get("items") or {}
        return celtypes.ListType([to_cel(v, items) for v in value])
    if kind == "integer":
        return celtypes.IntType(int(value))
    if kind == "number":
        return celtypes.DoubleType(float(value))
    if kind == "boolean":
        return celtypes.BoolType(value)
    if kind == "string":
        return celtypes.StringType(value)
    return json_to_cel(value)


@dataclass(frozen=True)
class RuleError:
    path: str
    message: str


def _detail(error: BaseException) -> str:
    if isinstance(error, CELEvalError) and error.args:
        first = str(error.args[0])
        inner = error.args[2] if len(error.args) > 2 else ()
        if inner:
            parts = [p.decode("utf-8", "replace") if isinstance(p, bytes) else str(p) for p in inner]
            return f"{first}: {', '.join(parts)}" if not first.startswith("invalid regular") else first
        return first
    return str(error) or type(error).__name__


def _rule_path(path: str, field_path: str) -> str:
    out = path
    for part in field_path.strip(".").split("."):
        if part:
            out = child(out, part)
    return out


_HAS = re.compile(r"has\(self((?:\.[A-Za-z_][A-Za-z0-9_]*)+)\)")


@functools.lru_cache(maxsize=1024)
def presence_paths(rule: str) -> tuple[tuple[str, ...], ...] | None:
    """The field paths of a rule that reads ``self`` only through ``has(self.a.b)``, or None. Such a rule's
    outcome is a function of which of those keys are present (and the types along each path) alone."""
    paths = tuple(tuple(m.group(1)[1:].split(".")) for m in _HAS.finditer(rule))
    return paths if paths and "self" not in _HAS.sub("", rule) else None


def _shape(value: Any, paths: tuple[tuple[str, ...], ...]) -> tuple[tuple[str, ...], ...]:
    """What a presence-only rule can see of ``value``: the type of each step along each path."""
    out = []
    for path in paths:
        seen, item = [], value
        for name in path:
            if not isinstance(item, dict) or name not in item:
                seen.append("absent" if isinstance(item, dict) else type(item).__name__)
                break
            item = item[name]
            seen.append(type(item).__name__)
        out.append(tuple(seen))
    return tuple(out)


Outcome = tuple[bool, str]  # (passed, "" or the evaluation error's detail)
OUTCOME_CACHE_SIZE = 50_000
_outcomes: collections.OrderedDict[tuple[str, Any], Outcome] = collections.OrderedDict()


def _outcome(rule: str, value: Any, node: Schema) -> Outcome:
    """One rule's outcome on a value, remembered: by the value's shape for presence-only rules (most of the
    CRDs' rules, so a thousand Automations cost a handful of evaluations), else by the exact value."""
    paths = presence_paths(rule)
    # an exact value is typed by its node (3 is an int or a double), so the node is part of that key
    memo = (rule, _shape(value, paths) if paths is not None else (id(node), repr(value)))
    found = _outcomes.get(memo)
    if found is not None:
        _outcomes.move_to_end(memo)
        return found
    try:
        result = program(rule).evaluate({"self": to_cel(value, node)})
    except Exception as exc:  # any evaluation failure refuses the object, as in the apiserver
        found = (False, _detail(exc))
    else:
        if isinstance(result, CELEvalError):
            found = (False, _detail(result))
        else:
            found = (result is True or result == celtypes.BoolType(True), "")
    _outcomes[memo] = found
    if len(_outcomes) > OUTCOME_CACHE_SIZE:
        _outcomes.popitem(last=False)
    return found


def check_node(value: Any, node: Schema, path: str) -> list[RuleError]:
    """The rules of one schema node against its (non-null) value."""
    rules = node.get("x-kubernetes-validations") or []
    if not rules or value is None:
        return []
    kind = node.get("type", "object")
    shown = f'"{value}"' if isinstance(value, str) else None
    out: list[RuleError] = []
    for rule in rules:
        message = str(rule.get("message") or f"failed rule: {rule['rule']}").strip()
        passed, error = _outcome(rule["rule"], value, node)
        if error:
            out.append(RuleError(path, f'Invalid value: "{kind}": {error} evaluating rule: {message}'))
        elif not passed:
            where = _rule_path(path, str(rule.get("fieldPath") or ""))
            out.append(RuleError(where, f"Invalid value: {shown}: {message}" if shown else f"Invalid value: {message}"))
    return out


def check(value: Any, node: Schema, path: str) -> list[RuleError]:
    """Every rule in the schema tree, against the value tree (both already validated structurally)."""
    out: list[RuleError] = []
    stack: list[tuple[Any, Schema, str]] = [(value, node, path)]
    while stack:
        item, schema, where = stack.pop()
        if item is None:
            continue
        out.extend(check_node(item, schema, where))
        if isinstance(item, dict):
            props = schema.get("properties") or {}
            extra = schema.get("additionalProperties")
            for name, sub in item.items():
                if name in props:
                    stack.append((sub, props[name], child(where, name)))
                elif isinstance(extra, dict):
                    stack.append((sub, extra, key(where, name)))
        elif isinstance(item, list) and isinstance(schema.get("items"), dict):
            stack.extend((sub, schema["items"], f"{where}[{i}]") for i, sub in enumerate(item))
    return out
