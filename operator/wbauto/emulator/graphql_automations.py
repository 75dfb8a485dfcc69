"""Automations over GraphQL: triggers and integrations as the wandb SDK lists, creates, updates and
deletes them (``Api().automations()``, ``create_automation``, ``integrations()``, ...).

A saved artifact-event trigger answers its ``eventFilter`` wrapped once more, ``{"filter": <sent>}``; a
run-event trigger answers it as sent. Both are JSON text (``FilterEventTriggeringCondition.filter``).
"""

from __future__ import annotations

from typing import Any

from wbauto.emulator import filters as filters_
from wbauto.emulator import model, paging, scalars
from wbauto.emulator.resolving import Info, Resolver, order

RUN_EVENTS = frozenset({"RUN_METRIC", "RUN_METRIC_CHANGE", "RUN_METRIC_ZSCORE", "RUN_STATE",
                        "WEAVE_METRIC_THRESHOLD"})
"""Event types whose filter is saved as sent; every other (artifact) event's is wrapped in ``filter``."""

ACTION_TYPENAMES: dict[type[Any], str] = {
    model.WebhookAction: "GenericWebhookTriggeredAction",
    model.NotificationAction: "NotificationTriggeredAction",
    model.QueueJobAction: "QueueJobTriggeredAction",
    model.NoOpAction: "NoOpTriggeredAction",
    model.PushNotificationAction: "PushNotificationTriggeredAction",
    model.AriaAction: "ARIATriggeredAction",
}


def _create(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    trigger = info.context.automations.create_trigger(
        name=input["name"], description=input.get("description"), enabled=input["enabled"],
        scope_type=input["scopeType"], scope_id=input["scopeID"], event_type=input["triggeringEventType"],
        event_filter=input["eventFilter"], action_type=input["triggeredActionType"],
        action_config=input["triggeredActionConfig"],
    )
    return {"trigger": trigger, "clientMutationId": input.get("clientMutationId")}


def _update(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    changes = {k: v for k, v in input.items() if v is not None and k not in ("id", "clientMutationId")}
    trigger = info.context.automations.update_trigger(input["id"], changes)
    return {"trigger": trigger, "clientMutationId": input.get("clientMutationId")}


def _delete(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    info.context.automations.delete_trigger(input["triggerID"])
    return {"success": True, "clientMutationId": input.get("clientMutationId")}


def _create_webhook(_: None, info: Info, input: dict[str, Any]) -> dict[str, Any]:
    integration = info.context.automations.create_webhook_integration(
        input["entityName"], input["name"], input["urlEndpoint"], secret_ref=input.get("secretRef"),
        access_token_ref=input.get("accessTokenRef"))
    return {"integration": integration, "clientMutationId": input.get("clientMutationId")}


def _trigger_connection(triggers: list[model.Trigger], *, after: str | None = None, first: int | None = None,
                        order_by: str | None = None, filters: Any = None) -> dict[str, Any]:
    """Oldest first unless ``order`` says otherwise; ``filters`` on ``name``, ``id``, ``enabled``,
    ``createdAt``, ``eventType`` and ``actionType``."""
    expression = filters_.check(filters)
    selected = [t for t in triggers if filters_.matches({
        "name": t.name, "id": t.id, "enabled": t.enabled, "createdAt": scalars.format_time(t.created_at),
        "eventType": t.event_type, "actionType": t.action_type}, expression)]
    descending, field = order(order_by, {"createdAt", "name"}, "+createdAt")
    key = (lambda t: (t.name, t.number)) if field == "name" else (lambda t: (t.number,))
    return paging.connection(selected, key=key, after=after, first=first, descending=descending)


def _entity_triggers(entity: model.Entity, info: Info, after: str | None = None, first: int | None = None,
                     order: str | None = None, filters: Any = None) -> dict[str, Any]:
    return _trigger_connection(info.context.automations.of_entity(entity), after=after, first=first,
                               order_by=order, filters=filters)


def _organization_triggers(organization: model.Organization, info: Info, after: str | None = None,
                           first: int | None = None, order: str | None = None, filters: Any = None) -> dict[str, Any]:
    return _trigger_connection(info.context.automations.of_organization(organization), after=after, first=first,
                               order_by=order, filters=filters)


def _entity_integrations(entity: model.Entity, info: Info, after: str | None = None,
                         first: int | None = None) -> dict[str, Any]:
    return paging.connection(info.context.automations.integrations(entity), key=lambda i: (i.number,),
                             after=after, first=first)


def _condition(trigger: model.Trigger, info: Info) -> dict[str, Any]:
    saved = trigger.event_filter if trigger.event_type in RUN_EVENTS else {"filter": trigger.event_filter}
    return {"eventType": trigger.event_type, "filter": saved}


def _scope_type(scope: model.Scope, *_: Any) -> str:
    if isinstance(scope, model.Collection):
        return scope.kind.value
    return "Project" if isinstance(scope, model.Project) else "Entity"


def _integration_type(integration: model.Integration, *_: Any) -> str:
    return "GenericWebhookIntegration" if isinstance(integration, model.WebhookIntegration) else "SlackIntegration"


RESOLVERS: dict[str, dict[str, Resolver]] = {
    "Mutation": {
        "createFilterTrigger": _create,
        "updateFilterTrigger": _update,
        "deleteTrigger": _delete,
        "createGenericWebhookIntegration": _create_webhook,
    },
    "Entity": {"triggers": _entity_triggers, "integrations": _entity_integrations},
    "Organization": {"triggers": _organization_triggers},
    "Project": {"triggers": lambda p, info: info.context.automations.of_project(p)},
    "Trigger": {"triggeringCondition": _condition, "triggeredAction": lambda t, info: t.action},
}
"""Type -> field -> resolver, merged into the schema's resolvers."""

TYPE_RESOLVERS: dict[str, Resolver] = {
    "TriggerScope": _scope_type,
    "TriggeringCondition": lambda obj, *_: "FilterEventTriggeringCondition",
    "TriggeredAction": lambda obj, *_: ACTION_TYPENAMES[type(obj)],
    "Integration": _integration_type,
}
"""Abstract type (union or interface) -> the resolver of its concrete type."""
