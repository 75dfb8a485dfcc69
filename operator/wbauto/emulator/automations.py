"""The automations W&B keeps per entity: triggers (scope + event filter + action) and integrations.

W&B's rules, as its API and the wandb SDK show them: a trigger's scope is a project (a registry is a
project), one collection, or a team/organization entity; run events cannot be scoped to a collection;
its ``eventFilter`` is a JSON object; exactly one action input is given, the one of its action type,
and it names an integration of the matching kind (a webhook for GENERIC_WEBHOOK, a Slack channel for
NOTIFICATION) or a run queue (QUEUE_JOB). Names are unique within the entity that owns the scope (a
second one is a :class:`Conflict`, HTTP 409); a missing trigger is :class:`NotFound` (HTTP 404).
Webhook integrations (team webhooks) are named as W&B requires; Slack integrations are made in W&B's UI
through OAuth, so the emulator makes them through its control API only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from wbauto.emulator import model
from wbauto.emulator.errors import Conflict, InvalidRequest, NotFound

if TYPE_CHECKING:
    from wbauto.emulator.state import State

_WEBHOOK_NAME = re.compile(r"[-\w]+([ ]+[-\w]+)*")
_RUN_EVENTS = frozenset({"RUN_METRIC", "RUN_METRIC_CHANGE", "RUN_METRIC_ZSCORE", "RUN_STATE"})
_SCOPE_TYPES: dict[str, type[model.Project] | type[model.Collection] | type[model.Entity]] = {
    "PROJECT": model.Project, "ARTIFACT_COLLECTION": model.Collection, "ENTITY": model.Entity}
ACTION_INPUTS = {
    "GENERIC_WEBHOOK": "genericWebhookActionInput",
    "NOTIFICATION": "notificationActionInput",
    "NO_OP": "noOpActionInput",
    "QUEUE_JOB": "queueJobActionInput",
    "PUSH_NOTIFICATION": "pushNotificationActionInput",
    "ARIA": "ariaActionInput",
}
"""The ``triggeredActionConfig`` key that each ``triggeredActionType`` takes."""


class Automations:
    """Triggers and integrations, guarded by (and numbered, timed, attributed by) the owning state."""

    def __init__(self, state: State) -> None:
        self._state = state
        self._triggers: dict[int, model.Trigger] = {}
        self._integrations: dict[int, model.Integration] = {}

    # Integrations ----------------------------------------------------------------------------------

    def create_webhook_integration(
        self, entity: str, name: str, url_endpoint: str, *, secret_ref: str | None = None,
        access_token_ref: str | None = None,
    ) -> model.WebhookIntegration:
        """A team webhook: ``name`` (at most 64 characters, words of ``[-\\w]`` separated by spaces) is
        unique within the entity; ``secret_ref`` and ``access_token_ref`` name team secrets."""
        if len(name) > 64 or not _WEBHOOK_NAME.fullmatch(name):
            raise InvalidRequest(f"invalid webhook name {name!r}")
        if not url_endpoint.startswith(("http://", "https://")):
            raise InvalidRequest(f"invalid webhook URL {url_endpoint!r}")
        with self._state.lock:
            owner = self._entity(entity)
            if any(isinstance(i, model.WebhookIntegration) and i.name == name for i in self.integrations(owner)):
                raise Conflict(f"a webhook named {name!r} already exists in {entity}")
            found = model.WebhookIntegration(self._state.next_number("Integration"), owner, name, url_endpoint,
                                             secret_ref, access_token_ref, self._state.now())
            self._integrations[found.number] = found
            return found

    def create_slack_integration(self, entity: str, channel_name: str, team_name: str = "") -> model.SlackIntegration:
        """A Slack channel connected to the entity (``team_name``: the Slack workspace, default the entity)."""
        with self._state.lock:
            owner = self._entity(entity)
            found = model.SlackIntegration(self._state.next_number("Integration"), owner, team_name or entity,
                                           channel_name, self._state.now())
            self._integrations[found.number] = found
            return found

    def integrations(self, entity: model.Entity) -> list[model.Integration]:
        with self._state.lock:
            return [i for i in self._integrations.values() if i.entity is entity]

    def integration(self, integration_id: str) -> model.Integration | None:
        parsed = model.parse_gid(integration_id)
        with self._state.lock:
            return self._integrations.get(parsed[1]) if parsed and parsed[0] == "Integration" else None

    # Triggers --------------------------------------------------------------------------------------

    def trigger(self, trigger_id: str) -> model.Trigger | None:
        parsed = model.parse_gid(trigger_id)
        with self._state.lock:
            return self._triggers.get(parsed[1]) if parsed and parsed[0] == "Trigger" else None

    def triggers(self) -> list[model.Trigger]:
        """Every trigger, oldest first."""
        with self._state.lock:
            return list(self._triggers.values())

    def of_entity(self, entity: model.Entity) -> list[model.Trigger]:
        """The triggers whose scope is the entity, one of its projects or one of their collections."""
        return [t for t in self.triggers() if t.entity is entity]

    def of_organization(self, organization: model.Organization) -> list[model.Trigger]:
        """The triggers of the organization's entity and of its teams."""
        return [t for t in self.triggers() if t.entity is organization.org_entity
                or t.entity.organization is organization]

    def of_project(self, project: model.Project) -> list[model.Trigger]:
        """The triggers scoped to the project or to one of its collections."""
        return [t for t in self.triggers() if t.project is project]

    def create_trigger(
        self,
        *,
        name: str,
        enabled: bool,
        scope_type: str,
        scope_id: str,
        event_type: str,
        event_filter: Any,
        action_type: str,
        action_config: Mapping[str, Any],
        description: str | None = None,
    ) -> model.Trigger:
        """``createFilterTrigger``."""
        with self._state.lock:
            scope = self._scope(scope_type, scope_id, event_type)
            trigger = model.Trigger(
                number=self._state.next_number("Trigger"), name=self._name(name, scope, None),
                description=description, enabled=enabled, scope=scope, event_type=event_type,
                event_filter=_event_filter(event_filter), action_type=action_type,
                action=self._action(action_type, action_config), created_by=self._state.viewer,
                created_at=self._state.now(),
            )
            self._triggers[trigger.number] = trigger
            return trigger

    def update_trigger(self, trigger_id: str, changes: Mapping[str, Any]) -> model.Trigger:
        """``updateFilterTrigger``: ``changes`` holds the input's fields (camelCase) that are not null."""
        with self._state.lock:
            trigger = self.trigger(trigger_id)
            if trigger is None:
                raise NotFound(f"automation {trigger_id} does not exist")
            event_type = changes.get("triggeringEventType", trigger.event_type)
            if "scopeType" in changes or "scopeID" in changes or "triggeringEventType" in changes:
                scope_type = changes.get("scopeType") or _scope_type(trigger.scope)
                scope = self._scope(scope_type, changes.get("scopeID") or trigger.scope.id, event_type)
            else:
                scope = trigger.scope
            action_type = changes.get("triggeredActionType", trigger.action_type)
            action = (self._action(action_type, changes["triggeredActionConfig"])
                      if "triggeredActionConfig" in changes else trigger.action)
            if "triggeredActionType" in changes and "triggeredActionConfig" not in changes:
                raise InvalidRequest("a new triggeredActionType needs its triggeredActionConfig")
            name = self._name(changes.get("name", trigger.name), scope, trigger)
            event_filter = _event_filter(changes["eventFilter"]) if "eventFilter" in changes else trigger.event_filter
            trigger.name, trigger.scope, trigger.event_type = name, scope, event_type
            trigger.event_filter, trigger.action_type, trigger.action = event_filter, action_type, action
            trigger.description = changes.get("description", trigger.description)
            trigger.enabled = bool(changes.get("enabled", trigger.enabled))
            trigger.updated_at = self._state.now()
            return trigger

    def delete_trigger(self, trigger_id: str) -> None:
        """``deleteTrigger``."""
        with self._state.lock:
            trigger = self.trigger(trigger_id)
            if trigger is None:
                raise NotFound(f"automation {trigger_id} does not exist")
            del self._triggers[trigger.number]

    # Internals -------------------------------------------------------------------------------------

    def _entity(self, name: str) -> model.Entity:
        found = self._state.entity(name)
        if found is None:
            raise NotFound(f"entity {name!r} does not exist")
        return found

    def _scope(self, scope_type: str, scope_id: str, event_type: str) -> model.Scope:
        wanted = _SCOPE_TYPES.get(scope_type)
        found = self._state.by_id(scope_id)
        if wanted is None or not isinstance(found, wanted):
            raise NotFound(f"no {scope_type} with id {scope_id}")
        if isinstance(found, model.Collection) and event_type in _RUN_EVENTS:
            raise InvalidRequest(f"{event_type} automations are scoped to a project or an entity, not a collection")
        return found

    def _name(self, name: str, scope: model.Scope, current: model.Trigger | None) -> str:
        if not name or len(name) > 255:
            raise InvalidRequest("an automation name has 1 to 255 characters")
        owner = scope if isinstance(scope, model.Entity) else (
            scope.entity if isinstance(scope, model.Project) else scope.project.entity)
        if any(t.name == name and t is not current for t in self.of_entity(owner)):
            raise Conflict(f"an automation named {name!r} already exists in {owner.name}")
        return name

    def _action(self, action_type: str, config: Mapping[str, Any]) -> model.Action:
        given = {k for k, v in config.items() if v is not None}
        key = ACTION_INPUTS.get(action_type)
        if key is None or given != {key}:
            raise InvalidRequest(f"a {action_type} action takes exactly triggeredActionConfig.{key}, got "
                                 f"{sorted(given)}")
        spec: Mapping[str, Any] = config[key]
        if action_type == "GENERIC_WEBHOOK":
            return model.WebhookAction(self._integration(spec["integrationID"], model.WebhookIntegration),
                                       spec.get("requestPayload"))
        if action_type == "NOTIFICATION":
            return model.NotificationAction(self._integration(spec["integrationID"], model.SlackIntegration),
                                            spec.get("title"), spec.get("message"), spec.get("severity"))
        if action_type == "QUEUE_JOB":
            queue = self._state.by_id(spec["queueID"])
            if not isinstance(queue, model.RunQueue):
                raise NotFound(f"run queue {spec['queueID']} does not exist")
            return model.QueueJobAction(queue, spec["template"])
        if action_type == "PUSH_NOTIFICATION":
            user = self._state.by_id(spec["userID"])
            if not isinstance(user, model.User):
                raise NotFound(f"user {spec['userID']} does not exist")
            return model.PushNotificationAction(user, spec.get("title"), spec.get("body"))
        if action_type == "ARIA":
            return model.AriaAction(spec["prompt"])
        return model.NoOpAction(bool(spec.get("noOp", True)))

    def _integration(self, integration_id: str, kind: type[model.Integration]) -> model.Integration:
        found = self.integration(integration_id)
        if not isinstance(found, kind):
            typename = "GenericWebhookIntegration" if kind is model.WebhookIntegration else "SlackIntegration"
            raise NotFound(f"no {typename} with id {integration_id}")
        return found


def _event_filter(value: Any) -> Any:
    if not isinstance(value, dict):
        raise InvalidRequest("eventFilter is JSON text of an object")
    return value


def _scope_type(scope: model.Scope) -> str:
    if isinstance(scope, model.Entity):
        return "ENTITY"
    return "PROJECT" if isinstance(scope, model.Project) else "ARTIFACT_COLLECTION"
