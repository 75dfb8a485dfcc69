"""Action type → implementation."""

from __future__ import annotations

from wbauto.actions.base import Action
from wbauto.actions.kubernetes_job import KubernetesJobAction
from wbauto.actions.launch import LaunchAction
from wbauto.actions.noop import NoOpAction
from wbauto.actions.slack import SlackAction
from wbauto.actions.webhook import WebhookAction

ACTIONS: dict[str, Action] = {a.type: a for a in (WebhookAction(), SlackAction(), LaunchAction(),
                                                  KubernetesJobAction(), NoOpAction())}
