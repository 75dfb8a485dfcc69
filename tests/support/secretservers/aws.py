"""moto in server mode (Secrets Manager, IAM, STS) with IAM enforcement, and an EKS Pod Identity agent.

After seeding, :class:`MotoServer` turns on moto's request authentication: every call must be SigV4
signed by a key moto issued (an IAM user's, or an STS session's) whose policies allow the action, so a
test that reads a secret also proves which identity the credential chain picked up. One fidelity fix:
STS ``AssumeRoleWithWebIdentity`` is unsigned by design (the web identity token is the credential),
which moto's enforcement cannot parse; it is let through, as AWS does.

Identities seeded (account 123456789012):

* ``admin``   user, ``*``: seeds secrets (tests only)
* ``reader``  user, ``secretsmanager:GetSecretValue``: the operator in tests that use static keys
* ``nobody``  user, no policy: AccessDenied
* role ``irsa``          trusted for web identity; may read secrets (IRSA)
* role ``pod-identity``  assumed by the Pod Identity agent; may read secrets
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.request
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
from moto.core.authorization import ActionAuthenticatorMixin
from moto.server import ThreadedMotoServer

from tests.support.secretservers.httpserver import Handler, LoopbackServer

ACCOUNT = "123456789012"
REGION = "us-east-1"
IRSA_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/irsa"
POD_IDENTITY_ROLE_ARN = f"arn:aws:iam::{ACCOUNT}:role/pod-identity"
_READ_POLICY = {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"], "Resource": "*"}]}
_ALL_POLICY = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}


@dataclass(frozen=True)
class Keys:
    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)

    def client_kwargs(self) -> dict[str, Any]:
        kwargs = {"aws_access_key_id": self.access_key_id, "aws_secret_access_key": self.secret_access_key}
        if self.session_token:
            kwargs["aws_session_token"] = self.session_token
        return kwargs

    def env(self) -> dict[str, str]:
        env = {"AWS_ACCESS_KEY_ID": self.access_key_id, "AWS_SECRET_ACCESS_KEY": self.secret_access_key}
        if self.session_token:
            env["AWS_SESSION_TOKEN"] = self.session_token
        return env


NO_ENFORCEMENT = b"1000000000"  # moto's reset-auth body: how many requests go unchecked

_original_authenticate = ActionAuthenticatorMixin._authenticate_and_authorize_normal_action


def _authenticate(self: Any, resource: str = "*") -> None:
    if "Authorization" not in self.headers and self._get_action() == "AssumeRoleWithWebIdentity":
        return
    _original_authenticate(self, resource)


class MotoServer:
    def __init__(self) -> None:
        # the server logs every request (and moto's IAM check logs request data) at DEBUG/INFO
        for name in ("werkzeug", "moto"):
            logging.getLogger(name).setLevel(logging.ERROR)
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self.endpoint = ""
        self.admin = self.reader = self.nobody = Keys("", "")

    def start(self) -> None:
        ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = _authenticate  # type: ignore[method-assign]
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        # moto's backends and its auth switch are process-global: an earlier MotoServer in this process
        # (another test package's stack) left users behind and enforcement on
        self._post("/moto-api/reset", b"")
        self._post("/moto-api/reset-auth", NO_ENFORCEMENT)
        self._seed_iam()
        self._post("/moto-api/reset-auth", b"0")  # enforce from now on

    def stop(self) -> None:
        self._post("/moto-api/reset-auth", NO_ENFORCEMENT)
        self._server.stop()
        ActionAuthenticatorMixin._authenticate_and_authorize_normal_action = (  # type: ignore[method-assign]
            _original_authenticate)

    def _post(self, path: str, body: bytes) -> None:
        req = urllib.request.Request(self.endpoint + path, data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            resp.read()

    def client(self, service: str, keys: Keys | None = None) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION,
                            **(keys or self.admin).client_kwargs())

    def _seed_iam(self) -> None:
        iam = self.client("iam", Keys("bootstrap", "bootstrap"))  # before enforcement: any key is accepted
        self.admin = self._user(iam, "admin", _ALL_POLICY)
        self.reader = self._user(iam, "reader", _READ_POLICY)
        self.nobody = self._user(iam, "nobody", None)
        web_trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": "sts:AssumeRoleWithWebIdentity",
            "Principal": {"Federated": f"arn:aws:iam::{ACCOUNT}:oidc-provider/oidc.eks.example"}}]}
        # in EKS the agent's principal is the service pods.eks.amazonaws.com; here the agent assumes the
        # role as ``admin`` (moto's trust check understands AWS principals only)
        agent_trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Action": ["sts:AssumeRole", "sts:TagSession"],
            "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:user/admin"}}]}
        for name, trust in (("irsa", web_trust), ("pod-identity", agent_trust)):
            iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))
            iam.put_role_policy(RoleName=name, PolicyName="read", PolicyDocument=json.dumps(_READ_POLICY))

    @staticmethod
    def _user(iam: Any, name: str, policy: dict[str, Any] | None) -> Keys:
        iam.create_user(UserName=name)
        if policy is not None:
            iam.put_user_policy(UserName=name, PolicyName="p", PolicyDocument=json.dumps(policy))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return Keys(key["AccessKeyId"], key["SecretAccessKey"])

    def assume(self, role_arn: str, session: str) -> Keys:
        """Temporary credentials for ``role_arn``, as the Pod Identity agent obtains them."""
        creds = self.client("sts").assume_role(RoleArn=role_arn, RoleSessionName=session)["Credentials"]
        return Keys(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


# --- EKS Pod Identity agent -------------------------------------------------------------------------


class _AgentHandler(Handler):
    def do_GET(self) -> None:
        agent: PodIdentityAgent = self.server.owner  # type: ignore[attr-defined]
        token = self.headers.get("Authorization", "")
        with agent.lock:
            agent.requests.append((self.path, token))
        if self.path != "/v1/credentials" or token != agent.expected_token:
            self.send_json(401, {"message": "invalid pod identity token"})
            return
        keys = agent.moto.assume(POD_IDENTITY_ROLE_ARN, "eks-pod-identity")
        expires = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        self.send_json(200, {"AccessKeyId": keys.access_key_id, "SecretAccessKey": keys.secret_access_key,
                             "Token": keys.session_token, "AccountId": ACCOUNT, "Expiration": expires})


class PodIdentityAgent(LoopbackServer):
    """The node agent behind ``AWS_CONTAINER_CREDENTIALS_FULL_URI`` (``http://169.254.170.23/v1/credentials``
    in EKS): checks the projected token sent as ``Authorization`` and returns temporary credentials for
    the associated role."""

    def __init__(self, moto: MotoServer, expected_token: str) -> None:
        super().__init__(_AgentHandler)
        self.moto = moto
        self.expected_token = expected_token
        self.lock = threading.Lock()
        self.requests: list[tuple[str, str]] = []
        self.credentials_url = f"{self.url}/v1/credentials"
