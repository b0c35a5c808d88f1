"""Build and tear down a learner's lab environment in the cluster.

Every step is a server-side apply, so a task that runs twice (a retry, a
duplicate delivery, a worker killed half-way) converges on the same
objects instead of failing on "already exists".
"""

import logging
import time
from collections.abc import Callable
from pathlib import Path

import yaml
from django.conf import settings

from labplatform.cluster import kube, manifests, policies
from labplatform.content.catalog import Lab

logger = logging.getLogger(__name__)


def load_starting_resources(lab: Lab) -> list[dict]:
    """Read the lab's starting manifests (resources/*.yaml) in file-name order."""
    documents: list[dict] = []
    folder: Path = lab.resources_dir
    if not folder.is_dir():
        return documents
    for path in sorted(folder.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
            if document:
                documents.append(document)
    return documents


# When each cluster last had its guard policies applied by this process.
_policies_applied: dict[str, float] = {}
POLICY_REFRESH_SECONDS = 300


def ensure_platform_policies() -> None:
    """Install the cluster-wide guard policies, at most once per refresh period.

    Applying them is idempotent, but four calls in every provisioning
    task add up when a room of learners starts at once. A policy deleted
    by hand comes back within POLICY_REFRESH_SECONDS.
    """
    key = kube.current_kubeconfig()
    applied = _policies_applied.get(key)
    if applied is not None and time.monotonic() - applied < POLICY_REFRESH_SECONDS:
        return
    kube.apply(policies.make_namespace_guard_policy())
    kube.apply(policies.make_namespace_guard_binding())
    kube.apply(policies.make_finalizer_guard_policy())
    kube.apply(policies.make_finalizer_guard_binding())
    _policies_applied[key] = time.monotonic()


def build_environment(
    *,
    lab: Lab,
    namespace: str,
    labels: dict,
    expires_at,
    learner_name: str,
    report: Callable[[str], None],
) -> None:
    """Create or converge every object of one lab environment.

    report is called with a short description after each step, for the
    live progress shown to the learner.
    """
    ensure_platform_policies()
    report("Cluster guard rails in place")

    namespace_object = kube.apply(
        manifests.make_namespace(
            name=namespace,
            labels=labels,
            lab_labels=lab.namespace_labels,
            expires_at=expires_at,
            learner_name=learner_name,
        )
    )
    namespace_uid = namespace_object["metadata"]["uid"]
    report(f"Namespace {namespace} created")

    kube.apply(
        manifests.make_default_service_account(namespace=namespace, labels=labels)
    )
    kube.apply(manifests.make_service_account(namespace=namespace, labels=labels))
    kube.apply(manifests.make_role(namespace=namespace, labels=labels))
    kube.apply(manifests.make_role_binding(namespace=namespace, labels=labels))
    kube.apply(
        manifests.make_namespace_cluster_role(
            namespace=namespace,
            labels=labels,
            can_label=lab.can_label_namespace,
            owner_uid=namespace_uid,
        )
    )
    kube.apply(
        manifests.make_namespace_cluster_role_binding(
            namespace=namespace,
            labels=labels,
            owner_uid=namespace_uid,
        )
    )
    report("Learner account and permissions set")

    kube.apply(manifests.make_resource_quota(namespace=namespace, labels=labels))
    kube.apply(manifests.make_limit_range(namespace=namespace, labels=labels))
    kube.apply(
        manifests.make_default_deny_network_policy(namespace=namespace, labels=labels)
    )
    kube.apply(
        manifests.make_allow_dns_network_policy(namespace=namespace, labels=labels)
    )
    report("Quota, limits and network policy applied")

    if settings.TERMINAL_BACKEND == "exec":
        build_workbench(lab=lab, namespace=namespace, labels=labels)
        report("Workbench pod created")

    for resource in load_starting_resources(lab):
        kube.apply(
            manifests.place_in_namespace(resource, namespace=namespace, labels=labels)
        )
    report("Lab starting resources deployed")


def assign_environment(
    *, lab: Lab, namespace: str, labels: dict, expires_at, learner_name: str
) -> None:
    """Put the learner's name and labels on a namespace built for the pool.

    NOTE: objects inside the namespace keep the pool's learner label, so
    only the namespace's labels name the learner. Relabelling every object
    would cost one API call per object and give the learner nothing.
    """
    kube.apply(
        manifests.make_namespace(
            name=namespace,
            labels=labels,
            lab_labels=lab.namespace_labels,
            expires_at=expires_at,
            learner_name=learner_name,
        )
    )


# A ConfigMap is limited to 1 MiB, so this leaves room for its metadata.
MAX_WORKBENCH_FILES_BYTES = 900 * 1024


def load_workbench_files(lab: Lab) -> dict[str, str]:
    """Read the lab's starting files for the workbench's ~/lab, by relative path."""
    files: dict[str, str] = {}
    folder: Path = lab.resources_dir
    if not folder.is_dir():
        return files
    total = 0
    for path in sorted(folder.rglob("*")):
        if not path.is_file() or path.is_symlink():
            continue
        text = path.read_text(encoding="utf-8", errors="replace")
        total += len(text.encode())
        if total > MAX_WORKBENCH_FILES_BYTES:
            logger.warning(
                "Lab %s: starting files exceed %d bytes; %s and later files are "
                "left out of the workbench",
                lab.slug,
                MAX_WORKBENCH_FILES_BYTES,
                path.relative_to(folder),
            )
            break
        files[str(path.relative_to(folder))] = text
    return files


def api_server_addresses() -> list[tuple[str, int]]:
    """Return (address, port) pairs of the API server: the default/kubernetes
    Service's cluster IPs and its EndpointSlice addresses."""
    addresses: list[tuple[str, int]] = []
    service = kube.get("v1", "Service", "kubernetes", "default")
    if service is not None:
        spec = service.get("spec") or {}
        for ip in spec.get("clusterIPs") or [spec.get("clusterIP")]:
            if ip and ip != "None":
                for port in spec.get("ports") or []:
                    addresses.append((ip, int(port["port"])))
    slices = kube.list_objects(
        "discovery.k8s.io/v1",
        "EndpointSlice",
        namespace="default",
        label_selector="kubernetes.io/service-name=kubernetes",
    )
    for endpoint_slice in slices:
        ports = [int(p["port"]) for p in endpoint_slice.get("ports") or []]
        for endpoint in endpoint_slice.get("endpoints") or []:
            for ip in endpoint.get("addresses") or []:
                addresses.extend((ip, port) for port in ports)
    return addresses


def build_workbench(*, lab: Lab, namespace: str, labels: dict) -> None:
    """Create the workbench pod that the exec terminal backend opens shells in.

    A pod's spec cannot change once created, so an existing workbench pod
    is left as it is. Reset lab creates a new namespace with a fresh pod.
    """
    files = load_workbench_files(lab)
    kube.apply(
        manifests.make_workbench_files_config_map(
            namespace=namespace, labels=labels, files=files
        )
    )
    kube.apply(
        manifests.make_workbench_network_policy(
            namespace=namespace, labels=labels, api_addresses=api_server_addresses()
        )
    )
    if kube.get("v1", "Pod", manifests.WORKBENCH_POD, namespace) is None:
        kube.apply(
            manifests.make_workbench_pod(
                namespace=namespace,
                labels=labels,
                image=settings.WORKBENCH_IMAGE,
                file_paths=sorted(files),
            )
        )


def delete_environment(*, namespace: str) -> bool:
    """Delete the namespace and the cluster-scoped rights bound to it.

    The controller-manager finalizes the namespace (deleting everything in
    it) after this returns. The cluster role and binding would also go
    through their owner reference, but deleting them here takes the
    learner's rights away at once. Returns False when nothing was left.
    """
    name = manifests.cluster_role_name(namespace)
    kube.delete("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", name)
    kube.delete("rbac.authorization.k8s.io/v1", "ClusterRole", name)
    return kube.delete("v1", "Namespace", namespace)


def namespace_exists(namespace: str) -> bool:
    return kube.get("v1", "Namespace", namespace) is not None


def list_platform_namespaces() -> list[dict]:
    selector = f"{manifests.LABEL_MANAGED_BY}={manifests.MANAGED_BY}"
    return kube.list_objects("v1", "Namespace", label_selector=selector)
