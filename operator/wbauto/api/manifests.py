"""Parse wbauto manifests (YAML/JSON documents) into typed resources, with apiserver-style errors.

Used by ``wbauto validate`` (a GitOps repo's PR check), the standalone runtime (``--manifests DIR``)
and the Kopf handlers, so the same document gets the same verdict and the same message everywhere.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from wbauto.api.kinds import API_VERSION, BY_KIND, GROUP, Kind
from wbauto.api.schema import OBJECT_NAME_PATTERN, RULE_ERROR, Model


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
        return int(self.body.get("metadata", {}).get("generation") or 1)

    @property
    def uid(self) -> str:
        return str(self.body.get("metadata", {}).get("uid") or "")


@dataclass
class Invalid:
    """A document that is not a valid wbauto object."""

    ref: str
    source: str
    problems: list[Problem] = field(default_factory=list)


class ManifestError(Exception):
    """Raised when a file cannot be read or parsed as YAML at all."""


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
        if kind == RULE_ERROR:
            path = _path(loc, prefix) + str(ctx.get("field_path") or "")
            message = f'Invalid value: "{_kind_of(value)}": {ctx.get("message", err["msg"])}'
        elif kind == "missing":
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
    """Validate one object. Returns a :class:`Resource` or an :class:`Invalid` naming every problem."""
    kind_name = str(body.get("kind", ""))
    meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    name = str(meta.get("name", "")) if meta else ""
    namespace = str(meta.get("namespace") or default_namespace) if meta else default_namespace
    ref = f"{kind_name or '?'}/{namespace}/{name or '?'}"
    invalid = Invalid(ref=ref, source=source)
    api_version = body.get("apiVersion")
    if api_version != API_VERSION:
        invalid.problems.append(Problem("apiVersion", f"Unsupported value: {_show(api_version)}: "
                                                      f'supported values: "{API_VERSION}"'))
    kind = BY_KIND.get(kind_name)
    if kind is None:
        supported = ", ".join(f'"{k}"' for k in BY_KIND)
        invalid.problems.append(Problem("kind", f"Unsupported value: {_show(kind_name)}: "
                                                f"supported values: {supported}"))
        return invalid
    if not name:
        invalid.problems.append(Problem("metadata.name", "Required value"))
    elif len(name) > 253 or not re.fullmatch(OBJECT_NAME_PATTERN, name):
        invalid.problems.append(Problem(
            "metadata.name", f"Invalid value: {_show(name)}: a lowercase RFC 1123 subdomain must consist "
            "of lower case alphanumeric characters, '-' or '.', at most 253 characters"))
    unknown = sorted(set(body) - {"apiVersion", "kind", "metadata", "spec", "status"})
    invalid.problems.extend(Problem(k, "field not declared in schema") for k in unknown)
    spec_body = body.get("spec")
    spec: Model | None = None
    if spec_body is None:
        invalid.problems.append(Problem("spec", "Required value"))
    elif not isinstance(spec_body, dict):
        invalid.problems.append(Problem("spec", f'Invalid value: "{_kind_of(spec_body)}": must be an object'))
    else:
        try:
            spec = kind.spec.model_validate(spec_body, by_name=False)  # manifests use the camelCase names
        except ValidationError as exc:
            invalid.problems.extend(problems_from(exc, "spec"))
    if invalid.problems or spec is None:
        return invalid
    return Resource(kind=kind, namespace=namespace, name=name, spec=spec, body=body, source=source)


def read_documents(path: Path) -> Iterator[tuple[str, Any]]:
    """Yield ``(source, document)`` for every YAML/JSON document in a file (``path#index``)."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ManifestError(f"{path}: not valid YAML: {exc}") from exc
    for index, doc in enumerate(docs):
        if doc is None:
            continue
        if isinstance(doc, dict) and doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            for sub, item in enumerate(doc["items"]):
                yield f"{path}#{index}.items[{sub}]", item
        else:
            yield f"{path}#{index}", doc


MANIFEST_SUFFIXES = (".yaml", ".yml", ".json")


def manifest_files(paths: Iterable[Path]) -> list[Path]:
    """Expand directories (recursively) into manifest files, sorted for stable output."""
    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            files.extend(sorted(f for f in p.rglob("*") if f.suffix in MANIFEST_SUFFIXES and f.is_file()))
        else:
            files.append(p)
    return files


def is_ours(doc: Any) -> bool:
    """True for documents of our API group (other kinds in a GitOps folder are left alone)."""
    return isinstance(doc, dict) and str(doc.get("apiVersion", "")).split("/")[0] == GROUP
