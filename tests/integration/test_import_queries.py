"""``wbauto import`` reads W&B with the documents the real ``wandb`` SDK sends: recorded from the SDK talking to
the emulator (``State.record_requests``) and compared, definition by definition, with ``wbauto.wbapi.queries``
after the same fragment omissions (wbauto keeps one more: saved Launch actions)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import wandb
from graphql import DocumentNode, parse, print_ast
from wandb.automations._generated import operations

from tests.support.emulator import API_KEY, sdk_sandbox
from wbauto.emulator import Emulator, State
from wbauto.emulator.graphql_api import FEATURES
from wbauto.wbapi import queries


def normalized(document: str) -> list[str]:
    """Each definition printed canonically, in name order (the order of definitions means nothing)."""
    tree: DocumentNode = parse(document)
    return sorted(print_ast(d) for d in tree.definitions)


def fragment_names(document: str) -> set[str]:
    return {d.name.value for d in parse(document).definitions if d.kind == "fragment_definition" and d.name}


@pytest.fixture
def recorded(tmp_path: Path) -> Iterator[dict[str, str]]:
    with Emulator(api_key=API_KEY, state=State(viewer="alice")) as emu, \
            sdk_sandbox(tmp_path, base_url=emu.url, api_key=API_KEY):
        emu.state.create_project("acme", "fraud")
        api = wandb.Api(api_key=API_KEY, overrides={"base_url": emu.url})
        emu.state.record_requests()
        list(api.automations(entity="acme"))
        list(api.integrations(entity="acme"))
        list(api.automations())
        yield {r.operation: r.query for r in emu.state.recorded()}


def test_the_sdks_documents_are_wbautos(recorded: dict[str, str]) -> None:
    ours = {"GetEntityAutomations": queries.GET_ENTITY_AUTOMATIONS,
            "IntegrationsByEntity": queries.INTEGRATIONS_BY_ENTITY,
            "GetAutomationsLegacy": queries.GET_AUTOMATIONS_LEGACY}
    assert set(recorded) - {"ServerFeaturesQuery"} == set(ours)
    features = set(FEATURES)
    wbauto_omits = [n for n, f in queries.FRAGMENTS_BY_FEATURE.items() if f not in features]
    for operation, document in ours.items():
        sdk_omitted = fragment_names(document) - fragment_names(recorded[operation])
        assert sdk_omitted - set(wbauto_omits) <= {"QueueJobActionFields"}, operation
        assert normalized(queries.omit_fragments(document, sdk_omitted)) == normalized(recorded[operation]), operation


def test_the_full_documents_are_the_sdks_generated_ones() -> None:
    for ours, sdk in ((queries.GET_ENTITY_AUTOMATIONS, operations.GET_ENTITY_AUTOMATIONS_GQL),
                      (queries.GET_ENTITY_AUTOMATIONS_LEGACY, operations.GET_ENTITY_AUTOMATIONS_LEGACY_GQL),
                      (queries.GET_AUTOMATIONS_LEGACY, operations.GET_AUTOMATIONS_LEGACY_GQL),
                      (queries.INTEGRATIONS_BY_ENTITY, operations.INTEGRATIONS_BY_ENTITY_GQL)):
        assert normalized(ours) == normalized(sdk)


def test_omitting_a_fragment_removes_its_spreads() -> None:
    trimmed = queries.omit_fragments(queries.GET_ENTITY_AUTOMATIONS, ["NoOpActionFields", "AriaActionFields"])
    assert "NoOpActionFields" not in trimmed and "AriaActionFields" not in trimmed
    assert fragment_names(trimmed) == fragment_names(queries.GET_ENTITY_AUTOMATIONS) - {"NoOpActionFields",
                                                                                        "AriaActionFields"}
