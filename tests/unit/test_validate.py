"""``wbauto validate`` and the standalone folder on hostile input: a message naming file, object and field
(or a condition), never a traceback; the folder watcher survives and keeps applying changes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import trustme
import yaml

from tests.support.manifests import automation, secret_reference, webhook
from tests.unit.test_reconciler import Recorder
from wbauto.actions import egress
from wbauto.admission.review import admit
from wbauto.api import manifests
from wbauto.api.conditions import Reason
from wbauto.runtime import readiness
from wbauto.runtime.reconciler import Reconciler
from wbauto.runtime.standalone.runtime import ManifestFolder
from wbauto.runtime.world import World
from wbauto.secrets import base as secrets_base
from wbauto.secrets.resolver import Resolver

HEAD = "apiVersion: automations.wandb.ai/v1alpha1\nkind: Webhook\n"
GOOD_SPEC = "spec: {url: 'https://hooks.example.com/x'}\n"

# (id, file text, what the output must name)
HOSTILE: list[tuple[str, str | bytes, str]] = [
    ("duration overflow", HEAD + "metadata: {name: h}\nspec: {url: 'https://h.example.com/', "
                                 "retry: {backoff: 99999999999h}}\n", "Webhook/default/h: spec.retry.backoff:"),
    ("timeout overflow", HEAD + "metadata: {name: h}\nspec: {url: 'https://h.example.com/', timeout: 99999999999h}\n",
     "Webhook/default/h: spec.timeout:"),
    ("1,200-deep", HEAD + "metadata: {name: h}\nspec: {url: " + "[" * 1200 + "]" * 1200 + "}\n",
     "nested deeper than 100 levels"),
    ("mixed key types", HEAD + "metadata: {name: h}\nspec: {url: 'https://h.example.com/', "
                               "headers: {1: a, true: b, 'a b': c}}\n",
     "Webhook/default/h: spec.headers: Invalid value: header names must be HTTP tokens"),
    ("date", HEAD + "metadata: {name: h}\nspec: {url: 'https://h.example.com/', timeout: 2020-01-01}\n",
     "Webhook/default/h: spec.timeout: Invalid value: \"2020-01-01\""),
    ("invalid UTF-8", (HEAD + "metadata: {name: h}\n").encode() + b"spec: {url: '\xff'}\n", "not UTF-8 text"),
    ("metadata string", HEAD + "metadata: foo\n" + GOOD_SPEC, "Webhook/default/?: metadata:"),
    ("namespace list", HEAD + "metadata: {name: h, namespace: [a]}\n" + GOOD_SPEC, "metadata.namespace:"),
    ("namespace int", HEAD + "metadata: {name: h, namespace: 5}\n" + GOOD_SPEC, "metadata.namespace:"),
    ("binary name", HEAD + "metadata: {name: !!binary SF9I}\n" + GOOD_SPEC, "metadata.name: Invalid value: \"H_H\""),
    ("generation list", HEAD + "metadata: {name: h, generation: [1]}\n" + GOOD_SPEC, "metadata.generation:"),
    ("recursive alias", HEAD + "metadata: &m {name: h, labels: *m}\n" + GOOD_SPEC, "contains it"),
    ("billion laughs", "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True)),
     "more than 100000 values"),
    ("nan", HEAD + "metadata: {name: h}\nspec: {url: 'https://h.example.com/', timeout: .nan}\n",
     "is not a JSON number"),
    ("unicode host", HEAD + "metadata: {name: h}\nspec: {url: 'http://①②⑦.0.0.1:8/'}\n",
     "spec.url: Invalid value: url: the host must be ASCII"),
    ("bracketed IPv4", HEAD + "metadata: {name: h}\nspec: {url: 'http://[127.0.0.1]:8/x'}\n",
     "spec.url: Invalid value: url: the host must be a DNS name"),
    # go-yaml refuses these escapes ("found invalid Unicode character escape code"); PyYAML raised ValueError
    # (found by the manifest fuzz suite's daily seed)
    ("escape beyond U+10FFFF", HEAD + 'metadata: {name: h}\nspec: {url: "\\U1e400000"}\n',
     "found invalid Unicode character escape code"),
    ("surrogate escape", HEAD + 'metadata: {name: h}\nspec: {url: "\\ud800"}\n',
     "found invalid Unicode character escape code"),
    ("regex", "apiVersion: automations.wandb.ai/v1alpha1\nkind: Automation\nmetadata: {name: a}\nspec:\n"
              "  scope: {project: {entity: e, project: p}}\n  event: {artifactAliasAdded: {aliasRegex: '('}}\n"
              "  action: {noOp: {}}\n", "spec.event.artifactAliasAdded.aliasRegex: Invalid value"),
]


def _validate(path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wbauto", "validate", str(path)], capture_output=True, text=True)


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, e, id=i) for i, t, e in HOSTILE])
def test_bad_input_ends_in_a_message_naming_file_object_and_field(tmp_path: Path, text: str | bytes,
                                                                  expected: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    result = _validate(path)
    output = result.stdout + result.stderr
    assert "Traceback" not in output
    assert result.returncode in (1, 2), output
    assert str(path) in output and expected in output, output


def test_status_in_a_manifest_is_ignored_as_the_apiserver_ignores_it(tmp_path: Path) -> None:
    path = tmp_path / "status.yaml"
    path.write_text(HEAD + "metadata: {name: h}\n" + GOOD_SPEC + "status: hello\n")
    result = _validate(path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_remembered_rule_outcomes_never_carry_over_to_another_object() -> None:
    """Rule outcomes are remembered (by shape for presence-only rules, else by value): a verdict must still
    be each object's own, in any order, with each object's own value in the message."""
    def problems(regex: str, scope: dict[str, Any]) -> list[str]:
        doc = automation("a", scope=scope, event={"artifactAliasAdded": {"aliasRegex": regex}})
        result = admit(doc)
        return [] if isinstance(result, manifests.Resource) else [f"{p.field}: {p.message}" for p in result.problems]

    project = {"project": {"entity": "acme", "project": "p"}}
    two = {"project": {"entity": "acme", "project": "p"}, "entity": {"entity": "acme"}}
    for _ in range(2):
        assert problems("^ok$", project) == []
        assert any("spec.event.artifactAliasAdded.aliasRegex" in p and "((" in p for p in problems("((", project))
        assert any("spec.scope" in p for p in problems("^ok$", two)), "exactly one scope"
        assert any("z-a" in p and "aliasRegex" in p for p in problems("[z-a]", project))
        assert problems("^ok2$", project) == []


def test_a_status_only_change_keeps_the_verdict_and_an_undeclared_status_field_still_refuses() -> None:
    world = World()
    doc = automation("a")
    key = world.upsert(doc)
    assert key in world.objects
    with_status = {**doc, "metadata": {**doc["metadata"], "resourceVersion": "7"},
                   "status": {"lastExecution": {"name": "x", "status": "Finished"}}}
    world.upsert(with_status)
    assert key in world.objects and world.objects[key].body is with_status  # the newest body, same verdict
    world.upsert({**doc, "status": {"bogus": 1}})  # strict decoding: an undeclared status field
    assert key in world.invalid and "status.bogus" in str(world.invalid[key].problems)
    world.upsert(with_status)
    assert key in world.objects and key not in world.invalid
    world.upsert({**doc, "spec": {**doc["spec"], "scope": {}}})  # a spec change is reviewed again
    assert key in world.invalid


def test_yaml_scalars_are_read_as_kubectl_reads_them(tmp_path: Path) -> None:
    # kubectl (go-yaml v2): y is true, 1:30 is a string, 0o17 is 15, a date stays its text
    doc = admit(_load(tmp_path, "enabled: y\n"))
    assert isinstance(doc, manifests.Resource) and doc.spec.enabled is True  # type: ignore[attr-defined]
    refused = admit(_load(tmp_path, "enabled: 'y'\n"))
    assert isinstance(refused, manifests.Invalid) and refused.problems[0].field == "spec.enabled"


def test_a_float_map_key_beyond_float32_is_read_as_kubectl_reads_it() -> None:
    from wbauto.admission import yamlload

    # sigs.k8s.io/yaml: strconv.FormatFloat(key, 'g', -1, 32), +Inf written .inf (found by the manifest fuzz suite)
    [doc] = list(yamlload.load_yaml("headers: {1e100: a, -1e39: b, 1.5: c}\n"))
    assert doc.value == {"headers": {".inf": "a", "-.inf": "b", "1.5": "c"}}


def _load(tmp_path: Path, extra: str) -> Any:
    from wbauto.admission import files

    path = tmp_path / "a.yaml"
    path.write_text("apiVersion: automations.wandb.ai/v1alpha1\nkind: Automation\nmetadata: {name: a}\nspec:\n"
                    "  scope: {project: {entity: e, project: p}}\n  event: {artifactLinked: {}}\n"
                    "  action: {noOp: {}}\n" + "  " + extra)
    return next(iter(files.read_documents(path))).value


def test_an_automation_deleted_with_an_integer_namespace_is_gone(tmp_path: Path) -> None:
    reconciler, folder = _folder(tmp_path)
    path = tmp_path / "a.yaml"
    doc = automation(action={"noOp": {}})
    doc["metadata"]["namespace"] = 5
    _write(path, yaml.safe_dump(doc), 1)
    folder.scan()
    assert list(reconciler.world.bodies) == [("Automation", "5", "auto")]
    assert ("Automation", "5", "auto") in reconciler.world.invalid
    path.unlink()
    folder.scan()
    assert not reconciler.world.bodies and not list(reconciler.world.automations())


def test_a_bad_file_added_while_running_is_reported_and_later_changes_apply(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    reconciler, folder = _folder(tmp_path)
    good = tmp_path / "hook.yaml"
    _write(good, yaml.safe_dump(webhook()), 1)
    folder.scan()
    assert ("Webhook", "default", "hook") in reconciler.world.objects
    bad = tmp_path / "bad.yaml"
    _write(bad, "a: &a [*a]\n" + "x: " + "[" * 1200, 2)
    folder.scan()
    assert "bad.yaml" in caplog.text
    _write(good, yaml.safe_dump(webhook(url="https://other.example.com/x")), 3)
    _write(tmp_path / "sr.yaml", yaml.safe_dump(secret_reference(env={"name": "X"})), 3)
    folder.scan()
    spec: Any = reconciler.world.objects[("Webhook", "default", "hook")].spec
    assert spec.url == "https://other.example.com/x"
    assert ("SecretReference", "default", "sig") in reconciler.world.objects
    _write(bad, yaml.safe_dump(webhook(name="fixed")), 4)
    folder.scan()
    assert ("Webhook", "default", "fixed") in reconciler.world.objects


def test_a_manifest_that_breaks_keeps_its_previous_objects(tmp_path: Path) -> None:
    reconciler, folder = _folder(tmp_path)
    path = tmp_path / "hook.yaml"
    _write(path, yaml.safe_dump(webhook()), 1)
    folder.scan()
    _write(path, "kind: [unclosed", 2)
    folder.scan()
    assert ("Webhook", "default", "hook") in reconciler.world.objects


def test_refused_objects_get_a_stalled_condition_whatever_their_metadata(tmp_path: Path) -> None:
    reconciler, folder = _folder(tmp_path)
    for i, meta in enumerate(({"name": "g", "generation": [1]}, "foo", {"name": "s"})):
        doc: dict[str, Any] = {**webhook(), "metadata": meta}
        if i == 2:
            doc["status"] = "hello"
            doc["spec"] = {"url": "ftp://x"}
        _write(tmp_path / f"{i}.yaml", yaml.safe_dump(doc), 1)
    folder.scan()
    outcomes = asyncio.run(_reconcile_all(reconciler))
    assert len(outcomes) == 3
    assert all(o is not None and o.stalled and o.reason == Reason.INVALID_SPEC for o in outcomes)


async def _reconcile_all(reconciler: Reconciler) -> list[readiness.Outcome | None]:
    out = [await reconciler.reconcile(key) for key in list(reconciler.world.bodies)]
    await reconciler.resolver.aclose()
    return out


def test_a_ca_bundle_python_cannot_load_stalls_the_webhook() -> None:
    world = World()
    policy = egress.Policy.build(allow_private=True)
    shaped_but_broken = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydA==\n-----END CERTIFICATE-----\n"
    res = admit(webhook(caBundle=shaped_but_broken))
    assert isinstance(res, manifests.Resource)
    outcome = readiness.webhook(res, world, policy)
    assert outcome.stalled and outcome.reason == Reason.INVALID_CA_BUNDLE
    assert str(outcome.reason) == "InvalidCABundle"
    assert outcome.message.startswith("spec.caBundle: ")
    ca = trustme.CA()
    good = admit(webhook(caBundle=ca.cert_pem.bytes().decode()))
    assert isinstance(good, manifests.Resource)
    assert readiness.webhook(good, world, policy).ready
    refused = admit(webhook(caBundle="not a pem"))
    assert isinstance(refused, manifests.Invalid) and refused.problems[0].field == "spec.caBundle"


def _folder(tmp_path: Path) -> tuple[Reconciler, ManifestFolder]:
    world = World()
    resolver = Resolver(secrets_base.Context(allow_local=True), world.secret_reference)
    reconciler = Reconciler(world, resolver, egress.Policy.build(allow_private=True), Recorder())
    return reconciler, ManifestFolder(tmp_path, reconciler)


def _write(path: Path, text: str, stamp: int) -> None:
    """Write and give the file a distinct modification time (the folder notices changes by mtime)."""
    path.write_text(text)
    os.utime(path, (1_700_000_000 + stamp, 1_700_000_000 + stamp))
