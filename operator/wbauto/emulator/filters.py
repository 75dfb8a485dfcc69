"""W&B's MongoDB-style ``filters`` (the ``JSONString`` argument of runs, artifacts and collections).

Supported: field equality, ``$eq $ne $gt $gte $lt $lte $in $nin $exists $regex`` on a field, and
``$and $or $nor`` around expressions. Dotted fields reach into nested values (``config.lr``); a field
holding a list matches when one of its items does, as in MongoDB. Anything else is a GraphQL error,
never a silent match.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from graphql import GraphQLError

_MISSING = object()


def check(filters: Any) -> Mapping[str, Any]:
    """The filter expression of a ``filters`` argument (None and ``{}`` match everything)."""
    if filters is None:
        return {}
    if not isinstance(filters, Mapping):
        raise GraphQLError("filters must be a JSON object")
    return filters


def matches(document: Mapping[str, Any], expression: Mapping[str, Any]) -> bool:
    return all(_clause(document, key, value) for key, value in expression.items())


def _clause(document: Mapping[str, Any], key: str, value: Any) -> bool:
    if key in ("$and", "$or", "$nor"):
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            raise GraphQLError(f"{key} takes a list of expressions")
        results = [matches(document, v) for v in value]
        return all(results) if key == "$and" else (any(results) if key == "$or" else not any(results))
    if key.startswith("$"):
        raise GraphQLError(f"unsupported filter operator {key}")
    actual = _lookup(document, key)
    if isinstance(value, Mapping) and any(k.startswith("$") for k in value):
        return all(_operator(actual, op, operand) for op, operand in value.items())
    return _equals(actual, value)


def _lookup(document: Mapping[str, Any], path: str) -> Any:
    value: Any = document
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _equals(actual: Any, expected: Any) -> bool:
    if isinstance(actual, list) and not isinstance(expected, list):
        return expected in actual
    return actual is not _MISSING and actual == expected


def _operator(actual: Any, op: str, operand: Any) -> bool:
    if op == "$exists":
        return (actual is not _MISSING) == bool(operand)
    if op == "$eq":
        return _equals(actual, operand)
    if op == "$ne":
        return not _equals(actual, operand)
    if op in ("$in", "$nin"):
        if not isinstance(operand, list):
            raise GraphQLError(f"{op} takes a list")
        found = any(_equals(actual, item) for item in operand)
        return found if op == "$in" else not found
    if op == "$regex":
        if not isinstance(operand, str):
            raise GraphQLError("$regex takes a string")
        values = actual if isinstance(actual, list) else [actual]
        return any(isinstance(v, str) and re.search(operand, v) is not None for v in values)
    if op in ("$gt", "$gte", "$lt", "$lte"):
        return _compare(actual, op, operand)
    raise GraphQLError(f"unsupported filter operator {op}")


def _compare(actual: Any, op: str, operand: Any) -> bool:
    numbers = (int, float)
    comparable = (isinstance(actual, numbers) and isinstance(operand, numbers)) or (
        isinstance(actual, str) and isinstance(operand, str)
    )
    if not comparable or isinstance(actual, bool) or isinstance(operand, bool):
        return False
    if op == "$gt":
        return bool(actual > operand)
    if op == "$gte":
        return bool(actual >= operand)
    if op == "$lt":
        return bool(actual < operand)
    return bool(actual <= operand)
