"""Secret resolution latency per backend, against the loopback test servers.

    python -m benchmarks.secrets_latency [--runs 30] [--cached-runs 2000] [--no-vault]

Starts the servers of ``tests.support.secretservers`` (and, for Vault, whose token lives in a
Kubernetes Secret, the real control plane), then measures per backend:

* cold   a new Resolver (new backend, new SDK client: TLS handshake, credential chain) and its first
         resolution
* warm   the same Resolver after ``invalidate``: a backend call on a reused client
* cached a Resolver cache hit

and prints p50/p99 in milliseconds. Loopback numbers: they show the operator's own overhead and the
SDKs' client setup cost, not cloud latency.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import math
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from tests.support import controlplane
from tests.support.secretservers import aws
from tests.support.secretservers.stack import GCP_PROJECT, Stack, apply_env, running

from wbauto.api.secretreference import SecretReferenceSpec
from wbauto.kube import client as kube_client
from wbauto.secrets.base import Context
from wbauto.secrets.resolver import Resolver

NAMESPACE = "bench"


def percentile(samples: list[float], q: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(q / 100 * len(ordered)) - 1)]


def seed(stack: Stack) -> dict[str, dict[str, Any]]:
    """One secret per cloud backend; returns the SecretReference specs."""
    stack.moto.client("secretsmanager").create_secret(Name="bench", SecretString="aws-value")
    stack.secret_manager.add_version(GCP_PROJECT, "bench", b"gcp-value")
    stack.keyvault.set_secret("bench", "azure-value")
    return {
        "aws": {"aws": {"secretId": "bench", "region": aws.REGION, "endpoint": stack.moto.endpoint}},
        "gcp": {"gcp": {"project": GCP_PROJECT, "secret": "bench", "endpoint": stack.secret_manager.endpoint}},
        "azure": {"azure": {"vaultUrl": stack.keyvault.url, "name": "bench"}},
    }


@contextlib.contextmanager
def vault_in_cluster(stack: Stack) -> Iterator[dict[str, Any]]:
    """The control plane, a Secret with a read-only Vault token, and the Vault spec."""
    with controlplane.running() as cluster:
        root = stack.bao.root()
        root.sys.create_or_update_policy("bench", 'path "secret/data/bench" { capabilities = ["read"] }')
        token = root.auth.token.create(policies=["bench"], ttl="1h")["auth"]["client_token"]
        root.secrets.kv.v2.create_or_update_secret(path="bench", secret={"key": "vault-value"})
        cluster.kubectl("create", "namespace", NAMESPACE)
        cluster.kubectl("create", "secret", "generic", "vault-token", "-n", NAMESPACE, "--from-file=token=/dev/stdin",
                        input=token)
        yield {"kubeconfig": str(cluster.kubeconfig), "spec": {"vault": {
            "address": stack.bao.address, "caBundle": stack.bao.ca_pem, "path": "bench", "key": "key",
            "auth": {"token": {"secretRef": {"name": "vault-token", "key": "token"}}}}}}


async def close(resolver: Resolver, backend: str) -> None:
    aclose = getattr(resolver.backend(backend), "aclose", None)
    if aclose is not None:
        await aclose()


async def measure(backend: str, spec: dict[str, Any], kube: Any, runs: int, cached_runs: int) -> dict[str, list[float]]:
    parsed = SecretReferenceSpec.model_validate(spec)

    def lookup(namespace: str, name: str) -> SecretReferenceSpec:
        return parsed

    def new() -> Resolver:
        return Resolver(Context(kube=kube), lookup)

    async def timed(resolver: Resolver, before: Callable[[], None] = lambda: None) -> float:
        before()
        start = time.perf_counter()
        await resolver.resolve(NAMESPACE, backend)
        return (time.perf_counter() - start) * 1000

    samples: dict[str, list[float]] = {"cold": [], "warm": [], "cached": []}
    for _ in range(runs):
        resolver = new()
        samples["cold"].append(await timed(resolver))
        await close(resolver, backend)
    resolver = new()
    await timed(resolver)
    for _ in range(runs):
        samples["warm"].append(await timed(resolver, lambda: resolver.invalidate(NAMESPACE, backend)))
    for _ in range(cached_runs):
        samples["cached"].append(await timed(resolver))
    await close(resolver, backend)
    return samples


def table(results: dict[str, dict[str, list[float]]], runs: int, cached_runs: int) -> str:
    header = ["backend", "cold p50", "cold p99", "warm p50", "warm p99", "cached p50", "cached p99"]
    rows = [header]
    for backend, samples in results.items():
        row = [backend]
        for kind in ("cold", "warm", "cached"):
            row += [f"{percentile(samples[kind], 50):.3f}", f"{percentile(samples[kind], 99):.3f}"]
        rows.append(row)
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [" | ".join(cell.ljust(widths[i]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(r))
             for r in rows]
    lines.insert(1, "-+-".join("-" * w for w in widths))
    note = f"milliseconds; cold and warm over {runs} runs, cached over {cached_runs} runs"
    return "\n".join([*lines, note])


async def bench(stack: Stack, specs: dict[str, dict[str, Any]], kubeconfig: str | None, runs: int,
                cached_runs: int) -> dict[str, dict[str, list[float]]]:
    kube = kube_client.Client(kubeconfig) if kubeconfig else None
    try:
        return {backend: await measure(backend, spec, kube, runs, cached_runs) for backend, spec in specs.items()}
    finally:
        if kube is not None:
            await kube.aclose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=30, help="cold and warm resolutions per backend")
    parser.add_argument("--cached-runs", type=int, default=2000, help="cache hits per backend")
    parser.add_argument("--no-vault", action="store_true", help="skip Vault (needs the control plane)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="wbauto-bench-") as tmp, running(Path(tmp)) as stack:
        apply_env(stack.env())  # before the first gRPC channel: the test CA is read once per process
        specs = seed(stack)
        with contextlib.ExitStack() as extra:
            kubeconfig = None
            if not args.no_vault:
                vault = extra.enter_context(vault_in_cluster(stack))
                specs["vault"], kubeconfig = vault["spec"], vault["kubeconfig"]
            results = asyncio.run(bench(stack, specs, kubeconfig, args.runs, args.cached_runs))
    print(table(results, args.runs, args.cached_runs))


if __name__ == "__main__":
    main()
