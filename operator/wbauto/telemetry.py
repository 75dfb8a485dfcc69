"""Prometheus metrics. Labels are bounded: automation names come from manifests (not from W&B data),
actions and outcomes are fixed sets; nothing carries URLs, ids or secret values."""

from __future__ import annotations

import contextlib

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.gc_collector import GCCollector
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
# process_* (CPU, memory, file descriptors, start time) and python_* (gc, version), as on the default registry
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)
GCCollector(registry=REGISTRY)

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)

EXECUTIONS = Counter("wbauto_executions_total", "Executions reaching a terminal status.",
                     ["automation", "action", "outcome"], registry=REGISTRY)
ATTEMPTS = Counter("wbauto_delivery_attempts_total", "Delivery attempts by result (ok, retry, fail).",
                   ["action", "result"], registry=REGISTRY)
RETRIES = Counter("wbauto_delivery_retries_total", "Attempts scheduled again after a retryable failure.",
                  ["action"], registry=REGISTRY)
ATTEMPT_SECONDS = Histogram("wbauto_delivery_attempt_seconds", "Duration of one delivery attempt.",
                            ["action"], buckets=LATENCY_BUCKETS, registry=REGISTRY)
EVENT_TO_DELIVERY = Histogram("wbauto_event_to_delivery_seconds",
                              "From the event being observed to its execution finishing.",
                              ["action"], buckets=LATENCY_BUCKETS, registry=REGISTRY)
QUEUE_DEPTH = Gauge("wbauto_queue_depth", "Pending executions (waiting or in flight).", registry=REGISTRY)
EVENTS = Counter("wbauto_events_total", "Events produced, by source and W&B event type.",
                 ["source", "type"], registry=REGISTRY)
POLL_REQUESTS = Counter("wbauto_poll_requests_total", "GraphQL requests sent to W&B by the pollers.",
                        ["scope"], registry=REGISTRY)
POLL_ERRORS = Counter("wbauto_poll_errors_total", "Poll cycles that failed (W&B unavailable, errors).",
                      ["scope"], registry=REGISTRY)
for _scope in ("project", "entity"):  # the bounded scope set, exported at 0 so rate() and alerts see a healthy W&B
    POLL_ERRORS.labels(_scope)
POLL_ITEM_ERRORS = Counter("wbauto_poll_item_errors_total", "W&B objects (collections, runs) a poll could not "
                           "compare and left as they were; the rest of the scope went on.", ["kind"], registry=REGISTRY)
POLL_SECONDS = Histogram("wbauto_poll_cycle_seconds", "Duration of one poll cycle of one scope.",
                         ["scope"], buckets=LATENCY_BUCKETS, registry=REGISTRY)
RECEIVER_REQUESTS = Counter("wbauto_receiver_requests_total", "Inbound W&B webhook requests by HTTP status.",
                            ["code"], registry=REGISTRY)
SECRET_RESOLUTIONS = Counter("wbauto_secret_resolutions_total", "Secret backend reads by result.",
                             ["backend", "result"], registry=REGISTRY)
LEADER = Gauge("wbauto_leader", "1 while this replica holds the leader Lease.", registry=REGISTRY)
AUTOMATIONS = Gauge("wbauto_automations", "Automations loaded (valid).", registry=REGISTRY)
RESOURCE_READY = Gauge("wbauto_resource_ready", "1 while the object is Ready, 0 while it is not (Reconciling or "
                       "Stalled); the series is removed when the object is deleted.",
                       ["kind", "namespace", "name"], registry=REGISTRY)
RESOURCE_STALLED = Gauge("wbauto_resource_stalled", "1 while the object is Stalled (fix its spec).",
                         ["kind", "namespace", "name"], registry=REGISTRY)
RECONCILES = Counter("wbauto_reconciles_total", "Status decisions by kind and result (ready, progressing, stalled, "
                     "error).", ["kind", "result"], registry=REGISTRY)
RECONCILE_SECONDS = Histogram("wbauto_reconcile_seconds", "Duration of one status decision (with its status write).",
                              ["kind"], buckets=LATENCY_BUCKETS, registry=REGISTRY)


def resource_decided(kind: str, namespace: str, name: str, ready: bool, stalled: bool) -> None:
    """The one place both runtimes report an object's readiness (the shared reconciler calls it)."""
    RESOURCE_READY.labels(kind, namespace, name).set(1 if ready else 0)
    RESOURCE_STALLED.labels(kind, namespace, name).set(1 if stalled else 0)


def resource_deleted(kind: str, namespace: str, name: str) -> None:
    for gauge in (RESOURCE_READY, RESOURCE_STALLED):
        with contextlib.suppress(KeyError):
            gauge.remove(kind, namespace, name)
