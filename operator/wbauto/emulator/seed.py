"""Ready-made data sets for the emulator (``wbauto emulator --seed NAME``).

``demo``: team ``acme`` in organization ``acme-org``; project ``acme/mnist`` with a ``model``
collection ``classifier`` (v0..v2, ``production`` on v1, ``best`` on v2); the registry
``wandb-registry-model`` with v1 linked into ``mnist-classifier`` as ``production``; a finished and a
running run with history; the run queue ``acme/model-registry/gpu``; a team webhook ``deploy-hook`` and a
Slack channel ``#ml-alerts`` for ``acme``; and automations stored as the wandb SDK's
``create_automation`` stores them: a webhook when ``production`` is added in acme/mnist, a Slack message
when a version is linked into the registry, nothing (a no-op) when a run's average loss over 5 steps
drops below 0.1, and a webhook when a ``train`` run fails.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable

from wbauto.emulator.state import State


def demo(state: State) -> None:
    state.create_organization("acme-org", teams=["acme"])
    state.create_registry("acme-org", "model")

    train = state.create_run("acme", "mnist", run_id="train-1", display_name="brisk-river-1", user="alice",
                             config={"lr": 0.001, "epochs": 20, "batch_size": 64})
    state.log_history("acme", "mnist", train.run_id, [
        {"epoch": e, "loss": round(2.3 * math.exp(-e / 6), 4), "acc": round(1 - 0.9 * math.exp(-e / 5), 4)}
        for e in range(20)
    ])
    state.set_run_state("acme", "mnist", train.run_id, "finished")
    sweep = state.create_run("acme", "mnist", run_id="train-2", display_name="quiet-meadow-2", user="bob",
                             config={"lr": 0.01, "epochs": 20, "batch_size": 128})
    state.log_history("acme", "mnist", sweep.run_id, [{"epoch": e, "loss": 2.0 - 0.1 * e} for e in range(5)])

    versions = [
        state.log_artifact("acme", "mnist", "classifier", metadata={"acc": acc, "epoch": 5 * (index + 1)},
                           run=train.run_id)
        for index, acc in enumerate((0.91, 0.95, 0.97))
    ]
    state.add_alias("acme", "mnist", "classifier", "v1", "production", author="alice")
    state.add_alias("acme", "mnist", "classifier", "v2", "best", author="alice")
    state.add_tag("acme", "mnist", "classifier", "v2", "candidate", author="bob")
    state.add_collection_tag("acme", "mnist", "classifier", "vision", author="alice")

    state.link_artifact(versions[1].artifact_id, entity="acme-org", project="wandb-registry-model",
                        collection="mnist-classifier", aliases=["production"], author="alice")

    state.create_run_queue("acme", "model-registry", "gpu", author="alice")
    automations(state)


def automations(state: State) -> None:
    """Integrations and triggers of the demo data set, their filters in the exact shapes the SDK sends."""
    hook = state.automations.create_webhook_integration(  # the refs name team secrets; they hold no value
        "acme", "deploy-hook", "https://deploy.example.com/hooks/wandb",
        secret_ref="DEPLOY_SIGNING_SECRET", access_token_ref="DEPLOY_TOKEN")  # noqa: S106
    slack = state.automations.create_slack_integration("acme", "#ml-alerts", "acme")
    mnist, registry = state.project("acme", "mnist"), state.project("acme-org", "wandb-registry-model")
    assert mnist is not None and registry is not None
    webhook = {"genericWebhookActionInput": {"integrationID": hook.id, "requestPayload": json.dumps(
        {"event_type": "${event_type}", "artifact": "${artifact_version_string}", "author": "${event_author}"})}}
    no_filter = '{"$and":[]}'
    state.automations.create_trigger(
        name="deploy-on-production", description="Deploy the model that gets the production alias", enabled=True,
        scope_type="PROJECT", scope_id=mnist.id, event_type="ADD_ARTIFACT_ALIAS",
        event_filter={"$or": [{"$and": [{"alias": {"$regex": "^production$"}}]}]},
        action_type="GENERIC_WEBHOOK", action_config=webhook)
    state.automations.create_trigger(
        name="registry-link-to-slack", enabled=True, scope_type="PROJECT", scope_id=registry.id,
        event_type="LINK_MODEL", event_filter={"$or": [{"$and": []}]}, action_type="NOTIFICATION",
        action_config={"notificationActionInput": {"integrationID": slack.id, "title": "New model in the registry",
                                                   "message": "${artifact_version_string}", "severity": "INFO"}})
    state.automations.create_trigger(
        name="loss-below-0.1", enabled=False, scope_type="PROJECT", scope_id=mnist.id, event_type="RUN_METRIC",
        event_filter={"run_filter": no_filter, "run_metric_filter": {"threshold_filter": {
            "name": "loss", "agg_op": "AVERAGE", "window_size": 5, "cmp_op": "$lt", "threshold": 0.1}}},
        action_type="NO_OP", action_config={"noOpActionInput": {"noOp": True}})
    state.automations.create_trigger(
        name="failed-training-run", enabled=True, scope_type="PROJECT", scope_id=mnist.id, event_type="RUN_STATE",
        event_filter={"run_filter": '{"$and":[{"display_name":{"$contains":"train"}}]}',
                      "run_state_filter": {"states": ["FAILED"]}},
        action_type="GENERIC_WEBHOOK", action_config=webhook)


SEEDS: dict[str, Callable[[State], None]] = {"demo": demo}
