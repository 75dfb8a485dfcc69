"""Action type → implementation. Registering two actions for one type is an error (ESO style)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wbauto.actions.base import Action
from wbauto.actions.kubernetes_job import KubernetesJobAction
from wbauto.actions.launch import LaunchAction
from wbauto.actions.noop import NoOpAction
from wbauto.actions.slack import SlackAction
from wbauto.actions.webhook import WebhookAction
from wbauto.api.schema import to_snake


def register(actions: Iterable[Action]) -> dict[str, Action]:
    out: dict[str, Action] = {}
    for action in actions:
        if action.type in out:
            raise ValueError(f"two actions registered for type {action.type!r}: {out[action.type]!r} and {action!r}")
        out[action.type] = action
    return out


def of(action: Any) -> tuple[Action, Any]:
    """The implementation of an Automation's ``spec.action`` (the keyed union) and its selected settings."""
    implementation = ACTIONS[action.key]
    return implementation, getattr(action, to_snake(action.key))


ACTIONS = register([WebhookAction(), SlackAction(), LaunchAction(), KubernetesJobAction(), NoOpAction()])
