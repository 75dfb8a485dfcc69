"""W&B's custom GraphQL scalars: ``DateTime``, ``JSONString``, ``Int64`` (``JSON`` passes values as is).

``JSONString`` is JSON text on the wire and a parsed value inside: resolvers return Python values and
mutations receive them parsed, so a bad string is a variable error, as on W&B.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from graphql import ConstValueNode, GraphQLError, GraphQLScalarType, GraphQLSchema, IntValueNode, StringValueNode


def format_time(value: datetime) -> str:
    """W&B-style UTC time with microseconds: ``2026-01-02T03:04:05.123456Z``."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def install(schema: GraphQLSchema) -> None:
    """Give the schema's custom scalars their coercion functions."""
    _install(schema, "DateTime", _time_output, _time_input, (StringValueNode,))
    _install(schema, "JSONString", json.dumps, _json_string_input, (StringValueNode,))
    _install(schema, "Int64", _int64, _int64, (IntValueNode, StringValueNode))


def _install(
    schema: GraphQLSchema,
    name: str,
    output: Callable[[Any], Any],
    parse_value: Callable[[Any], Any],
    literals: tuple[type[IntValueNode | StringValueNode], ...],
) -> None:
    def parse_literal(node: ConstValueNode) -> Any:
        if not isinstance(node, literals):
            raise GraphQLError(f"{name} cannot represent a {node.kind} literal")
        return parse_value(node.value)

    scalar = cast(GraphQLScalarType, schema.type_map[name])
    scalar.coerce_output_value = output
    scalar.coerce_input_value = parse_value
    scalar.coerce_input_literal = parse_literal


def _time_output(value: Any) -> str:
    if not isinstance(value, datetime):
        raise GraphQLError(f"DateTime cannot represent {value!r}")
    return format_time(value)


def _time_input(value: Any) -> datetime:
    if not isinstance(value, str):
        raise GraphQLError(f"DateTime cannot represent {value!r}")
    try:
        return datetime.fromisoformat(value)
    except ValueError as error:
        raise GraphQLError(f"DateTime cannot represent {value!r}: {error}") from None


def _json_string_input(value: Any) -> Any:
    if not isinstance(value, str):
        raise GraphQLError(f"JSONString expects a string of JSON text, not {type(value).__name__}")
    try:
        return json.loads(value)
    except ValueError as error:
        raise GraphQLError(f"JSONString is not valid JSON: {error}") from None


def _int64(value: Any) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.removeprefix("-").isdigit():
        return int(value)
    raise GraphQLError(f"Int64 cannot represent {value!r}")
