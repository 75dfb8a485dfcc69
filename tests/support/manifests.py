"""Valid manifests to start from, and a helper to change one field deep inside."""

from __future__ import annotations

import copy
from typing import Any

API = "automations.wandb.ai/v1alpha1"


def obj(kind: str, name: str, spec: dict[str, Any], namespace: str | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": API, "kind": kind, "metadata": meta, "spec": spec}


def secret_reference(name: str = "sig", namespace: str | None = None, **spec: Any) -> dict[str, Any]:
    return obj("SecretReference", name, spec or {"kubernetes": {"name": "sig", "key": "k"}}, namespace)


def webhook(name: str = "hook", url: str = "https://hooks.example.com/wandb", namespace: str | None = None,
            **spec: Any) -> dict[str, Any]:
    return obj("Webhook", name, {"url": url, **spec}, namespace)


def automation(name: str = "auto", namespace: str | None = None, **spec: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "scope": {"project": {"entity": "acme", "project": "proj"}},
        "event": {"artifactAliasAdded": {"aliasRegex": "^production$"}},
        "action": {"webhook": {"webhookRef": {"name": "hook"}}},
    }
    base.update(spec)
    return obj("Automation", name, base, namespace)


def with_field(doc: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``doc`` with the dotted ``path`` set to ``value`` (``DELETE`` removes the key)."""
    out = copy.deepcopy(doc)
    *parents, last = path.split(".")
    node = out
    for part in parents:
        node = node.setdefault(part, {})
    if value is DELETE:
        node.pop(last, None)
    else:
        node[last] = value
    return out


DELETE = object()
