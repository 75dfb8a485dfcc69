"""``wbauto emulator``: run the in-repo W&B server in the foreground (tests, demo, benchmarks).

Prints the URL and the API key to use (``wandb.Api(api_key=KEY, overrides={"base_url": URL})``, or
``WANDB_BASE_URL``/``WANDB_API_KEY``), then serves until Ctrl-C or SIGTERM. ``--seed demo`` loads a
small realistic data set (see :mod:`wbauto.emulator.seed`).
"""

from __future__ import annotations

import argparse
import secrets
import signal
import threading
from types import FrameType

from wbauto.emulator import require_graphql, seed
from wbauto.emulator.state import State


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="address to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: any free port)")
    parser.add_argument("--api-key", help="the API key clients must send (default: a new random key)")
    parser.add_argument("--seed", choices=sorted(seed.SEEDS), help="load a ready-made data set")


def main(args: argparse.Namespace) -> int:
    require_graphql("emulator")
    from wbauto.emulator.server import Emulator

    state = State()
    if args.seed:
        seed.SEEDS[args.seed](state)
    api_key = args.api_key or secrets.token_hex(20)
    stopping = threading.Event()

    def stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    emulator = Emulator(api_key=api_key, host=args.host, port=args.port, state=state)
    try:
        emulator.start()
        print(f"W&B emulator: {emulator.url}", flush=True)
        print(f"API key: {api_key}", flush=True)
        stopping.wait()
    finally:
        emulator.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    print("stopped", flush=True)
    return 0
