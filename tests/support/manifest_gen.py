"""Generated manifests for the admission differential and fuzz suites.

- :func:`mutants`: deterministic mutations of a seed manifest (every example): each field replaced by
  values from a pool of edge cases (type confusions, bounds, Unicode spellings, overflowing durations,
  YAML-looking strings), deleted, or joined by an unknown sibling.
- :func:`manifests`: a hypothesis strategy over the models, drawn from the generated CRDs' structural
  schemas (so every field, enum and union is reached), with edge values mixed in.
- :data:`EDGE_CASES`: the reproducers of issue 11 §4 and issue 12 §7/§8 that JSON can carry.
"""

from __future__ import annotations

import copy
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hypothesis import strategies as st

from tests.support.manifests import automation, secret_reference, webhook
from wbauto.admission import files
from wbauto.api import crdgen, kinds

FULLWIDTH_127 = "\uff11\uff12\uff17\uff0e\uff10\uff0e\uff10\uff0e\uff11"  # 127.0.0.1 in fullwidth digits and dots
REPO = Path(__file__).resolve().parents[2]

EDGE_VALUES: list[Any] = [
    None, True, False, 0, 1, -1, 8, 8.0, 8.5, 1e20, 2**63, -(2**63) - 1, 100, 599, 600, 65536, 0.1, -0.0,
    "", "8", "true", "false", "0.1", "x", "X", "a b", "a\u00a0b", "a\u2028b", "x\n", " x", "bad key!", "2020-01-01",
    "①②⑦.0.0.1", FULLWIDTH_127, "http://①②⑦.0.0.1/x", f"http://{FULLWIDTH_127}:80/", "http://127。0。0。1/",
    "http://[127.0.0.1]:8/x", "http://h.example.com:99999/x", "http://h.example.com:65535/x", "https://[::1]:443/",
    "https://xn--bcher-kva.example/x", "https://bücher.example/x", "https://h.example.com/a\u00a0b",
    "https://h.example.com/x\n", "https://u:p@h.example.com/", "ftp://h.example.com/",
    "99999999999h", "0s", "1ms", "250ms", "1.5h", "10m", "10m1s", "24h", "24h0m1s", "1h30m", "5 minutes",
    "(", "^(a+)+$", "(?=x)", "\\C", "a{1001}", "[[:alpha:]]", "^prod.*", "(?P<n>x)", "\\pN+",
    "not a pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    "MAX", "AVG", "MEDIAN", "$gt", ">", "==", "CRASHED", "KILLED", "INC", "base64", "hex",
    "a" * 64, "a" * 129, "a" * 256, "x" * 513, "Not_A_Name", "name.with.dots", "-bad", "ok-name",
    [], [1], ["a"], ["200"], [None], {}, {"a": 1}, {"bad key!": "x"}, {"X-Ok": "v"}, {"Authorization": "x"},
]


_RUN_SCOPE = {"project": {"entity": "acme", "project": "proj"}}
_FAILED = {"runStateChanged": {"states": ["failed", "Crashed"]}}

FILTER_SEEDS: list[dict[str, Any]] = [
    automation("alias-filter", event={"artifactLinked": {}, "filter": {
        "alias": {"$in": ["production", "staging"], "$not": {"$regex": "^tmp"}},
        "$or": [{"tag": {"$eq": "eval", "$exists": True}}, {"alias": {"$contains": "prod", "$size": 2}}],
        "$nor": [{"tag": {"$nin": ["a", 1, 2.5, True]}}], "$and": [{"alias": {"$all": ["x"], "$ne": "y"}}],
        "$not": {"tag": {"$gt": "m", "$lte": "z"}}}}),
    automation("tag-filter", event={"artifactTagAdded": {"tagRegex": "^eval"}, "filter": {"tag": {"$ne": "wip"}}}),
    automation("run-filter", scope=_RUN_SCOPE, event=_FAILED, runFilter={
        "nameRegex": "^train-", "user": "alice",
        "$and": [{"display_name": {"$contains": "resnet"}, "config.optimizer.lr": {"$gte": 0.001}}],
        "$or": [{"tags": {"$in": ["baseline"]}}, {"summary_metrics.loss": {"$lt": 0.1}, "duration": {"$lte": 60}}],
        "$nor": [{"group": {"$exists": False}}], "$not": {"jobType": {"$eq": "eval"}, "createdAt": {"$gt": "2026"}}}),
    automation("team-metric", scope={"entity": {"name": "acme"}}, event={"runMetricChange": {
        "metric": "acc", "agg": "avg", "currentWindow": 2, "changeType": "Rel", "direction": "inc", "amount": 0.3}},
        runFilter={"$and": [{"state": {"$eq": "finished"}, "username": {"$regex": "^a"}}]}),
    automation("zscore-one", scope=_RUN_SCOPE, event={"runMetricZScore": {"metric": "acc", "window": 1,
                                                                          "direction": "dec"}}),
    automation("slack-severity", action={"slack": {"incomingWebhookRef": {"name": "s"}, "severity": "warning"}}),
]
"""Manifests using the filter language, W&B's enum spellings in any case and run events on entity scopes
(seeds for the mutants, besides the examples)."""


def seeds() -> list[dict[str, Any]]:
    """Every wbauto document in examples/ (as kubectl would read it), and :data:`FILTER_SEEDS`."""
    out: list[dict[str, Any]] = []
    for path in files.manifest_files([REPO / "examples"]):
        for entry in files.read_documents(path):
            doc = entry.value
            if isinstance(doc, dict) and doc.get("kind") in kinds.BY_KIND and doc.get("kind") != "AutomationExecution":
                out.append(doc)
    return out + copy.deepcopy(FILTER_SEEDS)


def with_namespace(doc: Any, namespace: str) -> Any:
    """The document placed in ``namespace`` (the differential posts there), unless its metadata is broken."""
    out = copy.deepcopy(doc)
    meta = out.get("metadata") if isinstance(out, dict) else None
    if isinstance(meta, dict) and (isinstance(meta.get("namespace"), str) or "namespace" not in meta):
        meta["namespace"] = namespace
    return out


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*path, i))


def _set(doc: Any, path: tuple[Any, ...], value: Any, delete: bool = False) -> Any:
    out = copy.deepcopy(doc)
    target = out
    for part in path[:-1]:
        target = target[part]
    if delete:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return out


_FIXED = {("apiVersion",), ("kind",), ("metadata", "namespace")}


def mutants(doc: dict[str, Any], rng: random.Random, per_field: int = 3) -> Iterator[dict[str, Any]]:
    """Mutations of ``doc``: for each field, ``per_field`` edge values, a deletion, and an unknown sibling."""
    for path in list(_paths(doc)):
        if not path or path in _FIXED:
            continue
        for value in rng.sample(EDGE_VALUES, per_field):
            yield _set(doc, path, copy.deepcopy(value))
        parent = path[:-1]
        if isinstance(path[-1], str):
            yield _set(doc, path, None, delete=True)
            container = doc
            for part in parent:
                container = container[part]
            if isinstance(container, dict):
                yield _set(doc, (*parent, "unknownField"), rng.choice(["x", 1, {"a": 1}]))


# --- hypothesis strategies from the CRDs' structural schemas -------------------------------------------

_EDGE = st.sampled_from(EDGE_VALUES).map(copy.deepcopy)
_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=12)


def _string(node: dict[str, Any], edge: bool) -> st.SearchStrategy[Any]:
    if "enum" in node:
        return st.sampled_from(node["enum"])
    pattern = node.get("pattern")
    plain = st.from_regex(r"[a-z][a-z0-9-]{0,10}", fullmatch=True)
    options: list[st.SearchStrategy[Any]] = (
        [_TEXT, st.sampled_from([v for v in EDGE_VALUES if isinstance(v, str)])] if edge else [plain])
    if pattern and "\\p" not in pattern and "\\x{" not in pattern:
        try:
            re.compile(pattern)
            options = [st.from_regex(pattern, fullmatch=True).filter(lambda s: len(s) <= 64), *options[:1]]
        except re.error:
            pass
    return st.one_of(options)


def from_schema(node: dict[str, Any], depth: int = 0, edge: bool = True) -> st.SearchStrategy[Any]:
    """Values for a structural schema node: well-typed, and with ``edge`` sometimes an edge value instead."""
    if depth > 8 or (node.get("x-kubernetes-preserve-unknown-fields") and not node.get("properties")):
        return st.one_of(st.just({}), st.dictionaries(st.sampled_from(["a", "b", "image"]), _EDGE, max_size=2))
    kind = node.get("type")
    if node.get("x-kubernetes-int-or-string"):
        typed: st.SearchStrategy[Any] = st.one_of(st.integers(-5, 5), _TEXT, st.floats(allow_nan=False,
                                                                                        allow_infinity=False))
    elif kind == "object" and node.get("properties"):
        props = node["properties"]
        required = set(node.get("required") or [])
        typed = st.fixed_dictionaries(
            {k: from_schema(v, depth + 1, edge) for k, v in props.items() if k in required},
            optional={k: from_schema(v, depth + 1, edge) for k, v in props.items() if k not in required})
        if len(props) > 3 and not required:  # a keyed union: usually one key, as users write them
            key = st.sampled_from(sorted(props))
            one = key.flatmap(lambda k: from_schema(props[k], depth + 1, edge).map(lambda v: {k: v}))
            typed = st.one_of(typed, one)
    elif kind == "object" and isinstance(node.get("additionalProperties"), dict):
        typed = st.dictionaries(st.one_of(_TEXT, st.sampled_from(["X-Team", "a", "app.kubernetes.io/name"])),
                                from_schema(node["additionalProperties"], depth + 1, edge), max_size=3)
    elif kind == "object":
        typed = st.just({})
    elif kind == "array":
        typed = st.lists(from_schema(node.get("items") or {}, depth + 1, edge), max_size=4)
    elif kind == "integer":
        low, high = node.get("minimum", -10), node.get("maximum", 100_000)
        typed = st.integers(int(low) - edge, int(high) + edge)
    elif kind == "number":
        typed = st.one_of(st.floats(allow_nan=False, allow_infinity=False), st.integers(-10, 10))
    elif kind == "boolean":
        typed = st.booleans()
    elif kind == "string":
        typed = _string(node, edge)
    else:
        typed = _EDGE
    return st.one_of(typed, typed, typed, typed, typed, typed, typed, _EDGE) if edge else typed


_NAMES = st.one_of(st.sampled_from(["hook", "auto", "sr", "a.b", "x" * 63]),
                   st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True), st.sampled_from(["Bad_Name", "", "-x", "a" * 254]))
_LABELS = st.dictionaries(st.sampled_from(["app", "team/x", "bad key!", "a" * 64, "example.com/ok"]),
                          st.sampled_from(["v", "", "a b", "x" * 64]), max_size=2)


def manifests(kind: kinds.Kind) -> st.SearchStrategy[dict[str, Any]]:
    """Whole manifests of ``kind`` (spec from its CRD schema, metadata with names and labels)."""
    spec = crdgen.crd(kind)["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"]
    meta = st.fixed_dictionaries({"name": _NAMES}, optional={"labels": _LABELS, "annotations": _LABELS})
    plain_meta = st.fixed_dictionaries({"name": st.from_regex(r"[a-z][a-z0-9]{0,8}", fullmatch=True)})
    return st.one_of(
        st.fixed_dictionaries({"apiVersion": st.just(kinds.API_VERSION), "kind": st.just(kind.kind),
                               "metadata": meta, "spec": from_schema(spec)}),
        st.fixed_dictionaries({"apiVersion": st.just(kinds.API_VERSION), "kind": st.just(kind.kind),
                               "metadata": plain_meta, "spec": from_schema(spec, edge=False)}))


def any_manifest() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of([manifests(k) for k in kinds.KINDS if k is not kinds.AUTOMATION_EXECUTION])


_THRESHOLD = {"runMetricThreshold": {"metric": "loss", "cmp": "$lt", "threshold": 0.1}}
_SCOPE = {"project": {"entity": "acme", "project": "proj"}}

EDGE_CASES: list[tuple[str, dict[str, Any]]] = [
    ("maxAttempts string", webhook(retry={"maxAttempts": "8"})),
    ("maxAttempts bool", webhook(retry={"maxAttempts": True})),
    ("enabled string", automation(enabled="false")),
    ("threshold string", automation(scope=_SCOPE, event={"runMetricThreshold": {**_THRESHOLD["runMetricThreshold"],
                                                                                "threshold": "0.1"}})),
    ("successCodes strings", webhook(successCodes=["200"])),
    ("threshold huge", automation(scope=_SCOPE, event={"runMetricThreshold": {**_THRESHOLD["runMetricThreshold"],
                                                                              "threshold": 1e308}})),
    ("label key", {**webhook(), "metadata": {"name": "hook", "labels": {"bad key!": "x"}}}),
    ("url block scalar", webhook(url="https://hooks.example.com/x\n")),
    ("url nbsp", webhook(url="https://hooks.example.com/a\u00a0b")),
    ("url line separator", webhook(url="https://hooks.example.com/a\u2028b")),
    ("slack apiUrl nbsp", automation(action={"slack": {"incomingWebhookRef": {"name": "s"},
                                                       "apiUrl": "https://slack.example.com/api\u00a0x"}})),
    ("aliasRegex (", automation(event={"artifactAliasAdded": {"aliasRegex": "("}})),
    ("aliasRegex redos", automation(event={"artifactAliasAdded": {"aliasRegex": "^(a+)+$"}})),
    ("aliasRegex lookahead", automation(event={"artifactAliasAdded": {"aliasRegex": "(?=prod)"}})),
    ("backoff overflow", webhook(retry={"backoff": "99999999999h"})),
    ("timeout overflow", webhook(timeout="99999999999h")),
    ("refreshInterval overflow", secret_reference(env={"name": "X"}, refreshInterval="99999999999h")),
    ("period overflow", automation(rateLimit={"maxExecutions": 1, "period": "99999999999h"})),
    ("caBundle not pem", webhook(caBundle="not a pem")),
    ("url circled digits", webhook(url="http://①②⑦.0.0.1:8080/hook")),
    ("url fullwidth", webhook(url=f"http://{FULLWIDTH_127}:8080/")),
    ("url ideographic dots", webhook(url="http://127。0。0。1/")),
    ("url bracketed ipv4", webhook(url="http://[127.0.0.1]:8/x")),
    ("url port 99999", webhook(url="http://hooks.example.com:99999/x")),
    ("vault address unicode", secret_reference(vault={"address": "https://vault。example/", "path": "p", "key": "k",
                                                      "auth": {"token": {"secretRef": {"name": "t", "key": "k"}}}})),
    ("azure vaultUrl unicode", secret_reference(azure={"vaultUrl": "https://\uff56\uff41\uff55\uff4c\uff54.example",
                                                      "name": "n"})),
    ("generation list", {**webhook(), "metadata": {"name": "hook", "generation": [1]}}),
    ("metadata string", {**webhook(), "metadata": "foo"}),
    ("namespace list", {**webhook(), "metadata": {"name": "hook", "namespace": ["a"]}}),
    ("namespace int", {**webhook(), "metadata": {"name": "hook", "namespace": 5}}),
    ("status string", {**webhook(), "status": "hello"}),
    ("runConfig deep", automation(action={"launch": {"queue": "q", "job": "a/b/c",
                                                     "overrides": {"runConfig": {"x": [[[[[[1]]]]]]}}}})),
    ("filter regex lookahead", automation(event={"artifactLinked": {}, "filter": {"alias": {"$regex": "(?=x)"}}})),
    ("filter regex empty", automation(event={"artifactLinked": {}, "filter": {"alias": {"$regex": ""}}})),
    ("filter field unknown", automation(event={"artifactLinked": {}, "filter": {"version": {"$eq": "v1"}}})),
    ("filter term field unknown", automation(event={"artifactLinked": {}, "filter": {"$or": [{"run": {"$eq": 1}}]}})),
    ("filter no operator", automation(event={"artifactLinked": {}, "filter": {"alias": {}}})),
    ("filter unknown operator", automation(event={"artifactLinked": {}, "filter": {"alias": {"$where": "x"}}})),
    ("filter empty $or", automation(event={"artifactLinked": {}, "filter": {"$or": []}})),
    ("filter empty term", automation(event={"artifactLinked": {}, "filter": {"$and": [{}]}})),
    ("filter 17 terms", automation(event={"artifactLinked": {}, "filter": {"$or": [{"alias": {"$eq": i}}
                                                                                    for i in range(17)]}})),
    ("filter operand object", automation(event={"artifactLinked": {}, "filter": {"alias": {"$eq": {"a": [1]}}}})),
    ("filter $in not a list", automation(event={"artifactLinked": {}, "filter": {"alias": {"$in": "prod"}}})),
    ("filter $size negative", automation(event={"artifactLinked": {}, "filter": {"alias": {"$size": -1}}})),
    ("filter $exists string", automation(event={"artifactLinked": {}, "filter": {"alias": {"$exists": "yes"}}})),
    ("filter $not nested $not", automation(event={"artifactLinked": {}, "filter": {"alias": {"$not": {
        "$not": {"$eq": 1}}}}})),
    ("filter on a run event", automation(scope=_SCOPE, event={**_THRESHOLD, "filter": {"alias": {"$eq": "x"}}})),
    ("run filter unknown field", automation(scope=_SCOPE, event=_THRESHOLD, runFilter={"$and": [{"host": {
        "$eq": "gpu"}}]})),
    ("run filter empty path", automation(scope=_SCOPE, event=_THRESHOLD, runFilter={"$and": [{"config..lr": {
        "$eq": 1}}]})),
    ("run filter bare config", automation(scope=_SCOPE, event=_THRESHOLD, runFilter={"$or": [{"config": {
        "$eq": 1}}]})),
    ("run filter on an artifact event", automation(runFilter={"$and": [{"name": {"$eq": "r"}}]})),
    ("agg any case", automation(scope=_SCOPE, event={"runMetricThreshold": {**_THRESHOLD["runMetricThreshold"],
                                                                            "agg": "Mean", "window": 3}})),
    ("agg unknown", automation(scope=_SCOPE, event={"runMetricThreshold": {**_THRESHOLD["runMetricThreshold"],
                                                                           "agg": "median"}})),
    ("state lower case", automation(scope=_SCOPE, event={"runStateChanged": {"states": ["finished", "crashed"]}})),
    ("state killed", automation(scope=_SCOPE, event={"runStateChanged": {"states": ["killed"]}})),
    ("zscore window 0", automation(scope=_SCOPE, event={"runMetricZScore": {"metric": "m", "window": 0}})),
    ("run event on entity", automation(scope={"entity": {"name": "acme"}}, event=_THRESHOLD)),
    ("run event on registry", automation(scope={"registry": {"organization": "o", "name": "model"}},
                                         event=_THRESHOLD)),
]
