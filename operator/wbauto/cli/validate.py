"""``wbauto validate FILE|DIR...``: the apiserver's admission verdict, offline, for a GitOps repo's PR CI.

Each file is read as ``kubectl`` reads it (YAML → JSON with go-yaml's rules), each wbauto document is
checked against the generated CRDs' structural schemas and CEL rules (``wbauto.admission``), and each
valid Automation's payload template is rendered for a sample event. Messages name the file, the object and
the field, as the apiserver does. Documents of other API groups are skipped. Exit status: 0 when every
wbauto document is valid, 1 when one is not, 2 on unreadable input (a missing file, invalid YAML).
``-o json`` prints one JSON object instead: every problem with its file, document index, line, object
(kind, namespace, name) and field, and the counts; the exit status is the same.
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
    parser.add_argument("-o", "--output", choices=("text", "json"), default="text",
                        help="text (default), or json: {problems: [{file, document, item, line, kind, namespace, "
                             "name, field, message}], summary: {...}}; same exit status")


@dataclass
class Outcome:
    """One document's result: ``status`` is valid, invalid, skipped or broken (the checker itself failed:
    reported, never a traceback; the fuzz suite asserts it never happens)."""

    status: str
    lines: list[str] = field(default_factory=list)
    problems: list[dict[str, Any]] = field(default_factory=list)


def problem_record(entry: files.Entry, doc: Any, namespace: str, field_path: str,
                   message: str) -> dict[str, Any]:
    """One problem for ``-o json``: where it is (file, document index, item of a List, first line of the
    document), which object (as far as the document names one) and which field."""
    kind, ns, name = ref_of(doc, namespace).split("/", 2)
    return {"file": entry.path, "document": entry.index, "item": entry.item, "line": entry.line or None,
            "kind": None if kind == "?" else kind, "namespace": ns,
            "name": None if name == "?" else name, "field": field_path or None, "message": message}


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
        return Outcome("invalid", [f"{source}: {entry.error}"],
                       [problem_record(entry, None, namespace, "", entry.error)])
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
        message = f"cannot be checked ({type(exc).__name__}: {exc}); please report this document"
        return Outcome("broken", [f"{source}: {ref}: {message}"], [problem_record(entry, doc, namespace, "", message)])
    if isinstance(result, manifests.Invalid):
        return Outcome("invalid", [f"{source}: {result.ref}: {p}" for p in result.problems],
                       [problem_record(entry, doc, namespace, p.field, p.message) for p in result.problems])
    return Outcome("valid", [f"{source}: {result.ref}: valid"])


def unreadable_record(path: Path, message: str) -> dict[str, Any]:
    return {"file": str(path), "document": None, "item": None, "line": None, "kind": None, "namespace": None,
            "name": None, "field": None, "message": message}


def main(args: argparse.Namespace) -> int:
    as_json = getattr(args, "output", "text") == "json"
    counts = {"valid": 0, "invalid": 0, "skipped": 0, "broken": 0}
    unreadable = 0
    records: list[dict[str, Any]] = []
    for path in args.paths:
        if not path.exists():
            if as_json:
                records.append(unreadable_record(path, "no such file or directory"))
            else:
                print(f"error: {path}: no such file or directory", file=sys.stderr)
            unreadable += 1
    for path in files.manifest_files(p for p in args.paths if p.exists()):
        try:
            entries = list(files.read_documents(path))
        except files.ManifestError as exc:
            if as_json:
                records.append(unreadable_record(path, str(exc).removeprefix(f"{path}: ")))
            else:
                print(f"error: {exc}", file=sys.stderr)
            unreadable += 1
            continue
        for entry in entries:
            outcome = check_document(entry, args.namespace)
            counts[outcome.status] += 1
            records.extend(outcome.problems)
            if not as_json and (outcome.status != "valid" or not args.quiet):
                for line in outcome.lines:
                    print(line)
    invalid = counts["invalid"] + counts["broken"]
    if as_json:
        summary = {"valid": counts["valid"], "invalid": invalid, "skipped": counts["skipped"],
                   "unreadable": unreadable}
        print(json.dumps({"problems": records, "summary": summary}, indent=2, ensure_ascii=False))
    else:
        print(f"{counts['valid']} valid, {invalid} invalid, {counts['skipped']} skipped (not {kinds.GROUP})"
              + (f", {unreadable} unreadable" if unreadable else ""), file=sys.stderr)
    if unreadable:
        return 2
    return 1 if invalid else 0
