"""The command line's surface: --version, --kubeconfig/--context wherever a cluster is reached, and
`wbauto validate -o json`."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from wbauto.cli import main as cli_main

REPO = Path(__file__).resolve().parents[2]


def _wbauto(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wbauto", *args], capture_output=True, text=True)


def test_version_is_the_package_version_the_image_label_uses() -> None:
    result = _wbauto("--version")
    assert result.returncode == 0, result.stderr
    pyproject = (REPO / "pyproject.toml").read_text()
    match = re.search(r'^version = "(.+)"', pyproject, re.MULTILINE)
    assert match is not None
    assert result.stdout.strip() == f"wbauto {match.group(1)}"


@pytest.mark.parametrize("command", ["run", "history", "test-webhook"])
def test_every_command_reaching_a_cluster_takes_kubeconfig_and_context(command: str) -> None:
    parser = cli_main.build_parser(command)
    extra = ["hook", "--cluster"] if command == "test-webhook" else []
    args = parser.parse_args([command, *extra, "--kubeconfig", "/k", "--context", "c"])
    assert (args.kubeconfig, args.context) == ("/k", "c")


def test_only_those_commands_build_a_kubernetes_client() -> None:
    cli = REPO / "operator" / "wbauto" / "cli"
    reaching = {p.stem for p in cli.glob("*.py") if "kube.Client(" in p.read_text()}
    assert reaching <= {"run", "history", "testwebhook"}, reaching


GOOD = """apiVersion: automations.wandb.ai/v1alpha1
kind: Automation
metadata: {name: ok, namespace: ml}
spec:
  scope: {project: {entity: e, project: p}}
  event: {artifactAliasAdded: {aliasRegex: ^production$}}
  action: {noOp: {}}
"""
BAD = """apiVersion: automations.wandb.ai/v1alpha1
kind: Automation
metadata: {name: bad, namespace: ml}
spec:
  scope: {project: {entity: e, project: p}}
  event: {artifactAliasAdded: {aliasRegex: '('}}
  action: {noOp: {}}
"""


def test_validate_json_names_file_document_line_object_and_field(tmp_path: Path) -> None:
    path = tmp_path / "automations.yaml"
    path.write_text(GOOD + "---\n" + "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n" + "---\n" + BAD)
    result = _wbauto("validate", "-o", "json", str(path))
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["summary"] == {"valid": 1, "invalid": 1, "skipped": 1, "unreadable": 0}
    [problem] = report["problems"]
    assert problem["file"] == str(path)
    assert problem["document"] == 2
    assert problem["line"] == len((GOOD + "---\n" + "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\n"
                                   + "---\n").splitlines()) + 1
    assert (problem["kind"], problem["namespace"], problem["name"]) == ("Automation", "ml", "bad")
    assert problem["field"] == "spec.event.artifactAliasAdded.aliasRegex"
    assert "Invalid value" in problem["message"]


def test_validate_json_keeps_the_exit_codes(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(GOOD)
    ok = _wbauto("validate", "-o", "json", str(good))
    assert ok.returncode == 0 and json.loads(ok.stdout)["problems"] == []
    missing = _wbauto("validate", "-o", "json", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 2
    report = json.loads(missing.stdout)
    assert report["summary"]["unreadable"] == 1
    assert report["problems"][0]["message"] == "no such file or directory"
    broken = tmp_path / "broken.yaml"
    broken.write_text("a: [\n")
    unreadable = _wbauto("validate", "-o", "json", str(broken))
    assert unreadable.returncode == 2
    assert json.loads(unreadable.stdout)["problems"][0]["file"] == str(broken)
