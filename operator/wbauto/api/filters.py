"""W&B's filter expressions as manifest fields (pure): MongoDB-style conditions on an artifact event's
``alias`` / ``tag`` and on the run fields W&B accepts in run filters.

The language is W&B's own (``wandb._filters``): a node's keys all hold (an implicit ``$and``); a key is a
field with operators (``$eq $ne $gt $gte $lt $lte $in $nin $exists $regex $contains $size $all``) or a
logical operator (``$and $or $nor`` over a list of nodes, ``$not`` over one node). Written in YAML as W&B
writes it in JSON::

    filter:
      $or:
        - alias: {$eq: production}
        - alias: {$regex: "^prod-"}

A CRD's schema cannot be recursive, and every nested level is a full copy in it, so the shape is fixed
at two levels: the top node holds the logical operators (and, for artifact events, conditions on
``alias`` / ``tag``); the nodes in ``$and``/``$or``/``$nor``/``$not`` hold field conditions only (several
fields: all hold). That is W&B's own stored form for run filters (``{"$and": [...]}``) and, with a
field-level ``$not``, any condition there is (a disjunction of conjunctions); ``wbauto import`` rewrites
W&B's deeper expressions into it. Operands are JSON scalars (strings, numbers, booleans) checked by CEL;
``$regex`` must compile under RE2 (the apiserver compiles it); run fields are named as W&B names them, with
``config.<path>`` and ``summary_metrics.<path>`` for run config and summary values.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any, Generic, TypeVar

from pydantic import (
    ConfigDict,
    Field,
    GetJsonSchemaHandler,
    JsonValue,
    StringConstraints,
)
from pydantic.json_schema import JsonSchemaValue

from wbauto.api.schema import Model, Rule, Rules

MAX_TERMS = 16
"""Nodes in one ``$and``/``$or``/``$nor`` list."""

MAX_VALUES = 100
"""Values in one ``$in``/``$nin``/``$all`` list."""

MAX_FIELDS = 16
"""Fields in one run-filter node."""

FIELD_OPERATORS = ("$eq", "$ne", "$gt", "$gte", "$lt", "$lte", "$in", "$nin", "$exists", "$regex", "$contains",
                   "$size", "$all")
LOGICAL_OPERATORS = ("$and", "$or", "$nor", "$not")


class AnyJson:
    """``Annotated`` marker: an operand, any JSON value (W&B's operands are scalars, or lists for $eq on a
    list field; MongoDB compares anything). The CRD node is untyped (``x-wbauto-untyped``: crdgen emits no
    ``type``); Kubernetes cannot attach CEL rules to an untyped node, so operands are not checked further."""

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"x-kubernetes-preserve-unknown-fields": True, "x-wbauto-untyped": True}


Scalar = Annotated[JsonValue, AnyJson()]
Values = Annotated[list[Scalar], Field(max_length=MAX_VALUES)]
Text = Annotated[str, StringConstraints(max_length=512)]
FilterRegex = Annotated[
    str,
    StringConstraints(min_length=1, max_length=512),
    Rules(Rule(cel="type(''.matches(self)) == bool", message="must be a valid RE2 regular expression")),
]


class Operators(Model):
    """W&B's operators on one field: $eq $ne $gt $gte $lt $lte (a scalar), $in $nin $all (a list of
    scalars), $exists (a boolean), $regex (RE2, searched), $contains (a substring), $size (a list's length).
    All given hold. On a list field (tags, a version's aliases) an operator holds when it holds for one
    element ($ne, $nin: for none); $ne, $nin and $exists false also hold when the field is missing."""

    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    eq: Scalar | None = Field(None, alias="$eq", description="Equal.")
    ne: Scalar | None = Field(None, alias="$ne", description="Not equal.")
    gt: Scalar | None = Field(None, alias="$gt", description="Greater than.")
    gte: Scalar | None = Field(None, alias="$gte", description="Greater or equal.")
    lt: Scalar | None = Field(None, alias="$lt", description="Less than.")
    lte: Scalar | None = Field(None, alias="$lte", description="Less or equal.")
    in_: Values | None = Field(None, alias="$in", description="One of.")
    nin: Values | None = Field(None, alias="$nin", description="None of.")
    exists: bool | None = Field(None, alias="$exists", description="Set or not.")
    regex: FilterRegex | None = Field(None, alias="$regex", description="RE2 regex.")
    contains: Text | None = Field(None, alias="$contains", description="Substring.")
    size: Annotated[int, Field(ge=0, le=10000)] | None = Field(None, alias="$size", description="List length.")
    all_: Values | None = Field(None, alias="$all", description="Has all of.")


class FieldOps(Operators):
    """W&B's operators on one field (see Operators), and $not: the operators under it do not all hold (also
    true when the field is missing)."""

    not_: Operators | None = Field(None, alias="$not", description="Not all of these hold.")


Terms = TypeVar("Terms")


class Logical(Model, Generic[Terms]):
    """The logical operators of a filter, over nodes of field conditions."""

    and_: Annotated[list[Terms], Field(min_length=1, max_length=MAX_TERMS)] | None = Field(
        None, alias="$and", description="Every node holds.")
    or_: Annotated[list[Terms], Field(min_length=1, max_length=MAX_TERMS)] | None = Field(
        None, alias="$or", description="At least one node holds.")
    nor: Annotated[list[Terms], Field(min_length=1, max_length=MAX_TERMS)] | None = Field(
        None, alias="$nor", description="No node holds.")
    not_: Terms | None = Field(None, alias="$not", description="The node does not hold.")


ARTIFACT_FIELDS = ("alias", "tag")

ArtifactTerm = Annotated[
    dict[Annotated[str, StringConstraints(min_length=1, max_length=16)], FieldOps],
    Field(min_length=1, max_length=len(ARTIFACT_FIELDS)),
    Rules(Rule(cel=f"self.all(k, k in {list(ARTIFACT_FIELDS)})".replace('"', "'"),
               message="artifact filter fields are alias and tag")),
]
"""Conditions on alias and tag; all hold."""


class ArtifactFilter(Logical[ArtifactTerm]):
    """W&B's artifact-event filter (``ArtifactEvent.alias`` / ``.tag``): conditions on the alias and tag, and
    logical operators over more of them; everything given holds."""

    alias: FieldOps | None = Field(None, description="For artifactAliasAdded: the alias added. For other events: "
                                                     "the version's aliases (a list).")
    tag: FieldOps | None = Field(None, description="For tag events: the tag added or removed. For other events: "
                                                   "the version's tags (a list).")


RUN_FIELDS = ("display_name", "displayName", "name", "username", "state", "tags", "group", "jobType", "createdAt",
              "duration")
"""The run fields a run filter names (W&B's spelling; ``displayName`` is ``display_name``), besides
``config.<path>`` and ``summary_metrics.<path>``."""

_RUN_KEY = "^(config|summary_metrics)\\\\.[^.]+(\\\\.[^.]+)*$"
RunTerm = Annotated[
    dict[Annotated[str, StringConstraints(min_length=1, max_length=256)], FieldOps],
    Field(min_length=1, max_length=MAX_FIELDS),
    Rules(Rule(cel=f"self.all(k, k in {list(RUN_FIELDS)} || k.matches('{_RUN_KEY}'))".replace('"', "'"),
               message="run filter fields are " + ", ".join(RUN_FIELDS) + ", config.<path> and "
               "summary_metrics.<path>")),
]
"""Conditions on the run, by W&B field name; all hold."""


class RunExpression(Logical[RunTerm]):
    """W&B's run filter (``run_filter``): logical operators over conditions on the run's fields."""


def wandb_form(node: Model, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """A parsed filter as W&B writes it (operator keys, unset fields left out); ``skip`` names fields of
    the node that are not part of the expression."""
    dumped = node.model_dump(by_alias=True, exclude_none=True, mode="json")
    return {k: v for k, v in dumped.items() if k not in skip}


# --- W&B's expressions, as W&B stores them, into this shape -----------------------------------------------


class Unconvertible(ValueError):
    """A W&B filter that this shape cannot say (the message says why)."""


Literal_ = tuple[str, str, Any, bool]
"""One condition: (field, operator, operand, negated)."""

_COMPLEMENTS = {"$eq": "$ne", "$ne": "$eq", "$in": "$nin", "$nin": "$in"}
_FIELD_OPERATORS = frozenset(FIELD_OPERATORS)


def from_wandb(expression: Any, fields: Callable[[str], str], *, top_fields: bool) -> dict[str, Any]:
    """W&B's expression (any nesting W&B accepts: implicit ``$eq``, several keys in one node, ``$not`` at any
    level, nested ``$and``/``$or``) rewritten into this two-level shape, meaning the same: a conjunction as
    ``$and`` of one node per field (or, with ``top_fields``, the fields themselves when one node holds them),
    anything else as ``$or`` of conjunctions. ``fields`` maps a W&B field name to the one written here, or
    raises :class:`Unconvertible`, as does an expression the shape cannot say."""
    terms = [_dedupe(t) for t in _dnf(_push(_parse(expression, fields), negate=False))]
    if not terms:
        raise Unconvertible("the filter never holds (an empty $or)")
    if any(not t for t in terms):
        return {}  # one alternative always holds
    if len(terms) == 1:
        if top_fields:
            single = _nodes(terms[0], per_field=False)
            if len(single) == 1:
                return single[0]
        return {"$and": _bounded(_nodes(terms[0], per_field=True))}
    alternatives = []
    for term in terms:
        nodes = _nodes(term, per_field=False)
        if len(nodes) > 1:
            raise Unconvertible("an alternative of the filter holds two conditions with one operator on one field")
        alternatives.append(nodes[0])
    return {"$or": _bounded(alternatives)}


def _bounded(nodes: list[dict[str, Any]]) -> list[dict[str, Any]]:
    if len(nodes) > MAX_TERMS:
        raise Unconvertible(f"the filter needs {len(nodes)} nodes once rewritten (at most {MAX_TERMS})")
    return nodes


def _dedupe(literals: list[Literal_]) -> list[Literal_]:
    out: list[Literal_] = []
    for lit in literals:
        if not any(lit[:2] == o[:2] and lit[3] == o[3] and same_json(lit[2], o[2]) for o in out):
            out.append(lit)
    return out


def same_json(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _parse(node: Any, fields: Callable[[str], str]) -> Any:
    """W&B's JSON → a tree of ("and"|"or", [children]), ("not", child) and literals."""
    if not isinstance(node, dict):
        raise Unconvertible(f"a filter node must be an object, not {node!r}")
    parts: list[Any] = []
    for key, value in node.items():
        if key in ("$and", "$or", "$nor"):
            if not isinstance(value, list):
                raise Unconvertible(f"{key} takes a list")
            children = [_parse(v, fields) for v in value]
            parts.append(("and", children) if key == "$and" else ("or", children) if key == "$or"
                         else ("not", ("or", children)))
        elif key == "$not":
            parts.append(("not", _parse(value, fields)))
        elif key.startswith("$"):
            raise Unconvertible(f"operator {key} is not one W&B documents for filters")
        else:
            parts.append(_field(fields(key), value))
    return ("and", parts)


def _field(name: str, ops: Any) -> Any:
    if not isinstance(ops, dict) or not ops or not all(isinstance(k, str) and k.startswith("$") for k in ops):
        ops = {"$eq": ops}  # a plain value is an equality, as in MongoDB
    parts: list[Any] = []
    for op, operand in ops.items():
        if op == "$not":
            parts.append(("not", _field(name, operand)))
        elif op not in _FIELD_OPERATORS:
            raise Unconvertible(f"operator {op} on {name} is not one W&B documents for filters")
        elif op == "$eq" and isinstance(operand, list):  # a whole list: every value and nothing more
            parts.append(("and", [(name, "$all", operand, False), (name, "$size", len(operand), False)]))
        elif op == "$ne" and isinstance(operand, list):
            parts.append(("not", ("and", [(name, "$all", operand, False), (name, "$size", len(operand), False)])))
        else:
            parts.append((name, op, operand, False))
    return ("and", parts)


def _push(tree: Any, negate: bool) -> Any:
    """Negations moved onto the literals (De Morgan); ``$eq``/``$ne``, ``$in``/``$nin`` and ``$exists`` negate
    exactly, other operators keep a negated flag (written as a field's ``$not``)."""
    if isinstance(tree, tuple) and len(tree) == 4:
        name, op, operand, negated = tree
        if not negate:
            return tree
        if op in _COMPLEMENTS:
            return (name, _COMPLEMENTS[op], operand, negated)
        if op == "$exists":
            return (name, op, not operand, negated)
        return (name, op, operand, not negated)
    kind = tree[0]
    if kind == "not":
        return _push(tree[1], not negate)
    children = [_push(c, negate) for c in tree[1]]
    flipped = {"and": "or", "or": "and"}[kind] if negate else kind
    return (flipped, children)


def _dnf(tree: Any) -> list[list[Literal_]]:
    """A negation-free tree as a disjunction of conjunctions (each a list of literals)."""
    if isinstance(tree, tuple) and len(tree) == 4:
        return [[tree]]
    kind, children = tree
    if kind == "or":
        out: list[list[Literal_]] = []
        for child in children:
            out += _dnf(child)
        return out
    product: list[list[Literal_]] = [[]]
    for child in children:
        product = [a + b for a in product for b in _dnf(child)]
        if len(product) > MAX_TERMS * MAX_TERMS:
            raise Unconvertible("the filter has too many alternatives once rewritten")
    return product


def _nodes(literals: list[Literal_], *, per_field: bool) -> list[dict[str, Any]]:
    """A conjunction as nodes {field: operators}: an operator at most once per field and node, a negated
    literal as the field's ``$not`` (one per field and node: ``$not`` negates all its operators at once);
    ``per_field``: one field per node, as W&B's SDK writes run filters."""
    nodes: list[dict[str, Any]] = []
    for name, op, operand, negated in literals:
        for node in nodes:
            if per_field and name not in node:
                continue
            ops = node.setdefault(name, {})
            if negated and "$not" not in ops:
                ops["$not"] = {op: operand}
                break
            if not negated and op not in ops:
                ops[op] = operand
                break
        else:
            nodes.append({name: {"$not": {op: operand}} if negated else {op: operand}})
    return nodes
