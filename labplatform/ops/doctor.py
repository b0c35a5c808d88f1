"""Checks of a running installation, for `manage.py doctor`.

Each check talks to the real part it checks (the API server, Redis, the
database) and returns a Finding that states what was seen and, when
something is wrong, what to change. Checks that need the cluster are
skipped with a reason when the API server cannot be reached.
"""

import logging
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import redis
import urllib3
from django.conf import settings
from django.db import DatabaseError, connection
from django.db.migrations.executor import MigrationExecutor
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from labplatform.cluster import kube, manifests

logger = logging.getLogger(__name__)

OK = "ok"
WARNING = "warning"
ERROR = "error"
SKIPPED = "skipped"

MIN_KUBERNETES_MINOR = 30
REQUEST_TIMEOUT_SECONDS = 5
# How long the audit check waits for the probe's requests to reach the log.
# In the log backend's default blocking mode an event is written before the
# API server responds; the wait covers --audit-log-mode=batch.
AUDIT_WAIT_SECONDS = 5.0
PROBE_PREFIX = "lab-doctor-"


@dataclass(frozen=True)
class Finding:
    check: str
    status: str
    message: str
    fix: str = ""


def redact_url(url: str) -> str:
    """Return url with its password replaced by ***, for messages and logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def check_kubeconfig() -> Finding:
    path = Path(settings.KUBECONFIG)
    if not path.is_file():
        return Finding(
            "kubeconfig",
            ERROR,
            f"{path} does not exist.",
            "Set LABPLATFORM_KUBECONFIG to the cluster's kubeconfig (for kind: "
            "deploy/kind/create-cluster.sh writes var/kind/kubeconfig), or start "
            "the local control plane with manage.py controlplane.",
        )
    try:
        api = kube.api_client()
    except kube.ClusterError as error:
        return Finding(
            "kubeconfig",
            ERROR,
            str(error),
            "Check that the file is a kubeconfig with a current-context.",
        )
    return Finding(
        "kubeconfig", OK, f"{path} loads; API server {api.configuration.host}."
    )


def check_cluster_version() -> Finding:
    host = kube.api_client().configuration.host
    try:
        info = client.VersionApi(kube.api_client()).get_code(
            _request_timeout=REQUEST_TIMEOUT_SECONDS
        )
    except ApiException as error:
        return Finding(
            "cluster version",
            ERROR,
            f"the API server at {host} returned {error.status} {error.reason}.",
            "Check the credentials in the kubeconfig; an expired token or "
            "certificate gets 401.",
        )
    except urllib3.exceptions.HTTPError as error:
        return Finding(
            "cluster version",
            ERROR,
            f"cannot reach the API server at {host}: {str(error).rstrip('.')}.",
            "Start the cluster, or fix the server address in the kubeconfig. In "
            "Docker Compose, the web and worker containers must be on the "
            "cluster's network (LABPLATFORM_CLUSTER_NETWORK).",
        )
    minor = int("".join(ch for ch in info.minor if ch.isdigit()) or 0)
    if int(info.major) == 1 and minor < MIN_KUBERNETES_MINOR:
        return Finding(
            "cluster version",
            ERROR,
            f"Kubernetes {info.git_version} at {host} is too old.",
            f"Use Kubernetes 1.{MIN_KUBERNETES_MINOR} or later, which serves "
            "ValidatingAdmissionPolicy.",
        )
    return Finding("cluster version", OK, f"Kubernetes {info.git_version} at {host}.")


def make_probe_namespace(name: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {
                manifests.LABEL_MANAGED_BY: manifests.MANAGED_BY,
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            },
        },
    }


def make_privileged_pod(namespace: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "privileged-probe", "namespace": namespace},
        "spec": {
            "containers": [
                {
                    "name": "probe",
                    "image": "busybox",
                    "securityContext": {"privileged": True},
                }
            ]
        },
    }


def check_pod_security(namespace: str) -> Finding:
    """Dry-run a privileged pod into a restricted scratch namespace."""
    try:
        kube.apply(make_probe_namespace(namespace))
        # Admission rejects a pod before Pod Security evaluates it while the
        # namespace has no default ServiceAccount, and the controller-manager
        # creates that account only a moment later.
        kube.apply(
            manifests.make_default_service_account(
                namespace=namespace,
                labels={manifests.LABEL_MANAGED_BY: manifests.MANAGED_BY},
            )
        )
        result = kube.dry_run_create(make_privileged_pod(namespace))
    except kube.ClusterError as error:
        return Finding(
            "pod security admission",
            ERROR,
            f"the probe in namespace {namespace} failed: {error}",
            "The platform's account needs the rights of the Helm chart's "
            "ClusterRole; see deploy/helm/labplatform/templates/rbac.yaml.",
        )
    if result.allowed:
        return Finding(
            "pod security admission",
            ERROR,
            f"a privileged pod was admitted into {namespace}, which is labelled "
            "pod-security.kubernetes.io/enforce=restricted.",
            "Enable the PodSecurity admission plugin on the API server "
            "(on by default since Kubernetes 1.25); kind and the local control "
            "plane have it.",
        )
    if "PodSecurity" not in result.message:
        return Finding(
            "pod security admission",
            ERROR,
            f"the probe pod was rejected for another reason: {result.message}",
            "Read the message; the platform's labs rely on Pod Security rejections.",
        )
    return Finding(
        "pod security admission",
        OK,
        "a privileged pod is rejected in a namespace that enforces restricted.",
    )


def check_audit_log(namespace: str | None) -> Finding:
    """Check that the API server's audit log is where the platform reads it."""
    if not settings.AUDIT_LOG_PATH:
        return Finding(
            "audit log",
            ERROR,
            "LABPLATFORM_AUDIT_LOG_PATH is empty, so lab 2's audit events panel "
            "shows nothing and its review check cannot pass.",
            "Mount the API server's audit log into the platform and point "
            "LABPLATFORM_AUDIT_LOG_PATH at it (the kind setup in deploy/kind "
            "does both).",
        )
    path = Path(settings.AUDIT_LOG_PATH)
    try:
        with path.open("rb"):
            pass
    except OSError as error:
        return Finding(
            "audit log",
            ERROR,
            f"cannot read {path}: {error.strerror}.",
            "Check the mount and the file's mode: the platform's user must read "
            "it (create-cluster.sh creates it with mode 0644 before the API "
            "server starts).",
        )
    if namespace is None:
        return Finding(
            "audit log",
            WARNING,
            f"{path} is readable; whether the API server writes to it was not "
            "checked, because the Pod Security probe did not run.",
        )

    marker = f'"namespace":"{namespace}"'.encode()
    deadline = time.monotonic() + AUDIT_WAIT_SECONDS
    while time.monotonic() < deadline:
        with path.open("rb") as handle:
            if any(marker in line for line in handle):
                return Finding(
                    "audit log",
                    OK,
                    f"{path} records the requests of the Pod Security probe.",
                )
        time.sleep(0.25)
    return Finding(
        "audit log",
        ERROR,
        f"{path} is readable but has no event for the probe namespace "
        f"{namespace} after {AUDIT_WAIT_SECONDS:.0f} s.",
        "The file is not the API server's current audit log: check "
        "--audit-log-path and the audit policy (writes at Metadata level, as "
        "in deploy/kind/apiserver/audit-policy.yaml).",
    )


def check_redis() -> Finding:
    url = redact_url(settings.REDIS_URL)
    try:
        redis_client = redis.Redis.from_url(
            settings.REDIS_URL,
            socket_timeout=REQUEST_TIMEOUT_SECONDS,
            socket_connect_timeout=REQUEST_TIMEOUT_SECONDS,
        )
        redis_client.ping()
        version = redis_client.info("server").get("redis_version", "unknown")
        redis_client.close()
    except (redis.RedisError, ValueError) as error:
        return Finding(
            "redis",
            ERROR,
            f"Redis at {url} is not reachable: {str(error).rstrip('.')}.",
            "Start Redis or fix LABPLATFORM_REDIS_URL "
            "(redis://host:6379/0); Celery and the terminals need it.",
        )
    return Finding("redis", OK, f"Redis {version} at {url}.")


def check_database() -> Finding:
    database = settings.DATABASES["default"]
    name = f"{database['ENGINE'].rsplit('.', 1)[-1]} {database.get('NAME', '')}"
    try:
        connection.ensure_connection()
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as error:
        return Finding(
            "database",
            ERROR,
            f"cannot use the database ({name}): {error}".strip(),
            "Check LABPLATFORM_DATABASE_URL and that the server accepts connections.",
        )
    if pending:
        return Finding(
            "database",
            ERROR,
            f"{len(pending)} migrations are not applied ({name}).",
            "Run manage.py migrate (docker compose runs it in the migrate "
            "service; the Helm chart in its migrate Job).",
        )
    return Finding("database", OK, f"{name} is reachable and migrated.")


def check_terminal_backend() -> Finding:
    backend = settings.TERMINAL_BACKEND
    if backend == "local":
        missing = [tool for tool in ("bwrap", "socat") if shutil.which(tool) is None]
        if missing:
            return Finding(
                "terminal backend",
                ERROR,
                f"the local backend needs {' and '.join(missing)}, not installed.",
                "Install the Debian packages bubblewrap and socat, or set "
                "LABPLATFORM_TERMINAL_BACKEND=exec on a cluster with nodes.",
            )
        return Finding(
            "terminal backend", OK, "local: bubblewrap and socat are installed."
        )
    if backend == "exec":
        if not settings.WORKBENCH_IMAGE:
            return Finding(
                "terminal backend",
                ERROR,
                "the exec backend has no workbench image "
                "(LABPLATFORM_WORKBENCH_IMAGE is empty).",
                "Build deploy/workbench and set LABPLATFORM_WORKBENCH_IMAGE to "
                "its tag; on kind, create-cluster.sh loads it into the nodes.",
            )
        # NOTE: whether the nodes can pull the image shows only when the first
        # workbench pod starts, because this check cannot see the nodes' images.
        return Finding(
            "terminal backend",
            OK,
            f"exec: workbench image {settings.WORKBENCH_IMAGE}.",
        )
    return Finding(
        "terminal backend",
        ERROR,
        f"LABPLATFORM_TERMINAL_BACKEND={backend!r} is not a backend.",
        "Use local (development, one machine) or exec (workbench pods).",
    )


def run_checks() -> Iterator[Finding]:
    """Run every check in order, yielding each finding as soon as it is known."""
    kubeconfig = check_kubeconfig()
    yield kubeconfig
    version = (
        check_cluster_version()
        if kubeconfig.status == OK
        else _skipped("cluster version", "the kubeconfig does not load")
    )
    yield version

    probe_namespace = None
    if version.status == OK:
        probe_namespace = f"{PROBE_PREFIX}{uuid.uuid4().hex[:8]}"
        try:
            pod_security = check_pod_security(probe_namespace)
            yield pod_security
            yield check_audit_log(probe_namespace)
        finally:
            _delete_probe_namespace(probe_namespace)
    else:
        yield _skipped("pod security admission", "the cluster version check failed")
        yield check_audit_log(None)

    for check in CHECKS_WITHOUT_CLUSTER:
        yield check()


CHECKS_WITHOUT_CLUSTER: tuple[Callable[[], Finding], ...] = (
    check_redis,
    check_database,
    check_terminal_backend,
)


def _skipped(check: str, reason: str) -> Finding:
    return Finding(check, SKIPPED, f"not checked: {reason}.")


def _delete_probe_namespace(namespace: str) -> None:
    try:
        kube.delete("v1", "Namespace", namespace)
    except kube.ClusterError as error:
        # The reaper removes managed namespaces without a session later.
        logger.warning(
            "Doctor could not delete probe namespace %s: %s", namespace, error
        )
