"""Ready-made data sets for the emulator (``wbauto emulator --seed NAME``).

``demo``: team ``acme`` in organization ``acme-org``; project ``acme/mnist`` with a ``model``
collection ``classifier`` (v0..v2, ``production`` on v1, ``best`` on v2); the registry
``wandb-registry-model`` with v1 linked into ``mnist-classifier`` as ``production``; a finished and a
running run with history; and the run queue ``acme/model-registry/gpu``.
"""

from __future__ import annotations

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


SEEDS: dict[str, Callable[[State], None]] = {"demo": demo}
