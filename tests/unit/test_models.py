"""Resource models: W&B's semantics, aliases and rules, without a cluster."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from pydantic import ValidationError

from tests.support.manifests import automation, webhook
from wbauto.admission.review import admit, review
from wbauto.api import manifests
from wbauto.api.automation import Agg, AutomationSpec, ChangeType, Cmp, Direction, RunState
from wbauto.api.schema import format_duration, parse_duration
from wbauto.api.secretreference import SecretReferenceSpec
from wbauto.api.webhook import WebhookSpec
from wbauto.engine.events import registry as events

SCOPE = {"project": {"entity": "acme", "project": "p"}}


def spec(**fields: object) -> AutomationSpec:
    base: dict[str, object] = {"scope": SCOPE, "event": {"artifactLinked": {}}, "action": {"noOp": {}}}
    base.update(fields)
    return AutomationSpec.model_validate(base)


def test_wandb_aliases_map_to_canonical_values() -> None:
    s = spec(event={"runMetricThreshold": {"metric": "loss", "agg": "AVG", "window": 5, "cmp": "<",
                                           "threshold": 0.1}})
    t = s.event.run_metric_threshold
    assert t is not None and t.agg is Agg.AVERAGE and t.cmp is Cmp.LT
    s = spec(event={"runMetricChange": {"metric": "acc", "changeType": "REL", "direction": "DEC",
                                        "amount": 0.1}})
    c = s.event.run_metric_change
    assert c is not None and c.change_type is ChangeType.RELATIVE and c.direction is Direction.DECREASE
    s = spec(event={"runStateChanged": {"states": ["CRASHED", "FAILED", "FINISHED"]}})
    assert s.event.run_state_changed is not None
    assert s.event.run_state_changed.states == [RunState.FAILED, RunState.FINISHED]


def test_wandb_event_and_action_types() -> None:
    assert events.of(spec(event={"artifactLinked": {}}).event).wandb_type == "LINK_MODEL"
    assert events.of(spec(event={"runMetricZScore": {"metric": "x"}}).event).wandb_type == "RUN_METRIC_ZSCORE"
    z = spec(event={"runMetricZScore": {"metric": "x"}}).event.run_metric_z_score
    assert z is not None and z.window == 30 and z.threshold == 3.0 and z.direction is Direction.ANY
    assert spec(action={"webhook": {"webhookRef": {"name": "h"}}}).action.wandb_type == "GENERIC_WEBHOOK"
    assert spec(action={"slack": {"incomingWebhookRef": {"name": "s"}}}).action.wandb_type == "NOTIFICATION"


def messages(doc: dict[str, object]) -> str:
    """Every problem admission finds in ``doc`` (the CRDs' own CEL rules, evaluated offline)."""
    return "; ".join(str(p) for p in review(doc).problems)


def test_invalid_scope_event_pairs_follow_wandb() -> None:
    assert "needs a collection scope" in messages(automation(event={"artifactVersionCreated": {}}))
    ok = admit(automation(scope={"collection": {"entity": "a", "project": "p", "name": "c"}},
                          event={"artifactVersionCreated": {}}))
    assert isinstance(ok, manifests.Resource) and ok.spec.scope.kind == "collection"  # type: ignore[attr-defined]
    for scope in ({"registry": {"organization": "o", "name": "model"}},
                  {"collection": {"entity": "a", "project": "p", "name": "c"}}):
        text = messages(automation(scope=scope, event={"runStateChanged": {"states": ["FAILED"]}}))
        assert "run events need a project or entity scope" in text
    # the SDK's run events take a project or a team/organization entity (_BaseRunEventInput.scope)
    team = automation(scope={"entity": {"name": "e"}}, event={"runStateChanged": {"states": ["FAILED"]}})
    assert messages(team) == ""


def test_display_name_limit_is_255() -> None:
    assert spec(displayName="x" * 255).display_name == "x" * 255
    with pytest.raises(ValidationError):
        spec(displayName="x" * 256)


def test_webhook_defaults() -> None:
    w = WebhookSpec.model_validate({"url": "https://h.example.com/x"})
    assert w.retry.max_attempts == 8 and w.timeout == "15s" and w.success_codes == []
    assert w.signature_encoding.value == "base64"


@pytest.mark.parametrize("url", ["https://10.0.0.1/x", "http://localhost:8080/", "https://[fd00::1]/"])
def test_ip_literals_and_localhost_pass_the_schema(url: str) -> None:
    assert WebhookSpec.model_validate({"url": url}).url == url


def test_secret_reference_keyed_union() -> None:
    s = SecretReferenceSpec.model_validate({"gcp": {"project": "p", "secret": "s"}})
    assert s.backend == "gcp" and s.source.version == "latest"  # type: ignore[attr-defined]
    assert "exactly one of" in messages({"apiVersion": "automations.wandb.ai/v1alpha1", "kind": "SecretReference",
                                         "metadata": {"name": "s"}, "spec": {}})


def test_durations() -> None:
    assert parse_duration("1h30m").total_seconds() == 5400
    assert parse_duration("250ms").total_seconds() == 0.25
    assert format_duration(parse_duration("2m5s")) == "2m5s"
    with pytest.raises(ValueError):
        parse_duration("5 minutes")


def test_manifest_errors_name_object_and_field() -> None:
    doc = automation(namespace="team-a", event={"runMetricThreshold": {"metric": "m", "cmp": "$gt",
                                                                        "threshold": 1, "window": 0}})
    result = admit(doc)
    assert isinstance(result, manifests.Invalid)
    assert result.ref == "Automation/team-a/auto"
    assert [p.field for p in result.problems] == ["spec.event.runMetricThreshold.window"]


def test_validate_cli_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(yaml.safe_dump_all([webhook(), {"apiVersion": "v1", "kind": "ConfigMap",
                                                    "metadata": {"name": "x"}}]))
    ok = subprocess.run([sys.executable, "-m", "wbauto", "validate", str(good)], capture_output=True, text=True)
    assert ok.returncode == 0 and "1 valid, 0 invalid, 1 skipped" in ok.stderr
    bad = tmp_path / "dir" / "bad.yaml"
    bad.parent.mkdir()
    bad.write_text(yaml.safe_dump(webhook(url="ftp://x")))
    result = subprocess.run([sys.executable, "-m", "wbauto", "validate", str(tmp_path)], capture_output=True,
                            text=True)
    assert result.returncode == 1
    assert "Webhook/default/hook: spec.url: Invalid value" in result.stdout
    template = tmp_path / "template.yaml"
    template.write_text(yaml.safe_dump(automation(action={"webhook": {"webhookRef": {"name": "h"},
                                                                      "payload": '{"alias": ${alias}}'}})))
    result = subprocess.run([sys.executable, "-m", "wbauto", "validate", str(template)], capture_output=True,
                            text=True)
    assert result.returncode == 1
    assert "spec.action.webhook.payload: Invalid value" in result.stdout and "inside quotes" in result.stdout
    snake = tmp_path / "snake.yaml"
    snake.write_text(yaml.safe_dump(automation(action={"launch": {"queue": "q", "job": "a/b/c",
                                                                  "overrides": {"run_config": {"x": 1}}}})))
    result = subprocess.run([sys.executable, "-m", "wbauto", "validate", str(snake)], capture_output=True, text=True)
    assert result.returncode == 1 and "spec.action.launch.overrides.run_config: field not declared" in result.stdout
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [b")
    result = subprocess.run([sys.executable, "-m", "wbauto", "validate", str(broken)], capture_output=True,
                            text=True)
    assert result.returncode == 2 and "not valid YAML" in result.stderr
