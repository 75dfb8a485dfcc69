"""An in-process W&B server for tests, benchmarks and the no-cluster demo.

It speaks W&B's real GraphQL shapes (``schema.graphql``), so the wandb SDK's public API and wbauto's
poller work against it unchanged, and it adds a REST control API to change its state. Re-exported
here: :class:`Emulator` (the HTTP server) and :class:`State` (the in-memory model it serves).
"""

from __future__ import annotations

from wbauto.emulator.server import Emulator
from wbauto.emulator.state import State

__all__ = ["Emulator", "State"]
