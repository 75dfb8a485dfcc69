"""Start the test control plane and keep it running (for development): ``python -m tests.support.devcluster``.

Prints the kubeconfig path; stops on Ctrl-C.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading

from tests.support import controlplane


def main() -> int:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with controlplane.running() as plane:
        print(f"export KUBECONFIG={plane.kubeconfig}", flush=True)
        print(f"export PATH={plane.bin_path}:$PATH", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
