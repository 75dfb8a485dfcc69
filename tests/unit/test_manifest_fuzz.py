"""Manifest fuzzing: more than 10,000 documents per run (a fixed seed and one that changes daily) through
``wbauto validate``'s code path and the standalone runtime's (the folder's loading, the World, the
Reconciler's decision). Every one must end in a verdict or a condition: 0 crashes, 0 hangs.

Inputs: hypothesis manifests over the CRDs' schemas with edge values, their YAML text with random edits
(stray characters, cut lines, tags, anchors, indentation), and hostile texts (billion laughs, recursive
aliases, 1,200-deep nesting, dates, ``!!binary``, invalid UTF-8, mixed key types, huge numbers).
"""

from __future__ import annotations

import asyncio
import datetime
import random
import time
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, Phase, given, seed, settings

from tests.support.manifest_gen import any_manifest
from tests.unit.test_reconciler import Recorder
from wbauto.actions import egress
from wbauto.admission import files
from wbauto.api.conditions import Reason
from wbauto.cli.validate import check_document
from wbauto.runtime.reconciler import Reconciler
from wbauto.runtime.standalone.runtime import ManifestFolder
from wbauto.runtime.world import World, key_of
from wbauto.secrets import base as secrets_base
from wbauto.secrets.resolver import Resolver

DRAWN_PER_SEED = 1000
EDITS_PER_DOCUMENT = 4
HANG_SECONDS = 5.0
TODAY = int(datetime.date.today().strftime("%Y%m%d"))
SOURCE = Path("fuzz.yaml")

BILLION_LAUGHS = "a: &a [x,x,x,x,x,x,x,x,x]\n" + "".join(
    f"{c}: &{c} [{', '.join(['*' + p] * 9)}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=True))
HOSTILE: list[str | bytes] = [
    BILLION_LAUGHS,
    "apiVersion: automations.wandb.ai/v1alpha1\nkind: {A<<: utomation}\nmetadata: {name: a}\n",  # unhashable kind
    "apiVersion: automations.wandb.ai/v1alpha1\nkind: [Webhook]\nmetadata: {name: a}\n",
    "apiVersion: automations.wandb.ai/v1alpha1\nkind: Webhook\nmetadata: &m {name: h, labels: *m}\nspec: {}\n",
    "a: &a [*a]\n",
    "apiVersion: automations.wandb.ai/v1alpha1\nkind: Automation\nmetadata: {name: a}\nspec:\n  x: "
    + "[" * 1200 + "]" * 1200 + "\n",
    "{" * 3000 + "}" * 3000,
    "apiVersion: automations.wandb.ai/v1alpha1\nkind: Webhook\nmetadata: {name: h, creationTimestamp: 2020-01-01}\n"
    "spec: {url: 'https://h.example.com/', timeout: 2020-01-01}\n",
    "apiVersion: automations.wandb.ai/v1alpha1\nkind: Webhook\nmetadata: {name: !!binary aGVsbG8=}\nspec: {url: x}\n",
    b"apiVersion: automations.wandb.ai/v1alpha1\nkind: Webhook\nmetadata: {name: h\xff}\n",
    "apiVersion: automations.wandb.ai/v1alpha1\nkind: Webhook\nmetadata: {name: h}\nspec: {1: a, b: c, true: d, "
    "1.5: e, null: f}\n",
    "apiVersion: automations.wandb.ai/v1alpha1\nkind: Webhook\nmetadata: {name: h}\nspec: {retry: {maxAttempts: "
    "99999999999999999999999}, timeout: .nan}\n",
    "apiVersion: automations.wandb.ai/v1alpha1\nkind: Webhook\nmetadata: foo\nspec: {url: 'https://h.example.com/'}\n",
    "apiVersion: automations.wandb.ai/v1alpha1\nkind: Webhook\nmetadata: {name: h, namespace: [a]}\n",
    "apiVersion: automations.wandb.ai/v1alpha1\nkind: Webhook\nmetadata: {name: h, namespace: 5}\n"
    "spec: {url: 'https://h.example.com/'}\nstatus: hello\n",
    "apiVersion: automations.wandb.ai/v1alpha1\nkind: Webhook\nmetadata: {name: h, generation: [1]}\n"
    "spec: {url: 'https://h.example.com/'}\n",
    "apiVersion: automations.wandb.ai/v1alpha1\nkind: SecretReference\nmetadata: {name: s}\n"
    "spec: {env: {name: X}, refreshInterval: 99999999999h}\n",
    "- just\n- a list\n", "plain scalar", "", "---\n---\n", "kind: List\nitems: [1, {kind: Webhook}]\n",
    "apiVersion: automations.wandb.ai/v1alpha1\nkind: Webhook\nmetadata: {name: h}\nspec: {url: !!int x}\n",
    "apiVersion: automations.wandb.ai/v1alpha1\nkind: Webhook\nmetadata: {name: h}\nspec: {<<: [1, 2]}\n",
]
EDIT_TOKENS = ["\t", ":", "- ", "&x ", "*x ", "!!binary ", "!!str ", "{", "}", "[", "]", "'", '"', "\\", "\n  ",
               "~", "<<: ", "? ", "2020-01-01", "1e400", "0x", "\x00", "\ufeff", "\ud800", "①", "y", "%TAG ! x\n"]


class Counts:
    def __init__(self) -> None:
        self.documents = 0
        self.crashes: list[str] = []
        self.slowest = 0.0


def _edits(text: str, rng: random.Random) -> list[str]:
    out = []
    for _ in range(EDITS_PER_DOCUMENT):
        chars = list(text)
        for _ in range(rng.randint(1, 3)):
            at = rng.randrange(len(chars) + 1)
            op = rng.random()
            if op < 0.5:
                chars[at:at] = list(rng.choice(EDIT_TOKENS))
            elif op < 0.8:
                del chars[at:at + rng.randint(1, 8)]
            else:
                chars[at:at] = chars[max(0, at - 20):at]
        out.append("".join(chars))
    return out


def _validate(text: str | bytes, counts: Counts) -> list[files.Entry]:
    """``wbauto validate``'s path for one file's content: every document gets a verdict that names the file."""
    try:
        decoded = text.decode("utf-8") if isinstance(text, bytes) else text
        entries = list(files.documents(SOURCE, decoded))
    except (files.ManifestError, UnicodeDecodeError):
        return []  # reported as an unreadable file (exit 2)
    for entry in entries:
        outcome = check_document(entry, "default")
        assert outcome.status != "broken", outcome.lines
        assert all(line.startswith(str(SOURCE)) for line in outcome.lines), outcome.lines
    return entries


async def _runtime(entries: list[files.Entry], reconciler: Reconciler, folder: ManifestFolder) -> None:
    """The standalone runtime's path: the folder's copy, the World's verdict, the Reconciler's decision."""
    for entry in entries:
        doc = entry.value
        if entry.error is not None or not folder.served(doc):
            continue
        key = key_of(doc)
        body = folder._as_stored(key, doc)
        reconciler.observe(body)
        spec: dict[str, Any] = doc["spec"] if isinstance(doc.get("spec"), dict) else {}
        talks_to_a_backend = key[0] == "SecretReference" and not (set(spec) <= {"env", "refreshInterval"})
        if not talks_to_a_backend:  # only env secrets: nothing here may leave the machine
            outcome = await reconciler.reconcile(key)
            if key in reconciler.world.invalid:
                assert outcome is not None and outcome.stalled and outcome.reason == Reason.INVALID_SPEC
        reconciler.forget(key)


async def _run(texts: list[str | bytes], counts: Counts) -> None:
    world = World()
    resolver = Resolver(secrets_base.Context(allow_local=True), world.secret_reference)
    reconciler = Reconciler(world, resolver, egress.Policy.build(allow_private=False), Recorder())
    folder = ManifestFolder(Path("."), reconciler)
    for text in texts:
        start = time.monotonic()
        try:
            entries = _validate(text, counts)
            await _runtime(entries, reconciler, folder)
        except Exception as exc:
            counts.crashes.append(f"{type(exc).__name__}: {exc!s:.200}: {text[:300]!r}")
        counts.documents += 1
        counts.slowest = max(counts.slowest, time.monotonic() - start)
    await resolver.aclose()


def _corpus(rotating: int) -> list[str | bytes]:
    rng = random.Random(rotating)
    texts: list[str | bytes] = list(HOSTILE)

    @seed(rotating)
    @settings(max_examples=DRAWN_PER_SEED, database=None, deadline=None, phases=(Phase.generate,),
              suppress_health_check=list(HealthCheck))
    @given(any_manifest())
    def draw(doc: dict[str, Any]) -> None:
        text = yaml.safe_dump(doc, allow_unicode=True)
        texts.append(text)
        texts.extend(_edits(text, rng))

    draw()
    return texts


def test_fuzzed_manifests_never_crash_or_hang() -> None:
    counts = Counts()
    started = time.monotonic()
    for rotating in (1212, TODAY):
        asyncio.run(_run(_corpus(rotating), counts))
    print(f"\nmanifest fuzz: {counts.documents} documents (seeds 1212 and {TODAY}) in "
          f"{time.monotonic() - started:.1f}s, {len(counts.crashes)} crashes, slowest {counts.slowest:.2f}s")
    assert counts.documents >= 10_000
    assert not counts.crashes, f"{len(counts.crashes)} crashes:\n" + "\n".join(counts.crashes[:20])
    assert counts.slowest < HANG_SECONDS, f"a document took {counts.slowest:.1f}s (hang bound {HANG_SECONDS}s)"
