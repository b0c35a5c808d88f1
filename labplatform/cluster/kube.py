"""The one place that talks to the Kubernetes API.

Every call goes through here so that API errors are handled on purpose:
409 on create means "already there" (provisioning converges when retried),
404 on delete means "already gone", 403 is a configuration problem worth
a clear message, and 429, 5xx or a refused connection mean the cluster is
unavailable for now. Views never import this module's dependencies.
"""

import contextlib
import contextvars
import functools
import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import urllib3
from django.conf import settings
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.dynamic import DynamicClient
from kubernetes.dynamic.exceptions import (
    DynamicApiError,
    NotFoundError,
    ResourceNotFoundError,
)

logger = logging.getLogger(__name__)

FIELD_MANAGER = "labplatform"
REQUEST_TIMEOUT_SECONDS = 10


class ClusterError(Exception):
    """A Kubernetes API call failed. The message names the call and the next step."""

    def __init__(self, message: str, *, status: int | None = None, body: str = ""):
        super().__init__(message)
        self.status = status
        self.body = body


class ClusterUnavailable(ClusterError):
    """The API server was unreachable or returned 429 or 5xx, so retry later."""

    def __init__(
        self,
        message: str,
        *,
        status: int | None = None,
        body: str = "",
        retry_after: float | None = None,
    ):
        super().__init__(message, status=status, body=body)
        # Seconds the API server asked us to wait (its Retry-After header).
        self.retry_after = retry_after


def _retry_after(error) -> float | None:
    headers = getattr(error, "headers", None) or {}
    value = headers.get("Retry-After") if hasattr(headers, "get") else None
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


@dataclass(frozen=True)
class DryRunResult:
    allowed: bool
    message: str
    warnings: tuple[str, ...] = ()


_lock = threading.Lock()


@functools.cache
def _api_client_for(kubeconfig: str) -> client.ApiClient:
    return config.new_client_from_config(config_file=kubeconfig)


# The kubeconfig of the cluster the current code works on: the platform's
# own (settings.KUBECONFIG) unless a session on a dedicated cluster set one
# with using_cluster().
_cluster_kubeconfig: contextvars.ContextVar[str | None] = contextvars.ContextVar(
    "cluster_kubeconfig", default=None
)


def current_kubeconfig() -> str:
    return _cluster_kubeconfig.get() or settings.KUBECONFIG


@contextlib.contextmanager
def using_cluster(kubeconfig: str | None):
    """Direct the calls inside the block to another cluster (None: the default)."""
    token = _cluster_kubeconfig.set(kubeconfig)
    try:
        yield
    finally:
        _cluster_kubeconfig.reset(token)


def api_client() -> client.ApiClient:
    kubeconfig = current_kubeconfig()
    try:
        return _api_client_for(kubeconfig)
    except (OSError, config.ConfigException) as error:
        raise ClusterError(
            f"cannot load kubeconfig {kubeconfig!r}: {error}. Start the local "
            "control plane (manage.py controlplane) or set LABPLATFORM_KUBECONFIG."
        ) from None


@functools.cache
def _dynamic_for(kubeconfig: str) -> DynamicClient:
    return DynamicClient(_api_client_for(kubeconfig))


def dynamic() -> DynamicClient:
    api_client()
    with _lock:
        try:
            return _dynamic_for(current_kubeconfig())
        except urllib3.exceptions.HTTPError as error:
            raise ClusterUnavailable(
                f"Kubernetes API server unreachable: {error}"
            ) from None


def reset_clients() -> None:
    """Forget cached clients, for example after the kubeconfig changed."""
    _api_client_for.cache_clear()
    _dynamic_for.cache_clear()


def core() -> client.CoreV1Api:
    return client.CoreV1Api(api_client())


def _translate(error: Exception, action: str) -> ClusterError:
    if isinstance(error, (ApiException, DynamicApiError)):
        status = error.status
        body = (
            error.body.decode() if isinstance(error.body, bytes) else (error.body or "")
        )
        if status == 429 or (status is not None and status >= 500):
            return ClusterUnavailable(
                f"{action}: the API server answered {status}; retry shortly",
                status=status,
                body=body,
                retry_after=_retry_after(error),
            )
        return ClusterError(
            f"{action}: API status {status}: {_message_of(body)}",
            status=status,
            body=body,
        )
    return ClusterUnavailable(f"{action}: API server unreachable ({error})")


def _message_of(body: str) -> str:
    import json

    try:
        return json.loads(body).get("message", body)
    except (ValueError, AttributeError):
        return body


def _resource(api_version: str, kind: str):
    try:
        return dynamic().resources.get(api_version=api_version, kind=kind)
    except ResourceNotFoundError:
        raise ClusterError(
            f"the cluster does not serve {kind} in {api_version}; "
            "check the Kubernetes version (1.30 or later is needed)"
        ) from None


def apply(manifest: Mapping) -> dict:
    """Server-side apply one object; the same call converges when repeated."""
    api_version = manifest["apiVersion"]
    kind = manifest["kind"]
    metadata = manifest["metadata"]
    action = f"apply {kind} {metadata.get('namespace', '')}/{metadata['name']}".replace(
        " /", " "
    )
    resource = _resource(api_version, kind)
    try:
        result = resource.server_side_apply(
            body=dict(manifest),
            name=metadata["name"],
            namespace=metadata.get("namespace"),
            field_manager=FIELD_MANAGER,
            force_conflicts=True,
            _request_timeout=REQUEST_TIMEOUT_SECONDS,
        )
    except (ApiException, DynamicApiError, urllib3.exceptions.HTTPError) as error:
        raise _translate(error, action) from None
    return result.to_dict()


def get(
    api_version: str, kind: str, name: str, namespace: str | None = None
) -> dict | None:
    """Read one object; None when it does not exist."""
    resource = _resource(api_version, kind)
    try:
        return resource.get(
            name=name, namespace=namespace, _request_timeout=REQUEST_TIMEOUT_SECONDS
        ).to_dict()
    except NotFoundError:
        return None
    except (ApiException, DynamicApiError, urllib3.exceptions.HTTPError) as error:
        raise _translate(error, f"get {kind} {name}") from None


def list_objects(
    api_version: str,
    kind: str,
    *,
    namespace: str | None = None,
    label_selector: str | None = None,
) -> list[dict]:
    resource = _resource(api_version, kind)
    try:
        result = resource.get(
            namespace=namespace,
            label_selector=label_selector,
            _request_timeout=REQUEST_TIMEOUT_SECONDS,
        )
    except (ApiException, DynamicApiError, urllib3.exceptions.HTTPError) as error:
        raise _translate(error, f"list {kind}") from None
    return [item.to_dict() for item in result.items]


def delete(
    api_version: str, kind: str, name: str, namespace: str | None = None
) -> bool:
    """Delete one object; return False when it was already gone (404)."""
    resource = _resource(api_version, kind)
    try:
        resource.delete(
            name=name, namespace=namespace, _request_timeout=REQUEST_TIMEOUT_SECONDS
        )
    except NotFoundError:
        return False
    except (ApiException, DynamicApiError, urllib3.exceptions.HTTPError) as error:
        raise _translate(error, f"delete {kind} {name}") from None
    return True


def dry_run_create(manifest: Mapping) -> DryRunResult:
    """Ask the API server whether it would admit manifest, changing nothing.

    A rejection is a result, not an error. It carries the API server's
    own message, which is what a learner should read.
    """
    resource = _resource(manifest["apiVersion"], manifest["kind"])
    namespace = manifest["metadata"].get("namespace")
    try:
        resource.create(
            body=dict(manifest),
            namespace=namespace,
            dry_run="All",
            _request_timeout=REQUEST_TIMEOUT_SECONDS,
        )
    except (ApiException, DynamicApiError) as error:
        if error.status in (400, 403, 409, 422):
            body = error.body.decode() if isinstance(error.body, bytes) else error.body
            return DryRunResult(allowed=False, message=_message_of(body or ""))
        raise _translate(error, "dry-run create") from None
    except urllib3.exceptions.HTTPError as error:
        raise _translate(error, "dry-run create") from None
    return DryRunResult(allowed=True, message="")


def request_service_account_token(
    *, namespace: str, name: str, expiration_seconds: int
) -> str:
    """Issue a bound token for a service account through the TokenRequest API."""
    body = client.AuthenticationV1TokenRequest(
        spec=client.V1TokenRequestSpec(
            audiences=[], expiration_seconds=max(600, expiration_seconds)
        )
    )
    try:
        result = core().create_namespaced_service_account_token(
            name, namespace, body, _request_timeout=REQUEST_TIMEOUT_SECONDS
        )
    except (ApiException, urllib3.exceptions.HTTPError) as error:
        raise _translate(error, f"request token for {namespace}/{name}") from None
    return result.status.token


def apply_as(token: str, manifest: Mapping, *, field_manager: str) -> dict:
    """Server-side apply one object with a learner's token, so RBAC and
    admission judge the learner, not the platform."""
    admin = api_client().configuration
    configuration = client.Configuration()
    configuration.host = admin.host
    configuration.ssl_ca_cert = admin.ssl_ca_cert
    configuration.verify_ssl = True
    configuration.api_key = {"authorization": f"Bearer {token}"}
    learner_dynamic = DynamicClient(client.ApiClient(configuration))
    metadata = manifest["metadata"]
    try:
        resource = learner_dynamic.resources.get(
            api_version=manifest["apiVersion"], kind=manifest["kind"]
        )
        result = resource.server_side_apply(
            body=dict(manifest),
            name=metadata["name"],
            namespace=metadata.get("namespace"),
            field_manager=field_manager,
            force_conflicts=True,
            _request_timeout=REQUEST_TIMEOUT_SECONDS,
        )
    except ResourceNotFoundError:
        raise ClusterError(
            f"the cluster has no kind {manifest['kind']} in {manifest['apiVersion']}"
        ) from None
    except (ApiException, DynamicApiError, urllib3.exceptions.HTTPError) as error:
        raise _translate(
            error, f"apply {manifest['kind']} {metadata['name']}"
        ) from None
    return result.to_dict()


def delete_many(manifests: Iterable[Mapping]) -> None:
    for manifest in manifests:
        metadata = manifest["metadata"]
        delete(
            manifest["apiVersion"],
            manifest["kind"],
            metadata["name"],
            metadata.get("namespace"),
        )


def cluster_server() -> tuple[str, str]:
    """Return the API server URL and its CA bundle (PEM) from the admin kubeconfig."""
    configuration = api_client().configuration
    with open(configuration.ssl_ca_cert) as handle:
        ca_pem = handle.read()
    return configuration.host, ca_pem
