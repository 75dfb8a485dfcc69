"""W&B payload templates: ``${variable}`` substitution, exactly as W&B renders them (pure).

- Substitution is textual. Inside a JSON string the value is JSON-escaped; outside a string it is
  inserted as is (``"index": ${artifact_version_index}``) only when it is exactly one JSON value (a
  number, ``true``/``false``/``null``, an array or an object) — so a value can never add keys to the
  payload (artifact metadata ``0.9, "target": "prod"`` is refused, not spliced in) — and the result must
  still be valid JSON; otherwise rendering fails with a message saying which variable or where.
- A variable that does not apply to the event, or is unknown, becomes an empty string.
- ``${artifact_metadata.KEY}`` reads a top-level metadata key.
- Secrets (a wbauto extension, documented): ``${SECRET}`` is the Webhook's signing secret,
  ``${ACCESS_TOKEN}`` its access token, ``${NAME}`` a SecretReference listed in
  ``payloadSecretRefs`` (``team-token`` → ``${TEAM_TOKEN}``); ``$NAME`` without braces also works for
  those names. Values are inserted once: text coming from a variable is never expanded again. A
  ``${NAME}`` in upper case that is no secret of the Webhook is an error naming it, never an empty string.
- No code runs: there are no expressions, filters or loops.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from wbauto.api.event import Event
from wbauto.engine.events import registry
from wbauto.engine.metrics import Evaluation
from wbauto.errors import ConfigError

_SECRET_NAME = re.compile(r"[A-Z][A-Z0-9_]*")
_VARIABLE = re.compile(r"\$\{([^{}\s]{1,256})\}|\$([A-Z][A-Z0-9_]{0,127})\b")


class TemplateError(ConfigError):
    """Raised when a rendered JSON payload is not valid JSON."""

    def __init__(self, message: str) -> None:
        super().__init__(message, reason="TemplateInvalid")


def secret_variable(reference_name: str) -> str:
    """The payload variable of a SecretReference name: ``team-token`` → ``TEAM_TOKEN``."""
    return re.sub(r"[^A-Za-z0-9]", "_", reference_name).upper()


def variables(
    event: Event,
    *,
    automation_name: str,
    evaluation: Evaluation | None = None,
    app_url: str = "https://wandb.ai",
) -> dict[str, str]:
    """Every payload variable for ``event``; inapplicable ones are absent (and render empty)."""
    kind = registry.typed(event.type)  # None: the internal RUN_HISTORY
    out: dict[str, str] = {
        "event_type": kind.display if kind is not None else event.type.value,
        "event_author": event.author,
        "entity_name": event.entity,
        "project_name": event.project,
        "automation_name": automation_name,
        "event_id": event.id,
    }
    if event.alias:
        out["alias"] = event.alias
    if event.tag:
        out["tag"] = event.tag
    art = event.artifact
    if art is not None:
        out["artifact_collection_name"] = art.collection
        if art.id:
            out["artifact_version"] = f"wandb-artifact://_id/{art.id}"
            label = event.alias if kind is not None and kind.alias_names_version and event.alias else art.version
            out["artifact_version_string"] = f"{event.entity}/{event.project}/{art.collection}:{label}"
            if art.version_index is not None:
                out["artifact_version_index"] = str(art.version_index)
            for key, value in art.metadata.items():
                out[f"artifact_metadata.{key}"] = value if isinstance(value, str) else json.dumps(value)
            out["artifact_url"] = (f"{app_url}/{event.entity}/{event.project}/artifacts/{art.type or 'model'}/"
                                   f"{art.collection}/{art.version}")
    run = event.run
    if run is not None:
        out["run_name"] = run.display_name or run.id
        out["run_id"] = run.id
        out["run_url"] = f"{app_url}/{event.entity}/{event.project}/runs/{run.id}"
        if kind is not None and "run_status" in kind.variables:
            out["run_status"] = run.state
    if evaluation is not None:
        metric = next((m.name for m in event.metrics), "")
        out["metric_name"] = metric
        out["metric_values"] = json.dumps([round(v, 10) for v in evaluation.window])
        out["metric_filter"] = evaluation.filter_text
        out["metric_filter_short"] = evaluation.filter_short
        out["metric_current_status"] = evaluation.status_text
        out["metric_value"] = f"{evaluation.value:.10g}"
        out["metric_step"] = str(evaluation.step)
    return out


def render(template: str, values: Mapping[str, str], secrets: Mapping[str, str] | None = None, *,
           json_body: bool = True) -> str:
    """Substitute variables in one pass. With ``json_body`` the result is checked to be valid JSON."""
    secrets = secrets or {}
    out: list[str] = []
    in_string = False
    escaped = False
    last = 0
    for match in _VARIABLE.finditer(template):
        # track whether the match starts inside a JSON string literal of the template text
        for ch in template[last:match.start()]:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = in_string
            elif ch == '"':
                in_string = not in_string
        out.append(template[last:match.start()])
        braced, bare = match.group(1), match.group(2)
        if bare is not None and bare not in secrets:
            out.append(match.group(0))  # `$WORD` that is not a secret: plain text
        else:
            name = braced if braced is not None else bare
            if name not in values and name not in secrets and _SECRET_NAME.fullmatch(name):
                raise TemplateError(f"${{{name}}} is not a secret this Webhook provides (secretRef gives ${{SECRET}}, "
                                    "accessTokenRef ${ACCESS_TOKEN}, each payloadSecretRefs entry ${ITS_NAME})")
            value = values.get(name, secrets.get(name, ""))
            if json_body and in_string:
                out.append(json.dumps(value)[1:-1])
            elif json_body:
                out.append(_json_value(name, value))
            else:
                out.append(value)
        last = match.end()
    out.append(template[last:])
    text = "".join(out)
    if json_body:
        try:
            json.loads(text)
        except RecursionError:
            raise TemplateError("the rendered payload is nested too deeply to be valid JSON") from None
        except ValueError as exc:
            where = getattr(exc, "pos", None)
            raise TemplateError(f"the rendered payload is not valid JSON ({exc.args[0].split(':')[0]}"
                                + (f" at character {where}" if where is not None else "") +
                                "); put string variables inside quotes, e.g. \"${alias}\"") from None
    return text


def _json_value(name: str, value: str) -> str:
    """``value`` for insertion outside quotes: exactly one JSON value, or a TemplateError naming ``name``."""
    try:
        json.loads(value)
    except RecursionError:
        raise TemplateError(f"${{{name}}} is nested too deeply") from None
    except ValueError:
        what = "empty for this event" if not value.strip() else "not one JSON value"
        raise TemplateError(f"${{{name}}} is inserted outside quotes, so it must be one JSON value (a number, "
                            f"true, false, null, an array or an object), and it is {what}: put it inside "
                            f"quotes, e.g. \"${{{name}}}\"") from None
    return value


def default_payload() -> str:
    """The payload used when a webhook action has none: every W&B variable, as strings."""
    names = ["event_type", "event_author", "entity_name", "project_name", "automation_name",
             "artifact_collection_name", "artifact_version", "artifact_version_string", "alias", "tag",
             "run_name", "run_status", "metric_name", "metric_filter", "metric_current_status"]
    return "{" + ", ".join(f'"{n}": "${{{n}}}"' for n in names) + "}"


def render_value(value: Any, values: Mapping[str, str]) -> Any:
    """Substitute variables in every string inside a JSON-like structure (Launch overrides, Job specs)."""
    if isinstance(value, str):
        return render(value, values, json_body=False)
    if isinstance(value, list):
        return [render_value(v, values) for v in value]
    if isinstance(value, dict):
        return {k: render_value(v, values) for k, v in value.items()}
    return value
