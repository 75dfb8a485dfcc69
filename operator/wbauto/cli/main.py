"""``wbauto`` command line: one subcommand per module, imported only when used (fast start-up)."""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from importlib import metadata

COMMANDS = {
    "run": ("wbauto.cli.run", "run the operator (in-cluster via Kopf, or standalone with --manifests)"),
    "crds": ("wbauto.cli.crds", "generate the CustomResourceDefinitions from the models"),
    "validate": ("wbauto.cli.validate", "validate manifests offline, as the apiserver would"),
    "render": ("wbauto.cli.render", "preview an Automation's payload for a sample event"),
    "test-webhook": ("wbauto.cli.testwebhook", "send a test payload through a Webhook (W&B's Test button)"),
    "history": ("wbauto.cli.history", "list executions, newest first"),
    "import": ("wbauto.cli.importer", "write manifests for a W&B server's automations, webhooks and Slack channels"),
    "demo": ("wbauto.cli.demo", "run the no-cluster demo: emulator, receiver and engine"),
    "emulator": ("wbauto.cli.emulator", "run the W&B server emulator"),
}


def package_version() -> str:
    """The installed package's version: pyproject.toml's, which tools/image.sh also writes into the
    image's org.opencontainers.image.version label."""
    try:
        return metadata.version("wbauto")
    except metadata.PackageNotFoundError:  # running from a source tree that was never installed
        return "0+unknown"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="wbauto", description="W&B Automations as Kubernetes resources.")
    parser.add_argument("--version", action="version", version=f"wbauto {package_version()}",
                        help="print the version (the one the image's OCI label carries) and exit")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in COMMANDS.items():
        sub = subs.add_parser(name, help=help_text, description=help_text)
        if only is None or only == name:
            importlib.import_module(module).add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in args_list if not a.startswith("-")), None)
    parser = build_parser(command if command in COMMANDS else None)
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.main(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
