"""Build and tear down a learner's lab environment in the cluster.

Every step is a server-side apply, so a task that runs twice (a retry, a
duplicate delivery, a worker killed half-way) converges on the same
objects instead of failing on "already exists".
"""

import logging
from collections.abc import Callable
from pathlib import Path

import yaml

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


def ensure_platform_policies() -> None:
    """Install the cluster-wide guard policy; cheap to repeat."""
    kube.apply(policies.make_namespace_guard_policy())
    kube.apply(policies.make_namespace_guard_binding())
    kube.apply(policies.make_finalizer_guard_policy())
    kube.apply(policies.make_finalizer_guard_binding())


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

    for resource in load_starting_resources(lab):
        kube.apply(
            manifests.place_in_namespace(resource, namespace=namespace, labels=labels)
        )
    report("Lab starting resources deployed")


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
