"""W&B's filter language: the manifest shape (checked by the CRD's schema and CEL, offline as by the
apiserver), its meaning (MongoDB's, with W&B's ``$contains`` and RE2 ``$regex``), expressions built with the
real SDK's own builders, and the rewrite of any W&B expression into the manifest shape (same meaning on
every drawn input)."""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from wandb._filters import Contains, Eq, FilterExpr, In, Not, NotIn, Regex
from wandb.automations import ArtifactEvent, RunEvent
from wandb.automations._validators import wrap_mutation_event_filter, wrap_run_filter

from tests.support.manifests import automation
from wbauto.admission.review import review
from wbauto.api.event import ArtifactInfo, Event, EventType, RunInfo
from wbauto.api.filters import RUN_FIELDS, Unconvertible, from_wandb
from wbauto.api.manifests import Resource, parse
from wbauto.engine import filters, matching

NOW = datetime.datetime(2026, 11, 25, 12, tzinfo=datetime.UTC)
RUN_SCOPE = {"project": {"entity": "acme", "project": "proj"}}
FAILED = {"runStateChanged": {"states": ["FAILED"]}}


def problems(doc: dict[str, Any]) -> list[str]:
    return [str(p) for p in review(doc).problems]


def alias_event(alias: str = "production", aliases: list[str] | None = None, tags: list[str] | None = None,
                kind: EventType = EventType.ADD_ARTIFACT_ALIAS, tag: str = "") -> Event:
    return Event(id="e", type=kind, time=NOW, entity="acme", project="proj", alias=alias, tag=tag,
                 artifact=ArtifactInfo(id="QQ==", collection="model", version="v1",
                                       aliases=aliases if aliases is not None else ["latest", alias],
                                       tags=tags or []))


def run(**fields: Any) -> RunInfo:
    base: dict[str, Any] = dict(id="r1", display_name="train-resnet-42", state="FINISHED", user="alice",
                                tags=["baseline", "resnet"], group="sweep-3", job_type="train",
                                created_at=NOW, heartbeat_at=NOW + datetime.timedelta(seconds=90),
                                config={"lr": {"value": 0.01, "desc": None}, "optimizer": {"value": {"name": "adam"}},
                                        "epochs": {"value": 10}},
                                summary_metrics={"loss": 0.05, "eval": {"acc": 0.93}})
    base.update(fields)
    return RunInfo(**base)


def run_holds(expression: dict[str, Any], info: RunInfo | None = None) -> bool:
    return filters.holds(expression, filters.run_lookup(info or run()))


# --- the shape ---------------------------------------------------------------------------------------------


def test_artifact_filters_are_checked_by_the_crd() -> None:
    ok = automation(event={"artifactLinked": {}, "filter": {
        "alias": {"$in": ["production", "staging"]},
        "$or": [{"tag": {"$regex": "^eval"}}, {"tag": {"$not": {"$contains": "wip"}}}],
        "$nor": [{"alias": {"$eq": "broken"}}], "$not": {"tag": {"$exists": True, "$size": 0}}}})
    assert problems(ok) == []
    bad_regex = automation(event={"artifactLinked": {}, "filter": {"alias": {"$regex": "(?=prod)"}}})
    assert problems(bad_regex)[0].startswith("spec.event.filter.alias.$regex: Invalid value")
    assert "must be a valid RE2 regular expression" in problems(bad_regex)[0]
    unknown_field = automation(event={"artifactLinked": {}, "filter": {"$or": [{"version": {"$eq": "v1"}}]}})
    assert problems(unknown_field) == ["spec.event.filter.$or[0]: Invalid value: artifact filter fields are alias "
                                       "and tag"]
    no_operator = automation(event={"artifactLinked": {}, "filter": {"alias": {}}})
    assert [p.split(":")[0] for p in problems(no_operator)] == ["spec.event.filter.alias"]
    unknown_operator = automation(event={"artifactLinked": {}, "filter": {"alias": {"$where": "1"}}})
    assert problems(unknown_operator)[0].startswith("spec.event.filter.alias.$where")
    on_a_run_event = automation(scope=RUN_SCOPE, event={**FAILED, "filter": {"alias": {"$eq": "x"}}})
    assert "applies to artifact events" in problems(on_a_run_event)[0]


def test_run_filters_name_w_and_b_run_fields() -> None:
    ok = automation(scope=RUN_SCOPE, event=FAILED, runFilter={
        "nameRegex": "^train-", "$and": [{"display_name": {"$contains": "resnet"}}, {"config.optimizer.name": {
            "$eq": "adam"}}], "$or": [{"tags": {"$in": ["baseline"]}}, {"summary_metrics.loss": {"$lt": 0.1}}]})
    assert problems(ok) == []
    for key in ("host", "config", "config..lr", "config.lr.", "summary_metrics", "Config.lr"):
        doc = automation(scope=RUN_SCOPE, event=FAILED, runFilter={"$and": [{key: {"$eq": 1}}]})
        assert problems(doc) and problems(doc)[0].startswith("spec.runFilter.$and[0]: Invalid value: run filter "
                                                             "fields are"), key
    too_many = automation(scope=RUN_SCOPE, event=FAILED,
                          runFilter={"$or": [{"name": {"$eq": str(i)}} for i in range(17)]})
    assert problems(too_many)[0].startswith("spec.runFilter.$or: Too many: 17")


def test_enum_spellings_are_the_sdks_in_any_case() -> None:
    doc = automation(scope=RUN_SCOPE, event={"runMetricChange": {
        "metric": "acc", "agg": "avg", "changeType": "Rel", "direction": "inc", "amount": 0.1}})
    res = parse(doc)
    assert isinstance(res, Resource) and problems(doc) == []
    change = res.spec.event.run_metric_change  # type: ignore[attr-defined]
    assert (change.agg.value, change.change_type.value, change.direction.value) == ("AVERAGE", "RELATIVE", "INCREASE")
    states = parse(automation(scope=RUN_SCOPE, event={"runStateChanged": {"states": ["finished", "Crashed"]}}))
    assert [s.value for s in states.spec.event.run_state_changed.states] == ["FAILED", "FINISHED"]  # type: ignore[union-attr]
    assert "must be one of MAX, MIN, AVERAGE" in problems(automation(scope=RUN_SCOPE, event={"runMetricThreshold": {
        "metric": "m", "agg": "median", "cmp": ">", "threshold": 1}}))[0]


def test_zscore_window_of_one_is_accepted_like_the_sdk() -> None:
    from wandb.automations import MetricZScoreFilter

    assert MetricZScoreFilter(name="m", window=1).window == 1
    assert problems(automation(scope=RUN_SCOPE, event={"runMetricZScore": {"metric": "m", "window": 1}})) == []
    assert problems(automation(scope=RUN_SCOPE, event={"runMetricZScore": {"metric": "m", "window": 0}}))


# --- the meaning -------------------------------------------------------------------------------------------


def test_artifact_fields_alias_added_versus_the_versions_aliases() -> None:
    added = filters.artifact_lookup(alias_event("production", aliases=["latest", "production"]))
    assert added("alias") == "production"
    linked = alias_event("", aliases=["latest", "prod"], kind=EventType.LINK_MODEL)
    assert filters.artifact_lookup(linked)("alias") == ["latest", "prod"]
    tagged = alias_event("", kind=EventType.ADD_ARTIFACT_TAG, tag="eval", tags=["eval", "gpu"])
    assert filters.artifact_lookup(tagged)("tag") == "eval"
    assert filters.artifact_lookup(linked)("tag") == []
    collection = Event(id="c", type=EventType.ADD_COLLECTION_TAG, time=NOW, entity="a", project="p", tag="team",
                       artifact=ArtifactInfo(collection="model"))
    assert filters.artifact_lookup(collection)("alias") is filters.MISSING


@pytest.mark.parametrize(("ops", "value", "expected"), [
    ({"$eq": "prod"}, "prod", True), ({"$eq": "prod"}, ["latest", "prod"], True), ({"$eq": "prod"}, ["p"], False),
    ({"$eq": ["a", "b"]}, ["a", "b"], True), ({"$ne": "prod"}, ["latest"], True), ({"$ne": "prod"}, ["prod"], False),
    ({"$in": ["a", "b"]}, ["x", "b"], True), ({"$in": ["a", "b"]}, "c", False), ({"$nin": ["a"]}, ["b", "c"], True),
    ({"$nin": ["a"]}, ["a"], False), ({"$contains": "rain"}, "train-1", True), ({"$contains": "x"}, ["ax", "b"], True),
    ({"$contains": "x"}, "abc", False), ({"$regex": "^prod"}, "production", True),
    ({"$regex": "prod"}, "preprod", True), ({"$regex": "^prod$"}, "production", False),
    ({"$regex": "^v[0-9]+$"}, ["latest", "v3"], True),
    ({"$gt": 1}, 2, True), ({"$gt": 1}, "2", False), ({"$gte": "b"}, "b", True), ({"$lt": 0.1}, 0.05, True),
    ({"$lte": 1}, True, False), ({"$size": 2}, ["a", "b"], True), ({"$size": 1}, "a", False),
    ({"$all": ["a", "b"]}, ["b", "a", "c"], True), ({"$all": ["a", "z"]}, ["a", "b"], False),
    ({"$all": []}, ["a"], False), ({"$exists": True}, "x", True), ({"$exists": False}, "x", False),
    ({"$eq": 1}, True, False), ({"$eq": 1}, 1.0, True),
    ({"$not": {"$regex": "^prod"}}, "staging", True), ({"$not": {"$regex": "^prod"}}, "prod", False),
    ({"$gt": 1, "$lt": 3}, 2, True), ({"$gt": 1, "$lt": 3}, 3, False),
])
def test_operators(ops: dict[str, Any], value: Any, expected: bool) -> None:
    assert filters.operators_hold(ops, value) is expected


@pytest.mark.parametrize(("ops", "expected"), [
    ({"$exists": False}, True), ({"$ne": "x"}, True), ({"$nin": ["x"]}, True), ({"$not": {"$eq": "x"}}, True),
    ({"$eq": "x"}, False), ({"$regex": "."}, False), ({"$in": ["x"]}, False), ({"$not": {"$ne": "x"}}, False),
    ({"$gt": 0}, False), ({"$size": 0}, False), ({"$exists": True}, False),
])
def test_a_missing_field(ops: dict[str, Any], expected: bool) -> None:
    assert filters.operators_hold(ops, filters.MISSING) is expected


def test_run_fields() -> None:
    assert run_holds({"$and": [{"display_name": {"$contains": "resnet"}}, {"username": {"$eq": "alice"}}]})
    assert run_holds({"$and": [{"state": {"$eq": "finished"}}, {"name": {"$eq": "r1"}},
                               {"jobType": {"$eq": "train"}}]})
    assert run_holds({"$and": [{"tags": {"$in": ["baseline", "other"]}}]})  # any tag in the set
    assert not run_holds({"$and": [{"tags": {"$in": ["other"]}}]})
    assert run_holds({"$and": [{"config.lr": {"$lt": 0.1}}, {"config.lr.value": {"$eq": 0.01}}]})
    assert run_holds({"$and": [{"config.optimizer.name": {"$eq": "adam"}}, {"config.epochs": {"$gte": 10}}]})
    assert run_holds({"$and": [{"summary_metrics.eval.acc": {"$gt": 0.9}},
                               {"summary_metrics.loss": {"$lt": 0.1}}]})
    assert run_holds({"$and": [{"config.missing": {"$exists": False}}, {"group": {"$eq": "sweep-3"}}]})
    assert not run_holds({"$and": [{"group": {"$exists": True}}]}, run(group=""))
    assert run_holds({"$and": [{"duration": {"$gte": 90}}, {"createdAt": {"$gte": "2026-11-25T00:00:00Z"}}]})
    assert not run_holds({"$and": [{"createdAt": {"$lt": "2026-11-25"}}]})
    assert run_holds({"$or": [{"state": {"$eq": "failed"}}, {"displayName": {"$regex": "^train-"}}]})
    assert not run_holds({"$nor": [{"state": {"$eq": "finished"}}]})
    assert not run_holds({"$not": {"tags": {"$all": ["baseline", "resnet"]}}})
    assert {"display_name", "username", "tags", "group", "jobType", "state", "createdAt", "duration"} <= set(RUN_FIELDS)


def test_matching_uses_the_filters_and_entity_scoped_run_events() -> None:
    def auto(name: str, **spec: Any) -> Resource:
        res = parse(automation(name, namespace="team", action={"noOp": {}}, **spec))
        assert isinstance(res, Resource), res
        return res

    prod_only = auto("prod", event={"artifactLinked": {}, "filter": {"alias": {"$in": ["production", "prod"]}}})
    not_wip = auto("not-wip", event={"artifactTagAdded": {"tagRegex": "^eval"}, "filter": {
        "tag": {"$not": {"$contains": "wip"}}}})
    linked = alias_event("", aliases=["latest", "prod"], kind=EventType.LINK_MODEL)
    state = matching.FiringState()
    assert [m.automation.name for m in matching.match(linked, [prod_only], state, NOW)] == ["prod"]
    unlinked = alias_event("", aliases=["latest"], kind=EventType.LINK_MODEL)
    assert matching.match(unlinked, [prod_only], state, NOW) == []
    for tag, expected in (("eval-gpu", ["not-wip"]), ("eval-wip", []), ("train", [])):
        event = alias_event("", kind=EventType.ADD_ARTIFACT_TAG, tag=tag)
        assert [m.automation.name for m in matching.match(event, [not_wip], state, NOW)] == expected
    team = auto("team", scope={"entity": {"name": "acme"}}, event=FAILED,
                runFilter={"$and": [{"tags": {"$in": ["baseline"]}}]})
    failed = Event(id="f", type=EventType.RUN_STATE, time=NOW, entity="acme", project="any-project",
                   run=run(state="FAILED"))
    assert [m.automation.name for m in matching.match(failed, matching.Index.build([team]), state, NOW)] == ["team"]
    other = failed.model_copy(update={"id": "g", "run": run(id="r2", state="FAILED", tags=["x"])})
    assert matching.match(other, [team], state, NOW) == []


def test_run_config_and_summary_are_not_stored_with_the_event() -> None:
    event = Event(id="f", type=EventType.RUN_STATE, time=NOW, entity="acme", project="p", run=run())
    dumped = event.dump()
    assert "config" not in dumped["run"] and "summaryMetrics" not in dumped["run"]
    assert dumped["run"]["tags"] == ["baseline", "resnet"] and dumped["run"]["group"] == "sweep-3"


# --- the SDK's own expressions -------------------------------------------------------------------------------


def artifact_field(name: str) -> str:
    if name not in ("alias", "tag"):
        raise Unconvertible(f"field {name}")
    return name


def run_field(name: str) -> str:
    if name in RUN_FIELDS or name.startswith(("config.", "summary_metrics.")):
        return name
    raise Unconvertible(f"field {name}")


def sdk_json(expr: Any) -> dict[str, Any]:
    dumped: dict[str, Any] = expr.model_dump(by_alias=True, round_trip=True, mode="json")
    return dumped


def test_expressions_made_by_the_sdk_convert_and_mean_the_same() -> None:
    made = [
        wrap_mutation_event_filter(ArtifactEvent.alias.matches_regex("^prod")),
        wrap_mutation_event_filter(ArtifactEvent.alias.eq("prod") | ArtifactEvent.tag.contains("eval")),
        wrap_mutation_event_filter(ArtifactEvent.alias.in_(["a", "prod"]) & ~ArtifactEvent.tag.matches_regex("wip")),
        wrap_mutation_event_filter(ArtifactEvent.alias.not_in(["staging"]) & (ArtifactEvent.tag != "broken")),
        wrap_mutation_event_filter(~(ArtifactEvent.alias.eq("a") | ArtifactEvent.alias.eq("b"))),
    ]
    events = [alias_event(a, aliases=["latest", a], tags=t) for a in ("prod", "production", "a", "b", "staging")
              for t in ([], ["eval-1"], ["wip"], ["broken"])]
    for expr in made:
        original = sdk_json(expr)
        assert list(original) == ["$or"]  # W&B's wrapper: {"$or": [{"$and": [...]}]}
        converted = from_wandb(original, artifact_field, top_fields=True)
        assert problems(automation(event={"artifactAliasAdded": {}, "filter": converted})) == [], converted
        for event in events:
            lookup = filters.artifact_lookup(event)
            assert filters.holds(original, lookup) == filters.holds(converted, lookup), (original, converted, event)


def test_run_expressions_made_by_the_sdk() -> None:
    made = wrap_run_filter(RunEvent.name.contains("resnet") & (RunEvent.name != "train-resnet-0"))
    original = sdk_json(made)
    assert original == {"$and": [{"display_name": {"$contains": "resnet"}},
                                 {"display_name": {"$ne": "train-resnet-0"}}]}
    converted = from_wandb(original, run_field, top_fields=False)
    assert converted == {"$and": [{"display_name": {"$contains": "resnet", "$ne": "train-resnet-0"}}]}
    assert run_holds(converted) and not run_holds(converted, run(display_name="train-resnet-0"))
    keyed = FilterExpr(field="config.lr", op=Eq(val=0.01)) | FilterExpr(field="tags", op=In(val=["x"]))
    assert run_holds(from_wandb(sdk_json(wrap_run_filter(keyed)), run_field, top_fields=False))


def test_what_the_shape_cannot_say_is_named() -> None:
    with pytest.raises(Unconvertible, match="field host"):
        from_wandb({"$and": [{"host": {"$eq": "gpu-1"}}]}, run_field, top_fields=False)
    with pytest.raises(Unconvertible, match=r"operator \$where"):
        from_wandb({"$where": "1"}, run_field, top_fields=False)
    with pytest.raises(Unconvertible, match="alternative"):
        from_wandb({"$or": [{"$and": [{"tag": {"$regex": "a"}}, {"tag": {"$regex": "b"}}]}, {"alias": {"$eq": "x"}}]},
                   artifact_field, top_fields=True)
    two_regexes = from_wandb({"$and": [{"tag": {"$regex": "a"}}, {"tag": {"$regex": "b"}}]}, artifact_field,
                             top_fields=True)
    assert two_regexes == {"$and": [{"tag": {"$regex": "a"}}, {"tag": {"$regex": "b"}}]}


# --- any W&B expression: rewritten, the same meaning ----------------------------------------------------------

_VALUES = st.sampled_from(["prod", "production", "staging", "eval", "latest", "v1"])
_OPS = st.one_of(
    st.builds(lambda v: {"$eq": v}, _VALUES), st.builds(lambda v: {"$ne": v}, _VALUES),
    st.builds(lambda v: {"$in": v}, st.lists(_VALUES, max_size=3)),
    st.builds(lambda v: {"$nin": v}, st.lists(_VALUES, max_size=3)),
    st.builds(lambda v: {"$regex": f"^{v[:3]}"}, _VALUES), st.builds(lambda v: {"$contains": v[1:3]}, _VALUES),
    st.builds(lambda b: {"$exists": b}, st.booleans()), st.builds(lambda n: {"$size": n}, st.integers(0, 2)),
    st.builds(lambda v: {"$not": {"$regex": v[:2]}}, _VALUES),
)
_FIELD = st.builds(lambda f, ops: {f: ops}, st.sampled_from(["alias", "tag"]), _OPS)
_EXPR = st.recursive(_FIELD, lambda inner: st.one_of(
    st.builds(lambda xs: {"$and": xs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda xs: {"$or": xs}, st.lists(inner, min_size=1, max_size=3)),
    st.builds(lambda xs: {"$nor": xs}, st.lists(inner, min_size=1, max_size=2)),
    st.builds(lambda x: {"$not": x}, inner)), max_leaves=6)
_EVENTS = st.builds(lambda a, aliases, tags: alias_event(a, aliases=aliases, tags=tags, kind=EventType.LINK_MODEL),
                    _VALUES, st.lists(_VALUES, max_size=3, unique=True), st.lists(_VALUES, max_size=3, unique=True))


@settings(max_examples=300, deadline=None)
@given(_EXPR, st.lists(_EVENTS, min_size=4, max_size=4))
def test_any_expression_is_rewritten_with_the_same_meaning(expression: dict[str, Any], events: list[Event]) -> None:
    try:
        converted = from_wandb(expression, artifact_field, top_fields=True)
    except Unconvertible as exc:
        assert "alternative" in str(exc) or "nodes" in str(exc) or "never holds" in str(exc)
        return
    assert problems(automation(event={"artifactLinked": {}, "filter": converted})) == [], converted
    for event in events:
        lookup = filters.artifact_lookup(event)
        assert filters.holds(expression, lookup) == filters.holds(converted, lookup), (expression, converted)


def test_sdk_operator_classes_are_all_understood() -> None:
    from wandb._filters.operators import KEY_TO_OP

    from wbauto.api.filters import FIELD_OPERATORS, LOGICAL_OPERATORS

    assert set(KEY_TO_OP) == set(FIELD_OPERATORS) | set(LOGICAL_OPERATORS)
    for op in (Regex(val="x"), Contains(val="x"), NotIn(val=("a",)), Not(expr=FilterExpr(field="alias", op=Eq(val=1)))):
        assert sdk_json(op)


def test_a_run_filter_does_not_turn_the_sample_event_into_an_internal_one() -> None:
    from wbauto.engine import samples

    doc = automation(scope=RUN_SCOPE, event={"runMetricThreshold": {"metric": "loss", "cmp": "$lt", "threshold": 1}},
                     runFilter={"nameRegex": "^eval-", "$and": [{"state": {"$eq": "finished"}}]})
    spec = parse(doc).spec  # type: ignore[union-attr]
    event, evaluation = samples.sample_event(spec)  # type: ignore[arg-type]
    assert event.type is EventType.RUN_METRIC and evaluation is not None
