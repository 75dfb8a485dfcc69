"""Helpers shared by the offline commands: load manifests into a world, format tables."""

from __future__ import annotations

import argparse
import datetime
import sys
from collections.abc import Sequence
from pathlib import Path

from wbauto.admission import files
from wbauto.api import kinds, manifests
from wbauto.api.execution import ExecutionRecord
from wbauto.runtime.world import World


def load_world(paths: Sequence[Path], namespace: str) -> World:
    """Every valid wbauto object under ``paths``; invalid ones are reported on stderr and skipped."""
    world = World()
    for path in files.manifest_files(paths):
        try:
            entries = list(files.read_documents(path))
        except files.ManifestError as exc:
            print(f"warning: {exc}", file=sys.stderr)
            continue
        for entry in entries:
            source, doc = entry.source, entry.value
            if entry.error is not None:
                print(f"warning: {source}: {entry.error}", file=sys.stderr)
                continue
            if not manifests.is_ours(doc) or doc.get("kind") == kinds.AUTOMATION_EXECUTION.kind:
                continue
            if isinstance(doc.get("metadata"), dict):
                doc["metadata"].setdefault("namespace", namespace)
            key = world.upsert(doc)
            if key in world.invalid:
                problems = "; ".join(str(p) for p in world.invalid[key].problems)
                print(f"warning: {source}: {world.invalid[key].ref}: {problems}", file=sys.stderr)
    return world


def pick(world: World, kind: str, name: str | None, namespace: str) -> manifests.Resource:
    """The one object of ``kind`` (named ``name``: in ``namespace``, else in any namespace)."""
    candidates = [r for k, r in world.objects.items() if k[0] == kind and (name is None or k[2] == name)]
    if name is not None and len(candidates) > 1:
        candidates = [r for r in candidates if r.namespace == namespace] or candidates
    if not candidates:
        raise SystemExit(f"error: no valid {kind}" + (f" named {namespace}/{name}" if name else "") + " found")
    if len(candidates) > 1:
        names = ", ".join(f"{r.namespace}/{r.name}" for r in candidates)
        raise SystemExit(f"error: several {kind}s found ({names}); pick one by name")
    return candidates[0]


def table(rows: Sequence[Sequence[str]], headers: Sequence[str]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def _ago(t: datetime.datetime) -> str:
    seconds = int((datetime.datetime.now(datetime.UTC) - t).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def history_table(records: Sequence[ExecutionRecord], wide: bool = False) -> str:
    headers = ["TIME", "AGE", "AUTOMATION", "EVENT", "STATUS", "CODE", "ATTEMPTS", "TARGET"]
    if wide:
        headers += ["ERROR"]
    rows = []
    for r in records:
        event = r.spec.event
        detail = event.alias or event.tag or (event.run.state if event.run and event.type.value == "RUN_STATE" else "")
        row = [r.created.astimezone(datetime.UTC).strftime("%Y-%m-%d %H:%M:%S"), _ago(r.created),
               f"{r.namespace}/{r.automation}", event.type.value + (f" {detail}" if detail else ""),
               r.status.phase.value, str(r.status.response_code or "-"), str(r.status.attempts),
               r.spec.action.target[:60]]
        if wide:
            row.append((r.status.error or "")[:80])
        rows.append(row)
    return table(rows, headers)


def add_cluster_arguments(parser: argparse.ArgumentParser, what: str = "") -> None:
    """``--kubeconfig`` and ``--context``, as kubectl reads them, on every command that reaches a cluster."""
    suffix = f"; {what}" if what else ""
    parser.add_argument("--kubeconfig", metavar="FILE",
                        help="kubeconfig file (default: $KUBECONFIG, several files joined by ':', else the "
                             f"in-cluster service account, else ~/.kube/config{suffix})")
    parser.add_argument("--context", metavar="NAME", help="kubeconfig context (default: the current context)")
