"""``wbauto render``: preview what an Automation would send, for a sample (or given) event. Offline:
no cluster, no W&B, no secrets — secret variables show as ``***``."""

from __future__ import annotations

import argparse
from pathlib import Path

from wbauto.actions import registry
from wbauto.api import kinds
from wbauto.api.automation import AutomationSpec
from wbauto.api.event import Event
from wbauto.cli.common import load_world, pick
from wbauto.engine import matching, samples, templates
from wbauto.engine.events import registry as events
from wbauto.errors import ConfigError


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
    print(f"# Automation {res.namespace}/{res.name}: {events.of(spec.event).wandb_type.value} → "
          f"{spec.action.wandb_type}")
    print(f"# event: {event.summary()}")
    action, settings = registry.of(spec.action)
    try:
        print(action.preview(settings, res.namespace, event, variables, world))
    except ConfigError as exc:
        print(f"error: {exc}")
        return 1
    return 0
