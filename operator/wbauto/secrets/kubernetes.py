"""Kubernetes backend: a key of a Secret in the SecretReference's own namespace."""

from __future__ import annotations

import base64
import binascii

from wbauto.api.conditions import Reason
from wbauto.api.secretreference import KubernetesSource
from wbauto.errors import KubeError, SecretError
from wbauto.kube import client as kube
from wbauto.secrets import base


class KubernetesBackend:
    name = "kubernetes"

    def __init__(self, context: base.Context) -> None:
        self._context = context

    async def get(self, request: base.Request) -> base.SecretValue:
        source: KubernetesSource = request.source
        if self._context.kube is None:
            raise SecretError(f"SecretReference {request.ref}: the kubernetes backend needs a cluster connection "
                              "(the standalone runtime has none: use file, env or a cloud backend; "
                              "`wbauto test-webhook` needs --kubeconfig)",
                              reason=Reason.BACKEND_NOT_INSTALLED, retryable=False)
        what = f"Secret {request.namespace}/{source.name}"
        try:
            secret = await self._context.kube.get(kube.SECRETS, request.namespace, source.name)
        except kube.NotFound:
            raise base.not_found(request, what) from None
        except kube.Forbidden:
            raise base.access_denied(request, what) from None
        except KubeError as exc:
            raise base.unavailable(request, "the Kubernetes API", exc) from exc
        data = secret.get("data") or {}
        if source.key not in data:
            raise base.not_found(request, f"key {source.key!r} in {what}")
        try:
            value = base64.b64decode(data[source.key], validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise SecretError(f"SecretReference {request.ref}: key {source.key!r} in {what} is not UTF-8 text",
                              reason=Reason.BAD_FORMAT, retryable=False) from None
        version = str((secret.get("metadata") or {}).get("resourceVersion", ""))
        return base.SecretValue(value=value, version=version)


base.register("kubernetes", KubernetesBackend)
