"""``Automation``: a scope, an event (with filters) and an action — W&B's Automation, as a manifest.

Shapes and meanings follow W&B's own (``wandb.automations``): the event keys map to W&B's
``EventTriggeringConditionType`` values, the metric filters keep W&B's window semantics, and W&B's
enum aliases are accepted (``AVG`` = ``AVERAGE``, ``CRASHED`` = ``FAILED``, ``>`` = ``$gt``, ...).
"""

from __future__ import annotations

import datetime
import functools
from enum import StrEnum
from typing import Annotated, Any, ClassVar, NamedTuple

from pydantic import ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler, StringConstraints, field_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import core_schema

from wbauto.api import event as happening
from wbauto.api.conditions import Condition
from wbauto.api.filters import ArtifactFilter, RunExpression, wandb_form
from wbauto.api.schema import (
    DURATION,
    NOT_SPACE,
    Lenient,
    Model,
    ObjectName,
    Regex,
    Rule,
    bounded,
    exactly_one,
    to_snake,
    url_rules,
)

Name = Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=rf"^[^/:{NOT_SPACE}]+$")]
"""An entity, project or collection name as W&B spells it (no slashes, colons or white space)."""

Metric = Annotated[str, StringConstraints(min_length=1, max_length=256)]
TemplateText = Annotated[str, StringConstraints(max_length=65536)]


# --- enums ------------------------------------------------------------------------------------------


class Agg(StrEnum):
    """How a metric window is aggregated (W&B ``agg_op``)."""

    MAX = "MAX"
    MIN = "MIN"
    AVERAGE = "AVERAGE"


class Cmp(StrEnum):
    """Threshold comparison (W&B ``cmp_op``); inclusive variants are ``$gte`` / ``$lte``."""

    GT = "$gt"
    GTE = "$gte"
    LT = "$lt"
    LTE = "$lte"


class ChangeType(StrEnum):
    """``ABSOLUTE``: a difference; ``RELATIVE``: a fraction of the prior value (0.1 = 10%)."""

    ABSOLUTE = "ABSOLUTE"
    RELATIVE = "RELATIVE"


class Direction(StrEnum):
    INCREASE = "INCREASE"
    DECREASE = "DECREASE"
    ANY = "ANY"


class RunState(StrEnum):
    """Run states an automation can fire on. ``CRASHED`` is accepted as ``FAILED``; killed runs never fire."""

    RUNNING = "RUNNING"
    FINISHED = "FINISHED"
    FAILED = "FAILED"


class Severity(StrEnum):
    INFO = "INFO"
    WARN = "WARN"
    ERROR = "ERROR"


class AnyCase:
    """``Annotated`` marker: W&B's ``LenientStrEnum`` — an enum's values in any case, plus W&B's aliases
    (``AVG`` = ``AVERAGE``), mapped to the canonical value. The CRD checks the spelling with CEL
    (``lowerAscii()``), since an ``enum`` list cannot say "any case"."""

    def __init__(self, enum: type[StrEnum], aliases: dict[str, str] | None = None) -> None:
        self.aliases = dict(aliases or {})
        self.canonical = [m.value for m in enum]
        accepted = [*self.canonical, *self.aliases]
        self.rule = Rule(cel=f"self.lowerAscii() in {[a.lower() for a in accepted]}".replace('"', "'"),
                         message=f"must be one of {', '.join(self.canonical)} (in any case"
                         + (f"; also {', '.join(self.aliases)})" if self.aliases else ")"))
        self.longest = max(len(a) for a in accepted)

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> Any:
        def normalize(value: Any) -> Any:
            if not isinstance(value, str):
                return value
            upper = value.upper()
            return self.aliases.get(upper, upper)

        return core_schema.no_info_before_validator_function(normalize, handler(source))

    def __get_pydantic_json_schema__(self, schema: Any, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"type": "string", "maxLength": self.longest, "x-kubernetes-validations": [self.rule.as_cel()]}


AggOp = Annotated[Agg, AnyCase(Agg, {"AVG": "AVERAGE", "MEAN": "AVERAGE"})]
CmpOp = Annotated[Cmp, Lenient(Cmp, {">": "$gt", ">=": "$gte", "<": "$lt", "<=": "$lte"})]
ChangeTypeOp = Annotated[ChangeType, AnyCase(ChangeType, {"ABS": "ABSOLUTE", "REL": "RELATIVE"})]
DirectionOp = Annotated[Direction, AnyCase(Direction, {"INC": "INCREASE", "DEC": "DECREASE"})]
RunStateOp = Annotated[RunState, AnyCase(RunState, {"CRASHED": "FAILED"})]
SeverityOp = Annotated[Severity, AnyCase(Severity, {"WARNING": "WARN"})]


# --- scopes -----------------------------------------------------------------------------------------

REGISTRY_PREFIX = "wandb-registry-"


class Where(NamedTuple):
    """What a scope watches, as W&B names it: an entity, one of its projects (None: every project) and one
    of that project's collections (None: every collection)."""

    entity: str
    project: str | None = None
    collection: str | None = None


class ProjectScope(Model):
    """A W&B project (PROJECT scope)."""

    kind: ClassVar[str] = "project"

    entity: Name = Field(description="Entity (user or team) that owns the project.")
    project: Name = Field(description="Project name.")

    @property
    def where(self) -> Where:
        return Where(self.entity, self.project)

    def describe(self) -> str:
        return f"project {self.entity}/{self.project}"


class RegistryScope(Model):
    """A W&B Registry: a project named `wandb-registry-<name>` owned by the organization's entity.

    Covers every collection in the registry, including collections created later.
    """

    kind: ClassVar[str] = "registry"

    organization: Name = Field(description="The organization's entity name (owner of the registry).")
    name: Annotated[str, StringConstraints(min_length=1, max_length=113, pattern=rf"^[^/:{NOT_SPACE}]+$")] = Field(
        description="Registry name without the `wandb-registry-` prefix, e.g. `model`.")

    @property
    def project(self) -> str:
        return f"{REGISTRY_PREFIX}{self.name}"

    @property
    def where(self) -> Where:
        return Where(self.organization, self.project)

    def describe(self) -> str:
        return f"registry {self.organization}/{self.name}"


class CollectionScope(Model):
    """One artifact collection (ARTIFACT_COLLECTION scope): a source collection or a registry/linked one."""

    kind: ClassVar[str] = "collection"

    entity: Name = Field(description="Entity that owns the project (the org entity for a registry).")
    project: Name = Field(description="Project (or `wandb-registry-<name>`) holding the collection.")
    name: Name = Field(description="Collection name.")

    @property
    def where(self) -> Where:
        return Where(self.entity, self.project, self.name)

    def describe(self) -> str:
        return f"collection {self.entity}/{self.project}/{self.name}"


class EntityScope(Model):
    """A team or organization entity (ENTITY scope): artifact and collection events in all its projects."""

    kind: ClassVar[str] = "entity"

    name: Name = Field(description="Entity name.")

    @property
    def where(self) -> Where:
        return Where(self.name)

    def describe(self) -> str:
        return f"entity {self.name}"


AnyScope = ProjectScope | RegistryScope | CollectionScope | EntityScope
SCOPE_KINDS = ("project", "registry", "collection", "entity")


class Scope(Model):
    """Where the automation listens. Exactly one of project, registry, collection, entity."""

    __rules__ = (exactly_one(*SCOPE_KINDS, what="automation scope"),)

    project: ProjectScope | None = Field(None, description="A project.")
    registry: RegistryScope | None = Field(None, description="A registry (all its collections).")
    collection: CollectionScope | None = Field(None, description="One artifact collection.")
    entity: EntityScope | None = Field(None, description="A team or organization.")

    @property
    def selected(self) -> AnyScope:
        """The scope that is set."""
        for name in SCOPE_KINDS:
            value: AnyScope | None = getattr(self, name)
            if value is not None:
                return value
        raise AssertionError("validated scope has a kind")

    @property
    def kind(self) -> str:
        """``project``, ``registry``, ``collection`` or ``entity``."""
        return self.selected.kind

    @property
    def where(self) -> Where:
        """The entity, project and collection it watches (None: all of them)."""
        return self.selected.where

    def describe(self) -> str:
        """For people, e.g. ``registry acme/model`` or ``project acme/fraud``."""
        return self.selected.describe()

    def covers(self, event: happening.Event) -> bool:
        """Whether ``event`` happened inside this scope."""
        entity, project, collection = self.where
        if event.entity != entity or (project is not None and event.project != project):
            return False
        return collection is None or (event.artifact is not None and event.artifact.collection == collection)


# --- events -----------------------------------------------------------------------------------------


class ArtifactVersionCreated(Model):
    """A new artifact version is committed in the collection (W&B `CREATE_ARTIFACT`). Collection scope only."""


class ArtifactLinked(Model):
    """A version is linked into a collection, e.g. a registry collection (W&B `LINK_MODEL` / `LINK_ARTIFACT`)."""


class ArtifactUnlinked(Model):
    """A version is unlinked from a collection (W&B `UNLINK_ARTIFACT`)."""


class ArtifactAliasAdded(Model):
    """An alias is added to a version, including an alias moving from another version
    (W&B `ADD_ARTIFACT_ALIAS`)."""

    alias_regex: Regex | None = Field(
        None, description="Only aliases matching this regex (W&B \"Alias regex\", e.g. `^prod.*`). "
        "Omit to match any alias.")


class ArtifactTagAdded(Model):
    """A tag is added to a version (W&B `ADD_ARTIFACT_TAG`)."""

    tag_regex: Regex | None = Field(None, description="Only tags matching this regex. Omit for any tag.")


class ArtifactTagRemoved(Model):
    """A tag is removed from a version (W&B `REMOVE_ARTIFACT_TAG`)."""

    tag_regex: Regex | None = Field(None, description="Only tags matching this regex. Omit for any tag.")


class CollectionTagAdded(Model):
    """A tag is added to a collection (W&B `ADD_COLLECTION_TAG`)."""

    tag_regex: Regex | None = Field(None, description="Only tags matching this regex. Omit for any tag.")


class CollectionTagRemoved(Model):
    """A tag is removed from a collection (W&B `REMOVE_COLLECTION_TAG`)."""

    tag_regex: Regex | None = Field(None, description="Only tags matching this regex. Omit for any tag.")


class RunMetricThreshold(Model):
    """A run metric crosses a threshold (W&B `RUN_METRIC`): `agg(last window values) cmp threshold`,
    e.g. `AVERAGE(loss over 5) < 0.1`. Without `agg` the latest value is compared."""

    metric: Metric = Field(description="Metric key as logged with wandb.log (a run history key).")
    agg: AggOp | None = Field(None, description="MAX, MIN or AVERAGE (AVG) over the window; omit for the "
                                                 "latest value.")
    window: int = Field(1, ge=1, le=10000, description="Number of most recent values aggregated; "
                                                       "ignored without agg. The W&B App defaults to 5.")
    cmp: CmpOp = Field(description="Comparison: $gt, $gte, $lt, $lte (or >, >=, <, <=).")
    threshold: float = Field(description="Value compared against.")


class RunMetricChange(Model):
    """A run metric changes by at least `amount` between two tumbling windows (W&B `RUN_METRIC_CHANGE`):
    the current window is the latest `currentWindow` values, the prior window the `priorWindow` values
    just before it."""

    metric: Metric = Field(description="Metric key as logged.")
    agg: AggOp | None = Field(None, description="MAX, MIN or AVERAGE over each window; omit to compare "
                                                 "the latest value of each window.")
    current_window: int = Field(1, ge=1, le=10000, description="Size of the current window. App default 10.")
    prior_window: int | None = Field(None, ge=1, le=10000, description="Size of the prior window; defaults "
                                                                       "to currentWindow. App default 50.")
    change_type: ChangeTypeOp = Field(description="ABSOLUTE (difference) or RELATIVE (fraction of prior; "
                                                  "0.1 = 10%).")
    direction: DirectionOp = Field(description="INCREASE, DECREASE or ANY.")
    amount: float = Field(gt=0, description="Minimum change (inclusive) that fires; > 0.")


class RunMetricZScore(Model):
    """A run metric's z-score passes a threshold (W&B `RUN_METRIC_ZSCORE`): the latest value against the
    mean and standard deviation of the `window` values logged before it. Inclusive comparisons."""

    metric: Metric = Field(description="Metric key as logged.")
    window: int = Field(30, ge=1, le=10000, description="Number of earlier values forming the baseline (a "
                                                       "window of 1 never fires: one value has no spread).")
    threshold: float = Field(3.0, gt=0, description="z-score magnitude that fires (> 0).")
    direction: DirectionOp = Field(Direction.ANY, description="INCREASE: z >= +threshold; DECREASE: "
                                                              "z <= -threshold; ANY: |z| >= threshold.")


class RunStateChanged(Model):
    """A run enters one of the states (W&B `RUN_STATE`). Killed runs never fire."""

    states: list[RunStateOp] = Field(min_length=1, max_length=3, description="RUNNING, FINISHED, FAILED "
                                                                            "(CRASHED = FAILED).")

    @field_validator("states", mode="after")
    @classmethod
    def _dedupe(cls, states: list[RunState]) -> list[RunState]:
        return sorted(set(states))


RUN_EVENTS = ("runMetricThreshold", "runMetricChange", "runMetricZScore", "runStateChanged")
"""The run events: they take spec.runFilter and not event.filter, and a project or entity scope (the CRD's
rules). What each event kind is and does beyond its model: ``wbauto.engine.events``."""


class Event(Model):
    """What the automation fires on. Exactly one event key."""

    __rules__ = (
        exactly_one(
            "artifactVersionCreated", "artifactLinked", "artifactUnlinked", "artifactAliasAdded",
            "artifactTagAdded", "artifactTagRemoved", "collectionTagAdded", "collectionTagRemoved",
            "runMetricThreshold", "runMetricChange", "runMetricZScore", "runStateChanged",
            what="automation event",
        ),
        Rule(
            cel="!has(self.filter) || !(" + " || ".join(f"has(self.{k})" for k in RUN_EVENTS) + ")",
            message="filter (on alias and tag) applies to artifact events; run events are filtered with "
            "spec.runFilter",
            field_path=".filter",
        ),
    )

    artifact_version_created: ArtifactVersionCreated | None = Field(
        None, description="New artifact version (CREATE_ARTIFACT). Needs a collection scope.")
    artifact_linked: ArtifactLinked | None = Field(None, description="Version linked (LINK_MODEL).")
    artifact_unlinked: ArtifactUnlinked | None = Field(None, description="Version unlinked (UNLINK_ARTIFACT).")
    artifact_alias_added: ArtifactAliasAdded | None = Field(
        None, description="Alias added or moved (ADD_ARTIFACT_ALIAS).")
    artifact_tag_added: ArtifactTagAdded | None = Field(None, description="Version tag added.")
    artifact_tag_removed: ArtifactTagRemoved | None = Field(None, description="Version tag removed.")
    collection_tag_added: CollectionTagAdded | None = Field(None, description="Collection tag added.")
    collection_tag_removed: CollectionTagRemoved | None = Field(None, description="Collection tag removed.")
    run_metric_threshold: RunMetricThreshold | None = Field(None, description="Metric threshold (RUN_METRIC).")
    run_metric_change: RunMetricChange | None = Field(None, description="Metric change (RUN_METRIC_CHANGE).")
    run_metric_z_score: RunMetricZScore | None = Field(
        None, alias="runMetricZScore", description="Metric z-score (RUN_METRIC_ZSCORE).")
    run_state_changed: RunStateChanged | None = Field(None, description="Run state (RUN_STATE).")
    filter: ArtifactFilter | None = Field(
        None, description="W&B's artifact-event filter: conditions on the alias and tag, MongoDB-style "
        "(e.g. {alias: {$in: [production, staging]}}, {$or: [{alias: {$eq: prod}}, {tag: {$regex: ^eval}}]}). "
        "Holds together with aliasRegex / tagRegex.")

    @functools.cached_property
    def key(self) -> str:
        """The camelCase key that is set, e.g. ``artifactAliasAdded``."""
        for name, info in type(self).model_fields.items():
            if name != "filter" and getattr(self, name) is not None:
                return info.alias or name
        raise AssertionError("validated event has a key")

    @functools.cached_property
    def filter_expression(self) -> dict[str, Any] | None:
        """The artifact-event filter as W&B writes it, if any."""
        return wandb_form(self.filter) if self.filter is not None else None

    @functools.cached_property
    def config(self) -> Model:
        return getattr(self, to_snake(self.key))  # type: ignore[no-any-return]




class RunFilter(RunExpression):
    """Which runs a run event considers: W&B's run filter (``$and``/``$or``/``$nor``/``$not`` over conditions
    on display_name, username, tags, group, state, config.<path>, ...) and two short forms, the App's
    "Filter on run name" (nameRegex) and "Filter to one user's runs" (user). Everything given holds."""

    name_regex: Regex | None = Field(None, description="Only runs whose display name matches this regex.")
    user: Annotated[str, StringConstraints(min_length=1, max_length=128)] | None = Field(
        None, description="Only runs of this W&B username.")

    @functools.cached_property
    def expression(self) -> dict[str, Any]:
        """The W&B run filter expression (without the short forms)."""
        return wandb_form(self, skip=("nameRegex", "user"))


# --- actions ----------------------------------------------------------------------------------------


class LocalRef(Model):
    """An object of the named kind in the Automation's own namespace."""

    name: ObjectName = Field(description="Object name (same namespace).")


class WebhookAction(Model):
    """POST a JSON payload to a Webhook (W&B `GENERIC_WEBHOOK`)."""

    webhook_ref: LocalRef = Field(description="The Webhook (same namespace) to post to.")
    payload: TemplateText | None = Field(
        None, description="JSON payload template with W&B's ${variables} (e.g. `${artifact_version_string}`), "
        "textual substitution, JSON-escaped inside strings. Omit for a default payload with every variable.")


class SlackAction(Model):
    """Post a message to Slack (W&B `NOTIFICATION`): a bot token + channel (chat.postMessage) or an
    incoming-webhook URL. The message carries title, message, severity, an event summary and a link."""

    __rules__ = (
        exactly_one("tokenRef", "incomingWebhookRef", what="Slack credentials"),
        *url_rules("apiUrl"),
        Rule(
            cel="!has(self.tokenRef) || has(self.channel)",
            message="channel is required with tokenRef (chat.postMessage needs a channel)",
            field_path=".channel",
        ),
    )

    token_ref: LocalRef | None = Field(None, description="SecretReference holding a bot token (xoxb-...).")
    channel: Annotated[str, StringConstraints(min_length=1, max_length=256)] | None = Field(
        None, description="Channel id or name for chat.postMessage, e.g. C0123456 or #ml-alerts.")
    incoming_webhook_ref: LocalRef | None = Field(
        None, description="SecretReference holding an incoming-webhook URL (https://hooks.slack.com/...).")
    title: TemplateText = Field("", description="Message title; ${variables} allowed.")
    message: TemplateText = Field("", description="Message body; ${variables} allowed.")
    severity: SeverityOp = Field(Severity.INFO, description="INFO, WARN or ERROR.")
    api_url: Annotated[str, StringConstraints(min_length=1, max_length=512)] = Field(
        "https://slack.com/api", description="Slack Web API base URL (GovSlack, proxies).")


class LaunchOverrides(Model):
    """Overrides applied to the job's run (W&B launch spec `overrides`)."""

    args: list[Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=list, description="Command-line arguments; ${variables} allowed.")
    run_config: dict[str, Any] = Field(
        default_factory=dict, description="Hyperparameters (wandb.config); string values may use ${variables}.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True},
    )
    entry_point: list[Annotated[str, StringConstraints(max_length=4096)]] = Field(
        default_factory=list, description="Entry point override.")


JOB_PATTERN = rf"^[^/{NOT_SPACE}]+/[^/{NOT_SPACE}]+/[^/{NOT_SPACE}]+$"


class LaunchAction(Model):
    """Push a job to a W&B Launch run queue (`pushToRunQueueByName`)."""

    queue: Name = Field(description="Run queue name.")
    queue_entity: Name | None = Field(None, description="Entity owning the queue; defaults to the scope's "
                                                        "entity.")
    queue_project: Name = Field("model-registry", description="Project holding the queue (W&B default "
                                                              "`model-registry`).")
    job: Annotated[str, StringConstraints(pattern=JOB_PATTERN, max_length=512)] = Field(
        description="Job artifact: entity/project/name, optionally with :alias.")
    job_version: Annotated[str, StringConstraints(pattern=rf"^[^/:{NOT_SPACE}]+$", max_length=128)] | None = Field(
        None, description="Job version or alias (e.g. v3, latest); appended as :<jobVersion>.")
    entity: Name | None = Field(None, description="Destination entity of the launched run.")
    project: Name | None = Field(None, description="Destination project of the launched run.")
    overrides: LaunchOverrides = Field(default_factory=LaunchOverrides, description="Run overrides.")
    priority: int | None = Field(None, ge=0, le=4, description="Queue priority; smaller is higher.")
    template_variables: dict[str, str | float] = Field(
        default_factory=dict, description="Values for the queue's template variables.")

    __rules__ = (
        Rule(
            cel="!has(self.jobVersion) || !self.job.contains(':')",
            message="set the version either in job (name:alias) or in jobVersion, not both",
            field_path=".jobVersion",
        ),
    )


class JobTemplateMetadata(Model):
    """Labels and annotations added to the created Job."""

    labels: dict[str, Annotated[str, StringConstraints(max_length=63)]] = Field(
        default_factory=dict, description="Labels added to the Job.")
    annotations: dict[str, str] = Field(default_factory=dict, description="Annotations added to the Job.")


class PodTemplate(Model):
    """A pod template: metadata and a PodSpec (validated by the apiserver when the Job is created)."""

    metadata: dict[str, Any] | None = Field(
        None, description="Pod labels and annotations.",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})
    spec: dict[str, Any] = Field(
        description="A PodSpec (containers, volumes, restartPolicy, ...).",
        json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})


class JobSpec(Model):
    """A batch/v1 JobSpec. `template` is required; other JobSpec fields (backoffLimit,
    ttlSecondsAfterFinished, activeDeadlineSeconds, ...) are passed through as written."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"x-kubernetes-preserve-unknown-fields": True})

    template: PodTemplate = Field(description="The pod template of the Job.")


class KubernetesJobAction(Model):
    """Create a `batch/v1` Job in the Automation's namespace. Event variables are passed as `WBAUTO_*`
    environment variables and labels; ${variables} in string values of the template are substituted.
    The Job name is derived from the execution, so a retry never creates a second Job."""

    metadata: JobTemplateMetadata = Field(default_factory=JobTemplateMetadata, description="Job metadata.")
    spec: JobSpec = Field(description="A batch/v1 JobSpec (template, backoffLimit, ttlSecondsAfterFinished, ...).")
    service_account_name: ObjectName | None = Field(
        None, description="ServiceAccount the Job's pods run as (overrides spec.template.spec).")


class NoOpAction(Model):
    """Do nothing (W&B `NO_OP`): records executions only; useful to test events."""


class Action(Model):
    """What runs when the event fires. Exactly one action key."""

    __rules__ = (exactly_one("webhook", "slack", "launch", "kubernetesJob", "noOp", what="automation action"),)

    webhook: WebhookAction | None = Field(None, description="POST to a Webhook (GENERIC_WEBHOOK).")
    slack: SlackAction | None = Field(None, description="Slack message (NOTIFICATION).")
    launch: LaunchAction | None = Field(None, description="W&B Launch job (QUEUE_JOB).")
    kubernetes_job: KubernetesJobAction | None = Field(None, description="A Kubernetes Job.")
    no_op: NoOpAction | None = Field(None, alias="noOp", description="Do nothing (NO_OP).")

    @functools.cached_property
    def key(self) -> str:
        for name, info in type(self).model_fields.items():
            if getattr(self, name) is not None:
                return info.alias or name
        raise AssertionError("validated action has a key")

    def config_dump(self) -> dict[str, Any]:
        """The selected action's settings, in manifest form."""
        selected: Model = getattr(self, to_snake(self.key))
        return selected.dump()

    @property
    def wandb_type(self) -> str:
        return {"webhook": "GENERIC_WEBHOOK", "slack": "NOTIFICATION", "launch": "QUEUE_JOB",
                "kubernetesJob": "KUBERNETES_JOB", "noOp": "NO_OP"}[self.key]


class RateLimit(Model):
    """At most `maxExecutions` executions per `period` (at most 24h); further matches are recorded as
    Skipped."""

    max_executions: int = Field(ge=1, le=100000, description="Executions allowed per period.")
    period: Annotated[str, DURATION, bounded("24h")] = Field(description="Sliding window, e.g. 10m, 1h.")


# --- the spec ---------------------------------------------------------------------------------------

_RUN_EVENT_CEL = " || ".join(f"has(self.event.{k})" for k in RUN_EVENTS)


class AutomationSpec(Model):
    """Scope + event + action."""

    __rules__ = (
        Rule(
            cel="!has(self.event.artifactVersionCreated) || has(self.scope.collection)",
            message="artifactVersionCreated needs a collection scope (W&B: CREATE_ARTIFACT is only "
            "valid on an artifact collection)",
            field_path=".event.artifactVersionCreated",
        ),
        Rule(
            cel=f"!({_RUN_EVENT_CEL}) || has(self.scope.project) || has(self.scope.entity)",
            message="run events need a project or entity scope (W&B: run events cannot be scoped to a registry "
            "or a collection)",
            field_path=".scope",
        ),
        Rule(
            cel=f"!has(self.runFilter) || {_RUN_EVENT_CEL}",
            message="runFilter applies to run events only (runMetricThreshold, runMetricChange, "
            "runMetricZScore, runStateChanged)",
            field_path=".runFilter",
        ),
        Rule(
            cel="!has(self.action.launch) || has(self.scope.project) || has(self.scope.collection) "
            "|| has(self.action.launch.queueEntity)",
            message="launch.queueEntity is required when the scope has no entity (registry or entity scope)",
            field_path=".action.launch.queueEntity",
        ),
    )

    display_name: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = Field(
        None, description="W&B automation name (at most 255 characters), shown in payloads as "
        "${automation_name}. Defaults to metadata.name.")
    description: Annotated[str, StringConstraints(max_length=4096)] | None = Field(
        None, description="Free text.")
    enabled: bool = Field(True, description="Only enabled automations fire (W&B `enabled`).")
    scope: Scope = Field(description="Where to listen: project, registry, collection or entity.")
    event: Event = Field(description="What to fire on.")
    run_filter: RunFilter | None = Field(None, description="Run filters for run events.")
    action: Action = Field(description="What to do.")
    rate_limit: RateLimit | None = Field(
        None, description="Optional cap on executions; on top of W&B's once-per-run-per-24h rule for run "
        "events.")


class LastExecution(Model):
    """The newest execution of this automation."""

    name: str = Field(description="AutomationExecution name.")
    time: datetime.datetime = Field(description="When it was created.")
    status: str = Field(description="Pending, Finished, Failed or Skipped.")
    response_code: int | None = Field(None, description="HTTP status code of the last attempt.")
    error: str | None = Field(None, description="Error text (cut).", max_length=1024)


class AutomationStatus(Model):
    """What `kubectl get automations` shows."""

    conditions: list[Condition] = Field(default_factory=list, description="Ready / Reconciling / Stalled.")
    observed_generation: int | None = Field(None, description="Last generation reconciled.")
    event_type: str | None = Field(None, description="W&B event type, e.g. ADD_ARTIFACT_ALIAS.")
    action_type: str | None = Field(None, description="W&B action type, e.g. GENERIC_WEBHOOK.")
    target: str | None = Field(None, description="Action target: webhook, channel, queue or job name.")
    last_execution: LastExecution | None = Field(None, description="The newest execution.")
