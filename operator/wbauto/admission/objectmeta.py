"""``metadata`` of a custom resource as the apiserver checks it on create (pure).

Two steps, as in the apiserver: decoding into ``ObjectMeta`` (a wrong type is a 400 "cannot be handled"
error and nothing else is checked), then validation (names, labels, annotations, finalizers).
"""

from __future__ import annotations

import datetime
import re
from typing import Any

from wbauto.admission.structural import go_type, is_integer

_STRINGS = ("name", "generateName", "namespace", "selfLink", "uid", "resourceVersion")
_INTEGERS = ("generation", "deletionGracePeriodSeconds")
_TIMES = ("creationTimestamp", "deletionTimestamp")
_MAPS = ("labels", "annotations")
_LISTS = ("finalizers", "ownerReferences", "managedFields")
KNOWN = frozenset(_STRINGS + _INTEGERS + _TIMES + _MAPS + _LISTS)
_OWNER_FIELDS = {"apiVersion": str, "kind": str, "name": str, "uid": str, "controller": bool,
                 "blockOwnerDeletion": bool}

DNS1123_SUBDOMAIN = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
DNS1123_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
_LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?(Z|[+-][0-9]{2}:[0-9]{2})")
ANNOTATIONS_LIMIT = 256 * 1024

SUBDOMAIN_MESSAGE = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                     "'.', and must start and end with an alphanumeric character (e.g. 'example.com')")
LABEL_MESSAGE = ("a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and "
                 "must start and end with an alphanumeric character (e.g. 'my-name')")


def _decode_error(path: str, value: Any, expected: str) -> tuple[str, str]:
    return path, f'Invalid value: "{go_type(value)}": cannot be decoded as {expected}'


def decode(meta: Any) -> tuple[str, str] | None:
    """The first decoding error of ``metadata`` as ``(field, message)``; None when it decodes."""
    if meta is None:
        return None
    if not isinstance(meta, dict):
        return _decode_error("metadata", meta, "an object (ObjectMeta)")
    for name, value in meta.items():
        path = f"metadata.{name}"
        if value is None or name not in KNOWN:
            continue
        if name in _STRINGS and not isinstance(value, str):
            return _decode_error(path, value, "a string")
        if name in _INTEGERS and not is_integer(value):
            return _decode_error(path, value, "an integer (int64)")
        if name in _TIMES:
            if not isinstance(value, str):
                return _decode_error(path, value, "an RFC 3339 time")
            if not _is_time(value):
                return path, f'Invalid value: "{value}": not an RFC 3339 time such as 2006-01-02T15:04:05Z'
        if name in _MAPS:
            if not isinstance(value, dict):
                return _decode_error(path, value, "a map of strings")
            bad = next((k for k, v in value.items() if v is not None and not isinstance(v, str)), None)
            if bad is not None:
                return _decode_error(path, value[bad], "a map of strings")
        if name in _LISTS:
            problem = _decode_list(name, path, value)
            if problem is not None:
                return problem
    return None


def _decode_list(name: str, path: str, value: Any) -> tuple[str, str] | None:
    if not isinstance(value, list):
        return _decode_error(path, value, "a list")
    for i, item in enumerate(value):
        where = f"{path}[{i}]"
        if name == "finalizers" and item is not None and not isinstance(item, str):
            return _decode_error(where, item, "a string")
        if name == "ownerReferences" and item is not None:
            if not isinstance(item, dict):
                return _decode_error(where, item, "an OwnerReference")
            for field_name, sub in item.items():
                expected = _OWNER_FIELDS.get(field_name)
                if expected is not None and sub is not None and not isinstance(sub, expected):
                    return _decode_error(f"{where}.{field_name}", sub, expected.__name__)
    return None


def unknown(meta: Any) -> list[str]:
    """Fields of ``metadata`` that ObjectMeta does not have (strict field validation)."""
    if not isinstance(meta, dict):
        return []
    out = [f"metadata.{k}" for k in meta if k not in KNOWN]
    for i, ref in enumerate(meta.get("ownerReferences") or []):
        if isinstance(ref, dict):
            out.extend(f"metadata.ownerReferences[{i}].{k}" for k in ref if k not in _OWNER_FIELDS)
    return out


def _is_time(text: str) -> bool:
    if not _RFC3339.fullmatch(text):
        return False
    try:
        datetime.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def qualified_name(text: str) -> str | None:
    """Why ``text`` is not a qualified name (``prefix/name``), or None."""
    parts = text.split("/")
    if len(parts) > 2:
        return ("a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and "
                "end with an alphanumeric character with an optional DNS subdomain prefix and '/'")
    name = parts[-1]
    if len(parts) == 2:
        prefix = parts[0]
        if not prefix:
            return "prefix part must be non-empty"
        if len(prefix) > 253 or not DNS1123_SUBDOMAIN.fullmatch(prefix):
            return f"prefix part {SUBDOMAIN_MESSAGE}"
    if not name:
        return "name part must be non-empty"
    if len(name) > 63:
        return "name part must be no more than 63 bytes"
    if not _QUALIFIED_NAME.fullmatch(name):
        return ("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                "with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc')")
    return None


BLOCKING = ("Required value", "Too long")
"""Messages of the kinds that make the apiserver skip the CEL rules (see ``structural.SchemaError``)."""


def validate(meta: dict[str, Any], namespace: str) -> list[tuple[str, str]]:
    """ObjectMeta validation of a namespaced custom resource on create: ``[(field, message)]``."""
    out: list[tuple[str, str]] = []
    generate = meta.get("generateName") or ""
    if generate:
        masked = generate[:-1] + "a" if generate.endswith("-") else generate
        if len(masked) > 253 or not DNS1123_SUBDOMAIN.fullmatch(masked):
            out.append(("metadata.generateName", f'Invalid value: "{generate}": {SUBDOMAIN_MESSAGE}'))
    name = meta.get("name") or ""
    if not name:
        out.append(("metadata.name", "Required value: name is required (kubectl apply needs it)"))
    elif len(name) > 253:
        out.append(("metadata.name", f'Invalid value: "{name[:40]}...": must be no more than 253 bytes'))
    elif not DNS1123_SUBDOMAIN.fullmatch(name):
        out.append(("metadata.name", f'Invalid value: "{name}": {SUBDOMAIN_MESSAGE}'))
    if len(namespace) > 63 or not DNS1123_LABEL.fullmatch(namespace):
        out.append(("metadata.namespace", f'Invalid value: "{namespace}": {LABEL_MESSAGE}'))
    for key, value in (meta.get("labels") or {}).items():
        problem = qualified_name(key)
        if problem:
            out.append(("metadata.labels", f'Invalid value: "{key}": {problem}'))
        text = value or ""
        if len(text) > 63:
            out.append(("metadata.labels", f'Invalid value: "{text}": must be no more than 63 bytes'))
        elif not _LABEL_VALUE.fullmatch(text):
            out.append(("metadata.labels", f'Invalid value: "{text}": a valid label must be an empty string or '
                        "consist of alphanumeric characters, '-', '_' or '.', and must start and end with an "
                        "alphanumeric character"))
    annotations = meta.get("annotations") or {}
    for key in annotations:
        problem = qualified_name(key.lower())
        if problem:
            out.append(("metadata.annotations", f'Invalid value: "{key}": {problem}'))
    size = sum(len(k.encode()) + len((v or "").encode()) for k, v in annotations.items())
    if size > ANNOTATIONS_LIMIT:
        out.append(("metadata.annotations", f"Too long: may not be more than {ANNOTATIONS_LIMIT} bytes"))
    for value in meta.get("finalizers") or []:
        problem = qualified_name(value or "")
        if problem:
            out.append(("metadata.finalizers", f'Invalid value: "{value}": {problem}'))
    for item in meta.get("ownerReferences") or []:
        ref = item or {}
        version = str(ref.get("apiVersion") or "").rsplit("/", 1)[-1]
        for field_name, present in (("apiVersion", version), ("kind", ref.get("kind")), ("name", ref.get("name")),
                                    ("uid", ref.get("uid"))):
            if not present:
                out.append((f"metadata.ownerReferences.{field_name}", 'Invalid value: "": must not be empty'))
    return out
