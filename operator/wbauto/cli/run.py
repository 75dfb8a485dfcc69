"""``wbauto run``: the operator — in a cluster (Kopf), or standalone on a manifest folder."""

from __future__ import annotations

import argparse
import asyncio

from wbauto import logs
from wbauto.runtime import settings as settings_mod


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, then $KUBECONFIG)")
    settings_mod.add_arguments(parser)


def main(args: argparse.Namespace) -> int:
    settings = settings_mod.from_args(args)
    logs.setup(settings.log_level, settings.log_format)
    from wbauto.handlers import operator
    from wbauto.k8s import config

    asyncio.run(operator.run(settings, config.load(args.kubeconfig)))
    return 0
