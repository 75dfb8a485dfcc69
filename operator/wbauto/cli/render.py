"""``wbauto render``: preview what an Automation would send, for a sample (or given) event. Offline:
no cluster, no W&B, no secrets — secret variables show as ``***``."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import yaml

from wbauto.actions import kubernetes_job, launch, slack
from wbauto.api import kinds
from wbauto.api.automation import AutomationSpec
from wbauto.api.event import Event
from wbauto.api.execution import AutomationExecutionSpec, AutomationRef, ExecutionAction, ExecutionRecord
from wbauto.cli.common import load_world, pick
from wbauto.engine import matching, samples, templates
from wbauto.errors import ConfigError
from wbauto.redact import MASK


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-f", "--filename", dest="paths", action="append", type=Path, required=True,
                        metavar="PATH", help="manifest file or folder (repeatable)")
    parser.add_argument("-a", "--automation", help="Automation name (needed when there are several)")
    parser.add_argument("-n", "--namespace", default="default", help="namespace for documents without one")
    parser.add_argument("--event", type=Path, metavar="FILE",
                        help="an Event as JSON (see `wbauto history -o json`); default: a sample event")
    parser.add_argument("--set", action="append", default=[], metavar="VAR=VALUE",
                        help="override a payload variable, e.g. --set alias=staging")


def main(args: argparse.Namespace) -> int:
    world = load_world(args.paths, args.namespace)
    res = pick(world, kinds.AUTOMATION.kind, args.automation, args.namespace)
    spec: AutomationSpec = res.spec  # type: ignore[assignment]
    name = spec.display_name or res.name
    if args.event:
        event = Event.model_validate_json(args.event.read_text())
        accepted = matching.evaluate(spec, event)
        if accepted is None:
            print(f"note: Automation {res.namespace}/{res.name} would not fire on this event "
                  "(scope, type or filters differ); rendering anyway")
            accepted = (event, None)
    else:
        accepted = samples.sample_event(spec)
    event, evaluation = accepted
    variables = templates.variables(event, automation_name=name, evaluation=evaluation)
    for item in args.set:
        key, _, value = item.partition("=")
        variables[key] = value
    print(f"# Automation {res.namespace}/{res.name}: {spec.event.wandb_type} → {spec.action.wandb_type}")
    print(f"# event: {event.summary()}")
    action = spec.action
    try:
        if action.webhook is not None:
            webhook = world.webhook(res.namespace, action.webhook.webhook_ref.name)
            secret_names = ["SECRET", "ACCESS_TOKEN"]
            if webhook is not None:
                secret_names += [templates.secret_variable(r.name) for r in webhook.payload_secret_refs]
                print(f"# POST {webhook.url}" + ("  (signed: X-Wandb-Signature)" if webhook.secret_ref else ""))
            else:
                print(f"# Webhook {res.namespace}/{action.webhook.webhook_ref.name} is not in these manifests")
            body = templates.render(action.webhook.payload or templates.default_payload(), variables,
                                    dict.fromkeys(secret_names, MASK))
            print(json.dumps(json.loads(body), indent=2))
        elif action.slack is not None:
            print(json.dumps(slack.message(action.slack, variables, "https://wandb.ai"), indent=2))
        elif action.launch is not None:
            print(f"# pushToRunQueueByName queue {action.launch.queue} "
                  f"({action.launch.queue_entity or variables['entity_name']}/{action.launch.queue_project})")
            print(json.dumps(launch.run_spec(action.launch, variables), indent=2))
        elif action.kubernetes_job is not None:
            record = ExecutionRecord(res.namespace, f"{res.name}-preview", AutomationExecutionSpec(
                automation=AutomationRef(name=res.name), event=event, variables=variables,
                action=ExecutionAction(type="kubernetesJob", config=action.config_dump()), delivery_id="preview"))
            print(yaml.safe_dump(kubernetes_job.build(record), sort_keys=False), end="")
        else:
            print("# noOp: nothing is sent")
    except ConfigError as exc:
        print(f"error: {exc}")
        return 1
    return 0
