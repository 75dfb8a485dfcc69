"""Generate CustomResourceDefinitions from the pydantic models (pure; no cluster needed).

pydantic's JSON Schema is turned into a Kubernetes *structural* schema: ``$ref`` inlined, optional
``anyOf [X, null]`` collapsed to ``X``, ``exclusiveMinimum`` in OpenAPI v3.0 form, titles dropped, field
descriptions kept (they reach ``kubectl explain``), CEL rules kept as ``x-kubernetes-validations``.
"""

from __future__ import annotations

import copy
from typing import Any

import yaml

from wbauto.api.kinds import GROUP, KINDS, VERSION, Kind

_DROP = {"title", "additionalProperties", "examples", "propertyNames"}
_FIRST = ("description", "type", "format")


def _resolve(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        target: dict[str, Any] = copy.deepcopy(defs[schema["$ref"].split("/")[-1]])
        extra = {k: v for k, v in schema.items() if k != "$ref"}
        target.update(extra)  # a field's own description wins over the model docstring
        return target
    return schema


def structural(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    """Convert one pydantic JSON Schema node (and its children) into a structural schema node."""
    schema = _resolve(schema, defs)
    if "anyOf" in schema:
        options = [o for o in schema["anyOf"] if o.get("type") != "null"]
        rest = {k: v for k, v in schema.items() if k != "anyOf"}
        if len(options) == 1:
            merged = _resolve(options[0], defs)
            merged = {**merged, **{k: v for k, v in rest.items()
                                   if k in ("description", "default") or k.startswith("x-kubernetes-")}}
            return structural(merged, defs)
        types = {_resolve(o, defs).get("type") for o in options}
        if types <= {"number", "integer"}:
            return structural({**rest, "type": "number"}, defs)
        if types <= {"string", "number", "integer"}:
            return {**_meta(rest), "x-kubernetes-int-or-string": True}
        raise ValueError(f"cannot express union {schema} structurally")

    out: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _DROP or key.startswith("$"):
            continue
        if key == "properties":
            out["properties"] = {name: structural(sub, defs) for name, sub in value.items()}
        elif key == "items":
            out["items"] = structural(value, defs)
        elif key == "exclusiveMinimum":
            out["minimum"] = value
            out["exclusiveMinimum"] = True
        elif key == "exclusiveMaximum":
            out["maximum"] = value
            out["exclusiveMaximum"] = True
        elif key == "default":
            if value is None or value == {} or value == []:
                continue
            out["default"] = value
        elif key == "const":
            out["enum"] = [value]
        elif key == "minItems":
            out["minItems"] = value
        elif key == "maxItems":
            out["maxItems"] = value
        elif key == "uniqueItems":
            out["x-kubernetes-list-type"] = "set"
        else:
            out[key] = value

    additional = schema.get("additionalProperties")
    if isinstance(additional, dict):
        out["additionalProperties"] = structural(additional, defs)
        out.setdefault("type", "object")
    untyped = out.pop("x-wbauto-untyped", False)  # any JSON value (the schema's CEL rules say which)
    if out.get("x-kubernetes-preserve-unknown-fields"):
        if not untyped:
            out.setdefault("type", "object")
        out.pop("additionalProperties", None)
    if "type" not in out and "enum" in out:
        out["type"] = "string"
    if "type" not in out and not out.get("x-kubernetes-int-or-string") and not untyped:
        # an untyped value (Any): keep whatever the user writes
        out["x-kubernetes-preserve-unknown-fields"] = True
        out["type"] = "object"
    if out.get("type") == "number" and "format" not in out:
        out["format"] = "double"
    if out.get("type") == "integer":
        out.setdefault("format", "int64")
    ordered = {k: out[k] for k in _FIRST if k in out}
    ordered.update((k, v) for k, v in out.items() if k not in ordered and k != "properties")
    if "properties" in out:
        ordered["properties"] = out["properties"]
    return ordered


def _meta(schema: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k in ("description", "default")}


def model_schema(model: Any) -> dict[str, Any]:
    js = model.model_json_schema(by_alias=True, mode="validation")
    return structural(js, js.get("$defs", {}))


def crd(kind: Kind) -> dict[str, Any]:
    """The CustomResourceDefinition for one kind."""
    spec_schema = model_schema(kind.spec)
    status_schema = model_schema(kind.status)
    root = {
        "type": "object",
        "description": kind.description,
        "properties": {
            "apiVersion": {"type": "string", "description": "APIVersion of this object."},
            "kind": {"type": "string", "description": "Kind of this object."},
            "metadata": {"type": "object"},
            "spec": spec_schema,
            "status": status_schema,
        },
        "required": ["spec"],
    }
    columns = [
        {
            "name": c.name,
            "type": c.type,
            "jsonPath": c.json_path,
            **({"priority": c.priority} if c.priority else {}),
            **({"description": c.description} if c.description else {}),
        }
        for c in kind.columns
    ]
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {
            "name": kind.crd_name,
            "labels": {"app.kubernetes.io/name": "wbauto", "app.kubernetes.io/part-of": "wbauto"},
        },
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind.kind,
                "listKind": f"{kind.kind}List",
                "plural": kind.plural,
                "singular": kind.singular,
                "shortNames": list(kind.short_names),
                "categories": list(kind.categories),
            },
            "scope": "Namespaced",
            "versions": [
                {
                    "name": VERSION,
                    "served": True,
                    "storage": True,
                    # an AutomationExecution is written whole by the operator (its status with its spec, in
                    # one create), so it has no status subresource
                    **({} if kind.kind == "AutomationExecution" else {"subresources": {"status": {}}}),
                    "additionalPrinterColumns": columns,
                    "schema": {"openAPIV3Schema": root},
                }
            ],
        },
    }


HEADER = "# Generated by `wbauto crds` from operator/wbauto/api — do not edit by hand.\n"


def render(kind: Kind) -> str:
    return HEADER + yaml.safe_dump(crd(kind), sort_keys=False, width=100, allow_unicode=True)


def file_name(kind: Kind) -> str:
    return f"{GROUP}_{kind.plural}.yaml"


def all_files() -> dict[str, str]:
    """File name → YAML text for every CRD."""
    return {file_name(k): render(k) for k in KINDS}
