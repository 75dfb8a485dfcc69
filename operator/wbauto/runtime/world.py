"""The operator's in-memory view of every wbauto object, and who depends on whom.

Both runtimes feed it: Kopf watch events in a cluster, the manifest directory in standalone mode.
Pure data: no I/O, no clock.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from wbauto.actions import registry
from wbauto.actions import webhook as webhook_action
from wbauto.admission import review
from wbauto.api import kinds
from wbauto.api.manifests import Invalid, Resource
from wbauto.api.secretreference import SecretReferenceSpec
from wbauto.api.webhook import WebhookSpec

Key = tuple[str, str, str]  # (kind, namespace, name)


def key_of(body: Any, default_namespace: str = "default") -> Key:
    """The key of an object as written, for every loader and the world alike (so a delete finds what an
    add stored, whatever the manifest says: ``namespace: 5`` is the key ``"5"``, and is refused anyway)."""
    doc: dict[str, Any] = body if isinstance(body, dict) else {}
    meta: dict[str, Any] = doc["metadata"] if isinstance(doc.get("metadata"), dict) else {}
    namespace = meta.get("namespace")
    return (_text(doc.get("kind")), _text(namespace) if namespace not in (None, "") else default_namespace,
            _text(meta.get("name")) if meta.get("name") is not None else "")


def reported(body: dict[str, Any], key: Key) -> dict[str, Any]:
    """What the status loop keeps of a refused object: its identity, a generation and the status it has, so
    that whatever the manifest's ``metadata`` or ``status`` hold, reporting the refusal cannot fail."""
    meta: dict[str, Any] = body["metadata"] if isinstance(body.get("metadata"), dict) else {}
    generation = meta.get("generation")
    status = body.get("status")
    return {"apiVersion": body.get("apiVersion"), "kind": key[0],
            "metadata": {"name": key[2], "namespace": key[1],
                         "generation": generation if type(generation) is int else 1},
            **({"status": status} if isinstance(status, dict) else {})}


VOLATILE_METADATA = ("resourceVersion", "managedFields")


def admission_basis(body: dict[str, Any]) -> dict[str, Any]:
    """What a review reads of an object, less its status: equal bases with declared statuses get the same
    verdict (a watch event for a status write, a rescan of an unchanged manifest)."""
    basis = {k: v for k, v in body.items() if k != "status"}
    meta = basis.get("metadata")
    if isinstance(meta, dict):
        basis["metadata"] = {k: v for k, v in meta.items() if k not in VOLATILE_METADATA}
    return basis


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, default=str, sort_keys=True)


@dataclass
class World:
    objects: dict[Key, Resource] = field(default_factory=dict)
    invalid: dict[Key, Invalid] = field(default_factory=dict)
    bodies: dict[Key, dict[str, Any]] = field(default_factory=dict)
    ready: dict[Key, bool] = field(default_factory=dict)
    stalled: set[Key] = field(default_factory=set)  # terminal problems: these Automations do not fire
    revision: int = 0  # bumps on every change of an Automation (pollers re-plan on change)
    reviewed: dict[Key, dict[str, Any]] = field(default_factory=dict)  # admission_basis of each verdict

    # --- updates -----------------------------------------------------------------------------------

    def upsert(self, body: dict[str, Any]) -> Key:
        """Record an object as the apiserver (or the manifest folder) has it now, with the admission verdict
        (the standalone runtime's manifests never passed an apiserver)."""
        key = key_of(body)
        self.bodies[key] = body
        basis = admission_basis(body)
        declared = review.status_is_declared(body)
        previous = self.objects.get(key)
        result: Resource | Invalid | None = None
        if declared and self.reviewed.get(key) == basis:  # reviewed as is before: the verdict stands
            result = dataclasses.replace(previous, body=body) if previous is not None else self.invalid.get(key)
        if result is None:
            result = review.admit(body, default_namespace=key[1])
        if declared:
            self.reviewed[key] = basis
        else:
            self.reviewed.pop(key, None)
        if isinstance(result, Resource):
            self.objects[key] = result
            self.invalid.pop(key, None)
            if key[0] == kinds.AUTOMATION.kind and (previous is None or previous.spec != result.spec):
                self.revision += 1
        else:
            self.invalid[key] = result
            self.bodies[key] = reported(body, key)
            if self.objects.pop(key, None) is not None and key[0] == kinds.AUTOMATION.kind:
                self.revision += 1
        return key

    def remove(self, key: Key) -> None:
        self.bodies.pop(key, None)
        self.reviewed.pop(key, None)
        self.invalid.pop(key, None)
        self.ready.pop(key, None)
        self.stalled.discard(key)
        if self.objects.pop(key, None) is not None and key[0] == kinds.AUTOMATION.kind:
            self.revision += 1

    # --- lookups -----------------------------------------------------------------------------------

    def get(self, kind: str, namespace: str, name: str) -> Resource | None:
        return self.objects.get((kind, namespace, name))

    def secret_reference(self, namespace: str, name: str) -> SecretReferenceSpec | None:
        res = self.get(kinds.SECRET_REFERENCE.kind, namespace, name)
        return res.spec if res is not None else None  # type: ignore[return-value]

    def webhook(self, namespace: str, name: str) -> WebhookSpec | None:
        res = self.get(kinds.WEBHOOK.kind, namespace, name)
        return res.spec if res is not None else None  # type: ignore[return-value]

    def is_ready(self, kind: str, namespace: str, name: str) -> bool:
        return self.ready.get((kind, namespace, name), False)

    def automations(self) -> Iterator[Resource]:
        for key, res in self.objects.items():
            if key[0] == kinds.AUTOMATION.kind:
                yield res

    def keys_of(self, kind: str | None = None) -> list[Key]:
        return [k for k in set(self.bodies) if kind is None or k[0] == kind]

    def references(self, key: Key) -> list[Key]:
        """The objects ``key`` refers to (a Webhook's SecretReferences; what an Automation's action needs),
        whether or not they exist."""
        kind, namespace, _ = key
        res = self.objects.get(key)
        if res is None:
            return []
        if kind == kinds.WEBHOOK.kind:
            return [(r.kind, namespace, r.name) for r in webhook_action.endpoint_references(res.spec)]  # type: ignore[arg-type]
        if kind == kinds.AUTOMATION.kind:
            action, settings = registry.of(res.spec.action)  # type: ignore[attr-defined]
            return [(r.kind, namespace, r.name) for r in action.references(settings)]
        return []

    def blocked(self, key: Key) -> str | None:
        """Why ``key`` cannot run at all until someone edits a manifest: an object it depends on (directly
        or through a Webhook) is Stalled. None when nothing it depends on is Stalled."""
        pending = list(self.references(key))
        seen: set[Key] = set()
        while pending:
            ref = pending.pop()
            if ref in seen:
                continue
            seen.add(ref)
            if ref in self.stalled:
                conditions = (self.bodies.get(ref, {}).get("status") or {}).get("conditions") or []
                ready: dict[str, Any] = next((c for c in conditions if c.get("type") == "Ready"), {})
                detail = f" ({ready.get('reason')}: {ready.get('message')})" if ready else ""
                return f"{ref[0]} {ref[1]}/{ref[2]} is Stalled{detail}"
            pending.extend(self.references(ref))
        return None

    def undecided(self, key: Key) -> bool:
        """Whether something ``key`` refers to exists but has not been evaluated yet (at startup): its
        first evaluation re-queues ``key``, so deciding now would only report a passing "not Ready"."""
        return any(ref in self.bodies and ref not in self.ready for ref in self.references(key))

    def dependents(self, key: Key) -> list[Key]:
        """Objects whose readiness depends on ``key``: those that refer to it in its namespace."""
        kind, namespace, _ = key
        if kind not in (kinds.SECRET_REFERENCE.kind, kinds.WEBHOOK.kind):
            return []  # nothing refers to an Automation
        return [other for other in self.objects if other[1] == namespace and key in self.references(other)]

