"""An in-process W&B server for tests, benchmarks and the no-cluster demo.

It speaks W&B's real GraphQL shapes (``schema.graphql``, ``automations.graphql``), so the wandb SDK —
its public API and its core process behind ``wandb.init`` — and wbauto's poller work against it
unchanged, and it adds a REST control API to change its state. Re-exported here: :class:`Emulator` (the
HTTP server) and :class:`State` (the in-memory model it serves).

Nothing on the operator's runtime path imports this package, and only its HTTP server needs graphql-core:
the names are loaded on first use, and :func:`require_graphql` turns a missing graphql-core into a clear
message for the commands that run the server (``wbauto emulator``, ``wbauto demo``).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from wbauto.emulator.server import Emulator
    from wbauto.emulator.state import State

__all__ = ["Emulator", "State", "require_graphql"]

_LAZY = {"Emulator": "wbauto.emulator.server", "State": "wbauto.emulator.state"}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def require_graphql(command: str) -> None:
    """Exit with a clear message when graphql-core, which only the emulator's server needs, is missing."""
    try:
        importlib.import_module("graphql")
    except ImportError:
        raise SystemExit(f"error: `wbauto {command}` runs the W&B emulator, which needs graphql-core; install "
                         "it with `pip install graphql-core`") from None
