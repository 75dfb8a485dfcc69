"""Where the Kubernetes API is and how to log in, found as kubectl finds it (``kubernetes_asyncio``'s loaders).

Order: an explicit ``--kubeconfig``; else ``$KUBECONFIG`` (several files joined by ``:``, merged as kubectl
merges them); else the in-cluster service account (token re-read as it rotates); else
``~/.kube/config``. ``--context`` picks a context. Users may be exec credential plugins (``aws eks
get-token``, ``gke-gcloud-auth-plugin``, ``kubelogin``: run again when their token expires), tokens, token
files, client certificates, basic auth.

Certificate and key data embedded in a kubeconfig is written to a private directory only while the TLS
context is built, then removed: no key material stays on disk.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import helpers as aiohttp_helpers
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio.config import incluster_config, kube_config
from kubernetes_asyncio.config.config_exception import ConfigException
from yarl import URL

from wbauto.errors import ConfigError

SA_DIR = Path("/var/run/secrets/kubernetes.io/serviceaccount")


@dataclass(frozen=True)
class Login:
    """What a second HTTP stack (Kopf's watches) needs to reach the same API as the same user."""

    server: str
    ca_data: bytes | None
    insecure: bool
    token: str | None
    certificate_data: bytes | None
    private_key_data: bytes | None
    namespace: str
    expiration: datetime.datetime | None


POOL = 64  # concurrent connections to the apiserver


def _read_environment_once(api: k8s_client.ApiClient, host: str) -> None:
    """``kubernetes_asyncio`` opens its session with ``trust_env``: aiohttp then reads the proxy variables
    and ``~/.netrc`` again, in a thread, for every request (~10 % of the operator's CPU under load). When
    neither applies to the apiserver (checked here, once), the session stops looking."""
    try:
        aiohttp_helpers.get_env_proxy_for_url(URL(host))
        return  # a proxy applies: aiohttp keeps reading it from the environment
    except LookupError:
        pass
    except ValueError:
        return
    if aiohttp_helpers.netrc_from_env() is not None:
        return
    session = api.rest_client.pool_manager
    if getattr(session, "_trust_env", None) is True:
        session._trust_env = False


class Credentials:
    """A loaded kubeconfig or service account: the ``kubernetes_asyncio`` configuration, kept fresh, and
    the API client built from it (its TLS context holds the certificates; the files are gone)."""

    def __init__(self, configuration: k8s_client.Configuration, namespace: str, source: str,
                 loader: kube_config.KubeConfigLoader | None = None) -> None:
        self.configuration = configuration
        self.namespace = namespace
        self.source = source
        self._loader = loader
        self._ca = _read(configuration.ssl_ca_cert)
        self._cert = _read(configuration.cert_file)
        self._key = _read(configuration.key_file)
        configuration.connection_pool_maxsize = POOL
        self.api = k8s_client.ApiClient(configuration)
        _read_environment_once(self.api, str(configuration.host))
        self.api.user_agent = "wbauto"  # audit logs and apiserver metrics name the operator, not the generator

    async def aclose(self) -> None:
        await self.api.close()

    @property
    def server(self) -> str:
        return str(self.configuration.host)

    async def refresh(self) -> None:
        """Run the exec plugin again when its token expired (a no-op otherwise; service-account tokens are
        re-read by the configuration's own hook)."""
        loader = self._loader
        if loader is not None and loader._user is not None and "exec" in loader._user:
            try:
                await loader.load_from_exec_plugin()
            except Exception as exc:
                raise ConfigError(f"kubeconfig {self.source}: the exec credential plugin failed: {exc}") from exc
            self.configuration.api_key["BearerToken"] = loader.token

    async def authorization(self) -> str | None:
        """The ``Authorization`` header value (``Bearer ...`` or ``Basic ...``), if the user has one."""
        await self.refresh()
        value = await self.configuration.get_api_key_with_prefix("BearerToken")
        return str(value) if value else None

    async def login(self) -> Login:
        header = await self.authorization()
        token = header.split(" ", 1)[1] if header and header.startswith("Bearer ") else None
        expiry = getattr(self._loader, "exec_plugin_expiry", None) if self._loader is not None else None
        return Login(server=self.server, ca_data=self._ca, insecure=not self.configuration.verify_ssl, token=token,
                     certificate_data=self._cert, private_key_data=self._key, namespace=self.namespace,
                     expiration=expiry if isinstance(expiry, datetime.datetime) else None)


def _read(path: str | None) -> bytes | None:
    if not path:
        return None
    with open(path, "rb") as f:
        return f.read()


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST")) and (SA_DIR / "token").exists()


async def load(kubeconfig: str | None = None, context: str | None = None) -> Credentials:
    """Explicit kubeconfig > $KUBECONFIG > in-cluster service account > ~/.kube/config."""
    paths = kubeconfig or os.environ.get("KUBECONFIG")
    if not paths and context is None and in_cluster():
        return _in_cluster()
    paths = paths or str(Path.home() / ".kube" / "config")
    return await _from_kubeconfig(paths, context)


def _in_cluster() -> Credentials:
    configuration = k8s_client.Configuration()
    try:
        incluster_config.load_incluster_config(  # type: ignore[no-untyped-call]
            client_configuration=configuration, try_refresh_token=True)
    except ConfigException as exc:
        raise ConfigError(f"in-cluster service account: {exc}") from exc
    namespace_file = SA_DIR / "namespace"
    namespace = namespace_file.read_text().strip() if namespace_file.exists() else "default"
    return Credentials(configuration, namespace, "in-cluster service account")


async def _from_kubeconfig(paths: str, context: str | None) -> Credentials:
    merged = kube_config.KubeConfigMerger(paths)
    if merged.config is None:
        raise ConfigError(f"kubeconfig {paths}: no such file; set --kubeconfig or KUBECONFIG")
    private = tempfile.mkdtemp(prefix="wbauto-kube-")  # 0700: only for the moment certificates are loaded
    configuration = k8s_client.Configuration()
    try:
        try:
            loader = kube_config.KubeConfigLoader(config_dict=merged.config, active_context=context,
                                                  config_base_path=None, temp_file_path=private)
            await loader.load_and_set(configuration)
        except (ConfigException, AssertionError, KeyError, TypeError) as exc:
            names = _contexts(merged.config)
            raise ConfigError(f"kubeconfig {paths}: {exc or 'incomplete'} (context {context or 'current'}; "
                              f"contexts: {', '.join(names) or 'none'}); pass --context NAME") from exc
        except OSError as exc:
            raise ConfigError(f"kubeconfig {paths}: {exc}") from exc
        if not configuration.host or configuration.host == "http://localhost":
            raise ConfigError(f"kubeconfig {paths}: context {context or 'current'} has no cluster server")
        current: Any = loader.current_context or {}
        namespace = str((current.get("context") or {}).get("namespace") or "default")
        source = paths + (f" (context {context})" if context else "")
        credentials = Credentials(configuration, namespace, source, loader)
    finally:
        _forget_files(private)
    return credentials


def _forget_files(directory: str) -> None:
    """Remove the certificate files written to ``directory`` (already read into memory), and the loader's
    record of them, so a later load writes them again instead of pointing at removed files."""
    for key, path in list(kube_config._temp_files.items()):
        if str(path).startswith(directory):
            del kube_config._temp_files[key]
    with contextlib.suppress(OSError):
        shutil.rmtree(directory)


def _contexts(config: Any) -> list[str]:
    try:
        return [str(c["name"]) for c in config.value.get("contexts") or []]
    except (AttributeError, KeyError, TypeError):
        return []
