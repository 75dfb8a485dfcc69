"""Building blocks for the resource models: one base class, CEL ``x-kubernetes-validations`` rules,
lenient W&B enums, bounded durations and URLs.

The models are the single source of truth: ``wbauto crds`` turns them into CRDs (see ``crdgen``). A rule
is written once, in CEL: the apiserver evaluates it, and so does ``wbauto validate`` (``wbauto.admission``
evaluates the generated CRDs themselves), so no rule has a second, Python spelling.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    ConfigDict,
    GetCoreSchemaHandler,
    GetJsonSchemaHandler,
    StringConstraints,
)
from pydantic.alias_generators import to_camel
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema


@dataclass(frozen=True)
class Rule:
    """One CEL validation rule (``x-kubernetes-validations``). ``field_path`` (CEL ``fieldPath``, e.g.
    ``.event``) names the field the message is about when the rule sits on a parent object."""

    cel: str
    message: str
    field_path: str | None = None

    def as_cel(self) -> dict[str, str]:
        rule = {"rule": self.cel, "message": self.message}
        if self.field_path:
            rule["fieldPath"] = self.field_path
        return rule


@dataclass(frozen=True)
class Rules:
    """An ``Annotated`` marker that attaches rules to a field's type (strings, lists, maps)."""

    rules: tuple[Rule, ...]

    def __init__(self, *rules: Rule) -> None:
        object.__setattr__(self, "rules", rules)

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
    return Rule(
        cel="[" + ", ".join(f"has(self.{k})" for k in keys) + "].exists_one(x, x)",
        message=f"exactly one of {names} must be set ({what})",
    )


def at_most_one(*keys: str, what: str) -> Rule:
    names = ", ".join(keys)
    return Rule(
        cel="[" + ", ".join(f"has(self.{k})" for k in keys) + "].filter(x, x).size() <= 1",
        message=f"at most one of {names} may be set ({what})",
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
# What the CEL bound checks before calling duration(): at most 5 digits before an hour and 6 before other
# units, so duration() never overflows (Go's limit is about 292 years) and the rule never errors
_BOUNDABLE = r"^(([0-9]{1,6}(\\.[0-9]{1,9})?(ms|s|m))|([0-9]{1,5}(\\.[0-9]{1,9})?h))+$"


DURATION = StringConstraints(pattern=DURATION_PATTERN, max_length=32)
"""The shape of a duration field: ``Annotated[str, DURATION, bounded("10m")]``."""


def bounded(maximum: str, minimum: str | None = None) -> Rules:
    """The CEL bound of a duration field: ``minimum`` (or more than 0s) .. ``maximum``."""
    low = f"duration(self) >= duration('{minimum}')" if minimum else "duration(self) > duration('0s')"
    between = f"between {minimum} and {maximum}" if minimum else f"longer than 0s and at most {maximum}"
    return Rules(Rule(cel=f"self.matches('{_BOUNDABLE}') && {low} && duration(self) <= duration('{maximum}')",
                      message=f"must be a duration {between} (e.g. 30s, 5m, 1h30m)"))


def parse_duration(text: str) -> datetime.timedelta:
    """``"1h30m"`` → ``timedelta(hours=1, minutes=30)``; raises ValueError on anything else."""
    if not re.fullmatch(DURATION_PATTERN, text):
        raise ValueError(f"invalid duration {text!r}: expected e.g. 30s, 5m, 1h30m")
    seconds = sum(float(n) * _UNIT_SECONDS[u] for n, u in _DURATION_PART.findall(text))
    try:
        return datetime.timedelta(seconds=seconds)
    except OverflowError as exc:
        raise ValueError(f"invalid duration {text!r}: too long") from exc


def format_duration(delta: datetime.timedelta) -> str:
    total = delta.total_seconds()
    if total < 1:
        return f"{round(total * 1000)}ms"
    hours, rest = divmod(int(total), 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [f"{hours}h" if hours else "", f"{minutes}m" if minutes else "", f"{seconds}s" if seconds else ""]
    return "".join(parts) or "0s"


# --- URLs ------------------------------------------------------------------------------------------

HttpUrl = Annotated[str, StringConstraints(min_length=1, max_length=2048)]
"""An http(s) URL without credentials; checked by :func:`url_rules` on the model holding it (so the
apiserver's error shows ``"object"``, never the URL). IP literals and localhost pass the schema: the
runtime egress guard decides (W&B refuses them; the operator's private-targets setting may allow them)."""

PORT = "([1-9][0-9]{0,3}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5])"
_HOST = r"(\\[[0-9a-fA-F:.]*:[0-9a-fA-F:.]*\\]|[A-Za-z0-9._~-]+)"


def url_rules(field: str) -> tuple[Rule, ...]:
    """Rules for the (optional) URL field ``field`` (camelCase) of a model. The host must be ASCII (an
    internationalised name as punycode, ``xn--``): Unicode digits and dots (circled or fullwidth digits,
    ideographic full stops) would otherwise spell an IP address that the HTTP client normalises and connects to."""
    guard = f"!has(self.{field}) || "
    path = f".{field}"
    return (
        Rule(cel=guard + f"self.{field}.matches('^https?://')",
             message=f"{field} must start with http:// or https://", field_path=path),
        Rule(cel=guard + f"!self.{field}.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*@')",
             message=f"{field} must not carry credentials (user:password@host): secrets belong in a "
             "SecretReference, not in git", field_path=path),
        Rule(cel=guard + f"!self.{field}.matches('^[a-zA-Z][a-zA-Z0-9+.-]*://[^/?#]*[^\\\\x00-\\\\x7f]')",
             message=f"{field}: the host must be ASCII (write an internationalised name as punycode, xn--...)",
             field_path=path),
        Rule(cel=guard + f"!self.{field}.matches('^https?://') || "
             f"self.{field}.matches('^https?://{_HOST}(:{PORT})?([/?#]|$)')",
             message=f"{field}: the host must be a DNS name, an IPv4 address or a bracketed IPv6 address, with "
             "an optional port 1-65535", field_path=path),
        Rule(cel=guard + f"self.{field}.matches('^https?://[^/?#@\\\\s]+([/?#]\\\\S*)?$')",
             message=f"{field} must be a URL with a host and no spaces, e.g. https://hooks.example.com/path",
             field_path=path),
    )


# --- PEM -------------------------------------------------------------------------------------------

CABundle = Annotated[
    str,
    StringConstraints(max_length=65536),
    Rules(Rule(cel="self.matches('-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\\\\s]+-----END CERTIFICATE-----')",
               message="must hold at least one PEM certificate (-----BEGIN CERTIFICATE----- ... "
               "-----END CERTIFICATE-----)")),
]
"""A PEM CA bundle. Admission checks its shape; the runtime loads it (a bundle that does not load stalls
the object with reason InvalidCABundle)."""


# --- regular expressions -----------------------------------------------------------------------------

Regex = Annotated[
    str,
    StringConstraints(min_length=1, max_length=512),
    Rules(Rule(cel="type(''.matches(self)) == bool",
               message="must be a valid RE2 regular expression (https://github.com/google/re2/wiki/Syntax): "
               "no lookaround or backreferences")),
]
"""A regex run with RE2 semantics (linear time). The rule makes the apiserver compile it: CEL's
``matches()`` is RE2, and a pattern that does not compile fails the rule's evaluation."""


# --- white space -----------------------------------------------------------------------------------

NOT_SPACE = r"\s\p{Z}\x0b\x{85}"
"""Unicode white space, for inside a negated character class, spelled so that RE2 (the apiserver, whose
``\s`` is ASCII) and pydantic's regex engine (whose ``\s`` is Unicode) mean the same set."""


# --- names -------------------------------------------------------------------------------------------

# A DNS-1123 subdomain: what a Kubernetes object name in the same namespace must look like.
OBJECT_NAME_PATTERN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
ObjectName = Annotated[str, StringConstraints(pattern=OBJECT_NAME_PATTERN, min_length=1, max_length=253)]
