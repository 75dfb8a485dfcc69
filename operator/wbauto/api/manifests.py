"""Typed views of wbauto objects: a :class:`Resource` (valid) or an :class:`Invalid` naming each problem.

The verdict itself comes from ``wbauto.admission.review.admit`` (the CRDs' schemas and CEL rules, as the
apiserver applies them); :func:`parse` only builds the typed spec of an object that verdict accepted.
Pure: no files, no YAML (those are in ``wbauto.admission.files``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from wbauto.api.kinds import API_VERSION, BY_KIND, GROUP, Kind
from wbauto.api.schema import Model


@dataclass(frozen=True)
class Problem:
    """One reason a document is invalid: the field it is about and what is wrong."""

    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}"


@dataclass(frozen=True)
class Resource:
    """A valid wbauto object."""

    kind: Kind
    namespace: str
    name: str
    spec: Model
    body: dict[str, Any]
    source: str = ""

    @property
    def ref(self) -> str:
        return f"{self.kind.kind}/{self.namespace}/{self.name}"

    @property
    def generation(self) -> int:
        generation = (self.body.get("metadata") or {}).get("generation")
        return generation if isinstance(generation, int) and not isinstance(generation, bool) else 1

    @property
    def uid(self) -> str:
        return str(self.body.get("metadata", {}).get("uid") or "")


@dataclass
class Invalid:
    """A document that is not a valid wbauto object."""

    ref: str
    source: str
    problems: list[Problem] = field(default_factory=list)


def _path(loc: Iterable[int | str], prefix: str) -> str:
    out = prefix
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", part):
            out += f".{part}" if out else part
        else:
            out += f"[{part}]"
    return out


def _show(value: Any) -> str:
    if isinstance(value, str):
        return json.dumps(value if len(value) <= 80 else value[:77] + "...")
    if isinstance(value, (dict, list)):
        return '"object"' if isinstance(value, dict) else '"array"'
    return json.dumps(value)


def problems_from(error: ValidationError, prefix: str) -> list[Problem]:
    """Translate pydantic errors into apiserver-style ``field: message`` problems."""
    out: list[Problem] = []
    for err in error.errors(include_url=False):
        loc = [p for p in err["loc"] if not (isinstance(p, str) and p.startswith("function-"))]
        # lenient enums and Annotated validators add their type name to loc; drop those
        loc = [p for p in loc if not (isinstance(p, str) and ("[" in p or p[:1].isupper()))]
        path = _path(loc, prefix)
        kind = err["type"]
        ctx = err.get("ctx") or {}
        value = err.get("input")
        if kind == "missing":
            message = "Required value"
        elif kind == "extra_forbidden":
            message = "field not declared in schema"
        elif kind in ("enum", "literal_error"):
            expected = str(ctx.get("expected", "")).replace("'", '"')
            message = f"Unsupported value: {_show(value)}: supported values: {expected}"
        elif kind in ("greater_than_equal", "greater_than", "less_than_equal", "less_than"):
            words = {"greater_than_equal": "greater than or equal to", "greater_than": "greater than",
                     "less_than_equal": "less than or equal to", "less_than": "less than"}[kind]
            bound = next(iter(ctx.values()), "")
            message = f"Invalid value: {_show(value)}: should be {words} {bound}"
        elif kind == "string_too_long":
            message = f"Too long: may not be more than {ctx.get('max_length')} characters"
        elif kind == "string_too_short":
            message = "Required value" if not value else f"Invalid value: {_show(value)}: too short"
        elif kind == "string_pattern_mismatch":
            message = f"Invalid value: {_show(value)}: should match '{ctx.get('pattern')}'"
        elif kind in ("too_short", "too_long"):
            message = f"Invalid value: {_show(value)}: {err['msg'].lower()}"
        elif kind == "value_error":
            text = str(ctx.get("error", err["msg"]))
            message = f"Invalid value: {_show(value)}: {text}"
        else:
            message = f"Invalid value: {_show(value)}: {err['msg']}"
        out.append(Problem(path, message))
    return out


def _kind_of(value: Any) -> str:
    if isinstance(value, (dict, Model)):
        return "object"
    if isinstance(value, list):
        return "array"
    if isinstance(value, str):
        return "string"
    return type(value).__name__


def parse(body: dict[str, Any], *, source: str = "", default_namespace: str = "default") -> Resource | Invalid:
    """The typed view of an admitted object (pydantic builds the spec; W&B aliases are normalised).

    Checks only what pydantic checks: callers with untrusted input use ``wbauto.admission.review.admit``.
    """
    kind_name = str(body.get("kind", ""))
    meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    name = str(meta.get("name", "")) if meta else ""
    namespace = str(meta.get("namespace") or default_namespace) if meta else default_namespace
    invalid = Invalid(ref=f"{kind_name or '?'}/{namespace}/{name or '?'}", source=source)
    kind = BY_KIND.get(kind_name)
    if kind is None or body.get("apiVersion") != API_VERSION:
        supported = ", ".join(f'"{k}"' for k in BY_KIND)
        invalid.problems.append(Problem("kind", f"Unsupported value: {_show(kind_name)}: supported values: "
                                                f"{supported} (apiVersion {API_VERSION})"))
        return invalid
    spec_body = body.get("spec")
    if not isinstance(spec_body, dict):
        invalid.problems.append(Problem("spec", f'Invalid value: "{_kind_of(spec_body)}": must be an object'))
        return invalid
    try:
        spec = kind.spec.model_validate(spec_body, by_name=False)  # manifests use the camelCase names
    except ValidationError as exc:
        invalid.problems.extend(problems_from(exc, "spec"))
        return invalid
    return Resource(kind=kind, namespace=namespace, name=name, spec=spec, body=body, source=source)


def is_ours(doc: Any) -> bool:
    """True for documents of our API group (other kinds in a GitOps folder are left alone)."""
    return isinstance(doc, dict) and str(doc.get("apiVersion", "")).split("/")[0] == GROUP
