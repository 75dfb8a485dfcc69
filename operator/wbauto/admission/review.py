"""One document's admission verdict, in the apiserver's order (pure).

1. ``kubectl``'s own checks: an object, of our apiVersion and a kind we serve, with a name.
2. Decoding (the apiserver's 400 "cannot be handled"): ``metadata`` must decode into ObjectMeta, then no
   unknown field anywhere (kubectl asks for strict field validation). Either stops the review.
3. Validation (the apiserver's 422 "is invalid"): ``status`` is dropped (the status subresource ignores it
   on create), nulls pruned and defaults applied, the structural schema, ObjectMeta's rules, and — unless
   a value has the wrong type — every CEL rule of the CRD.

The schemas and rules are those of the generated CRDs (``wbauto.api.crdgen``), never a second copy.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass, field
from typing import Any

from wbauto.admission import cel, objectmeta, structural
from wbauto.api import crdgen, kinds
from wbauto.api.manifests import Invalid, Problem, Resource, parse

ROOT_FIELDS = ("apiVersion", "kind", "metadata", "spec", "status")


@dataclass(frozen=True)
class Verdict:
    """``problems`` empty: admitted, and ``body`` is the object as the apiserver would store it."""

    ref: str
    problems: list[Problem] = field(default_factory=list)
    body: dict[str, Any] | None = None
    decoding: bool = False  # the problems are decoding errors (the apiserver answers 400, not 422)


@dataclass(frozen=True)
class _Compiled:
    root: structural.Schema
    spec: structural.Schema
    validator: Any


@functools.cache
def _compiled(kind: kinds.Kind) -> _Compiled:
    root = crdgen.crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]
    spec = root["properties"]["spec"]
    checked = {"type": "object", "required": ["spec"], "properties": {"spec": spec}}
    return _Compiled(root=root, spec=spec, validator=structural.compile_schema(checked))


def ref_of(doc: Any, default_namespace: str) -> str:
    if not isinstance(doc, dict):
        return "?/?/?"
    meta: dict[str, Any] = doc["metadata"] if isinstance(doc.get("metadata"), dict) else {}
    namespace = meta.get("namespace") if isinstance(meta.get("namespace"), str) and meta.get("namespace") else (
        default_namespace)
    name = meta.get("name") if isinstance(meta.get("name"), str) and meta.get("name") else "?"
    kind = doc.get("kind") if isinstance(doc.get("kind"), str) and doc.get("kind") else "?"
    return f"{kind}/{namespace}/{name}"


def review(doc: Any, *, default_namespace: str = "default") -> Verdict:
    """The apiserver's verdict on creating ``doc`` (``kubectl apply`` of a new object)."""
    ref = ref_of(doc, default_namespace)
    if not isinstance(doc, dict):
        return Verdict(ref, [Problem("(document)", f'Invalid value: "{structural.go_type(doc)}": a manifest '
                                                   "must be an object with apiVersion, kind and metadata")])
    api_version, kind_name = doc.get("apiVersion"), doc.get("kind")
    kind = kinds.BY_KIND.get(kind_name) if isinstance(kind_name, str) else None
    problems: list[Problem] = []
    if api_version != kinds.API_VERSION:
        problems.append(Problem("apiVersion", f"Unsupported value: {_show(api_version)}: supported values: "
                                              f'"{kinds.API_VERSION}"'))
    if kind is None:
        supported = ", ".join(f'"{k}"' for k in kinds.BY_KIND)
        problems.append(Problem("kind", f"Unsupported value: {_show(kind_name)}: supported values: {supported}"))
    if problems or kind is None:
        return Verdict(ref, problems)

    meta = doc.get("metadata")
    decode_error = objectmeta.decode(meta)
    if decode_error is not None:
        return Verdict(ref, [Problem(*decode_error)], decoding=True)
    compiled = _compiled(kind)
    unknown = [f for f in doc if f not in ROOT_FIELDS]
    unknown += objectmeta.unknown(meta)
    unknown += structural.unknown_fields(doc.get("spec"), compiled.spec, "spec")
    status_schema = compiled.root["properties"]["status"]
    unknown += structural.unknown_fields(doc.get("status"), status_schema, "status")
    if unknown:
        return Verdict(ref, [Problem(f, "field not declared in schema (the apiserver: strict decoding error, "
                                        "unknown field)") for f in sorted(unknown)], decoding=True)

    body = {k: copy.deepcopy(v) for k, v in doc.items() if k != "status"}
    meta = dict(meta or {})
    namespace = meta.get("namespace") or default_namespace
    if body.get("spec") is not None:
        structural.apply_defaults(body["spec"], compiled.spec)
    else:
        body.pop("spec", None)
    errors = structural.validate({"spec": body.get("spec")} if "spec" in body else {}, compiled.validator, "")
    problems = [Problem(e.path, e.message) for e in errors]
    meta_problems = objectmeta.validate(meta, namespace)
    problems += [Problem(f, m) for f, m in meta_problems]
    blocked = any(e.blocking for e in errors) or any(m.startswith(objectmeta.BLOCKING) for _, m in meta_problems)
    if not blocked and isinstance(body.get("spec"), dict):
        problems += [Problem(e.path, e.message) for e in cel.check(body["spec"], compiled.spec, "spec")]
    if problems:
        return Verdict(ref, problems)
    body["spec"] = structural.normalize_integers(body["spec"], compiled.spec)
    body["metadata"] = {**meta, "namespace": namespace}
    return Verdict(ref, body=body)


def status_is_declared(doc: dict[str, Any]) -> bool:
    """Whether every field of ``doc``'s status is one the schema declares: the only thing a review reads of
    a status (an unknown one is a decoding error), so a status-only change passes when this holds."""
    name = doc.get("kind")
    kind = kinds.BY_KIND.get(name) if isinstance(name, str) else None
    if kind is None:
        return False
    status_schema = _compiled(kind).root["properties"]["status"]
    return not structural.unknown_fields(doc.get("status"), status_schema, "status")


def admit(doc: Any, *, source: str = "", default_namespace: str = "default") -> Resource | Invalid:
    """:func:`review`, then the typed view of an admitted object."""
    verdict = review(doc, default_namespace=default_namespace)
    if verdict.problems or verdict.body is None:
        return Invalid(verdict.ref, source, list(verdict.problems))
    result = parse(verdict.body, source=source, default_namespace=default_namespace)
    if isinstance(result, Resource):
        return Resource(kind=result.kind, namespace=result.namespace, name=result.name, spec=result.spec,
                        body=doc, source=source)
    return result


def _show(value: Any) -> str:
    return f'"{value}"' if isinstance(value, str) else f'"{structural.go_type(value)}"'
