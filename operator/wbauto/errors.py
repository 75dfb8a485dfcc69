"""wbauto's exception vocabulary.

    WbautoError
    ├── ConfigError              the user's spec or setting is wrong: terminal (Stalled), no retry
    ├── DependencyMissing        a referenced object is absent or not ready yet: transient, retried
    ├── SecretError              a secret could not be resolved (carries a fixed condition reason)
    ├── DeliveryError            an action attempt failed (carries ``retryable`` and the status code)
    ├── SourceError              W&B could not be read (GraphQL/HTTP error): retried with backoff
    └── KubeError                the Kubernetes API answered with an error (see wbauto.kube.client)

Messages never contain secret values: they name the object, the field and what to do.
"""

from __future__ import annotations

from typing import Any


class WbautoError(Exception):
    """Base of every error wbauto raises on purpose."""


class ConfigError(WbautoError):
    """Raised when a spec or an operator setting is invalid; fixing it needs a change by the user."""

    def __init__(self, message: str, *, reason: str = "InvalidSpec") -> None:
        super().__init__(message)
        self.reason = reason


class DependencyMissing(WbautoError):
    """Raised when a referenced object (Webhook, SecretReference, Secret) is missing or not Ready."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class SecretError(WbautoError):
    """Raised when a SecretReference cannot be resolved. ``reason`` is the condition reason."""

    def __init__(self, message: str, *, reason: str, retryable: bool = True) -> None:
        super().__init__(message)
        self.reason = reason
        self.retryable = retryable


class DeliveryError(WbautoError):
    """Raised when one attempt of an action fails."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        status_code: int | None = None,
        retry_after: float | None = None,
        response_body: str | None = None,
        auth_failed: bool = False,
        request: Any = None,
    ) -> None:
        super().__init__(message)
        self.request = request  # the RequestRecord of the attempt, when one was sent
        self.retryable = retryable
        self.status_code = status_code
        self.retry_after = retry_after
        self.response_body = response_body
        self.auth_failed = auth_failed


class SourceError(WbautoError):
    """Raised when W&B cannot be read: network error, HTTP error or a GraphQL error."""


class KubeError(WbautoError):
    """Raised when the Kubernetes API answers with an error status."""

    def __init__(self, message: str, *, status: int, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


def cut(text: str, limit: int = 1024) -> str:
    """Shorten user-visible error text (bodies, tracebacks) to ``limit`` characters."""
    text = text.strip()
    return text if len(text) <= limit else text[: limit - 15] + "... (truncated)"
