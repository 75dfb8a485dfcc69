"""Checks the schema cannot make (pure): does a webhook payload template render to valid JSON for the
events its Automation fires on? Run by the reconciler (an invalid template stalls the Automation before
any event) and by ``wbauto validate``."""

from __future__ import annotations

import re

from wbauto.api.automation import AutomationSpec
from wbauto.api.manifests import Problem
from wbauto.engine import samples, templates

_SECRET_NAME = re.compile(r"\$\{([A-Z][A-Z0-9_]*)\}")


def automation(spec: AutomationSpec, name: str) -> list[Problem]:
    webhook = spec.action.webhook
    if webhook is None or not webhook.payload:
        return []
    event, evaluation = samples.sample_event(spec)
    variables = templates.variables(event, automation_name=spec.display_name or name, evaluation=evaluation)
    secrets = dict.fromkeys(_SECRET_NAME.findall(webhook.payload), "secret")
    try:
        templates.render(webhook.payload, variables, secrets)
    except templates.TemplateError as exc:
        return [Problem("spec.action.webhook.payload",
                        f"Invalid value: \"string\": for a sample {event.type.value} event, {exc}")]
    return []
