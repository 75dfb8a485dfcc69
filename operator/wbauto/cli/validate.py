"""``wbauto validate FILE|DIR...``: the admission checks, offline, for a GitOps repo's PR CI.

Every wbauto document is parsed with the same models the CRDs are generated from; messages name
the object and the field, as the apiserver does. Documents of other API groups are skipped. Exit
status: 0 when every wbauto document is valid, 1 otherwise, 2 on unreadable input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from wbauto.api import kinds, manifests
from wbauto.engine import checks


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", type=Path, metavar="FILE|DIR")
    parser.add_argument("-n", "--namespace", default="default",
                        help="namespace for documents without one (default: default)")
    parser.add_argument("-q", "--quiet", action="store_true", help="print only problems")


def main(args: argparse.Namespace) -> int:
    valid = invalid = skipped = 0
    try:
        files = manifests.manifest_files(args.paths)
        for path in files:
            for source, doc in manifests.read_documents(path):
                if not manifests.is_ours(doc):
                    skipped += 1
                    continue
                result = manifests.parse(doc, source=source, default_namespace=args.namespace)
                if isinstance(result, manifests.Resource) and result.kind is kinds.AUTOMATION:
                    problems = checks.automation(result.spec, result.name)  # type: ignore[arg-type]
                    if problems:
                        result = manifests.Invalid(result.ref, source, problems)
                if isinstance(result, manifests.Invalid):
                    invalid += 1
                    for problem in result.problems:
                        print(f"{source}: {result.ref}: {problem}")
                else:
                    valid += 1
                    if not args.quiet:
                        print(f"{source}: {result.ref}: valid")
    except manifests.ManifestError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    missing = [p for p in args.paths if not p.exists()]
    for p in missing:
        print(f"error: {p}: no such file or directory", file=sys.stderr)
    print(f"{valid} valid, {invalid} invalid, {skipped} skipped (not {kinds.GROUP})", file=sys.stderr)
    if missing:
        return 2
    return 1 if invalid else 0
