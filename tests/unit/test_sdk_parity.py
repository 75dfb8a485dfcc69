"""Parity with the installed ``wandb`` SDK, value by value: every event type, scope, action, filter operator and
metric/state/severity spelling the SDK's enums and models have maps to wbauto's equivalent (or says why none
exists), the spellings are accepted by the CRD (offline, as by the apiserver), the metric filters' defaults and
bounds are the SDK's, and the table in docs/migration-from-wandb.md is generated from it. A new SDK value fails
here until it has a row. ``WBAUTO_WRITE_DOCS=1`` rewrites the table."""

from __future__ import annotations

import os
import typing
from enum import Enum
from typing import Any

import wandb
from wandb._filters.operators import KEY_TO_OP
from wandb.automations import (
    MetricChangeFilter,
    MetricThresholdFilter,
    MetricZScoreFilter,
    _run_metric_filters,
    _run_state_filters,
    actions,
    events,
    scopes,
)
from wandb.automations._generated import enums

from tests.support.controlplane import REPO
from tests.support.manifests import automation
from wbauto.admission.review import review
from wbauto.api import automation as model
from wbauto.api.filters import FIELD_OPERATORS, LOGICAL_OPERATORS
from wbauto.api.manifests import Resource, parse
from wbauto.engine.events import registry as event_kinds

DOC = REPO / "docs" / "migration-from-wandb.md"
BEGIN, END = "<!-- sdk-parity:begin -->", "<!-- sdk-parity:end -->"

EVENTS: dict[str, tuple[str | None, str]] = {
    "CREATE_ARTIFACT": ("artifactVersionCreated", "collection scope only, as in W&B"),
    "LINK_MODEL": ("artifactLinked", "payloads say `LINK_ARTIFACT`, as W&B's docs show"),
    "UNLINK_ARTIFACT": ("artifactUnlinked", ""),
    "ADD_ARTIFACT_ALIAS": ("artifactAliasAdded", "also when an alias moves to the version from another one"),
    "UPDATE_ARTIFACT_ALIAS": ("artifactAliasAdded", "W&B's legacy alias event (the SDK refuses it for new "
                              "automations); `import` converts it with a difference: wbauto fires on every alias "
                              "assignment, new or moved"),
    "ADD_ARTIFACT_TAG": ("artifactTagAdded", ""),
    "REMOVE_ARTIFACT_TAG": ("artifactTagRemoved", ""),
    "ADD_COLLECTION_TAG": ("collectionTagAdded", ""),
    "REMOVE_COLLECTION_TAG": ("collectionTagRemoved", ""),
    "RUN_METRIC": ("runMetricThreshold", "`threshold_filter` (and the legacy `metric_filter`)"),
    "RUN_METRIC_CHANGE": ("runMetricChange", "`change_filter`"),
    "RUN_METRIC_ZSCORE": ("runMetricZScore", "`zscore_filter`; a window of 1 is accepted but never fires"),
    "RUN_STATE": ("runStateChanged", "`run_state_filter`"),
    "WEAVE_METRIC_THRESHOLD": (None, "not convertible: a Weave (LLM tracing) monitor alert, not in the SDK's "
                               "`EventType`; its metrics are not in W&B's run or artifact API"),
}

SCOPES: dict[str, tuple[str, str]] = {
    "ProjectScope": ("scope.project", "`PROJECT`"),
    "RegistryScope": ("scope.registry", "`PROJECT` named `wandb-registry-<name>`"),
    "_ArtifactSequenceScope": ("scope.collection", "`ARTIFACT_COLLECTION` (a collection of logged versions)"),
    "_ArtifactPortfolioScope": ("scope.collection", "`ARTIFACT_COLLECTION` (a linked or registry collection)"),
    "TeamScope": ("scope.entity", "`ENTITY`, a team; artifact, collection and run events"),
    "OrgScope": ("scope.entity", "`ENTITY`, an organization"),
}

ACTIONS: dict[str, tuple[str | None, str]] = {
    "GENERIC_WEBHOOK": ("action.webhook", "`requestPayload` → `payload`; the integration → a Webhook"),
    "NOTIFICATION": ("action.slack", "title, message, severity; a bot token in place of W&B's Slack app"),
    "NO_OP": ("action.noOp", ""),
    "QUEUE_JOB": ("action.launch", "the saved template's job, destination, overrides and priority; the SDK no "
                  "longer creates it"),
    "ARIA": (None, "not convertible: prompts to W&B's assistant, which exists only in W&B's SaaS"),
    "PUSH_NOTIFICATION": (None, "not convertible: notifications to W&B's own app and users (the SDK refuses it)"),
}

OPERATORS: dict[str, str] = {
    "$and": "`$and` (every node holds)", "$or": "`$or` (one node holds)", "$nor": "`$nor` (no node holds)",
    "$not": "`$not` over a node, or a field's `$not` over its operators",
    "$eq": "`$eq` (on a list: one element is equal; a whole list: `import` writes `$all` + `$size`)",
    "$ne": "`$ne` (also when missing)", "$gt": "`$gt`", "$gte": "`$gte`", "$lt": "`$lt`", "$lte": "`$lte`",
    "$in": "`$in` (on a list: one element is one of the values)", "$nin": "`$nin` (also when missing)",
    "$exists": "`$exists`", "$regex": "`$regex` (RE2, searched)", "$contains": "`$contains` (a substring)",
    "$size": "`$size` (a list's length)", "$all": "`$all` (the list holds every value)",
}

SPELLINGS: dict[str, tuple[type[Enum], str, str]] = {
    "Agg (`agg_op`)": (_run_metric_filters.Agg, "runMetricThreshold.agg", "any case; also `MEAN`"),
    "ChangeType (`change_type`)": (_run_metric_filters.ChangeType, "runMetricChange.changeType", "any case"),
    "ChangeDir (`change_dir`)": (_run_metric_filters.ChangeDir, "runMetricChange.direction", "any case"),
    "ReportedRunState (`states`)": (_run_state_filters.ReportedRunState, "runStateChanged.states[]",
                                    "any case; `CRASHED` is `FAILED`"),
    "AlertSeverity (`severity`)": (enums.AlertSeverity, "slack.severity", "any case; also `WARNING`"),
}


def _flat(annotation: Any) -> list[type]:
    out: list[type] = []
    for arg in typing.get_args(annotation):
        if typing.get_origin(arg) is typing.Annotated:
            out += _flat(arg.__origin__)
        elif typing.get_args(arg):
            out += _flat(arg)
        elif isinstance(arg, type):
            out.append(arg)
    return out


def sdk_event_classes() -> dict[str, list[str]]:
    """Backend event value → the SDK classes (and EventType names) that make it."""
    out: dict[str, list[str]] = {v.value: [] for v in enums.EventTriggeringConditionType}
    for name, member in events.EventType.__members__.items():
        if name != member.value:
            out[member.value].append(f"`EventType.{name}`")
    for cls in events.InputEventTypes:
        default = cls.model_fields["event_type"].default
        values = [default.value] if isinstance(default, Enum) else [
            m.value for m in typing.get_args(cls.model_fields["event_type"].annotation)]
        for value in values:
            out[value].append(f"`{cls.__name__}`")
    return out


def sdk_action_classes() -> dict[str, list[str]]:
    out: dict[str, list[str]] = {v.value: [] for v in enums.TriggeredActionType}
    for cls in (*actions.InputActionTypes, *actions.SavedActionTypes):
        out[cls.model_fields["action_type"].default.value].append(f"`{cls.__name__}`")
    return out


def _spellings(enum: type[Enum]) -> list[str]:
    return list(dict.fromkeys([m.value for m in enum] + list(enum.__members__)))


def table() -> str:
    rows = ["| Kind | SDK | W&B value | wbauto | Notes |", "|---|---|---|---|---|"]
    for value, classes in sdk_event_classes().items():
        key, note = EVENTS[value]
        rows.append(f"| event | {', '.join(classes) or '—'} | `{value}` | {f'`event.{key}`' if key else '—'} | "
                    f"{note} |")
    scope_classes = _flat(scopes.AutomationScopeTypes)
    for cls in scope_classes:
        target, note = SCOPES[cls.__name__]
        scope_type = cls.model_fields["scope_type"].default.value
        rows.append(f"| scope | `{cls.__name__}` | `{scope_type}` | `{target}` | {note} |")
    for value, classes in sdk_action_classes().items():
        target, note = ACTIONS[value]
        rows.append(f"| action | {', '.join(classes) or '—'} | `{value}` | {f'`{target}`' if target else '—'} | "
                    f"{note} |")
    for key, cls in KEY_TO_OP.items():
        where = "`event.filter`, `runFilter`" if key in LOGICAL_OPERATORS else "a field's operators"
        rows.append(f"| filter operator | `{cls.__name__}` | `{key}` | {where} | {OPERATORS[key]} |")
    cmp = typing.get_args(MetricThresholdFilter.model_fields["cmp"].annotation)
    python = ", ".join(f"`{k}`" for k in _run_metric_filters.PY2MONGO_OPS if _run_metric_filters.PY2MONGO_OPS[k] in cmp)
    rows.append(f"| enum | `MetricThresholdFilter.cmp` | {', '.join(f'`{c}`' for c in cmp)} | "
                f"`runMetricThreshold.cmp` | also {python} |")
    for label, (enum, field, note) in SPELLINGS.items():
        rows.append(f"| enum | {label} | {', '.join(f'`{s}`' for s in _spellings(enum))} | `{field}` | "
                    f"{note} |")
    return "\n".join(rows) + "\n"


def test_every_sdk_value_has_a_row() -> None:
    assert set(sdk_event_classes()) == set(EVENTS), "an SDK event type without a row in EVENTS"
    assert {c.__name__ for c in _flat(scopes.AutomationScopeTypes)} == set(SCOPES), "an SDK scope without a row"
    assert set(sdk_action_classes()) == set(ACTIONS), "an SDK action type without a row"
    assert set(KEY_TO_OP) == set(OPERATORS) == set(FIELD_OPERATORS) | set(LOGICAL_OPERATORS), "an SDK operator"
    assert {s.value for s in scopes.ScopeType} == {c.model_fields["scope_type"].default.value
                                                   for c in _flat(scopes.AutomationScopeTypes)}


def test_the_targets_exist_in_the_models() -> None:
    event_keys = {info.alias or name for name, info in model.Event.model_fields.items()}
    assert {key for key, _ in EVENTS.values() if key} <= event_keys
    assert {k.key: k.wandb_type.value for k in event_kinds.KINDS.values()} == {
        key: value for value, (key, _) in EVENTS.items() if key and value != "UPDATE_ARTIFACT_ALIAS"}
    action_keys = {f"action.{info.alias or name}" for name, info in model.Action.model_fields.items()}
    assert {t for t, _ in ACTIONS.values() if t} <= action_keys
    scope_keys = {f"scope.{name}" for name in model.Scope.model_fields}
    assert {t for t, _ in SCOPES.values()} == scope_keys


RUN_SCOPE = {"project": {"entity": "acme", "project": "p"}}


def _admitted(doc: dict[str, Any]) -> Any:
    problems = review(doc).problems
    assert not problems, problems
    res = parse(doc)
    assert isinstance(res, Resource), res
    return res.spec


def test_every_sdk_spelling_is_accepted() -> None:
    def canonical(enum: type[Enum], spelling: str) -> str:
        return str(enum[spelling].value if spelling in enum.__members__ else enum(spelling).value)

    agg, change, direction = _run_metric_filters.Agg, _run_metric_filters.ChangeType, _run_metric_filters.ChangeDir
    for spelling in _spellings(agg):
        for written in (spelling, spelling.lower(), spelling.title()):
            spec = _admitted(automation(scope=RUN_SCOPE, event={"runMetricThreshold": {
                "metric": "m", "agg": written, "window": 3, "cmp": "$gt", "threshold": 1}}))
            assert spec.event.run_metric_threshold.agg.value == canonical(agg, spelling)
    for c_spelling in _spellings(change):
        for d_spelling in _spellings(direction):
            spec = _admitted(automation(scope=RUN_SCOPE, event={"runMetricChange": {
                "metric": "m", "changeType": c_spelling.lower(), "direction": d_spelling.title(), "amount": 0.5}}))
            got = spec.event.run_metric_change
            assert (got.change_type.value, got.direction.value) == (canonical(change, c_spelling),
                                                                    canonical(direction, d_spelling))
    states = _run_state_filters.ReportedRunState
    for spelling in _spellings(states):
        spec = _admitted(automation(scope=RUN_SCOPE, event={"runStateChanged": {"states": [spelling.lower()]}}))
        assert [s.value for s in spec.event.run_state_changed.states] == [canonical(states, spelling)]
    for severity in _spellings(enums.AlertSeverity):
        slack = {"incomingWebhookRef": {"name": "s"}, "severity": severity.lower()}
        spec = _admitted(automation(action={"slack": slack}))
        assert spec.action.slack.severity.value == severity
    threshold_cmp = typing.get_args(MetricThresholdFilter.model_fields["cmp"].annotation)
    for cmp in [*threshold_cmp, *_run_metric_filters.PY2MONGO_OPS]:
        if _run_metric_filters.PY2MONGO_OPS.get(cmp, cmp) in ("$eq", "$ne"):
            continue  # the SDK refuses them for thresholds (its Literal), and so does wbauto
        expected = MetricThresholdFilter(name="m", cmp=cmp, threshold=1).cmp
        spec = _admitted(automation(scope=RUN_SCOPE, event={"runMetricThreshold": {"metric": "m", "cmp": cmp,
                                                                                   "threshold": 1}}))
        assert spec.event.run_metric_threshold.cmp.value == expected


def _default(cls: Any, field: str) -> Any:
    info = cls.model_fields[field]
    return info.default_factory({"window": 7}) if info.default_factory else info.default  # type: ignore[call-arg]


def test_metric_filter_defaults_and_bounds_are_the_sdks() -> None:
    assert _default(MetricThresholdFilter, "window") == model.RunMetricThreshold.model_fields["window"].default
    assert _default(MetricChangeFilter, "window") == model.RunMetricChange.model_fields["current_window"].default
    assert _default(MetricChangeFilter, "prior_window") == 7  # the current window, when not given
    for field in ("window", "threshold", "change_dir"):
        wandb_default = _default(MetricZScoreFilter, field)
        ours = model.RunMetricZScore.model_fields["direction" if field == "change_dir" else field].default
        assert getattr(wandb_default, "value", wandb_default) == getattr(ours, "value", ours), field
    change = automation(scope=RUN_SCOPE, event={"runMetricChange": {"metric": "m", "currentWindow": 7,
                                                                    "changeType": "ABS", "direction": "ANY",
                                                                    "amount": 1}})
    assert _admitted(change).event.run_metric_change.prior_window in (None, 7)
    # the SDK's lower bounds: windows PositiveInt, change amounts and z-score thresholds positive
    for event in ({"runMetricThreshold": {"metric": "m", "agg": "MAX", "window": 1, "cmp": "$gt", "threshold": -5}},
                  {"runMetricChange": {"metric": "m", "currentWindow": 1, "priorWindow": 1, "changeType": "ABS",
                                       "direction": "ANY", "amount": 1e-9}},
                  {"runMetricZScore": {"metric": "m", "window": 1, "threshold": 1e-9}}):
        _admitted(automation(scope=RUN_SCOPE, event=event))
    for event in ({"runMetricThreshold": {"metric": "m", "window": 0, "cmp": "$gt", "threshold": 1}},
                  {"runMetricChange": {"metric": "m", "changeType": "ABS", "direction": "ANY", "amount": 0}},
                  {"runMetricZScore": {"metric": "m", "threshold": 0}}):
        assert review(automation(scope=RUN_SCOPE, event=event)).problems


def test_the_migration_guide_holds_the_generated_table() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert BEGIN in text and END in text, f"{DOC} needs the {BEGIN} … {END} markers"
    head, rest = text.split(BEGIN, 1)
    _, tail = rest.split(END, 1)
    generated = (f"{BEGIN}\n<!-- generated by tests/unit/test_sdk_parity.py from wandb {wandb.__version__}; "
                 f"WBAUTO_WRITE_DOCS=1 rewrites it -->\n\n{table()}\n{END}")
    if os.environ.get("WBAUTO_WRITE_DOCS") == "1":
        DOC.write_text(head + generated + tail, encoding="utf-8")
    assert BEGIN + rest.split(END, 1)[0] + END == generated, (
        f"{DOC}: the SDK parity table is stale; run WBAUTO_WRITE_DOCS=1 pytest {__file__}")
