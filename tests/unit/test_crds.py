"""The committed CRDs are exactly what the models generate."""

from __future__ import annotations

import subprocess
import sys

from tests.support.controlplane import REPO
from wbauto.api import crdgen, kinds


def test_committed_crds_match_the_models() -> None:
    generated = crdgen.all_files()
    for directory in (REPO / "crds", REPO / "charts" / "wbauto" / "crds"):
        committed = {p.name: p.read_text() for p in directory.glob("*.yaml")}
        assert committed.keys() == generated.keys(), f"{directory}: files differ from the models"
        for name, text in generated.items():
            assert committed[name] == text, f"{directory / name} is stale: run `wbauto crds`"


def test_crds_check_command_detects_drift(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "crds"
    assert subprocess.run([sys.executable, "-m", "wbauto", "crds", "--out", str(out)]).returncode == 0
    ok = subprocess.run([sys.executable, "-m", "wbauto", "crds", "--check", "--out", str(out)])
    assert ok.returncode == 0
    victim = next(out.glob("*.yaml"))
    victim.write_text(victim.read_text().replace("maxLength: 255", "maxLength: 256"))
    stale = subprocess.run([sys.executable, "-m", "wbauto", "crds", "--check", "--out", str(out)],
                           capture_output=True, text=True)
    assert stale.returncode == 1 and victim.name in stale.stderr


def test_structural_schema_shape() -> None:
    for kind in kinds.KINDS:
        doc = crdgen.crd(kind)
        version = doc["spec"]["versions"][0]
        # the operator writes an AutomationExecution whole (status in its one create): no status subresource
        expected = None if kind is kinds.AUTOMATION_EXECUTION else {"status": {}}
        assert version.get("subresources") == expected
        assert doc["spec"]["names"]["shortNames"]
        names = [c["name"] for c in version["additionalPrinterColumns"]]
        assert "Age" in names
        schema = version["schema"]["openAPIV3Schema"]
        _assert_structural(schema, "root")


def _assert_structural(node: dict, path: str) -> None:  # type: ignore[type-arg]
    untyped = node.get("x-kubernetes-preserve-unknown-fields") and not node.get("properties")  # any JSON value
    assert "type" in node or node.get("x-kubernetes-int-or-string") or untyped, f"{path}: no type"
    for forbidden in ("$ref", "anyOf", "allOf", "oneOf", "title", "additionalProperties\x00"):
        assert forbidden not in node, f"{path}: {forbidden}"
    if node.get("type") == "object" and "properties" in node and path.startswith("root.spec"):
        assert "description" in node or path == "root", f"{path}: no description"
    for name, child in (node.get("properties") or {}).items():
        if path != "root" or name in ("spec", "status"):
            assert "description" in child or name in ("metadata",), f"{path}.{name}: no description"
        _assert_structural(child, f"{path}.{name}")
    if "items" in node:
        _assert_structural(node["items"], f"{path}[]")


def test_every_event_and_action_maps_to_wandb_types() -> None:
    from wbauto.actions import registry as actions
    from wbauto.api.automation import Action, Event
    from wbauto.engine.events import registry

    event_keys = {info.alias for info in Event.model_fields.values()} - {"filter"}
    assert event_keys == set(registry.KINDS)
    assert {info.alias or name for name, info in Action.model_fields.items()} == set(actions.ACTIONS)
