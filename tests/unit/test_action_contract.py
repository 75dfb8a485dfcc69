"""The action contract: every action type of the Automation model has one registered implementation, which
answers for itself (references, target, snapshot, policy, preview)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest

from wbauto.actions import registry
from wbauto.actions.base import Action, Context, Result
from wbauto.api.automation import Action as ActionModel
from wbauto.api.automation import AutomationSpec
from wbauto.api.event import Event, EventType
from wbauto.api.execution import AutomationExecutionSpec, AutomationRef, ExecutionAction, ExecutionRecord
from wbauto.api.webhook import WebhookSpec

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)


class World:
    def __init__(self, hooks: dict[str, WebhookSpec]) -> None:
        self.hooks = hooks

    def webhook(self, namespace: str, name: str) -> WebhookSpec | None:
        return self.hooks.get(name)


ACTIONS: dict[str, dict[str, Any]] = {
    "webhook": {"webhookRef": {"name": "hook"}, "payload": '{"a": "${alias}", "s": "${SECRET}"}'},
    "slack": {"tokenRef": {"name": "bot"}, "channel": "#ml", "title": "${alias}"},
    "launch": {"queue": "gpu", "job": "acme/p/job", "overrides": {"args": ["--alias", "${alias}"]}},
    "kubernetesJob": {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "busybox"}],
                                                     "restartPolicy": "Never"}}}},
    "noOp": {},
}


def test_every_action_type_of_the_model_is_registered_once() -> None:
    keys = {info.alias or name for name, info in ActionModel.model_fields.items()}
    assert keys == set(ACTIONS) == set(registry.ACTIONS)


def test_the_registry_rejects_duplicates() -> None:
    class Twin(Action):
        type = "webhook"

        async def execute(self, record: ExecutionRecord, attempt: int, context: Context) -> Result:
            return Result()

    with pytest.raises(ValueError, match="two actions registered for type 'webhook'"):
        registry.register([*registry.ACTIONS.values(), Twin()])


@pytest.mark.parametrize("key", sorted(ACTIONS))
def test_each_action_answers_for_itself(key: str) -> None:
    spec = AutomationSpec.model_validate({"scope": {"project": {"entity": "acme", "project": "p"}},
                                          "event": {"artifactAliasAdded": {}}, "action": {key: ACTIONS[key]}})
    action, settings = registry.of(spec.action)
    hook = WebhookSpec.model_validate({"url": "https://hooks.example.com/x", "secretRef": {"name": "sig"},
                                       "retry": {"maxAttempts": 3}})
    world = World({"hook": hook})
    refs = [(r.kind, r.name) for r in action.references(settings)]
    assert refs == {"webhook": [("Webhook", "hook")], "slack": [("SecretReference", "bot")]}.get(key, [])
    snapshot = action.snapshot(settings, "ns", world)
    event = Event(id="e", type=EventType.ADD_ARTIFACT_ALIAS, time=NOW, entity="acme", project="p", alias="prod")
    record = ExecutionRecord("ns", "x", AutomationExecutionSpec(
        automation=AutomationRef(name="a"), event=event, variables={"alias": "prod"},
        action=ExecutionAction(type=key, config=snapshot), delivery_id="d"))
    policy = action.policy(record)  # None: the operator's default (its --retry-* settings)
    assert (policy.max_attempts if policy is not None else None) == (3 if key == "webhook" else None)
    assert action.target(snapshot) and action.describe(settings)
    preview = action.preview(settings, "ns", event, {"alias": "prod", "entity_name": "acme"}, world)
    assert "prod" in preview or key == "noOp"
    if key == "webhook":
        assert "***" in preview and action.problems(settings, "ns", world) is None
        # a payload using a secret the Webhook does not give: a problem naming it, at reconcile time
        other = settings.model_copy(update={"payload": '{"t": "${TEAM_TOKEN}"}'})
        assert "${TEAM_TOKEN}" in (action.problems(other, "ns", world) or "")
