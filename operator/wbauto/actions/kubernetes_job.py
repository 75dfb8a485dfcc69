"""``kubernetesJob`` action: create a ``batch/v1`` Job in the Automation's namespace.

The Job is named after the execution, so a retry (or a second replica) never creates a second Job:
``AlreadyExists`` counts as success. Event variables become ``WBAUTO_*`` environment variables of every
container and labels on the Job; ``${variables}`` in the template's strings are substituted.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import yaml

from wbauto.actions.base import Action, Context, Lookup, Result
from wbauto.api.automation import KubernetesJobAction as JobSpec
from wbauto.api.event import Event
from wbauto.api.execution import AutomationExecutionSpec, AutomationRef, ExecutionAction, ExecutionRecord, RequestRecord
from wbauto.api.kinds import PREFIX
from wbauto.engine import templates
from wbauto.errors import ConfigError, DeliveryError, KubeError
from wbauto.kube import client as kube


def label_value(text: str) -> str:
    value = re.sub(r"[^A-Za-z0-9_.-]", "-", text)[:63]
    return value.strip("-_.")


def env_name(variable: str) -> str:
    """``artifact_version`` → ``WBAUTO_ARTIFACT_VERSION`` (not WANDB_*: the W&B SDK in the Job reads those,
    e.g. WANDB_RUN_ID would resume the triggering run)."""
    return "WBAUTO_" + re.sub(r"[^A-Za-z0-9]", "_", variable).upper()


def build(record: ExecutionRecord) -> dict[str, Any]:
    spec = JobSpec.model_validate(record.spec.action.config)
    variables = record.spec.variables
    job_spec = templates.render_value(copy.deepcopy(spec.spec.model_dump(by_alias=True, exclude_none=True)),
                                      variables)
    pod = job_spec.setdefault("template", {}).setdefault("spec", {})
    env = [{"name": env_name(k), "value": v} for k, v in sorted(variables.items())
           if not k.startswith("artifact_metadata.")]
    env += [{"name": "WBAUTO_EXECUTION", "value": record.name},
            {"name": "WBAUTO_DELIVERY_ID", "value": record.spec.delivery_id}]
    for container in pod.get("containers") or []:
        container["env"] = [*container.get("env", []), *env]
    if spec.service_account_name:
        pod["serviceAccountName"] = spec.service_account_name
    pod.setdefault("restartPolicy", "Never")
    labels = {
        **spec.metadata.labels,
        "app.kubernetes.io/managed-by": "wbauto",
        f"{PREFIX}/automation": label_value(record.automation),
        f"{PREFIX}/execution": label_value(record.name),
        f"{PREFIX}/event-type": label_value(record.spec.event.type.value.lower()),
    }
    template_meta = job_spec["template"].setdefault("metadata", {}) or {}
    job_spec["template"]["metadata"] = template_meta
    template_meta["labels"] = {**(template_meta.get("labels") or {}), f"{PREFIX}/execution": label_value(record.name)}
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": record.name, "namespace": record.namespace, "labels": labels,
                     "annotations": {**spec.metadata.annotations,
                                     f"{PREFIX}/event": record.spec.event.summary()[:1024]}},
        "spec": job_spec,
    }


class KubernetesJobAction(Action):
    type = "kubernetesJob"

    def describe(self, spec: JobSpec) -> str:
        return "job"

    def target(self, config: dict[str, Any]) -> str:
        return "job"

    def preview(self, spec: JobSpec, namespace: str, event: Event, variables: dict[str, str],
                world: Lookup) -> str:
        record = ExecutionRecord(namespace, "preview", AutomationExecutionSpec(
            automation=AutomationRef(name=variables.get("automation_name", "")), event=event, variables=variables,
            action=ExecutionAction(type=self.type, config=spec.dump()), delivery_id="preview"))
        return yaml.safe_dump(build(record), sort_keys=False).rstrip("\n")

    async def execute(self, record: ExecutionRecord, attempt: int, context: Context) -> Result:
        if context.kube is None:
            raise ConfigError("the kubernetesJob action needs a cluster; the standalone runtime has none",
                              reason="NoCluster")
        job = build(record)
        request = RequestRecord(method="POST", url=f"jobs.batch {record.namespace}/{record.name}", body="")
        try:
            await context.kube.create(kube.JOBS, record.namespace, job)
        except kube.Conflict:
            pass  # created by an earlier attempt: the name is the idempotency key
        except kube.Invalid as exc:
            raise DeliveryError(f"the Job template is invalid: {exc}", retryable=False, status_code=422,
                                request=request) from exc
        except kube.Forbidden as exc:
            raise DeliveryError(f"the operator may not create Jobs in {record.namespace} (RBAC): {exc}",
                                retryable=False, status_code=403, request=request) from exc
        except KubeError as exc:
            raise DeliveryError(str(exc), retryable=True, status_code=exc.status or None, request=request) from exc
        return Result(201, None, f"Job {record.namespace}/{record.name}", request)
