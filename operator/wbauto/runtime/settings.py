"""Operator settings: from command-line flags, falling back to ``WBAUTO_*`` environment variables
(the Helm chart sets those)."""

from __future__ import annotations

import argparse
import os
from dataclasses import dataclass

from wbauto.actions import egress
from wbauto.actions.base import DEFAULT_POLICY
from wbauto.api.schema import parse_duration
from wbauto.engine import retry
from wbauto.errors import ConfigError


def _env(name: str, default: str = "") -> str:
    return os.environ.get(f"WBAUTO_{name}", default)


def _flag(name: str, default: bool = False) -> bool:
    value = _env(name)
    return default if value == "" else value.lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class Settings:
    namespaces: tuple[str, ...] = ()
    allow_private_targets: bool = False
    allow_cidrs: tuple[str, ...] = ()
    wandb_base_url: str = "https://api.wandb.ai"
    wandb_app_url: str = "https://wandb.ai"
    poll_interval: float = 30.0
    retention_count: int = 100
    retention_age: float = 7 * 24 * 3600.0
    workers: int = 16
    log_level: str = "info"
    log_format: str = "json"
    metrics_address: str = "0.0.0.0:8080"
    health_address: str = "0.0.0.0:8081"
    receiver_address: str = ""
    receiver_secret_ref: str = ""
    receiver_token_ref: str = ""
    wandb_api_key_file: str = ""
    state_sync: str = "normal"
    leader_election: bool = True
    lease_name: str = "wbauto-leader"
    lease_namespace: str = ""
    lease_duration: float = 15.0
    retry_max_attempts: int = DEFAULT_POLICY.max_attempts
    retry_backoff: float = DEFAULT_POLICY.backoff
    retry_max_backoff: float = DEFAULT_POLICY.max_backoff

    def wandb_api_key(self) -> str | None:
        """The poller's W&B API key: the key file, else $WANDB_API_KEY; None disables polling."""
        if self.wandb_api_key_file:
            with open(self.wandb_api_key_file, encoding="utf-8") as f:
                return f.read().strip() or None
        return os.environ.get("WANDB_API_KEY") or None

    @property
    def egress_policy(self) -> egress.Policy:
        return egress.Policy.build(self.allow_private_targets, self.allow_cidrs)

    @property
    def retry_policy(self) -> retry.Policy:
        """Retries of the actions without a retry policy of their own (every action but a webhook)."""
        return retry.Policy(self.retry_max_attempts, self.retry_backoff, self.retry_max_backoff)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("operator settings (flags override WBAUTO_* environment variables)")
    g.add_argument("--namespace", "-n", action="append", dest="namespaces", metavar="NS",
                   help="watch only these namespaces (repeatable; env WBAUTO_NAMESPACES=a,b); default: all")
    g.add_argument("--allow-private-targets", action="store_true", default=None,
                   help="allow webhook targets on private/loopback addresses (env WBAUTO_ALLOW_PRIVATE_TARGETS)")
    g.add_argument("--allow-cidr", action="append", dest="allow_cidrs", metavar="CIDR",
                   help="always allow targets in this network (env WBAUTO_ALLOW_CIDRS=a,b)")
    g.add_argument("--wandb-base-url", help="W&B API base URL (env WBAUTO_WANDB_BASE_URL)")
    g.add_argument("--wandb-app-url", help="W&B app URL for links in messages (env WBAUTO_WANDB_APP_URL)")
    g.add_argument("--poll-interval", help="W&B poll interval, e.g. 30s (env WBAUTO_POLL_INTERVAL)")
    g.add_argument("--retention-count", type=int, help="executions kept per automation "
                                                       "(env WBAUTO_RETENTION_COUNT, default 100)")
    g.add_argument("--retention-age", help="executions older than this are deleted, e.g. 168h "
                                           "(env WBAUTO_RETENTION_AGE)")
    g.add_argument("--workers", type=int, help="concurrent deliveries (env WBAUTO_WORKERS, default 16)")
    g.add_argument("--log-level", help="debug, info, warning, error (env WBAUTO_LOG_LEVEL)")
    g.add_argument("--log-format", choices=("json", "text"), help="log format (env WBAUTO_LOG_FORMAT)")
    g.add_argument("--metrics-address", help="host:port for /metrics; empty disables (env WBAUTO_METRICS_ADDRESS)")
    g.add_argument("--health-address", help="host:port for /healthz and /readyz (env WBAUTO_HEALTH_ADDRESS)")
    g.add_argument("--receiver-address", help="host:port for inbound W&B webhooks; empty disables "
                                              "(env WBAUTO_RECEIVER_ADDRESS)")
    g.add_argument("--receiver-secret-ref", metavar="NS/NAME",
                   help="SecretReference verifying X-Wandb-Signature of inbound deliveries "
                        "(env WBAUTO_RECEIVER_SECRET_REF)")
    g.add_argument("--receiver-token-ref", metavar="NS/NAME",
                   help="SecretReference of the bearer token inbound deliveries must carry "
                        "(env WBAUTO_RECEIVER_TOKEN_REF)")
    g.add_argument("--wandb-api-key-file", metavar="FILE",
                   help="file holding the W&B API key (default: env WANDB_API_KEY)")
    g.add_argument("--state-sync", choices=("normal", "full"),
                   help="standalone state file: fsync every commit (full) or not (normal, default; see docs)")
    g.add_argument("--no-leader-election", dest="leader_election", action="store_false", default=None,
                   help="run without a Lease (a single replica only)")
    g.add_argument("--lease-namespace", help="namespace of the leader Lease (env WBAUTO_LEASE_NAMESPACE)")
    g.add_argument("--lease-duration", help="leader Lease duration, e.g. 15s: a standby takes over within it "
                                            "(env WBAUTO_LEASE_DURATION)")
    g.add_argument("--retry-max-attempts", type=int, metavar="N",
                   help="attempts in total of an action without its own retry policy (slack, launch, "
                        "kubernetesJob; webhooks follow their Webhook's retry) (env WBAUTO_RETRY_MAX_ATTEMPTS, "
                        "default 5)")
    g.add_argument("--retry-backoff", metavar="D", help="their delay before the first retry, doubling "
                                                        "(env WBAUTO_RETRY_BACKOFF, default 2s)")
    g.add_argument("--retry-max-backoff", metavar="D", help="their longest delay between attempts "
                                                            "(env WBAUTO_RETRY_MAX_BACKOFF, default 60s)")


def from_args(args: argparse.Namespace) -> Settings:
    def pick(attr: str, env: str, default: str) -> str:
        value = getattr(args, attr, None)
        return str(value) if value is not None else _env(env, default)

    namespaces = tuple(getattr(args, "namespaces", None) or [n for n in _env("NAMESPACES").split(",") if n])
    cidrs = tuple(getattr(args, "allow_cidrs", None) or [c for c in _env("ALLOW_CIDRS").split(",") if c])
    allow_private = getattr(args, "allow_private_targets", None)
    leader = getattr(args, "leader_election", None)
    attempts = int(pick("retry_max_attempts", "RETRY_MAX_ATTEMPTS", str(DEFAULT_POLICY.max_attempts)))
    backoff = parse_duration(pick("retry_backoff", "RETRY_BACKOFF", "2s")).total_seconds()
    max_backoff = parse_duration(pick("retry_max_backoff", "RETRY_MAX_BACKOFF", "60s")).total_seconds()
    if not 1 <= attempts <= 100 or not 0 < backoff <= max_backoff:
        raise ConfigError("retry settings: --retry-max-attempts must be 1 to 100 (as a Webhook's maxAttempts) and "
                          "--retry-backoff longer than 0s and not longer than --retry-max-backoff",
                          reason="InvalidSetting")
    return Settings(
        namespaces=namespaces,
        allow_private_targets=_flag("ALLOW_PRIVATE_TARGETS") if allow_private is None else allow_private,
        allow_cidrs=cidrs,
        wandb_base_url=pick("wandb_base_url", "WANDB_BASE_URL", "https://api.wandb.ai").rstrip("/"),
        wandb_app_url=pick("wandb_app_url", "WANDB_APP_URL", "https://wandb.ai").rstrip("/"),
        poll_interval=parse_duration(pick("poll_interval", "POLL_INTERVAL", "30s")).total_seconds(),
        retention_count=int(pick("retention_count", "RETENTION_COUNT", "100")),
        retention_age=parse_duration(pick("retention_age", "RETENTION_AGE", "168h")).total_seconds(),
        workers=int(pick("workers", "WORKERS", "16")),
        log_level=pick("log_level", "LOG_LEVEL", "info"),
        log_format=pick("log_format", "LOG_FORMAT", "json"),
        metrics_address=pick("metrics_address", "METRICS_ADDRESS", "0.0.0.0:8080"),
        health_address=pick("health_address", "HEALTH_ADDRESS", "0.0.0.0:8081"),
        receiver_address=pick("receiver_address", "RECEIVER_ADDRESS", ""),
        receiver_secret_ref=pick("receiver_secret_ref", "RECEIVER_SECRET_REF", ""),
        receiver_token_ref=pick("receiver_token_ref", "RECEIVER_TOKEN_REF", ""),
        wandb_api_key_file=pick("wandb_api_key_file", "WANDB_API_KEY_FILE", ""),
        state_sync=pick("state_sync", "STATE_SYNC", "normal"),
        leader_election=_flag("LEADER_ELECTION", True) if leader is None else leader,
        lease_namespace=pick("lease_namespace", "LEASE_NAMESPACE", ""),
        lease_duration=parse_duration(pick("lease_duration", "LEASE_DURATION", "15s")).total_seconds(),
        retry_max_attempts=attempts,
        retry_backoff=backoff,
        retry_max_backoff=max_backoff,
    )
