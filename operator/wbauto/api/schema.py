"""Building blocks for the resource models: one base class, validation rules that exist both as a
Python check and as a CEL ``x-kubernetes-validations`` rule, lenient W&B enums and durations.

The models are the single source of truth: ``wbauto crds`` turns them into CRDs (see ``crdgen``), and
``wbauto validate`` runs them offline. Every rule is written once here and enforced in both places.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
    model_validator,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import PydanticCustomError, core_schema

RULE_ERROR = "rule_violation"


@dataclass(frozen=True)
class Rule:
    """One validation rule, enforced by the apiserver (``cel``) and offline (``check``).

    ``check`` receives the validated value (a model instance, a string, a list...) and returns True
    when the value is valid. ``field_path`` (CEL ``fieldPath``, e.g. ``.event``) names the field the
    message is about when the rule sits on a parent object.
    """

    cel: str
    message: str
    check: Callable[[Any], bool]
    field_path: str | None = None

    def as_cel(self) -> dict[str, str]:
        rule = {"rule": self.cel, "message": self.message}
        if self.field_path:
            rule["fieldPath"] = self.field_path
        return rule

    def enforce(self, value: Any) -> None:
        if not self.check(value):
            raise PydanticCustomError(
                RULE_ERROR, "{message}", {"message": self.message, "field_path": self.field_path or ""}
            )


@dataclass(frozen=True)
class Rules:
    """An ``Annotated`` marker that attaches rules to a field's type (strings, lists, maps)."""

    rules: tuple[Rule, ...]

    def __init__(self, *rules: Rule) -> None:
        object.__setattr__(self, "rules", rules)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        def validate(value: Any) -> Any:
            for rule in self.rules:
                rule.enforce(value)
            return value

        return core_schema.no_info_after_validator_function(validate, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        js = handler(schema)
        target = handler.resolve_ref_schema(js)
        target.setdefault("x-kubernetes-validations", []).extend(r.as_cel() for r in self.rules)
        return js


class Model(BaseModel):
    """Base of every spec/status model: camelCase keys, unknown keys rejected, rules enforced."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        use_enum_values=False,
    )

    __rules__: ClassVar[tuple[Rule, ...]] = ()

    @model_validator(mode="after")
    def _enforce_rules(self) -> Model:
        for rule in type(self).__rules__:
            rule.enforce(self)
        return self

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: core_schema.CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        js = handler(schema)
        target = handler.resolve_ref_schema(js)
        if cls.__rules__:
            target["x-kubernetes-validations"] = [r.as_cel() for r in cls.__rules__]
        return js

    def dump(self) -> dict[str, Any]:
        """The manifest form: camelCase keys, no unset optional fields."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


def exactly_one(*keys: str, what: str) -> Rule:
    """A keyed union (ESO style): exactly one of the camelCase ``keys`` must be set."""
    names = ", ".join(keys)
    attrs = tuple(to_snake(k) for k in keys)
    return Rule(
        cel="[" + ", ".join(f"has(self.{k})" for k in keys) + "].exists_one(x, x)",
        message=f"exactly one of {names} must be set ({what})",
        check=lambda m: sum(getattr(m, a) is not None for a in attrs) == 1,
    )


def at_most_one(*keys: str, what: str) -> Rule:
    names = ", ".join(keys)
    attrs = tuple(to_snake(k) for k in keys)
    return Rule(
        cel="[" + ", ".join(f"has(self.{k})" for k in keys) + "].filter(x, x).size() <= 1",
        message=f"at most one of {names} may be set ({what})",
        check=lambda m: sum(getattr(m, a) is not None for a in attrs) <= 1,
    )


def to_snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


# --- lenient enums (W&B's LenientStrEnum: aliases map to the canonical value) -----------------------


class Lenient:
    """``Annotated`` marker: accept an enum's values plus W&B's aliases (mapped to the canonical value).

    The CRD lists every accepted spelling, so the apiserver and ``wbauto validate`` accept the same set.
    """

    def __init__(self, enum: type[StrEnum], aliases: Mapping[str, str] | None = None) -> None:
        self.aliases = dict(aliases or {})
        canonical = [m.value for m in enum]
        self.accepted = canonical + [a for a in self.aliases if a not in canonical]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        def normalize(value: Any) -> Any:
            return self.aliases.get(value, value) if isinstance(value, str) else value

        return core_schema.no_info_before_validator_function(normalize, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"type": "string", "enum": self.accepted}


# --- durations (Go / Flux style: 30s, 5m, 1h30m, 250ms) -------------------------------------------

DURATION_PATTERN = r"^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$"
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}

Duration = Annotated[str, StringConstraints(pattern=DURATION_PATTERN, max_length=32)]


def parse_duration(text: str) -> datetime.timedelta:
    """``"1h30m"`` → ``timedelta(hours=1, minutes=30)``; raises ValueError on anything else."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"invalid duration {text!r}: expected e.g. 30s, 5m, 1h30m")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
    return datetime.timedelta(seconds=seconds)


def format_duration(delta: datetime.timedelta) -> str:
    total = delta.total_seconds()
    if total < 1:
        return f"{round(total * 1000)}ms"
    hours, rest = divmod(int(total), 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{seconds}s" if seconds else ""]
    return "".join(parts) or "0s"


# --- URLs ------------------------------------------------------------------------------------------

_URL_SHAPE = r"^https?://[^/?#@\s]+([/?#]\S*)?$"
_CREDENTIALS = r"^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@"

HttpUrl = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
"""An http(s) URL without credentials; checked by :func:`url_rules` on the model holding it (so the
apiserver's error shows ``"object"``, never the URL). IP literals and localhost pass the schema: the
runtime egress guard decides (W&B refuses them; the operator's private-targets setting may allow them)."""


def url_rules(field: str) -> tuple[Rule, ...]:
    """Rules for the (optional) URL field ``field`` (camelCase) of a model."""
    attr = to_snake(field)

    def holds(pattern: str, expected: bool) -> Callable[[Any], bool]:
        def check(model: Any) -> bool:
            value = getattr(model, attr)
            return value is None or (re.match(pattern, value) is not None) == expected

        return check

    guard = f"!has(self.{field}) || "
    return (
        Rule(cel=guard + f"self.{field}.matches('^https?://')",
             message="must start with http:// or https://",
             check=holds(r"^https?://", True), field_path=f".{field}"),
        Rule(cel=guard + f"!self.{field}.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@')",
             message="must not carry credentials (user:password@host): secrets belong in a SecretReference, "
             "not in git",
             check=holds(_CREDENTIALS, False), field_path=f".{field}"),
        Rule(cel=guard + f"self.{field}.matches('^https?://[^/?#@\\\\s]+([/?#]\\\\S*)?$')",
             message="must be a URL with a host and no spaces, e.g. https://hooks.example.com/path",
             check=holds(_URL_SHAPE, True), field_path=f".{field}"),
    )


# --- names -------------------------------------------------------------------------------------------

# A DNS-1123 subdomain: what a Kubernetes object name in the same namespace must look like.
OBJECT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
ObjectName = Annotated[str, StringConstraints(pattern=OBJECT_NAME_PATTERN, min_length=1, max_length=253)]
