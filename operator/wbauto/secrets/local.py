"""Local sources for the standalone runtime: a file or an environment variable of the operator.

The in-cluster operator refuses them (``Context.allow_local`` is False there): otherwise any namespace
could read the operator's own files and environment (its service-account token, its W&B API key).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from wbauto.api.conditions import Reason
from wbauto.api.secretreference import EnvSource, FileSource
from wbauto.errors import SecretError
from wbauto.secrets import base


def _refuse(request: base.Request, backend: str) -> SecretError:
    return SecretError(f"SecretReference {request.ref}: spec.{backend} is only allowed in the standalone "
                       "runtime; in a cluster use kubernetes, aws, gcp, azure or vault",
                       reason=Reason.INVALID_SPEC, retryable=False)


def _version(value: str) -> str:
    # a content fingerprint, so status shows rotation without revealing anything usable
    return "sha256:" + hashlib.sha256(value.encode()).hexdigest()[:12]


class FileBackend:
    name = "file"

    def __init__(self, context: base.Context) -> None:
        self._context = context

    async def get(self, request: base.Request) -> base.SecretValue:
        if not self._context.allow_local:
            raise _refuse(request, "file")
        source: FileSource = request.source
        try:
            text = (await self._context.in_thread(Path(source.path).read_text, "utf-8")).rstrip("\n")
        except FileNotFoundError:
            raise base.not_found(request, f"file {source.path}") from None
        except PermissionError:
            raise base.access_denied(request, f"file {source.path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise base.unavailable(request, f"file {source.path}", exc) from exc
        value = base.pick_json_key(request, text, source.json_key)
        return base.SecretValue(value=value, version=_version(text))


class EnvBackend:
    name = "env"

    def __init__(self, context: base.Context) -> None:
        self._context = context

    async def get(self, request: base.Request) -> base.SecretValue:
        if not self._context.allow_local:
            raise _refuse(request, "env")
        source: EnvSource = request.source
        value = os.environ.get(source.name)
        if value is None:
            raise base.not_found(request, f"environment variable {source.name}")
        return base.SecretValue(value=value, version=_version(value))


base.register("file", FileBackend)
base.register("env", EnvBackend)
