"""No leaks, end to end: canary values planted in every secret backend (and in the credentials that unlock
them) never show in the operator's log, in object statuses, in Kubernetes Events, in ``/metrics``, in
exception texts, or in ``wbauto`` CLI output — on success and on the error paths. On the wire each
receiver sees its bearer canary in the ``Authorization`` header and nowhere else, and the signing canaries
never in clear (``X-Wandb-Signature`` / ``X-Wbauto-Signature`` are HMACs, verified here independently).

The real operator runs against the real apiserver, polls the session W&B emulator, and reads the five
backends from the secret test servers (moto, the gRPC Secret Manager, the Key Vault + Entra fake, ``bao``)
and from Kubernetes Secrets. One alias event fires one Automation per Webhook:

* one Webhook per backend, signed (``secretRef``) and with a bearer token (``accessTokenRef``) from it;
* a receiver answering 500 (2 attempts, then a ``DeliveryFailed`` Warning Event);
* a receiver answering 401 once (the secrets are invalidated and read again, the retry succeeds);
* ``jsonKey`` missing from a JSON secret holding a canary (AWS, GCP, Azure): ``BadFormat``;
* a key missing from a Kubernetes Secret and from a Vault secret that hold canaries: ``SecretNotFound``;
* an endpoint echoing the request's headers back (the stored response body must be scrubbed), and
  ``wbauto test-webhook`` against such an endpoint (what it prints must be scrubbed too).
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import secrets
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.controlplane import REPO, ControlPlane, wait_until
from tests.support.manifests import automation, secret_reference, webhook
from tests.support.operator import OperatorProcess
from tests.support.receiver import Received, Receiver, independent_signature
from tests.support.secretservers import aws
from tests.support.secretservers.stack import GCP_PROJECT, Stack, running, service_account_key
from wbauto.emulator.server import Emulator

pytestmark = pytest.mark.cluster

BACKENDS = ("kubernetes", "aws", "gcp", "azure", "vault")
TIMEOUT = 120.0
FAST_RETRY = {"maxAttempts": 2, "backoff": "100ms", "maxBackoff": "100ms"}
KUBE_SA = "wbauto-leaks"  # the operator's service account for Vault's Kubernetes auth


# --- canaries ---------------------------------------------------------------------------------------------


WINDOW, STRIDE = 12, 4  # any WINDOW + STRIDE - 1 = 15 characters in a row of a canary's random part are a leak


def windows(core: str) -> set[str]:
    if len(core) <= WINDOW:
        return {core}
    starts = [*range(0, len(core) - WINDOW + 1, STRIDE), len(core) - WINDOW]
    return {core[i:i + WINDOW] for i in starts}


@dataclass
class Canaries:
    """Values to look for, by label. A value leaks whole, base64-encoded, or in part: any 15 characters in a
    row of its random ``core`` (a cut message, a prefix shown "for debugging", one line of a key)."""

    values: dict[str, str] = field(default_factory=dict)
    cores: dict[str, str] = field(default_factory=dict)

    def new(self, label: str) -> str:
        """A fresh canary: ``canary<label><32 random hex digits>``."""
        core = secrets.token_hex(16)
        return self.add(label, f"canary{label.replace('-', '')}{core}", core)

    def add(self, label: str, value: str, core: str | None = None) -> str:
        """A value the test did not choose (a credential): by default all of it is random."""
        assert label not in self.values, label
        core = value if core is None else core
        assert core in value and len(core) >= 16, f"{label}: too short to be a canary"
        self.values[label], self.cores[label] = value, core
        return value

    def add_pem(self, label: str, pem: str) -> None:
        """Every base64 line of a PEM private key."""
        lines = [line for line in pem.splitlines() if line and not line.startswith("-----")]
        for i, line in enumerate(lines):
            if len(line) >= 32:
                self.add(f"{label}[{i}]", line)

    def forms(self, label: str) -> list[str]:
        value = self.values[label]
        found = {value, base64.b64encode(value.encode()).decode().rstrip("=")} | windows(self.cores[label])
        return sorted({f.lower() for f in found}, key=len, reverse=True)

    def leaks(self, surface: str, text: str, *, allowed: tuple[str, ...] = ()) -> list[str]:
        lowered = text.lower()
        out = []
        for label, value in self.values.items():
            if label in allowed:
                continue
            for form in self.forms(label):
                at = lowered.find(form)
                if at >= 0:
                    context = text[max(0, at - 120):at + len(form) + 40].replace("\n", "\\n")
                    out.append(f"{surface}: canary {label} ({'whole' if form == value.lower() else 'part'}) "
                               f"in ...{context}...")
                    break
        return out


# --- the wire ---------------------------------------------------------------------------------------------


@dataclass
class Hook:
    """A Webhook, its receiver, and the labels of the canaries it signs with and sends as bearer."""

    name: str
    receiver: Receiver
    signing: str
    bearer: str
    expect: str  # Finished | Failed
    attempts: int = 1
    resolvable: bool = True  # False: a secret cannot be read, nothing may reach the receiver
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def automation(self) -> str:
        return f"auto-{self.name.removeprefix('hook-')}"


def wire_problems(hook: Hook, canaries: Canaries) -> list[str]:
    """Each request: the bearer canary only as ``Authorization: Bearer <it>``, valid HMAC signatures made
    with the signing canary, and no canary anywhere else (path, header names and values, body)."""
    problems: list[str] = []
    signing = canaries.values[hook.signing]
    bearer = canaries.values[hook.bearer]
    for i, request in enumerate(hook.receiver.requests):
        where = f"wire {hook.name} request {i}"
        problems += canaries.leaks(f"{where} path", request.path)
        problems += canaries.leaks(f"{where} body", request.body.decode(errors="replace"))
        for name, value in request.headers.items():
            problems += canaries.leaks(f"{where} header name", name)
            if name.lower() == "authorization":
                if value != f"Bearer {bearer}":
                    problems.append(f"{where}: Authorization is not exactly the bearer canary {hook.bearer}")
                problems += canaries.leaks(f"{where} header {name}", value, allowed=(hook.bearer,))
            else:
                problems += canaries.leaks(f"{where} header {name}", value)
        problems += signature_problems(where, request, signing)
    return problems


def signature_problems(where: str, request: Received, signing: str) -> list[str]:
    headers = {k.lower(): v for k, v in request.headers.items()}
    problems = []
    if headers.get("x-wandb-signature") != independent_signature(signing, request.body):
        problems.append(f"{where}: X-Wandb-Signature is not HMAC-SHA256(signing canary, body)")
    bound = f"{headers.get('x-wbauto-delivery')}.{headers.get('x-wbauto-timestamp')}.".encode() + request.body
    if headers.get("x-wbauto-signature") != "v1=" + independent_signature(signing, bound):
        problems.append(f"{where}: X-Wbauto-Signature is not v1=HMAC-SHA256(signing canary, delivery.ts.body)")
    if "authorization" not in headers:
        problems.append(f"{where}: no Authorization header")
    return problems


# --- seeding ----------------------------------------------------------------------------------------------


@dataclass
class Seeded:
    objects: list[dict[str, Any]]  # Secrets and SecretReferences
    env: dict[str, str]  # what the operator (and the CLI) need on top of Stack.env()
    gcp_names: dict[str, str]  # SecretReference name -> Secret Manager version path (for read counts)


def kube_secret(namespace: str, name: str, **data: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
            "stringData": data}


def seed(stack: Stack, cluster: ControlPlane, namespace: str, c: Canaries, workdir: Path) -> Seeded:
    """Plant the canaries in every backend and in the credentials, and describe the SecretReferences."""
    objects: list[dict[str, Any]] = []
    tag = secrets.token_hex(4)

    def ref(name: str, **spec: Any) -> None:
        objects.append(secret_reference(name, namespace=namespace, **spec))

    # Kubernetes Secrets
    objects.append(kube_secret(namespace, "kube-values", signing=c.new("sig-kubernetes"),
                               token=c.new("tok-kubernetes")))
    objects.append(kube_secret(namespace, "kube-other", present=c.new("missing-kubernetes")))
    ref("sig-kubernetes", kubernetes={"name": "kube-values", "key": "signing"})
    ref("tok-kubernetes", kubernetes={"name": "kube-values", "key": "token"})
    ref("missing-kubernetes", kubernetes={"name": "kube-other", "key": "absent"})

    # AWS Secrets Manager: the environment identity, and static keys kept in a Kubernetes Secret
    c.add("cred-aws-env-secret-key", stack.moto.reader.secret_access_key)
    iam = stack.moto.client("iam")
    iam.create_user(UserName=f"leaks-{tag}")
    iam.put_user_policy(UserName=f"leaks-{tag}", PolicyName="read", PolicyDocument=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": "*"}]}))
    key = iam.create_access_key(UserName=f"leaks-{tag}")["AccessKey"]
    objects.append(kube_secret(namespace, "aws-keys", AWS_ACCESS_KEY_ID=key["AccessKeyId"],
                               AWS_SECRET_ACCESS_KEY=c.add("cred-aws-kube-secret-key", key["SecretAccessKey"])))
    sm = stack.moto.client("secretsmanager")
    names = {kind: f"leaks-{kind}-{tag}" for kind in ("sig", "tok", "doc")}
    sm.create_secret(Name=names["sig"], SecretString=c.new("sig-aws"))
    sm.create_secret(Name=names["tok"], SecretString=c.new("tok-aws"))
    sm.create_secret(Name=names["doc"], SecretString=json.dumps({"other": c.new("badkey-aws")}))
    moto = {"region": aws.REGION, "endpoint": stack.moto.endpoint}
    ref("sig-aws", aws={"secretId": names["sig"], **moto})
    ref("tok-aws", aws={"secretId": names["tok"], **moto, "credentials": {"secretName": "aws-keys"}})
    ref("badkey-aws", aws={"secretId": names["doc"], **moto, "jsonKey": "password"})

    # GCP Secret Manager: Application Default Credentials, and a service-account key in a Kubernetes Secret
    c.add_pem("cred-gcp-adc-key", json.loads(stack.adc_file.read_text())["private_key"])
    email = f"leaks-{tag}@{GCP_PROJECT}.iam.gserviceaccount.com"
    info, public_pem = service_account_key(email)
    stack.secret_manager.trust_service_account(email, public_pem)
    c.add_pem("cred-gcp-kube-key", info["private_key"])
    objects.append(kube_secret(namespace, "gcp-key", **{"key.json": json.dumps(info)}))
    gsm = stack.secret_manager
    gcp_names: dict[str, str] = {}
    for label, data in (("sig-gcp", c.new("sig-gcp")), ("tok-gcp", c.new("tok-gcp")),
                        ("sig-reauth", c.new("sig-reauth")), ("tok-reauth", c.new("tok-reauth")),
                        ("badkey-gcp", json.dumps({"other": c.new("badkey-gcp")}))):
        secret = f"leaks-{label}-{tag}"
        gsm.add_version(GCP_PROJECT, secret, data.encode())
        gcp_names[label] = f"projects/{GCP_PROJECT}/secrets/{secret}"
        spec: dict[str, Any] = {"project": GCP_PROJECT, "secret": secret, "endpoint": gsm.endpoint}
        if label == "tok-gcp":
            spec["credentialsSecret"] = {"name": "gcp-key", "key": "key.json"}
        if label == "badkey-gcp":
            spec["jsonKey"] = "password"
        ref(label, gcp=spec)

    # Azure Key Vault (AKS Workload Identity: the projected token is the credential)
    federated = stack.aks_token_file.read_text()
    c.add("cred-azure-federated-token", federated, json.loads(federated)["nonce"])
    kv = stack.keyvault
    for label, value in (("sig-azure", c.new("sig-azure")), ("tok-azure", c.new("tok-azure")),
                         ("badkey-azure", json.dumps({"other": c.new("badkey-azure")}))):
        kv.set_secret(f"leaks-{label}-{tag}", value)
        spec = {"vaultUrl": kv.url, "name": f"leaks-{label}-{tag}"}
        if label == "badkey-azure":
            spec["jsonKey"] = "password"
        ref(label, azure=spec)

    # Vault / OpenBao: a canary token in a Kubernetes Secret, and Kubernetes auth with a service-account JWT
    root = stack.bao.root()
    root.sys.create_or_update_policy("leaks-read", 'path "secret/data/leaks/*" { capabilities = ["read"] }')
    token = c.new("cred-vault-token")
    root.auth.token.create(id=token, policies=["leaks-read"], ttl="1h")
    objects.append(kube_secret(namespace, "vault-token", token=token))
    path = f"leaks/{tag}"
    root.secrets.kv.v2.create_or_update_secret(path=path, secret={
        "signing": c.new("sig-vault"), "token": c.new("tok-vault"), "present": c.new("missing-vault")})
    cluster.kubectl("create", "serviceaccount", KUBE_SA, "-n", namespace)
    cluster.kubectl("create", "clusterrolebinding", f"{namespace}-auth-delegator"[:63],
                    "--clusterrole=system:auth-delegator", f"--serviceaccount={namespace}:{KUBE_SA}")
    jwt_dir = workdir / "serviceaccount"
    jwt_dir.mkdir()
    jwt = cluster.kubectl("create", "token", KUBE_SA, "-n", namespace, "--duration=1h").stdout.strip()
    (jwt_dir / "token").write_text(jwt)
    c.add("cred-vault-jwt", jwt, jwt.rsplit(".", 1)[-1])  # the header is the same in every token
    root.sys.enable_auth_method("kubernetes")
    root.auth.kubernetes.configure(kubernetes_host=cluster.server, disable_local_ca_jwt=True,
                                   kubernetes_ca_cert=(cluster.workdir / "pki" / "ca.crt").read_text())
    root.auth.kubernetes.create_role("wbauto", bound_service_account_names=[KUBE_SA],
                                     bound_service_account_namespaces=[namespace], policies=["leaks-read"],
                                     ttl="1h")
    vault = {"address": stack.bao.address, "caBundle": stack.bao.ca_pem, "path": path}
    token_auth = {"token": {"secretRef": {"name": "vault-token", "key": "token"}}}
    ref("sig-vault", vault={**vault, "key": "signing", "auth": token_auth})
    ref("tok-vault", vault={**vault, "key": "token",
                            "auth": {"kubernetes": {"role": "wbauto", "tokenPath": str(jwt_dir / "token")}}})
    ref("missing-vault", vault={**vault, "key": "absent", "auth": token_auth})

    env = {"WBAUTO_VAULT_KUBERNETES_AUTH_ADDRESSES": stack.bao.address, "WBAUTO_VAULT_JWT_DIRS": str(jwt_dir)}
    return Seeded(objects, env, gcp_names)


def echo(request: Received) -> tuple[int, dict[str, Any]]:
    """Answer like an echo service (httpbin's /anything): the request's headers, the bearer token included."""
    return 200, {"headers": request.headers}


def hooks_for(namespace: str) -> list[Hook]:
    """Receivers are started here; the caller stops them."""
    hooks = [Hook(f"hook-{b}", Receiver().start(), f"sig-{b}", f"tok-{b}", "Finished") for b in BACKENDS]
    hooks.append(Hook("hook-echo", Receiver(respond=echo).start(), "sig-aws", "tok-vault", "Finished"))
    hooks.append(Hook("hook-fail", Receiver(default_status=500).start(), "sig-vault", "tok-gcp", "Failed",
                      attempts=2, extra={"retry": FAST_RETRY}))
    hooks.append(Hook("hook-reauth", Receiver(statuses=[401]).start(), "sig-reauth", "tok-reauth", "Finished",
                      attempts=2, extra={"retry": {**FAST_RETRY, "maxAttempts": 3}}))
    for b in ("aws", "gcp", "azure"):
        hooks.append(Hook(f"hook-badkey-{b}", Receiver().start(), f"badkey-{b}", f"tok-{b}", "Failed",
                          resolvable=False, extra={"retry": FAST_RETRY}))
    for b in ("kubernetes", "vault"):
        hooks.append(Hook(f"hook-missing-{b}", Receiver().start(), f"sig-{b}", f"missing-{b}", "Failed",
                          attempts=2, resolvable=False, extra={"retry": FAST_RETRY}))
    return hooks


def wbauto_objects(namespace: str, hooks: list[Hook], alias: str) -> list[dict[str, Any]]:
    objects = []
    for hook in hooks:
        objects.append(webhook(hook.name, url=hook.receiver.url(), namespace=namespace,
                               secretRef={"name": hook.signing}, accessTokenRef={"name": hook.bearer}, **hook.extra))
        objects.append(automation(hook.automation, namespace=namespace,
                                  event={"artifactAliasAdded": {"aliasRegex": f"^{re.escape(alias)}$"}},
                                  action={"webhook": {"webhookRef": {"name": hook.name}}}))
    return objects


# --- waiting ----------------------------------------------------------------------------------------------


def ready_condition(cluster: ControlPlane, kind: str, name: str, namespace: str) -> dict[str, Any] | None:
    obj = cluster.get_json(kind, name, "-n", namespace)
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == "Ready"), None)


def wait_condition(cluster: ControlPlane, kind: str, name: str, namespace: str, status: str, reason: str) -> None:
    def check() -> bool:
        c = ready_condition(cluster, kind, name, namespace)
        return bool(c and c["status"] == status and c["reason"] == reason)

    wait_until(check, TIMEOUT, f"{kind}/{name} Ready={status} ({reason})", 0.3)


def terminal(cluster: ControlPlane, namespace: str, count: int) -> dict[str, dict[str, Any]]:
    """The AutomationExecutions by Automation, once ``count`` of them are terminal."""

    def check() -> dict[str, dict[str, Any]] | None:
        items = cluster.get_json("automationexecutions", "-n", namespace)["items"]
        done = {i["spec"]["automation"]["name"]: i for i in items
                if (i.get("status") or {}).get("phase") in ("Finished", "Failed", "Skipped")}
        return done if len(done) >= count else None

    result: dict[str, dict[str, Any]] = wait_until(check, TIMEOUT, f"{count} terminal AutomationExecutions", 0.3)
    return result


def delivery_failures(cluster: ControlPlane, namespace: str) -> set[str]:
    events = cluster.get_json("events.v1.events.k8s.io", "-n", namespace)["items"]
    return {e["regarding"]["name"] for e in events if e["type"] == "Warning" and e["reason"] == "DeliveryFailed"}


# --- the CLI and the other surfaces -----------------------------------------------------------------------


def wbauto(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wbauto", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=120)


def metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return str(response.read().decode())


@contextlib.contextmanager
def started(hooks: list[Hook]) -> Iterator[None]:
    try:
        yield
    finally:
        for hook in hooks:
            hook.receiver.stop()


def test_canaries_never_leak_from_any_backend_to_any_surface(
        cluster: ControlPlane, namespace: str, wandb: Emulator, tmp_path: Path) -> None:
    c = Canaries()
    alias = f"leaks-{secrets.token_hex(4)}"
    collection = f"leaks-model-{secrets.token_hex(4)}"
    wandb.state.log_artifact("acme", "proj", collection, author="alice")  # before the operator's baseline
    hooks = hooks_for(namespace)
    with started(hooks), running(tmp_path / "servers") as stack:
        seeded = seed(stack, cluster, namespace, c, tmp_path)
        env = stack.env()
        env.pop("PATH", None)  # keep the control plane's tools first
        env.update(seeded.env, KUBECONFIG=str(cluster.kubeconfig))
        cli_env = {**cluster.env(), **env}
        documents = seeded.objects + wbauto_objects(namespace, hooks, alias)
        manifests = tmp_path / "manifests"
        manifests.mkdir()
        (manifests / "all.yaml").write_text(yaml.safe_dump_all(documents))
        planted = c.values["tok-kubernetes"]
        assert c.leaks("self-test", (manifests / "all.yaml").read_text()), "the scan must see planted canaries"
        assert c.leaks("self-test", f"x{planted[-25:-10].upper()}x"), "15 characters in a row are a leak"
        cluster.apply(documents)

        proc = OperatorProcess(cluster, [namespace], tmp_path, env=env, wandb=wandb,
                               extra_args=["--lease-namespace", namespace])
        surfaces: dict[str, str] = {}
        proc.start()
        try:
            # the error paths are in place before the event: every good reference Ready, the others not
            for hook in hooks:
                for ref in (hook.signing, hook.bearer):
                    good = ref.startswith(("sig-", "tok-"))
                    reason = "Succeeded" if good else ("BadFormat" if ref.startswith("badkey") else "SecretNotFound")
                    wait_condition(cluster, "secretreference", ref, namespace, "True" if good else "False", reason)
            wait_until(lambda: cluster.get_json("configmaps", "-n", namespace, "-l",
                                                "automations.wandb.ai/cursor=true")["items"],
                       TIMEOUT, "the first poll (a cursor in the namespace)", 0.3)

            wandb.state.add_alias("acme", "proj", collection, "v0", alias, author="alice")
            done = terminal(cluster, namespace, len(hooks))
            failed = {done[h.automation]["metadata"]["name"] for h in hooks if h.expect == "Failed"}
            wait_until(lambda: failed <= delivery_failures(cluster, namespace), TIMEOUT,
                       "a DeliveryFailed Warning Event per failed execution", 0.3)
            for hook in hooks:
                status = done[hook.automation]["status"]
                assert (status["phase"], status["attempts"]) == (hook.expect, hook.attempts), (hook.name, status)
                if hook.resolvable:
                    assert len(hook.receiver.requests) == hook.attempts, hook.name
                else:
                    assert hook.receiver.requests == [], f"{hook.name}: sent without its secrets"
            assert "gave up after 2 attempts: HTTP 500" in done["auto-fail"]["status"]["error"]
            assert done["auto-reauth"]["status"]["responseCode"] == 200
            assert '"Authorization": "Bearer ***"' in done["auto-echo"]["status"]["responseBody"]  # scrubbed
            for label in ("sig-reauth", "tok-reauth"):  # read for Ready, then again after the 401
                reads = [n for n, _ in stack.secret_manager.calls if n.startswith(seeded.gcp_names[label] + "/")]
                assert len(reads) >= 2, f"{label} was not read again after the 401 ({len(reads)} reads)"

            # the CLI
            for output in ("json", "wide", "table"):
                result = wbauto(cli_env, "history", "--kubeconfig", str(cluster.kubeconfig), "-n", namespace,
                                "--limit", "100", "-o", output)
                assert result.returncode == 0, result.stderr
                surfaces[f"wbauto history -o {output}"] = result.stdout + result.stderr
            assert len(json.loads(surfaces["wbauto history -o json"])) == len(hooks)
            for hook in hooks:
                result = wbauto(cli_env, "render", "-f", str(manifests), "-n", namespace, "-a", hook.automation)
                assert result.returncode == 0, result.stdout + result.stderr
                surfaces[f"wbauto render -a {hook.automation}"] = result.stdout + result.stderr
                if hook.name == "hook-echo":
                    continue  # test-webhook prints the endpoint's answer: see the test below
                sent = len(hook.receiver.requests)
                result = wbauto(cli_env, "test-webhook", hook.name, "--cluster", "-n", namespace, "--kubeconfig",
                                str(cluster.kubeconfig), "--allow-private-targets")
                surfaces[f"wbauto test-webhook {hook.name}"] = result.stdout + result.stderr
                works = hook.resolvable and hook.name != "hook-fail"
                assert result.returncode == (0 if works else 1), result.stdout + result.stderr
                assert len(hook.receiver.requests) == sent + (1 if hook.resolvable else 0), hook.name
            assert "HTTP 500" in surfaces["wbauto test-webhook hook-fail"]
            assert "jsonKey 'password' not found" in surfaces["wbauto test-webhook hook-badkey-aws"]

            # the cluster's objects, Events and metrics
            for output in ("yaml", "json"):  # YAML folds long texts; JSON keeps each on one line
                surfaces[f"objects -o {output}"] = cluster.kubectl(
                    "get", "secretreferences,webhooks,automations,automationexecutions,configmaps,leases", "-n",
                    namespace, "-o", output).stdout
                surfaces[f"events.k8s.io/v1 Events -o {output}"] = cluster.kubectl(
                    "get", "events.v1.events.k8s.io", "-n", namespace, "-o", output).stdout
                surfaces[f"core/v1 Events -o {output}"] = cluster.kubectl(
                    "get", "events", "-n", namespace, "-o", output).stdout
            surfaces["/metrics"] = metrics(proc.metrics_port)
            assert proc.alive(), proc.logs()[-3000:]
        finally:
            proc.stop()
        surfaces["operator log"] = proc.logs()

        # credentials handed out while the test ran: Entra's access tokens for Key Vault
        for i, token in enumerate(sorted(stack.keyvault.tokens)):
            c.add(f"cred-azure-access-token[{i}]", token)
        assert stack.keyvault.tokens, "Azure was not read with a workload-identity token"

    # each surface is real: it shows the objects and outcomes it is searched for canaries in
    assert "wbauto operator started" in surfaces["operator log"]
    assert "jsonKey 'password' not found" in surfaces["objects -o json"]
    assert "lastTest" in surfaces["objects -o json"]
    for reason in ("DeliveryFailed", "BadFormat", "SecretNotFound"):
        assert reason in surfaces["events.k8s.io/v1 Events -o json"], reason
    assert 'wbauto_secret_resolutions_total{backend="vault",result="ok"}' in surfaces["/metrics"]

    leaks = [leak for surface, text in surfaces.items() for leak in c.leaks(surface, text)]
    for hook in hooks:
        leaks += wire_problems(hook, c)
    if leaks:
        pytest.fail(f"{len(leaks)} canary leak(s):\n" + "\n".join(leaks), pytrace=False)


def test_test_webhook_hides_a_token_the_endpoint_echoes(cluster: ControlPlane, namespace: str) -> None:
    c = Canaries()
    receiver = Receiver(respond=echo).start()
    try:
        cluster.apply([
            kube_secret(namespace, "echo-values", signing=c.new("sig-echo"), token=c.new("tok-echo")),
            secret_reference("sig-echo", namespace=namespace, kubernetes={"name": "echo-values", "key": "signing"}),
            secret_reference("tok-echo", namespace=namespace, kubernetes={"name": "echo-values", "key": "token"}),
            webhook("hook-echo", url=receiver.url(), namespace=namespace, secretRef={"name": "sig-echo"},
                    accessTokenRef={"name": "tok-echo"}),
        ])
        result = wbauto(cluster.env(), "test-webhook", "hook-echo", "--cluster", "-n", namespace, "--kubeconfig",
                        str(cluster.kubeconfig), "--allow-private-targets")
        assert result.returncode == 0, result.stdout + result.stderr
        hook = Hook("hook-echo", receiver, "sig-echo", "tok-echo", "Finished")
        assert len(receiver.requests) == 1 and wire_problems(hook, c) == []
        leaks = c.leaks("wbauto test-webhook (echoing endpoint)", result.stdout + result.stderr)
        assert not leaks, "\n".join(leaks)
    finally:
        receiver.stop()
