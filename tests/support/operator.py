"""Run ``wbauto run`` as a real subprocess against the test control plane."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tests.support.controlplane import ControlPlane, free_port, wait_until

STARTED: list[OperatorProcess] = []  # started during the current test: their logs go into a failure report


class OperatorProcess:
    def __init__(self, cluster: ControlPlane, namespaces: Sequence[str], workdir: Any,
                 extra_args: Sequence[str] = (), env: dict[str, str] | None = None,
                 allow_private: bool = True, name: str = "operator", wandb: Any = None) -> None:
        self.cluster = cluster
        self.namespaces = list(namespaces)
        self.workdir = Path(workdir)
        self.extra_env = dict(env or {})
        if wandb is not None:  # an Emulator: the operator polls it as its W&B server
            self.extra_env.setdefault("WANDB_API_KEY", wandb.api_key)
            extra_args = ["--wandb-base-url", wandb.url, "--poll-interval", "500ms", *extra_args]
        self.extra_args = list(extra_args)
        self.allow_private = allow_private
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = self.workdir / f"{name}.log"
        self.metrics_port = free_port()
        self.health_port = free_port()

    def start(self) -> None:
        args = [sys.executable, "-m", "wbauto", "run", "--log-format", "json", "--log-level", "debug",
                "--metrics-address", f"127.0.0.1:{self.metrics_port}",
                "--health-address", f"127.0.0.1:{self.health_port}"]
        for ns in self.namespaces:
            args += ["-n", ns]
        if self.allow_private:
            args.append("--allow-private-targets")
        args += self.extra_args
        env = {**self.cluster.env(), **self.extra_env}
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(args, stdout=self._log, stderr=subprocess.STDOUT, env=env)
        STARTED.append(self)

    def logs(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill(self) -> None:
        """SIGKILL: no cleanup, as a crash or an OOM kill would leave things."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if hasattr(self, "_log"):
            self._log.close()
        if os.environ.get("WBAUTO_TEST_SHOW_LOGS"):
            print(self.logs())

    def wait_for_log(self, text: str, timeout: float = 30) -> None:
        wait_until(lambda: text in self.logs(), timeout, f"operator log line containing {text!r}")
