"""``wbauto test-webhook``: W&B's "Test" button — send a payload through a Webhook with its secrets
(signature, bearer token) and print the endpoint's answer. From manifests (``-f``) or from the cluster
(``--cluster``; the result is also recorded in the Webhook's ``status.lastTest``)."""

from __future__ import annotations

import argparse
import asyncio
import datetime
import time
import uuid
from pathlib import Path
from typing import Any

from wbauto.actions import webhook as webhook_action
from wbauto.actions.base import Context
from wbauto.actions.egress import Policy
from wbauto.actions.http import Outbound
from wbauto.api import kinds
from wbauto.api.automation import AutomationSpec
from wbauto.api.webhook import WebhookSpec
from wbauto.cli import common
from wbauto.cli.common import load_world, pick
from wbauto.engine import samples, templates
from wbauto.errors import WbautoError, cut
from wbauto.redact import scrub
from wbauto.runtime.world import World
from wbauto.secrets import base as secrets_base
from wbauto.secrets.resolver import Resolver


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("webhook", help="Webhook name")
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("-f", "--filename", dest="paths", action="append", type=Path, metavar="PATH",
                       help="manifest file or folder with the Webhook and its SecretReferences")
    where.add_argument("--cluster", action="store_true", help="read them from the cluster")
    parser.add_argument("-n", "--namespace", default="default")
    common.add_cluster_arguments(parser, "cluster mode, or kubernetes-backed secrets")
    body = parser.add_mutually_exclusive_group()
    body.add_argument("--payload", help="JSON body to send")
    body.add_argument("--payload-file", type=Path, metavar="FILE", help="file with the JSON body")
    body.add_argument("-a", "--automation", help="render this Automation's payload for a sample event")
    parser.add_argument("--allow-private-targets", action="store_true",
                        help="allow private and loopback targets (as the operator setting does)")


async def _cluster_world(client: Any, namespace: str) -> World:
    from wbauto.kube import client as kube

    world = World()
    for res in (kube.SECRET_REFERENCES, kube.WEBHOOKS, kube.AUTOMATIONS):
        for obj in await client.list(res, namespace):
            world.upsert(obj)
    return world


def _payload(args: argparse.Namespace, world: World) -> str:
    if args.payload:
        return str(args.payload)
    if args.payload_file:
        return str(args.payload_file.read_text())
    if args.automation:
        res = pick(world, kinds.AUTOMATION.kind, args.automation, args.namespace)
        spec: AutomationSpec = res.spec  # type: ignore[assignment]
        event, evaluation = samples.sample_event(spec)
        variables = templates.variables(event, automation_name=spec.display_name or res.name, evaluation=evaluation)
        template = spec.action.webhook.payload if spec.action.webhook and spec.action.webhook.payload else \
            templates.default_payload()
        return templates.render(template, variables, json_body=False)
    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    return ('{"event_type": "TEST", "message": "This is a test from wbauto test-webhook", '
            f'"sent_at": "{now}"}}')


async def _run(args: argparse.Namespace) -> int:
    client = None
    if args.cluster or args.kubeconfig or args.context:
        from wbauto.kube import client as kube

        client = kube.Client(args.kubeconfig, args.context)
    try:
        world = await _cluster_world(client, args.namespace) if args.cluster else load_world(args.paths,
                                                                                             args.namespace)
        res = pick(world, kinds.WEBHOOK.kind, args.webhook, args.namespace)
        spec: WebhookSpec = res.spec  # type: ignore[assignment]
        for ref in (spec.secret_ref, spec.access_token_ref, *spec.payload_secret_refs):
            if ref is not None:
                world.ready[(kinds.SECRET_REFERENCE.kind, res.namespace, ref.name)] = True
        resolver = Resolver(secrets_base.Context(kube=client, allow_local=not args.cluster), world.secret_reference)
        http = Outbound(Policy.build(args.allow_private_targets))
        context = Context(resolver=resolver, http=http, kube=client)
        code: int | None = None
        error: str | None = None
        try:
            signing, secret_vars = await webhook_action.secrets_for(spec, res.namespace, context)
            body = templates.render(_payload(args, world), {}, secret_vars).encode()
            extras = [x for x, on in (("signed", signing is not None), ("bearer token", "ACCESS_TOKEN" in secret_vars))
                      if on]
            print(f"POST {spec.url.split('?', 1)[0]}" + (f"  ({', '.join(extras)})" if extras else ""))
            started = time.monotonic()
            response = await webhook_action.post(spec, body, namespace=res.namespace, context=context,
                                                 delivery_id=f"test-{uuid.uuid4()}", signing_secret=signing,
                                                 access_token=secret_vars.get("ACCESS_TOKEN"))
            code = response.status
            print(f"→ HTTP {code} {response.reason} in {(time.monotonic() - started) * 1000:.0f} ms")
            if response.text:
                print(cut(scrub(response.text), 4096))  # an endpoint may echo the request, token included
            webhook_action.check(spec, response)
        except WbautoError as exc:
            error = cut(str(exc), 1024)
            print(f"error: {error}")
        finally:
            await http.aclose()
            await resolver.aclose()
        if args.cluster and client is not None:
            try:
                await _record(client, res.namespace, res.name, code, error)
            except WbautoError as exc:
                print(f"note: the result was not recorded in the Webhook's status.lastTest: {cut(str(exc), 300)}")
        return 0 if error is None else 1
    finally:
        if client is not None:
            await client.aclose()


async def _record(client: Any, namespace: str, name: str, code: int | None, error: str | None) -> None:
    from wbauto.kube import client as kube

    last: dict[str, Any] = {"time": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
                            .replace("+00:00", "Z"), "responseCode": code, "error": error}
    await client.patch(kube.WEBHOOKS, namespace, name, {"status": {"lastTest": last}}, status=True)


def main(args: argparse.Namespace) -> int:
    return asyncio.run(_run(args))
