"""``launch`` action: push a job to a W&B Launch run queue (``pushToRunQueueByName``).

The run spec follows W&B's launch spec: ``job`` (``entity/project/name:alias``), the destination
``entity``/``project``, and ``overrides`` (``args``, ``run_config``, ``entry_point``) in which string
values may use the event's ${variables}.
"""

from __future__ import annotations

import json
from typing import Any

from wbauto.actions.base import Action, Context, Lookup, Result
from wbauto.api.automation import LaunchAction as LaunchSpec
from wbauto.api.event import Event
from wbauto.api.execution import ExecutionRecord, RequestRecord
from wbauto.engine import templates
from wbauto.errors import ConfigError, DeliveryError
from wbauto.wbapi import queries
from wbauto.wbapi.client import GraphQLError, Unauthorized, Unavailable


def run_spec(spec: LaunchSpec, variables: dict[str, str]) -> dict[str, Any]:
    job = spec.job + (f":{spec.job_version}" if spec.job_version else "")
    overrides = {
        "args": templates.render_value(list(spec.overrides.args), variables),
        "run_config": templates.render_value(dict(spec.overrides.run_config), variables),
        "entry_point": templates.render_value(list(spec.overrides.entry_point), variables),
    }
    out: dict[str, Any] = {
        "job": job,
        "entity": spec.entity or variables.get("entity_name"),
        "project": spec.project or variables.get("project_name"),
        "overrides": {k: v for k, v in overrides.items() if v},
    }
    return {k: v for k, v in out.items() if v}


class LaunchAction(Action):
    type = "launch"

    def describe(self, spec: LaunchSpec) -> str:
        return f"queue {spec.queue}"

    def target(self, config: dict[str, Any]) -> str:
        return f"queue {config.get('queue', '')}"

    def preview(self, spec: LaunchSpec, namespace: str, event: Event, variables: dict[str, str],
                world: Lookup) -> str:
        where = f"{spec.queue_entity or variables.get('entity_name', '')}/{spec.queue_project}"
        return f"# pushToRunQueueByName queue {spec.queue} ({where})\n" + json.dumps(run_spec(spec, variables),
                                                                                      indent=2)

    async def execute(self, record: ExecutionRecord, attempt: int, context: Context) -> Result:
        if context.wandb is None:
            raise ConfigError("the launch action needs a W&B API key: set WANDB_API_KEY for the operator",
                              reason="WandbNotConfigured")
        spec = LaunchSpec.model_validate(record.spec.action.config)
        variables = record.spec.variables
        body = run_spec(spec, variables)
        queue_entity = spec.queue_entity or variables.get("entity_name", "")
        mutation_vars: dict[str, Any] = {
            "entityName": queue_entity, "projectName": spec.queue_project, "queueName": spec.queue,
            "runSpec": json.dumps(body),
            "priority": spec.priority,
            "templateVariableValues": json.dumps(spec.template_variables) if spec.template_variables else None,
        }
        request = RequestRecord(method="POST", url=f"{context.wandb.base_url}/graphql (pushToRunQueueByName "
                                f"{queue_entity}/{spec.queue_project}/{spec.queue})", body=json.dumps(body))
        try:
            data = await context.wandb.execute(queries.PUSH_TO_RUN_QUEUE, mutation_vars, scope="launch")
        except Unavailable as exc:
            raise DeliveryError(str(exc), retryable=True, retry_after=exc.retry_after, request=request) from exc
        except (GraphQLError, Unauthorized) as exc:
            raise DeliveryError(str(exc), retryable=False, request=request) from exc
        item = (data.get("pushToRunQueueByName") or {}).get("runQueueItemId")
        if not item:
            raise DeliveryError(f"queue {queue_entity}/{spec.queue_project}/{spec.queue} not found or not "
                                "writable (pushToRunQueueByName returned nothing)", retryable=False, request=request)
        return Result(None, None, f"runQueueItem {item}", request)
