"""W&B's saved automations and integrations → wbauto manifests (pure): what ``wbauto import`` writes.

Input is what W&B's GraphQL API answers (``TriggerFields``, ``IntegrationsByEntity``) plus the names the
importer looked up (a saved scope holds only an id and a name: see :class:`Lookups`). Each automation is
*converted* (the manifest means what the automation meant), *converted with a difference* (it runs, and the
note says what differs: a Slack app's token, a legacy event, a Launch template's fields wbauto does not
send, ...) or *not convertible* (the note says why: an action that exists only in W&B's SaaS, a filter on a
field wbauto cannot read, an unresolvable scope). The importer passes ``check`` (offline admission, as
``wbauto validate`` admits), so a manifest that would not validate is reported instead of written.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from wbauto.api import kinds
from wbauto.api.automation import REGISTRY_PREFIX
from wbauto.api.filters import RUN_FIELDS, Unconvertible, from_wandb
from wbauto.engine.events import registry as events
from wbauto.engine.events.base import EventKind, Feed

CONVERTED = "converted"
DIFFERENT = "converted with a difference"
NOT_CONVERTIBLE = "not convertible"
NOT_WRITTEN = "not written"

RUN_METRIC_FILTERS = {"threshold_filter": "RUN_METRIC", "change_filter": "RUN_METRIC_CHANGE",
                      "zscore_filter": "RUN_METRIC_ZSCORE"}
NOT_CONVERTIBLE_EVENTS = {
    "WEAVE_METRIC_THRESHOLD": "WEAVE_METRIC_THRESHOLD is a Weave (LLM tracing) monitor alert, not a W&B Models "
                              "event: its metrics are not in W&B's run or artifact API",
}
SAAS_ONLY_ACTIONS = {
    "ARIATriggeredAction": "ARIA prompts go to W&B's assistant, which exists only in W&B's multi-tenant SaaS",
    "PushNotificationTriggeredAction": "push notifications go to W&B's own app and users; no endpoint exists "
                                       "outside W&B (the SDK cannot create them either)",
}
MAX_WINDOW = 10000
LAUNCH_KEYS = {"job", "entity", "project", "overrides", "priority", "template_variables", "queue", "queue_entity",
               "queue_project"}


@dataclass(frozen=True)
class ResolvedScope:
    """A saved scope with every name the manifest needs."""

    kind: str  # project, registry, collection, entity
    entity: str
    project: str = ""
    collection: str = ""

    def manifest(self) -> dict[str, Any]:
        if self.kind == "entity":
            return {"entity": {"name": self.entity}}
        if self.kind == "registry":
            return {"registry": {"organization": self.entity, "name": self.project.removeprefix(REGISTRY_PREFIX)}}
        if self.kind == "collection":
            return {"collection": {"entity": self.entity, "project": self.project, "name": self.collection}}
        return {"project": {"entity": self.entity, "project": self.project}}


@dataclass
class Lookups:
    """What the importer found out besides the automations themselves."""

    scopes: dict[str, ResolvedScope] = field(default_factory=dict)  # scope id → names
    queues: dict[str, tuple[str, str]] = field(default_factory=dict)  # run queue id → (entity, project)
    secrets: dict[str, tuple[str | None, str | None]] = field(default_factory=dict)  # webhook id → (secret, token)
    integrations: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # entity → its integrations


@dataclass(frozen=True)
class Row:
    """One line of the summary."""

    kind: str  # Automation, Webhook, Slack
    name: str  # as W&B names it
    entity: str
    result: str
    manifest: str = ""  # namespace/name of what was written
    note: str = ""


@dataclass(frozen=True)
class Document:
    namespace: str
    doc: dict[str, Any]
    comment: str = ""


@dataclass
class Result:
    rows: list[Row] = field(default_factory=list)
    documents: list[Document] = field(default_factory=list)

    def count(self, result: str) -> int:
        return sum(1 for r in self.rows if r.kind == "Automation" and r.result == result)


class _Skip(Exception):
    """The automation cannot be converted (the message says why)."""


# --- names --------------------------------------------------------------------------------------------------


def object_name(text: str, fallback: str) -> str:
    """A Kubernetes object name (DNS-1123 subdomain, at most 63 characters) from a W&B name."""
    slug = re.sub(r"[^a-z0-9.-]+", "-", text.lower())
    slug = re.sub(r"-{2,}", "-", re.sub(r"\.{2,}", ".", slug)).strip("-.")[:63].rstrip("-.")
    return slug or fallback


class Names:
    """Unique object names per (namespace, kind)."""

    def __init__(self) -> None:
        self._taken: dict[tuple[str, str], set[str]] = {}

    def take(self, namespace: str, kind: str, text: str, fallback: str) -> str:
        taken = self._taken.setdefault((namespace, kind), set())
        base = object_name(text, fallback)
        name, n = base, 2
        while name in taken:
            suffix = f"-{n}"
            name, n = base[:63 - len(suffix)].rstrip("-.") + suffix, n + 1
        taken.add(name)
        return name


# --- the converter -------------------------------------------------------------------------------------------


def _json(value: Any, what: str) -> Any:
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError as exc:
            raise _Skip(f"{what} is not JSON ({exc})") from None
    return value


def artifact_field(name: str) -> str:
    if name in ("alias", "tag"):
        return name
    raise Unconvertible(f"the filter names {name!r}; artifact events filter on alias and tag only")


def run_field(name: str) -> str:
    if name == "displayName":
        return "display_name"
    if name in RUN_FIELDS or (name.startswith(("config.", "summary_metrics.")) and "" not in name.split(".")):
        return name
    raise Unconvertible(f"the run filter names {name!r}, which wbauto does not read (it reads "
                        f"{', '.join(RUN_FIELDS)}, config.<path>, summary_metrics.<path>)")


class Converter:
    """Converts W&B's saved automations of one import (shared names, Webhooks and SecretReferences)."""

    def __init__(self, lookups: Lookups, namespace_of: Mapping[str, str] | None = None,
                 namespace: str | None = None, check: Callable[[dict[str, Any]], list[str]] | None = None) -> None:
        self.lookups = lookups
        self.check = check  # what `wbauto validate` would report for a manifest (the importer passes admission)
        self._namespace = namespace
        self._namespace_of = dict(namespace_of or {})
        self.names = Names()
        self.result = Result()
        self._webhooks: dict[tuple[str, str], str] = {}  # (namespace, integration id) → Webhook name
        self._secrets: dict[tuple[str, str], str] = {}  # (namespace, W&B secret or Slack workspace) → name
        self._webhook_docs: dict[tuple[str, str], dict[str, Any]] = {}  # (namespace, name) → the Webhook
        self._slack_used: set[str] = set()  # Slack integration ids an automation posts to

    def namespace(self, entity: str) -> str:
        if self._namespace:
            return self._namespace
        return self._namespace_of.setdefault(entity, object_name(entity, "wandb"))

    # automations --------------------------------------------------------------------------------------

    def automation(self, trigger: Mapping[str, Any], listed_under: str) -> None:
        """Convert one saved automation (``TriggerFields``) listed under the entity ``listed_under``."""
        name = str(trigger.get("name") or trigger.get("id") or "?")
        notes: list[str] = []
        try:
            scope = self._scope(trigger)
            owner = listed_under or scope.entity
            namespace = self.namespace(owner)
            event, run_filter = self._event(trigger, scope, notes)
            action = self._action(trigger, scope, namespace, notes)
        except (_Skip, Unconvertible) as exc:
            self.result.rows.append(Row("Automation", name, listed_under, NOT_CONVERTIBLE, note=str(exc)))
            return
        spec: dict[str, Any] = {"displayName": name[:255]}
        if trigger.get("description"):
            spec["description"] = str(trigger["description"])[:4096]
        spec["enabled"] = bool(trigger.get("enabled", True))
        spec.update(scope=scope.manifest(), event=event)
        if run_filter:
            spec["runFilter"] = run_filter
        spec["action"] = action
        object_ = self.names.take(namespace, kinds.AUTOMATION.kind, name, "automation")
        doc = {"apiVersion": kinds.API_VERSION, "kind": kinds.AUTOMATION.kind,
               "metadata": {"name": object_, "namespace": namespace}, "spec": spec}
        problems = self.check(doc) if self.check is not None else []
        if problems:
            self.result.rows.append(Row("Automation", name, owner, NOT_CONVERTIBLE,
                                        note="the converted manifest does not validate: " + "; ".join(problems)))
            return
        result = DIFFERENT if notes else CONVERTED
        comment = f"W&B automation {name!r} ({trigger.get('id', '')}) of {owner}"
        if notes:
            comment += ". Differences: " + "; ".join(notes)
        self.result.documents.append(Document(namespace, doc, comment))
        self.result.rows.append(Row("Automation", name, owner, result, f"{namespace}/{object_}", "; ".join(notes)))

    def _scope(self, trigger: Mapping[str, Any]) -> ResolvedScope:
        scope = trigger.get("scope") or {}
        found = self.lookups.scopes.get(str(scope.get("id") or ""))
        if found is None:
            raise _Skip(f"its scope ({scope.get('__typename', '?')} {scope.get('name', '?')!r}, id "
                        f"{scope.get('id', '?')}) could not be looked up")
        return found

    def _event(self, trigger: Mapping[str, Any], scope: ResolvedScope,
               notes: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        condition = trigger.get("event") or {}
        kind = str(condition.get("eventType") or "")
        if kind in NOT_CONVERTIBLE_EVENTS:
            raise _Skip(NOT_CONVERTIBLE_EVENTS[kind])
        saved = _json(condition.get("filter") or "{}", "the event filter")
        found = events.imported(kind)
        if found is None:
            raise _Skip(f"event type {kind or '(none)'} is not one of W&B's documented event types")
        if found.feed is Feed.ARTIFACTS:
            return self._artifact_event(kind, found, saved, notes), {}
        if scope.kind not in found.scopes:
            raise _Skip(f"a {kind} automation scoped to a {scope.kind} (W&B's run events take a project or an "
                        "entity)")
        return self._run_event(kind, saved, notes)

    def _artifact_event(self, kind: str, found: EventKind, saved: Any, notes: list[str]) -> dict[str, Any]:
        key = found.key
        if kind == "UPDATE_ARTIFACT_ALIAS":
            notes.append("UPDATE_ARTIFACT_ALIAS is W&B's legacy alias event (the SDK no longer creates it): converted "
                         "to artifactAliasAdded, which fires whenever an alias is added to a version, moved or new, "
                         "and whose payloads say ADD_ARTIFACT_ALIAS")
        expression = saved.get("filter", saved) if isinstance(saved, dict) else saved
        expression = _json(expression, "the event filter")
        converted = from_wandb(expression, artifact_field, top_fields=True)
        config: dict[str, Any] = {}
        event: dict[str, Any] = {key: config}
        short = found.subject or None
        if short and list(converted) == [short] and list(converted[short]) == ["$regex"]:
            config[f"{short}Regex"] = converted[short]["$regex"]  # the App's "Alias regex" / "Tag regex"
        elif converted:
            event["filter"] = converted
        return event

    def _run_event(self, kind: str, saved: Any, notes: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
        if not isinstance(saved, dict):
            raise _Skip("the run event's filter is not an object")
        run_filter = self._run_filter(_json(saved.get("run_filter") or "{}", "run_filter"))
        if kind == "RUN_STATE":
            states = (saved.get("run_state_filter") or {}).get("states")
            if not states:
                raise _Skip("the run state filter names no state")
            return {"runStateChanged": {"states": list(states)}}, run_filter
        metric = saved.get("run_metric_filter") or {}
        legacy = saved.get("metric_filter")
        if not metric and legacy:
            metric = {"threshold_filter": _json(legacy, "metric_filter")}
            notes.append("a legacy metric_filter, read as W&B reads it: a threshold filter")
        inner = [k for k in RUN_METRIC_FILTERS if k in metric]
        if len(inner) != 1:
            raise _Skip(f"the run metric filter holds {inner or 'no known filter'} (one of threshold_filter, "
                        "change_filter, zscore_filter)")
        if RUN_METRIC_FILTERS[inner[0]] != kind:
            raise _Skip(f"event type {kind} with a {inner[0]}")
        body = metric[inner[0]]
        if inner[0] == "threshold_filter":
            event = {"runMetricThreshold": _drop_none({
                "metric": body.get("name"), "agg": body.get("agg_op"), "window": body.get("window_size"),
                "cmp": body.get("cmp_op"), "threshold": body.get("threshold")})}
        elif inner[0] == "change_filter":
            event = {"runMetricChange": _drop_none({
                "metric": body.get("name"), "agg": body.get("agg_op"), "currentWindow": body.get("current_window_size"),
                "priorWindow": body.get("prior_window_size"), "changeType": body.get("change_type"),
                "direction": body.get("change_dir"), "amount": body.get("change_amount")})}
        else:
            event = {"runMetricZScore": _drop_none({
                "metric": body.get("name"), "window": body.get("window_size"), "threshold": body.get("threshold"),
                "direction": body.get("change_dir")})}
            if body.get("window_size") == 1:
                notes.append("a z-score window of 1 never fires in wbauto (one earlier value has no standard "
                             "deviation)")
        for name in ("window", "currentWindow", "priorWindow"):
            value = next(iter(event.values())).get(name)
            if isinstance(value, int) and value > MAX_WINDOW:
                raise _Skip(f"a {name} of {value} values (wbauto keeps at most {MAX_WINDOW} per run and metric)")
        return event, run_filter

    def _run_filter(self, expression: Any) -> dict[str, Any]:
        converted = from_wandb(expression, run_field, top_fields=False)
        terms = converted.get("$and")
        if terms and len(converted) == 1:
            short: dict[str, Any] = {}
            rest = []
            for term in terms:
                ops = term.get("display_name") if len(term) == 1 else None
                if ops is not None and list(ops) == ["$regex"] and "nameRegex" not in short:
                    short["nameRegex"] = ops["$regex"]  # the App's "Filter on run name"
                else:
                    rest.append(term)
            return {**short, **({"$and": rest} if rest else {})}
        return converted

    # actions ---------------------------------------------------------------------------------------------

    def _action(self, trigger: Mapping[str, Any], scope: ResolvedScope, namespace: str,
                notes: list[str]) -> dict[str, Any]:
        action = trigger.get("action") or {}
        typename = str(action.get("__typename") or "")
        if typename in SAAS_ONLY_ACTIONS:
            raise _Skip(SAAS_ONLY_ACTIONS[typename])
        if typename == "NoOpTriggeredAction":
            return {"noOp": {}}
        if typename == "GenericWebhookTriggeredAction":
            return self._webhook_action(action, scope, namespace, notes)
        if typename == "NotificationTriggeredAction":
            return self._slack_action(action, namespace, notes)
        if typename == "QueueJobTriggeredAction":
            return self._launch_action(action, scope, notes)
        raise _Skip("its action is of a type the server did not describe (W&B's push notifications and ARIA "
                    "prompts, read only where the server reports them, exist only in W&B)" if not typename
                    else f"action {typename} is not one of W&B's documented actions")

    def _webhook_action(self, action: Mapping[str, Any], scope: ResolvedScope, namespace: str,
                        notes: list[str]) -> dict[str, Any]:
        integration = action.get("integration") or {}
        name = self.webhook(integration, scope.entity, namespace)
        spec: dict[str, Any] = {"webhookRef": {"name": name}}
        payload = action.get("requestPayload")
        if payload:
            text = payload if isinstance(payload, str) else json.dumps(payload)
            text, secret_refs = self._payload_secrets(text, str(integration.get("id") or ""), namespace, scope)
            if secret_refs:
                notes.append("the payload uses team secrets " + ", ".join(secret_refs) + " (wbauto fills them from "
                             "SecretReferences; W&B's own docs disagree on whether W&B does)")
                listed = self._webhook_docs[(namespace, name)]["spec"].setdefault("payloadSecretRefs", [])
                listed.extend(r for r in ({"name": object_name(s, "secret")} for s in secret_refs) if r not in listed)
            spec["payload"] = text
        else:
            notes.append("W&B saved no payload: wbauto posts its default payload (every W&B variable)")
        return {"webhook": spec}

    def _payload_secrets(self, text: str, integration_id: str, namespace: str,
                         scope: ResolvedScope) -> tuple[str, list[str]]:
        signing, token = self.lookups.secrets.get(integration_id, (None, None))
        found: list[str] = []

        own = {"ACCESS_TOKEN": "${ACCESS_TOKEN}", "SECRET": "${SECRET}"}  # wbauto's names of the webhook's own
        if token:
            own[_secret_name(token)] = "${ACCESS_TOKEN}"
        if signing:
            own[_secret_name(signing)] = "${SECRET}"

        def replace(match: re.Match[str]) -> str:
            secret = match.group(1) or match.group(2)
            if secret in own:
                return own[secret]
            if match.group(2):
                return match.group(0)  # a bare $NAME is a secret only when it names the webhook's own
            if secret not in found:
                found.append(secret)
                self.team_secret(secret, scope.entity, namespace)
            return "${" + object_name(secret, "secret").upper().replace("-", "_").replace(".", "_") + "}"

        text = re.sub(r"\$\{([A-Z][A-Z0-9_]*)\}|\$([A-Z][A-Z0-9_]*)\b", replace, text)
        return text, found

    def _slack_action(self, action: Mapping[str, Any], namespace: str, notes: list[str]) -> dict[str, Any]:
        integration = action.get("integration") or {}
        workspace = str(integration.get("teamName") or "slack")
        channel = str(integration.get("channelName") or "")
        if not channel:
            raise _Skip("its Slack integration names no channel")
        ref = self.slack_token(workspace, namespace)
        self._slack_used.add(str(integration.get("id") or ""))
        spec = _drop_none({"tokenRef": {"name": ref}, "channel": channel, "title": action.get("title") or None,
                           "message": action.get("message") or None, "severity": action.get("severity") or None})
        notes.append(f"W&B posts to Slack through its own Slack app; wbauto posts with a bot token of your Slack app "
                     f"in workspace {workspace!r} (SecretReference {ref}), and its message carries the event summary "
                     "and a link besides the title and message")
        return {"slack": spec}

    def _launch_action(self, action: Mapping[str, Any], scope: ResolvedScope, notes: list[str]) -> dict[str, Any]:
        queue = action.get("queue") or {}
        if not queue.get("name"):
            raise _Skip("its Launch queue no longer exists")
        template = _json(action.get("template") or "{}", "the Launch template")
        if not isinstance(template, dict):
            raise _Skip("the Launch template is not a JSON object")
        job = template.get("job")
        if not isinstance(job, str) or job.count("/") != 2:
            raise _Skip("the Launch template names no job (entity/project/name:alias); wbauto launches jobs, not "
                        "docker images")
        spec: dict[str, Any] = {"queue": queue["name"], "job": job}
        located = self.lookups.queues.get(str(queue.get("id") or ""))
        if located is not None:
            spec["queueEntity"], spec["queueProject"] = located
        else:
            spec["queueEntity"] = scope.entity
            notes.append(f"run queue {queue['name']!r} was not found among {scope.entity}'s queues: assumed to be in "
                         f"{scope.entity}/model-registry")
        for key in ("entity", "project", "priority"):
            if template.get(key) is not None:
                spec[key] = template[key]
        overrides = template.get("overrides") or {}
        if isinstance(overrides, dict):
            picked = {k: overrides[k] for k in ("args", "run_config", "entry_point") if overrides.get(k)}
            spec["overrides"] = {{"run_config": "runConfig", "entry_point": "entryPoint"}.get(k, k): v
                                 for k, v in picked.items()}
            dropped = sorted(set(overrides) - {"args", "run_config", "entry_point"})
            if dropped:
                notes.append("Launch overrides wbauto does not send: " + ", ".join(dropped))
        if template.get("template_variables"):
            spec["templateVariables"] = template["template_variables"]
        ignored = sorted(set(template) - LAUNCH_KEYS)
        if ignored:
            notes.append("Launch template fields wbauto does not send (the queue's configuration decides them): "
                         + ", ".join(ignored))
        return {"launch": _drop_none(spec)}

    # integrations and secrets -------------------------------------------------------------------------------

    def webhook(self, integration: Mapping[str, Any], entity: str, namespace: str) -> str:
        """The Webhook for a W&B webhook integration in ``namespace`` (written once, with its secrets)."""
        integration_id = str(integration.get("id") or "")
        known = self._webhooks.get((namespace, integration_id))
        if known is not None:
            return known
        w_name = str(integration.get("name") or "webhook")
        name = self.names.take(namespace, kinds.WEBHOOK.kind, w_name, "webhook")
        self._webhooks[(namespace, integration_id)] = name
        spec: dict[str, Any] = {"url": str(integration.get("urlEndpoint") or "")}
        signing, token = self.lookups.secrets.get(integration_id, (None, None))
        for key, secret in (("secretRef", signing), ("accessTokenRef", token)):
            if secret:
                spec[key] = {"name": self.team_secret(_secret_name(secret), entity, namespace)}
        entity = next((owner for owner, found in self.lookups.integrations.items()
                       if any(str(i.get("id")) == integration_id for i in found)), entity)
        comment = f"W&B webhook {w_name!r} ({integration_id}) of {entity}"
        if integration_id not in self.lookups.secrets:
            comment += (": W&B did not say which team secrets it uses; set secretRef (signing) and accessTokenRef "
                        "(Authorization: Bearer) if it had any")
        doc = {"apiVersion": kinds.API_VERSION, "kind": kinds.WEBHOOK.kind,
               "metadata": {"name": name, "namespace": namespace}, "spec": spec}
        self._webhook_docs[(namespace, name)] = doc
        self.result.documents.append(Document(namespace, doc, comment))
        self.result.rows.append(Row("Webhook", w_name, entity, CONVERTED, f"{namespace}/{name}"))
        return name

    def team_secret(self, secret: str, entity: str, namespace: str) -> str:
        """The SecretReference named after the W&B team secret (written once per namespace)."""
        comment = (f"W&B team secret {secret} of {entity}: W&B never exports secret values. Put the value in the "
                   f"Kubernetes Secret wandb-team-secrets, key {secret} (kubectl create secret generic "
                   f"wandb-team-secrets -n {namespace} --from-literal={secret}=...), or point this SecretReference "
                   "at your secret store (aws, gcp, azure, vault; see docs/secretreferences.md)")
        return self._secret_reference(namespace, f"secret:{secret}", object_name(secret, "secret"),
                                      "wandb-team-secrets", secret, comment)

    def slack_token(self, workspace: str, namespace: str) -> str:
        """The SecretReference of a bot token for the Slack workspace (written once per namespace)."""
        secret_key = object_name(workspace, "slack")
        comment = (f"Slack workspace {workspace!r}: W&B posts through its own Slack app, whose token it never "
                   f"exports. Create a Slack app in the workspace with the chat:write scope, invite it to the channel, "
                   f"and put its bot token (xoxb-...) in the Kubernetes Secret wandb-slack-tokens, key {secret_key} "
                   f"(kubectl create secret generic wandb-slack-tokens -n {namespace} "
                   f"--from-literal={secret_key}=...), or point this SecretReference at your secret store")
        return self._secret_reference(namespace, f"slack:{workspace}", object_name(f"slack-{workspace}", "slack"),
                                      "wandb-slack-tokens", secret_key, comment)

    def _secret_reference(self, namespace: str, key: str, name: str, secret: str, secret_key: str,
                          comment: str) -> str:
        """A SecretReference pointing at ``secret``/``secret_key`` (a Kubernetes Secret), written once."""
        if (namespace, key) not in self._secrets:
            self._secrets[(namespace, key)] = name
            doc = {"apiVersion": kinds.API_VERSION, "kind": kinds.SECRET_REFERENCE.kind,
                   "metadata": {"name": name, "namespace": namespace},
                   "spec": {"kubernetes": {"name": secret, "key": secret_key}}}
            self.result.documents.append(Document(namespace, doc, comment))
        return self._secrets[(namespace, key)]

    def unreferenced_integrations(self) -> None:
        """Webhooks no automation uses are written too (in their entity's namespace); Slack channels are
        reported (a Slack action needs an automation to say what to post)."""
        for entity, found in sorted(self.lookups.integrations.items()):
            namespace = self.namespace(entity)
            used = {i for (_, i) in self._webhooks}
            for integration in found:
                typename = integration.get("__typename")
                if typename == "GenericWebhookIntegration" and str(integration.get("id")) not in used:
                    self.webhook(integration, entity, namespace)
                elif typename == "SlackIntegration" and str(integration.get("id")) not in self._slack_used:
                    self.result.rows.append(Row("Slack", f"{integration.get('teamName')} "
                                                f"{integration.get('channelName')}", entity, NOT_WRITTEN,
                                                note="no automation uses it: a Slack channel is written into the "
                                                "automations that post to it"))


def _secret_name(ref: str) -> str:
    """A W&B secret reference as a secret name (``${NAME}``, ``$NAME`` and ``secret://.../NAME`` taken apart)."""
    text = ref.strip()
    text = text.removeprefix("${").removesuffix("}").removeprefix("$")
    return text.rsplit("/", 1)[-1] or ref


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
