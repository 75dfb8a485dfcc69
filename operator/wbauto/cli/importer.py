"""``wbauto import --wandb-url URL [--entity E ...] -o DIR``: W&B's automations and integrations as one folder of
manifests.

Reads with the GraphQL documents the wandb SDK sends for ``Api().automations()`` and ``Api().integrations()``
(``wbauto.wbapi.queries``), looks up what a saved automation does not say (the entity, project and
collection names behind a scope id, the queue behind a Launch action, the team secrets a webhook uses), converts
(``wbauto.wbapi.convert``) and writes ``DIR/<namespace>/{automations,webhooks,secretreferences}.yaml``: one
namespace per W&B entity (``--namespace`` puts everything in one). Prints a table of what was converted, what
was converted with a difference (and what), and what was not (and why). The API key comes from
``--wandb-api-key-file`` or ``$WANDB_API_KEY``, as the operator's.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import textwrap
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import yaml

from wbauto.admission.review import admit
from wbauto.api import kinds, manifests
from wbauto.api.automation import REGISTRY_PREFIX
from wbauto.cli.common import table
from wbauto.engine import checks
from wbauto.errors import SourceError
from wbauto.wbapi import convert, queries
from wbauto.wbapi.client import Client, GraphQLError

FILES = {kinds.AUTOMATION.kind: "automations.yaml", kinds.WEBHOOK.kind: "webhooks.yaml",
         kinds.SECRET_REFERENCE.kind: "secretreferences.yaml"}
PER_PAGE = 50


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--wandb-url", default=os.environ.get("WANDB_BASE_URL", "https://api.wandb.ai"),
                        help="W&B server base URL (default: env WANDB_BASE_URL, else https://api.wandb.ai)")
    parser.add_argument("--entity", action="append", default=[], metavar="E",
                        help="entity (team or organization) whose automations to read; repeatable. Default: the "
                             "automations of every project the API key's user can see (what Api().automations() "
                             "reads; entity-scoped automations are listed only with --entity)")
    parser.add_argument("-o", "--output", required=True, type=Path, metavar="DIR", help="folder to write")
    parser.add_argument("-n", "--namespace", help="namespace of every object (default: one per W&B entity, named "
                                                  "after it)")
    parser.add_argument("--wandb-api-key-file", metavar="FILE", help="file holding the W&B API key (default: env "
                                                                     "WANDB_API_KEY)")
    parser.add_argument("--wandb-ca-file", metavar="FILE", help="PEM CA bundle for the W&B server's certificate")
    parser.add_argument("--force", action="store_true", help="overwrite files of an earlier import in DIR")


def api_key(key_file: str | None) -> str | None:
    """The key file, else $WANDB_API_KEY (as the operator reads it)."""
    if key_file:
        return Path(key_file).read_text(encoding="utf-8").strip() or None
    return os.environ.get("WANDB_API_KEY") or None


def main(args: argparse.Namespace) -> int:
    key = api_key(args.wandb_api_key_file)
    if not key:
        print("error: no W&B API key: set WANDB_API_KEY or pass --wandb-api-key-file", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(fetch_and_convert(args.wandb_url, key, args.entity, args.namespace, args.wandb_ca_file))
    except SourceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    try:
        written = write(result, args.output, force=args.force)
    except FileExistsError as exc:
        print(f"error: {exc} exists (from an earlier import?); pass --force to overwrite it", file=sys.stderr)
        return 2
    print(summary(result))
    for path in written:
        print(f"wrote {path}", file=sys.stderr)
    return 0


# --- reading W&B -----------------------------------------------------------------------------------------


class Reader:
    """W&B's automations, integrations and the names behind their ids, read with one client."""

    def __init__(self, client: Client, per_page: int = PER_PAGE) -> None:
        self.client = client
        self.per_page = per_page
        self.features: set[str] = set()
        self.viewer: dict[str, Any] = {}
        self.lookups = convert.Lookups()
        self._projects: dict[str, dict[str, str]] = {}  # entity → project id → name
        self._org_entity: dict[str, str | None] = {}

    async def start(self) -> None:
        data = await self.client.execute(queries.SERVER_FEATURES, scope="import")
        self.viewer = data.get("viewer") or {}
        self.features = {f["name"] for f in (data.get("serverInfo") or {}).get("features") or [] if f.get("isEnabled")}

    @property
    def teams(self) -> list[str]:
        return [e["node"]["name"] for e in (self.viewer.get("teams") or {}).get("edges") or [] if e.get("node")]

    def omitted(self) -> list[str]:
        return [name for name, feature in queries.FRAGMENTS_BY_FEATURE.items() if feature not in self.features]

    async def pages(self, query: str, variables: dict[str, Any], connection: Callable[[dict[str, Any]], Any]
                    ) -> list[dict[str, Any]]:
        """Every node of a Relay connection (``connection`` picks it out of the answer)."""
        nodes: list[dict[str, Any]] = []
        cursor: str | None = None
        while True:
            data = await self.client.execute(query, {**variables, "cursor": cursor, "perPage": self.per_page},
                                             scope="import")
            found = connection(data) or {}
            nodes += [e["node"] for e in found.get("edges") or [] if e.get("node")]
            info = found.get("pageInfo") or {}
            if not info.get("hasNextPage") or not info.get("endCursor"):
                return nodes
            cursor = info["endCursor"]

    async def automations(self, entity: str | None) -> list[dict[str, Any]]:
        """The triggers the SDK's ``Api().automations(entity)`` reads (``None``: the viewer's projects')."""
        if entity and "QUERY_AUTOMATIONS_ON_ENTITY" in self.features:
            return await self._with_fragments(queries.GET_ENTITY_AUTOMATIONS, {"entity": entity},
                                              lambda d: ((d.get("scope") or {}).get("triggers")), flat=True)
        document = queries.GET_ENTITY_AUTOMATIONS_LEGACY if entity else queries.GET_AUTOMATIONS_LEGACY
        return await self._with_fragments(document, {"entity": entity} if entity else {},
                                          lambda d: ((d.get("scope") or {}).get("projects")), flat=False)

    async def _with_fragments(self, document: str, variables: dict[str, Any],
                              connection: Callable[[dict[str, Any]], Any], flat: bool) -> list[dict[str, Any]]:
        omitted = self.omitted()
        try:
            nodes = await self.pages(queries.omit_fragments(document, omitted), variables, connection)
        except GraphQLError:  # a server that no longer knows saved Launch actions: the SDK's own document
            nodes = await self.pages(queries.omit_fragments(document, [*omitted, "QueueJobActionFields"]), variables,
                                     connection)
        if flat:
            return nodes
        return [t for project in nodes for t in project.get("triggers") or []]

    async def integrations(self, entity: str) -> list[dict[str, Any]]:
        found = await self.pages(queries.INTEGRATIONS_BY_ENTITY, {"entity": entity},
                                 lambda d: (d.get("entity") or {}).get("integrations"))
        self.lookups.integrations[entity] = found
        try:
            secrets = await self.pages(queries.WEBHOOK_SECRETS, {"entity": entity},
                                       lambda d: (d.get("entity") or {}).get("integrations"))
        except GraphQLError:  # a server that does not give them out: the Webhooks say so
            return found
        for node in secrets:
            if node.get("__typename") == "GenericWebhookIntegration":
                self.lookups.secrets[str(node["id"])] = (node.get("secretRef"), node.get("accessTokenRef"))
        return found

    # names behind ids ----------------------------------------------------------------------------------

    async def projects(self, entity: str) -> dict[str, str]:
        if entity not in self._projects:
            found: dict[str, str] = {}
            cursor: str | None = None
            while True:
                data = await self.client.execute(queries.entity_projects(1), {"n0": entity, "a0": cursor,
                                                                                "perPage": self.per_page},
                                                 scope="import")
                listing = ((data.get("e0") or {}).get("projects")) or {}
                found.update({str(e["node"]["id"]): str(e["node"]["name"]) for e in listing.get("edges") or []
                              if e.get("node")})
                info = listing.get("pageInfo") or {}
                if not info.get("hasNextPage") or not info.get("endCursor"):
                    break
                cursor = info["endCursor"]
            self._projects[entity] = found
        return self._projects[entity]

    async def org_entity(self, entity: str) -> str | None:
        if entity not in self._org_entity:
            data = await self.client.execute(queries.ENTITY_ORGANIZATION, {"entity": entity}, scope="import")
            org = ((data.get("entity") or {}).get("organization") or {}).get("orgEntity") or {}
            self._org_entity[entity] = org.get("name")
        return self._org_entity[entity]

    async def candidates(self, listed_under: str | None) -> list[str]:
        """Entities a project scope may belong to, most likely first."""
        out = [e for e in (listed_under, self.viewer.get("entity"), *self.teams) if e]
        for entity in list(out):
            org = await self.org_entity(entity)
            if org:
                out.append(org)
        return list(dict.fromkeys(out))

    async def resolve(self, trigger: dict[str, Any], listed_under: str | None) -> None:
        scope = trigger.get("scope") or {}
        scope_id, typename = str(scope.get("id") or ""), scope.get("__typename")
        if not scope_id or scope_id in self.lookups.scopes:
            return
        if typename == "Entity":
            self.lookups.scopes[scope_id] = convert.ResolvedScope("entity", str(scope.get("name")))
        elif typename in ("ArtifactSequence", "ArtifactPortfolio"):
            data = await self.client.execute(queries.COLLECTION_BY_ID, {"id": scope_id}, scope="import")
            found = data.get("artifactCollection") or {}
            project = found.get("project") or {}
            if found and project:
                self.lookups.scopes[scope_id] = convert.ResolvedScope(
                    "collection", str((project.get("entity") or {}).get("name")), str(project.get("name")),
                    str(found.get("name")))
        elif typename == "Project":
            for entity in await self.candidates(listed_under):
                if (await self.projects(entity)).get(scope_id) == scope.get("name"):
                    name = str(scope.get("name"))
                    kind = "registry" if name.startswith(REGISTRY_PREFIX) else "project"
                    self.lookups.scopes[scope_id] = convert.ResolvedScope(kind, entity, name)
                    return

    async def queue(self, trigger: dict[str, Any], listed_under: str | None) -> None:
        queue = (trigger.get("action") or {}).get("queue") or {}
        queue_id = str(queue.get("id") or "")
        if not queue_id or queue_id in self.lookups.queues:
            return
        scope = self.lookups.scopes.get(str((trigger.get("scope") or {}).get("id") or ""))
        for entity in dict.fromkeys([*(scope.entity for scope in [scope] if scope), *await self.candidates(
                listed_under)]):
            data = await self.client.execute(queries.RUN_QUEUES, {"entity": entity, "project": "model-registry"},
                                             scope="import")
            if any(str(q.get("id")) == queue_id for q in (data.get("project") or {}).get("runQueues") or []):
                self.lookups.queues[queue_id] = (entity, "model-registry")
                return


async def fetch_and_convert(url: str, key: str, entities: list[str], namespace: str | None,
                            ca_file: str | None = None, per_page: int = PER_PAGE) -> convert.Result:
    client = Client(url, key, ca_file=ca_file)
    try:
        reader = Reader(client, per_page)
        await reader.start()
        listed: list[tuple[dict[str, Any], str | None]] = []
        seen: set[str] = set()
        wanted: list[str | None] = list(entities) or [None]
        for entity in wanted:
            for trigger in await reader.automations(entity):
                if str(trigger.get("id")) not in seen:
                    seen.add(str(trigger.get("id")))
                    listed.append((trigger, entity))
        await _each(reader.resolve, listed)
        await _each(reader.queue, [(t, e) for t, e in listed if (t.get("action") or {}).get("queue")])
        owners = set(entities) | {s.entity for s in reader.lookups.scopes.values()}
        for owner in sorted(owners):
            await reader.integrations(owner)
    finally:
        await client.aclose()
    converter = convert.Converter(reader.lookups, namespace=namespace, check=admission_problems)
    for trigger, listed_under in listed:
        scope = reader.lookups.scopes.get(str((trigger.get("scope") or {}).get("id") or ""))
        converter.automation(trigger, listed_under or (scope.entity if scope else ""))
    converter.unreferenced_integrations()
    return converter.result


async def _each(step: Callable[[dict[str, Any], str | None], Awaitable[None]],
                items: Iterable[tuple[dict[str, Any], str | None]]) -> None:
    for trigger, entity in items:
        await step(trigger, entity)


def admission_problems(doc: dict[str, Any]) -> list[str]:
    """What ``wbauto validate`` would report for one manifest (schema, CEL, payload rendering)."""
    result = admit(doc, default_namespace=str(doc["metadata"]["namespace"]))
    if isinstance(result, manifests.Invalid):
        return [str(p) for p in result.problems]
    if result.kind is kinds.AUTOMATION:
        return [str(p) for p in checks.automation(result.spec, result.name)]  # type: ignore[arg-type]
    return []


# --- writing ---------------------------------------------------------------------------------------------


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (payload templates) as literal blocks."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not any(line != line.rstrip() for line in value.splitlines()) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _text)


def render(documents: list[convert.Document]) -> str:
    parts = []
    for document in documents:
        lines = textwrap.wrap(document.comment, 110, break_on_hyphens=False)
        comment = "".join(f"# {line}\n" for line in lines)
        parts.append(comment + yaml.dump(document.doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110))
    return "---\n".join(parts)


def write(result: convert.Result, output: Path, *, force: bool = False) -> list[Path]:
    """One file per namespace and kind; refuses to replace files unless ``force``."""
    grouped: dict[Path, list[convert.Document]] = {}
    for document in result.documents:
        path = output / document.namespace / FILES[document.doc["kind"]]
        grouped.setdefault(path, []).append(document)
    for path in grouped:
        if path.exists() and not force:
            raise FileExistsError(str(path))
    for path, documents in sorted(grouped.items()):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(documents), encoding="utf-8")
    return sorted(grouped)


def summary(result: convert.Result) -> str:
    rows = [[r.kind, r.name, r.entity, r.result, r.manifest or "-", r.note] for r in result.rows]
    counts = (f"\n{result.count(convert.CONVERTED)} converted, {result.count(convert.DIFFERENT)} converted with a "
              f"difference, {result.count(convert.NOT_CONVERTIBLE)} not convertible")
    return table(rows, ["KIND", "W&B NAME", "ENTITY", "RESULT", "MANIFEST", "NOTE"]) + counts
