"""``wbauto history``: executions, newest first — from the cluster or from a standalone state file."""

from __future__ import annotations

import argparse
import asyncio
import json
from pathlib import Path

from wbauto.api.execution import ExecutionRecord
from wbauto.cli import common
from wbauto.cli.common import history_table


def add_arguments(parser: argparse.ArgumentParser) -> None:
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--state", type=Path, metavar="FILE", help="a standalone runtime's SQLite state file")
    source.add_argument("--manifests", type=Path, metavar="DIR",
                        help="the manifest folder of a standalone runtime (uses its default state file)")
    source.add_argument("--cluster", action="store_true", help="from the cluster (the default without "
                        "--state or --manifests)")
    common.add_cluster_arguments(parser)
    parser.add_argument("-n", "--namespace", help="only this namespace")
    parser.add_argument("-a", "--automation", help="only this Automation")
    parser.add_argument("--limit", type=int, default=20, help="rows (default 20)")
    parser.add_argument("--operator-namespace", metavar="NS",
                        help="where the operator keeps its outbox journal (executions not yet written as "
                             "AutomationExecutions); default: the kubeconfig's namespace")
    parser.add_argument("--lease-name", default="wbauto-leader", help="the operator's --lease-name")
    parser.add_argument("-o", "--output", choices=("table", "wide", "json"), default="table")


async def _records(args: argparse.Namespace) -> list[ExecutionRecord]:
    if args.state or args.manifests:
        from wbauto.runtime.standalone.runtime import default_state_path
        from wbauto.runtime.standalone.store import SqliteStore

        path = args.state or default_state_path(args.manifests)
        if not path.exists():
            raise SystemExit(f"error: no state file at {path}")
        sqlite = SqliteStore(path)
        try:
            return await sqlite.history(args.namespace, args.automation, args.limit)
        finally:
            await sqlite.close()
    from wbauto.kube import client as kube
    from wbauto.runtime.cluster.store import KubeStore

    client = kube.Client(args.kubeconfig, args.context)
    try:
        await client.connect()
        store = KubeStore(client, operator_namespace=args.operator_namespace or client.namespace,
                          journal_prefix=f"{args.lease_name}-journal")
        return await store.history(args.namespace, args.automation, args.limit)
    finally:
        await client.aclose()


def main(args: argparse.Namespace) -> int:
    records = asyncio.run(_records(args))
    if args.output == "json":
        print(json.dumps([{"namespace": r.namespace, "name": r.name, "created": r.created.isoformat(),
                           "spec": r.spec.model_dump(by_alias=True, exclude_none=True, mode="json"),
                           "status": r.status.model_dump(by_alias=True, exclude_none=True, mode="json")}
                          for r in records], indent=2))
    elif records:
        print(history_table(records, wide=args.output == "wide"))
    else:
        print("no executions")
    return 0
