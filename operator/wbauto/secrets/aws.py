"""AWS Secrets Manager backend (boto3).

Identity: boto3's default chain (IRSA web identity, EKS Pod Identity container credentials, ...),
unless the SecretReference names static keys in a Kubernetes Secret of its own namespace. The region
comes from the spec, else the secret's ARN, else ``AWS_REGION``, then ``AWS_DEFAULT_REGION`` (passed
explicitly: boto3 itself ignores ``AWS_REGION``). ``AWS_ENDPOINT_URL_SECRETS_MANAGER`` /
``AWS_ENDPOINT_URL`` are honoured by boto3 when the spec sets no ``endpoint``.

A ``SecretBinary`` is returned as UTF-8 text when it decodes, else base64. The recorded version is the
``VersionId``. One client per (region, endpoint, identity) is kept; clients are thread-safe.
"""

from __future__ import annotations

import base64
import os
import re
import threading
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.config
import botocore.exceptions

from wbauto.api.conditions import Reason
from wbauto.api.secretreference import AwsSource, AwsStaticCredentials, KubernetesSource
from wbauto.errors import SecretError
from wbauto.secrets import base
from wbauto.secrets.kubernetes import KubernetesBackend

_CONFIG = botocore.config.Config(
    connect_timeout=3,
    read_timeout=5,
    retries={"mode": "standard", "max_attempts": 3},
)

# error codes of Secrets Manager, STS (web identity) and the signature check
_DENIED = frozenset({
    "AccessDenied", "AccessDeniedException", "UnrecognizedClientException", "InvalidSignatureException",
    "SignatureDoesNotMatch", "InvalidClientTokenId", "IncompleteSignature", "MissingAuthenticationToken",
    "ExpiredToken", "ExpiredTokenException", "InvalidIdentityToken", "IDPRejectedClaim",
    "DecryptionFailure",  # the KMS key policy does not let the caller decrypt
})
_INVALID = frozenset({"InvalidParameterException", "ValidationException"})
_CODE = re.compile(r"[A-Za-z0-9.]{1,64}")  # an error code is an identifier; anything else is not shown
_CREDENTIAL_ERRORS = (
    botocore.exceptions.NoCredentialsError,
    botocore.exceptions.PartialCredentialsError,
    botocore.exceptions.CredentialRetrievalError,
    botocore.exceptions.TokenRetrievalError,
)


@dataclass(frozen=True)
class _Keys:
    """Static credentials read from a Kubernetes Secret; ``repr`` shows only where they came from."""

    identity: str  # namespace/secret
    version: str  # the resourceVersions they were read at: a new client when the Secret changes
    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(repr=False)


def region_of(source: AwsSource) -> str | None:
    """The region to call: spec, else the ARN's, else AWS_REGION, then AWS_DEFAULT_REGION."""
    if source.region:
        return source.region
    parts = source.secret_id.split(":")
    if len(parts) >= 7 and parts[0] == "arn" and parts[2] == "secretsmanager" and parts[3]:
        return parts[3]
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


def _describe(source: AwsSource) -> str:
    what = f"AWS secret {source.secret_id!r}"
    if source.version_id:
        return f"{what} version {source.version_id!r}"
    if source.version_stage:
        return f"{what} stage {source.version_stage!r}"
    return what


def _text(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(data).decode("ascii")


class AwsBackend:
    name = "aws"

    def __init__(self, context: base.Context) -> None:
        self._context = context
        self._kube = KubernetesBackend(context)
        self._lock = threading.Lock()
        # (region, endpoint, credentials Secret or "") -> (the keys' version, client)
        self._clients: dict[tuple[str, str | None, str], tuple[str, Any]] = {}

    async def get(self, request: base.Request) -> base.SecretValue:
        source: AwsSource = request.source
        region = region_of(source)
        if region is None:
            raise SecretError(f"SecretReference {request.ref}: no AWS region: set spec.aws.region, use a full "
                              "ARN, or set AWS_REGION on the operator", reason=Reason.INVALID_SPEC, retryable=False)
        keys = await self._static_keys(request, source.credentials) if source.credentials else None
        what = _describe(source)
        try:
            response = await self._context.in_thread(self._fetch, region, source, keys)
        except botocore.exceptions.ClientError as exc:
            raise _client_error(request, what, exc) from exc
        except _CREDENTIAL_ERRORS as exc:
            raise base.access_denied(request, f"{what} (no usable AWS credentials: "
                                              f"{type(exc).__name__})") from exc
        except botocore.exceptions.ParamValidationError as exc:
            raise SecretError(f"SecretReference {request.ref}: {what}: the request was rejected by the AWS SDK "
                              "(check secretId, versionId, versionStage)", reason=Reason.INVALID_SPEC,
                              retryable=False) from exc
        except (botocore.exceptions.BotoCoreError, TimeoutError) as exc:
            raise base.unavailable(request, f"AWS Secrets Manager in {region}", exc) from exc
        if response.get("SecretString") is not None:
            text = response["SecretString"]
        elif response.get("SecretBinary") is not None:
            text = _text(response["SecretBinary"])
        else:
            raise SecretError(f"SecretReference {request.ref}: {what} has no value", reason=Reason.BAD_FORMAT,
                              retryable=False)
        value = base.pick_json_key(request, text, source.json_key)
        return base.SecretValue(value=value, version=str(response.get("VersionId", "")))

    async def _static_keys(self, request: base.Request, creds: AwsStaticCredentials) -> _Keys:
        names = [creds.access_key_id_key, creds.secret_access_key_key]
        if creds.session_token_key:
            names.append(creds.session_token_key)
        values = [await self._kube.get(base.Request(request.namespace, request.name,
                                                    KubernetesSource(name=creds.secret_name, key=key)))
                  for key in names]
        return _Keys(f"{request.namespace}/{creds.secret_name}", ",".join(v.version for v in values),
                     values[0].value, values[1].value, values[2].value if len(values) > 2 else None)

    def _fetch(self, region: str, source: AwsSource, keys: _Keys | None) -> dict[str, Any]:
        """Blocking: runs in a worker thread."""
        client = self._client(region, source.endpoint, keys)
        params: dict[str, str] = {"SecretId": source.secret_id}
        if source.version_id:
            params["VersionId"] = source.version_id
        if source.version_stage:
            params["VersionStage"] = source.version_stage
        response: dict[str, Any] = client.get_secret_value(**params)
        return response

    def _client(self, region: str, endpoint: str | None, keys: _Keys | None) -> Any:
        identity, version = (keys.identity, keys.version) if keys else ("", "")
        with self._lock:
            cached = self._clients.get((region, endpoint, identity))
            if cached is not None and cached[0] == version:
                return cached[1]
            if keys is None:
                session = boto3.session.Session()
            else:
                session = boto3.session.Session(aws_access_key_id=keys.access_key_id,
                                                aws_secret_access_key=keys.secret_access_key,
                                                aws_session_token=keys.session_token)
            client = session.client("secretsmanager", region_name=region, endpoint_url=endpoint, config=_CONFIG)
            self._clients[(region, endpoint, identity)] = (version, client)
            return client


def _client_error(request: base.Request, what: str, exc: botocore.exceptions.ClientError) -> SecretError:
    # only the error code and status: the message can echo request data
    error = exc.response.get("Error") or {}
    code = str(error.get("Code", ""))
    code = code if _CODE.fullmatch(code) else ""
    status = (exc.response.get("ResponseMetadata") or {}).get("HTTPStatusCode")
    if code == "ResourceNotFoundException":
        return base.not_found(request, what)
    if code == "InvalidRequestException":
        return SecretError(f"SecretReference {request.ref}: {what} is scheduled for deletion or not usable",
                           reason=Reason.SECRET_NOT_FOUND)
    if code in _DENIED or status in (401, 403):
        return base.access_denied(request, what)
    if code in _INVALID:
        return SecretError(f"SecretReference {request.ref}: {what}: the request was rejected ({code}); check "
                           "secretId, versionId and versionStage", reason=Reason.INVALID_SPEC, retryable=False)
    return SecretError(f"SecretReference {request.ref}: AWS Secrets Manager answered {code or status} for "
                       f"{what}; will retry", reason=Reason.BACKEND_UNAVAILABLE)


base.register("aws", AwsBackend)
