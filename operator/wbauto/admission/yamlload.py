"""Turn manifest text into JSON values the way ``kubectl`` does, with bounds (pure: text in, values out).

``kubectl`` converts each YAML document to JSON with ``sigs.k8s.io/yaml`` (go-yaml v2 into ``interface{}``)
before anything reaches the apiserver, so the same text must give the same JSON here:

- plain scalars resolve as go-yaml v2 does: ``y``/``n``/``on``/``off`` are booleans, ``1e3`` is a float,
  ``0o17``/``0x1F``/``0b101``/``1_000`` are integers, ``1:30`` (YAML 1.1 base 60) stays a string, and
  timestamps such as ``2020-01-01`` stay the string as written;
- ``!!binary`` becomes the decoded text, unknown tags (``!foo``) are ignored, ``<<`` merge keys apply;
- integer, float and boolean map keys become strings (``1`` → ``"1"``), other keys are refused;
- ``.nan`` / ``.inf`` are refused (JSON has no such numbers: kubectl fails with "unsupported value").

Bounds, so that no input can exhaust the stack, the memory or the CPU: nesting depth, nodes after alias
expansion (billion laughs), recursive aliases and document size. Each violation is a :class:`LoadError`
naming the document and, where there is one, the line.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml
from yaml.composer import Composer
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.parser import Parser
from yaml.reader import Reader
from yaml.resolver import BaseResolver
from yaml.scanner import Scanner, ScannerError

MAX_DEPTH = 100
"""Deepest nesting of maps and lists accepted (the apiserver allows more; the operator cannot honour it)."""
MAX_NODES = 100_000
"""Most values one document may hold once YAML aliases are expanded."""
MAX_DOCUMENT_BYTES = 1_572_864
"""1.5 MiB of JSON per object: etcd's request limit, so a larger object can never be stored."""

_PLAIN = "?plain"  # tag given to untagged plain scalars: resolved below, go-yaml style
_STR = "tag:yaml.org,2002:str"
_LONG = "tag:yaml.org,2002:"


class LoadError(Exception):
    """A document that cannot become a JSON value; ``where`` is e.g. ``line 4``."""

    def __init__(self, message: str, where: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.where = where

    def __str__(self) -> str:
        return f"{self.where}: {self.message}" if self.where else self.message


# --- go-yaml v2 scalar resolution (go.yaml.in/yaml/v2 resolve.go) ------------------------------------

_BOOL_NULL: dict[str, Any] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE", "on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE", "off", "Off", "OFF"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
}
_SPECIAL_FLOATS = {
    **dict.fromkeys((".nan", ".NaN", ".NAN"), math.nan),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), math.inf),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), -math.inf),
}
_YAML_FLOAT = re.compile(r"^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$")
_GO_FLOAT = re.compile(r"^[-+]?(([0-9]+(\.[0-9]*)?|\.[0-9]+)([eE][-+]?[0-9]+)?|inf(inity)?|nan)$", re.IGNORECASE)
_TIMESTAMP = re.compile(
    r"^[0-9]{4}-[0-9]{1,2}-[0-9]{1,2}"
    r"([Tt][0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?(Z|[-+][0-9]{2}:[0-9]{2})"
    r"| [0-9]{1,2}:[0-9]{1,2}:[0-9]{1,2}(\.[0-9]+)?)?$")
_INT64 = (-(2**63), 2**63 - 1)
_UINT64_MAX = 2**64 - 1
_MERGE = object()
_SURROGATE = re.compile("[\ud800-\udfff]")


def _go_int(text: str) -> int | None:
    """``strconv.ParseInt(text, 0, 64)`` (or ParseUint): base prefixes 0x, 0o, 0b and a leading 0 (octal)."""
    sign, body = (text[0], text[1:]) if text[:1] in "+-" else ("", text)
    if not body:
        return None
    lower = body.lower()
    try:
        if lower.startswith("0x"):
            value = int(body[2:], 16) if re.fullmatch(r"[0-9a-fA-F]+", body[2:]) else None
        elif lower.startswith("0o"):
            value = int(body[2:], 8) if re.fullmatch(r"[0-7]+", body[2:]) else None
        elif lower.startswith("0b"):
            value = int(body[2:], 2) if re.fullmatch(r"[01]+", body[2:]) else None
        elif len(body) > 1 and body[0] == "0":
            value = int(body[1:], 8) if re.fullmatch(r"[0-7]+", body[1:]) else None
        else:
            value = int(body) if re.fullmatch(r"[0-9]+", body) else None
    except ValueError:
        return None
    if value is None:
        return None
    if sign == "-":
        value = -value
        return value if value >= _INT64[0] else None
    return value if value <= _UINT64_MAX else None


def _go_float(text: str) -> float | None:
    """``strconv.ParseFloat(text, 64)``; out of range is an error there (the value stays a string)."""
    if not _GO_FLOAT.match(text):
        return None
    value = float(text)
    if math.isinf(value) and not re.search("inf", text, re.IGNORECASE):
        return None
    return value


def resolve_plain(text: str) -> Any:
    """The value go-yaml v2 gives an untagged plain scalar decoded into ``interface{}``."""
    first = text[:1]
    if text in _BOOL_NULL:
        return _BOOL_NULL[text]
    if text in _SPECIAL_FLOATS:
        return _SPECIAL_FLOATS[text]
    if text == "<<":
        return _MERGE
    if first == ".":
        value = _go_float(text)
        return text if value is None else value
    if first and ((first.isdigit() and first.isascii()) or first in "+-"):
        if _TIMESTAMP.match(text):
            return text  # a timestamp decoded into interface{} stays the string as written
        plain = text.replace("_", "")
        number = _go_int(plain)
        if number is not None:
            return number
        if _YAML_FLOAT.match(plain):
            value = _go_float(plain)
            if value is not None:
                return value
    return text


def _resolve_tagged(tag: str, text: str, where: str) -> Any:
    short = "!!" + tag[len(_LONG):] if tag.startswith(_LONG) else tag
    if short == "!!str":
        return text
    if short == "!!binary":
        try:
            data = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise LoadError("!!binary value contains invalid base64 data", where) from exc
        return data.decode("utf-8", errors="replace")
    if short not in ("!!bool", "!!int", "!!float", "!!null", "!!timestamp"):
        return text  # go-yaml ignores tags it does not know
    value = resolve_plain(text)
    kind = _kind(value)
    if short == "!!timestamp" and _TIMESTAMP.match(text):
        return text
    if short == "!!float" and kind == "!!int":
        return float(value)
    if kind != short:
        raise LoadError(f"cannot decode {kind} `{text}` as a {short}", where)
    return value


def _kind(value: Any) -> str:
    if value is None:
        return "!!null"
    if isinstance(value, bool):
        return "!!bool"
    if isinstance(value, int):
        return "!!int"
    if isinstance(value, float):
        return "!!float"
    return "!!str"


# --- composition with bounds ---------------------------------------------------------------------------


class _Resolver(BaseResolver):
    """Marks untagged plain scalars for :func:`resolve_plain`; quoted scalars are strings."""

    def resolve(self, kind: Any, value: Any, implicit: Any) -> str:
        if kind is ScalarNode:
            return _PLAIN if implicit[0] else _STR
        return super().resolve(kind, value, implicit)  # type: ignore[no-any-return,no-untyped-call]


class _Loader(Reader, Scanner, Parser, Composer, _Resolver):
    """PyYAML's pure-Python parser (no C recursion) with a depth bound on composition."""

    def __init__(self, stream: str) -> None:
        Reader.__init__(self, stream)
        Scanner.__init__(self)
        Parser.__init__(self)
        Composer.__init__(self)
        _Resolver.__init__(self)
        self._depth = 0

    def scan_flow_scalar_non_spaces(self, double: bool, start_mark: Any) -> list[str]:
        """PyYAML's scan, but an escape beyond U+10FFFF or naming a surrogate is a syntax error, as in go-yaml
        ("found invalid Unicode character escape code"), instead of a ValueError or a lone surrogate."""
        try:
            chunks: list[str] = super().scan_flow_scalar_non_spaces(double, start_mark)
        except ValueError as exc:
            raise self._bad_escape(start_mark) from exc
        if any(_SURROGATE.search(chunk) for chunk in chunks):  # the reader refuses literal ones
            raise self._bad_escape(start_mark)
        return chunks

    def _bad_escape(self, start_mark: Any) -> ScannerError:
        return ScannerError("while parsing a quoted scalar", start_mark,
                            "found invalid Unicode character escape code", self.get_mark())

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise LoadError(f"nested deeper than {MAX_DEPTH} levels", f"line {mark.line + 1}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def _line(node: Node) -> str:
    return f"line {node.start_mark.line + 1}"


def _measure(node: Node, memo: dict[int, tuple[int, int]], active: set[int]) -> tuple[int, int]:
    """(nodes, depth) of ``node`` with aliases expanded; refuses recursive aliases. Iterative over
    siblings, recursive over depth (bounded by composition)."""
    key = id(node)
    if key in memo:
        return memo[key]
    if key in active:
        raise LoadError("a YAML alias refers to a value that contains it", _line(node))
    if isinstance(node, ScalarNode):
        return 1, 0
    active.add(key)
    count, depth = 1, 0
    children: list[Node] = (
        [n for pair in node.value for n in pair] if isinstance(node, MappingNode) else list(node.value))
    for child in children:
        n, d = _measure(child, memo, active)
        count += n
        depth = max(depth, d + 1)
        if count > MAX_NODES:
            raise LoadError(f"more than {MAX_NODES} values once YAML aliases are expanded", _line(node))
        if depth > MAX_DEPTH:
            raise LoadError(f"nested deeper than {MAX_DEPTH} levels once YAML aliases are expanded", _line(node))
    active.discard(key)
    memo[key] = (count, depth)
    return count, depth


# --- construction: nodes → JSON values -----------------------------------------------------------------


def _scalar(node: ScalarNode) -> Any:
    if node.tag == _PLAIN:
        value = resolve_plain(node.value)
    elif node.tag == _STR or node.tag == "!":
        value = node.value
    else:
        value = _resolve_tagged(node.tag, node.value, _line(node))
    if isinstance(value, float) and not math.isfinite(value):
        raise LoadError(f"{node.value!r} is not a JSON number (kubectl: unsupported value)", _line(node))
    return value


def _key(node: Node) -> str | object:
    if not isinstance(node, ScalarNode):
        raise LoadError("a map key must be a string, a number or a boolean, not a list or map", _line(node))
    value = _scalar(node)
    if value is _MERGE or isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return format_float32(value)
    raise LoadError("a map key must not be null", _line(node))


def _construct(node: Node) -> Any:
    if isinstance(node, ScalarNode):
        return _scalar(node)
    if isinstance(node, SequenceNode):
        return [_construct(child) for child in node.value]
    out: dict[str, Any] = {}
    merged: dict[str, Any] = {}
    for key_node, value_node in node.value:
        key = _key(key_node)
        if key is _MERGE:
            merged.update(_merge_source(value_node))
            continue
        assert isinstance(key, str)
        out[key] = _construct(value_node)
    return {**merged, **out} if merged else out


def _merge_source(node: Node) -> dict[str, Any]:
    sources = node.value if isinstance(node, SequenceNode) else [node]
    merged: dict[str, Any] = {}
    for source in reversed(sources):  # earlier maps in a merge list win
        value = _construct(source)
        if not isinstance(value, dict):
            raise LoadError("map merge (<<) requires a map or a list of maps", _line(node))
        merged.update(value)
    return merged


def format_float32(value: float) -> str:
    """``strconv.FormatFloat(v, 'g', -1, 32)``: how sigs.k8s.io/yaml writes a float map key."""
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    if math.isnan(value):
        return ".nan"
    single = struct.unpack("f", struct.pack("f", value))[0]
    if math.isinf(single):  # beyond float32's range: Go's FormatFloat(v, 'g', -1, 32) says +Inf / -Inf
        return ".inf" if single > 0 else "-.inf"
    if single == 0:
        return "-0" if math.copysign(1.0, single) < 0 else "0"
    text = f"{single:.8e}"
    for digits in range(1, 10):
        text = f"{single:.{digits - 1}e}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            break
    mantissa, _, exponent = text.partition("e")
    sign = "-" if mantissa.startswith("-") else ""
    figures = mantissa.lstrip("-").replace(".", "").rstrip("0") or "0"
    exp = int(exponent)
    if exp < -4 or exp >= 6:
        body = figures[0] + ("." + figures[1:] if len(figures) > 1 else "")
        return f"{sign}{body}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return f"{single:.{max(len(figures) - (exp + 1), 0)}f}"


# --- documents -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Document:
    """One document: its index in the file, its first line, and its JSON value (or why it has none)."""

    index: int
    line: int
    value: Any = None
    error: LoadError | None = None


def load_yaml(text: str) -> Iterator[Document]:
    """Every non-empty document of a YAML stream. A syntax error ends the stream (as in kubectl)."""
    try:
        loader = _Loader(text)  # the reader refuses control characters and lone surrogates here
    except yaml.YAMLError as exc:
        raise LoadError(f"not valid YAML: {exc}") from exc
    index = 0
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            line = node.start_mark.line + 1
            try:
                _measure(node, {}, set())
                value = _construct(node)
                check_size(value)
            except LoadError as exc:
                yield Document(index, line, error=exc)
            else:
                if value is not None:
                    yield Document(index, line, value)
            index += 1
    except LoadError as exc:
        yield Document(index, 0, error=exc)
    except yaml.YAMLError as exc:
        raise LoadError(f"not valid YAML: {exc}") from exc
    finally:
        loader.dispose()


def load_json(text: str) -> Document:
    """A JSON document (NaN and Infinity refused, as Go's encoding/json does), depth- and size-bounded."""

    def refuse(name: str) -> Any:
        raise LoadError(f"{name} is not a JSON number")

    try:
        value = json.loads(text, parse_constant=refuse)
    except RecursionError as exc:
        raise LoadError(f"nested deeper than {MAX_DEPTH} levels") from exc
    except json.JSONDecodeError as exc:
        raise LoadError(f"not valid JSON: {exc}") from exc
    if depth_of(value) > MAX_DEPTH:
        return Document(0, 1, error=LoadError(f"nested deeper than {MAX_DEPTH} levels"))
    try:
        check_size(value)
    except LoadError as exc:
        return Document(0, 1, error=exc)
    return Document(0, 1, value)


def depth_of(value: Any) -> int:
    """Nesting depth of a JSON value, without recursion."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, depth)
        if deepest > MAX_DEPTH:
            return deepest
        stack.extend((child, depth + 1) for child in children)
    return deepest


def check_size(value: Any) -> None:
    size = len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass"))
    if size > MAX_DOCUMENT_BYTES:
        raise LoadError(f"the object is {size} bytes as JSON; at most {MAX_DOCUMENT_BYTES} can be stored")
