"""Shared fixtures. The control plane is real (kube-apiserver + etcd built from the Go module proxy);
tests that need it use the ``cluster`` fixture and never skip: if it cannot start, they fail."""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator

import pytest

from tests.support import controlplane
from tests.support import operator as operators
from tests.support.emulator import seed_scopes
from tests.support.manifests import automation
from tests.support.operator import OperatorProcess
from wbauto.emulator.server import Emulator

WANDB_KEY = "session" + "0" * 33

_counter = itertools.count()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failing test's report carries the end of the log of each operator it started (CI keeps no files)."""
    outcome = yield
    report = outcome.get_result()
    if call.when == "setup":
        operators.STARTED[:] = [p for p in operators.STARTED if p.alive()]  # module-scoped ones stay
    if report.failed:
        for proc in operators.STARTED:
            lines = [line for line in proc.logs().splitlines() if '"level": "debug"' not in line]
            report.sections.append((f"operator log: {proc.name} (last 60 lines above debug)", "\n".join(lines[-60:])))


@pytest.fixture(scope="session")
def cluster() -> Iterator[controlplane.ControlPlane]:
    with controlplane.running() as plane:
        yield plane


@pytest.fixture(scope="session")
def wandb() -> Iterator[Emulator]:
    """A W&B emulator the operators under test poll (the default test scope acme/proj exists)."""
    with Emulator(api_key=WANDB_KEY) as emu:
        seed_scopes(emu, [automation()])
        yield emu


@pytest.fixture
def namespace(cluster: controlplane.ControlPlane, request: pytest.FixtureRequest) -> str:
    """A fresh namespace per test (namespaces are never deleted: no controller-manager finalizes them)."""
    base = request.node.name.lower().replace("_", "-").replace("[", "-").replace("]", "")
    name = f"t{next(_counter)}-{''.join(c for c in base if c.isalnum() or c == '-')}"[:63].rstrip("-")
    cluster.kubectl("create", "namespace", name)
    return name


@pytest.fixture
def operator(
    cluster: controlplane.ControlPlane, namespace: str, tmp_path: os.PathLike[str], wandb: Emulator
) -> Iterator[OperatorProcess]:
    """``wbauto run`` watching the test's namespace, polling the emulator, private targets allowed."""
    proc = OperatorProcess(cluster, namespaces=[namespace], workdir=tmp_path, wandb=wandb)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()
