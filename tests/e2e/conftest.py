"""End-to-end fixtures: a fresh W&B emulator per test with the scope most tests watch."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.standalone import API_KEY
from wbauto.emulator.server import Emulator


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """acme/fraud with one model version (fraud-model v0, by alice)."""
    with Emulator(api_key=API_KEY) as emu:
        emu.state.create_project("acme", "fraud")
        emu.state.log_artifact("acme", "fraud", "fraud-model", author="alice")
        yield emu
