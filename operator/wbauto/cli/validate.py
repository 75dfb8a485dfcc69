"""``wbauto validate FILE|DIR...``: the apiserver's admission verdict, offline, for a GitOps repo's PR CI.

Each file is read as ``kubectl`` reads it (YAML → JSON with go-yaml's rules), each wbauto document is
checked against the generated CRDs' structural schemas and CEL rules (``wbauto.admission``), and each
valid Automation's payload template is rendered for a sample event. Messages name the file, the object and
the field, as the apiserver does. Documents of other API groups are skipped. Exit status: 0 when every
wbauto document is valid, 1 when one is not, 2 on unreadable input (a missing file, invalid YAML).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from wbauto.admission import files
from wbauto.admission.review import admit, ref_of
from wbauto.api import kinds, manifests
from wbauto.api.automation import AutomationSpec
from wbauto.engine import checks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="FILE|DIR")
    parser.add_argument("-n", "--namespace", default="default",
                        help="namespace for documents without one (default: default)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only problems")


@dataclass
class Outcome:
    """One document's result: ``status`` is valid, invalid, skipped or broken (the checker itself failed:
    reported, never a traceback; the fuzz suite asserts it never happens)."""

    status: str
    lines: list[str] = field(default_factory=list)


LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
ANNOTATIONS_LIMIT = 256 * 1024


def last_applied_problem(doc: dict[str, Any]) -> manifests.Problem | None:
    """``kubectl apply`` (client-side, the default) stores the whole object, as JSON, in an annotation; the
    apiserver refuses annotations above 256 KiB in total. A larger manifest needs ``kubectl apply
    --server-side`` — the one check here that is kubectl's, not the apiserver's."""
    meta: dict[str, Any] = doc["metadata"] if isinstance(doc.get("metadata"), dict) else {}
    annotations: dict[str, Any] = meta["annotations"] if isinstance(meta.get("annotations"), dict) else {}
    others = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    text = json.dumps(doc, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    text = text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")  # Go's json.Marshal
    size = len(LAST_APPLIED) + len(text.encode("utf-8", "surrogatepass")) + 1
    size += sum(len(str(k).encode()) + len(str(v or "").encode()) for k, v in others.items())
    if size <= ANNOTATIONS_LIMIT:
        return None
    return manifests.Problem("metadata.annotations", f"Too long: kubectl apply would store {size} bytes of "
                             f"annotations (at most {ANNOTATIONS_LIMIT}: it keeps the whole object in {LAST_APPLIED});"
                             " apply it with kubectl apply --server-side, or make it smaller")


def check_document(entry: files.Entry, namespace: str) -> Outcome:
    source = entry.source
    if entry.error is not None:
        return Outcome("invalid", [f"{source}: {entry.error}"])
    doc = entry.value
    if not manifests.is_ours(doc):
        return Outcome("skipped")
    try:
        result = admit(doc, source=source, default_namespace=namespace)
        if isinstance(result, manifests.Resource):
            problems = [p for p in [last_applied_problem(doc)] if p is not None]
            if result.kind is kinds.AUTOMATION:
                spec: AutomationSpec = result.spec  # type: ignore[assignment]
                problems += checks.automation(spec, result.name)
            if problems:
                result = manifests.Invalid(result.ref, source, problems)
    except Exception as exc:  # a bug here must not hide the other documents' verdicts
        ref = ref_of(doc, namespace)
        return Outcome("broken", [f"{source}: {ref}: cannot be checked ({type(exc).__name__}: {exc}); please "
                                  "report this document"])
    if isinstance(result, manifests.Invalid):
        return Outcome("invalid", [f"{source}: {result.ref}: {p}" for p in result.problems])
    return Outcome("valid", [f"{source}: {result.ref}: valid"])


def main(args: argparse.Namespace) -> int:
    counts = {"valid": 0, "invalid": 0, "skipped": 0, "broken": 0}
    unreadable = 0
    for path in args.paths:
        if not path.exists():
            print(f"error: {path}: no such file or directory", file=sys.stderr)
            unreadable += 1
    for path in files.manifest_files(p for p in args.paths if p.exists()):
        try:
            entries = list(files.read_documents(path))
        except files.ManifestError as exc:
            print(f"error: {exc}", file=sys.stderr)
            unreadable += 1
            continue
        for entry in entries:
            outcome = check_document(entry, args.namespace)
            counts[outcome.status] += 1
            if outcome.status != "valid" or not args.quiet:
                for line in outcome.lines:
                    print(line)
    invalid = counts["invalid"] + counts["broken"]
    print(f"{counts['valid']} valid, {invalid} invalid, {counts['skipped']} skipped (not {kinds.GROUP})"
          + (f", {unreadable} unreadable" if unreadable else ""), file=sys.stderr)
    if unreadable:
        return 2
    return 1 if invalid else 0
