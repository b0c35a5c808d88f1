"""Kubernetes objects of a learner's lab environment, as plain dicts.

Pure functions, no API calls: the provisioning service applies what these
return, and the tests check them without a cluster.
"""

from collections.abc import Mapping
from datetime import datetime

MANAGED_BY = "labplatform"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_SESSION = "labplatform.io/session"
LABEL_LAB = "labplatform.io/lab"
LABEL_LEARNER = "labplatform.io/learner"
ANNOTATION_EXPIRES_AT = "labplatform.io/expires-at"
ANNOTATION_LEARNER_NAME = "labplatform.io/learner-name"
PLATFORM_LABELS = (LABEL_MANAGED_BY, LABEL_SESSION, LABEL_LAB, LABEL_LEARNER)

LEARNER_SERVICE_ACCOUNT = "learner"
LEARNER_ROLE = "learner"
POD_SECURITY_PREFIX = "pod-security.kubernetes.io/"


def make_platform_labels(*, session_id: str, lab_slug: str, learner_id: int) -> dict:
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_SESSION: session_id,
        LABEL_LAB: lab_slug,
        LABEL_LEARNER: str(learner_id),
    }


def make_namespace(
    *,
    name: str,
    labels: Mapping[str, str],
    lab_labels: Mapping[str, str],
    expires_at: datetime,
    learner_name: str,
) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": name,
            "labels": {**lab_labels, **labels},
            "annotations": {
                ANNOTATION_EXPIRES_AT: expires_at.isoformat(),
                ANNOTATION_LEARNER_NAME: learner_name,
            },
        },
    }


def make_service_account(*, namespace: str, labels: Mapping[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": LEARNER_SERVICE_ACCOUNT,
            "namespace": namespace,
            "labels": dict(labels),
        },
        # The learner's token is requested by the platform on demand; pods
        # in the namespace have no reason to carry it.
        "automountServiceAccountToken": False,
    }


def make_default_service_account(*, namespace: str, labels: Mapping[str, str]) -> dict:
    """Build the namespace's "default" ServiceAccount, created up front and tokenless.

    Pod admission rejects pods until "default" exists, and the
    controller-manager creates it only a moment after the namespace. Making
    it here means the learner's first pod never races that controller, and
    pods get no API token unless they ask for one.
    """
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": namespace, "labels": dict(labels)},
        "automountServiceAccountToken": False,
    }


# Rights inside the learner's own namespace. A custom Role rather than the
# built-in "edit": edit can impersonate service accounts and read secrets.
LEARNER_RULES = [
    {
        "apiGroups": [""],
        "resources": ["pods", "configmaps", "services", "persistentvolumeclaims"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
    {
        "apiGroups": [""],
        "resources": [
            "pods/log",
            "pods/status",
            "events",
            "serviceaccounts",
            "resourcequotas",
            "limitranges",
            "endpoints",
        ],
        "verbs": ["get", "list", "watch"],
    },
    {
        "apiGroups": [""],
        "resources": [
            "pods/exec",
            "pods/attach",
            "pods/portforward",
            "pods/ephemeralcontainers",
        ],
        "verbs": ["get", "create", "update", "patch"],
    },
    {
        "apiGroups": ["apps"],
        "resources": ["deployments", "replicasets", "statefulsets", "daemonsets"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
    {
        "apiGroups": ["apps"],
        # Scaling only: writing status would let a learner fake what a
        # grader reads.
        "resources": ["deployments/scale", "statefulsets/scale"],
        "verbs": ["get", "update", "patch"],
    },
    {
        "apiGroups": ["batch"],
        "resources": ["jobs", "cronjobs"],
        "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
    },
    {
        "apiGroups": ["networking.k8s.io"],
        "resources": ["networkpolicies"],
        "verbs": ["get", "list", "watch"],
    },
    {
        "apiGroups": ["events.k8s.io"],
        "resources": ["events"],
        "verbs": ["get", "list", "watch"],
    },
]


def make_role(*, namespace: str, labels: Mapping[str, str]) -> dict:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "Role",
        "metadata": {
            "name": LEARNER_ROLE,
            "namespace": namespace,
            "labels": dict(labels),
        },
        "rules": LEARNER_RULES,
    }


def make_role_binding(*, namespace: str, labels: Mapping[str, str]) -> dict:
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {
            "name": LEARNER_ROLE,
            "namespace": namespace,
            "labels": dict(labels),
        },
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "Role",
            "name": LEARNER_ROLE,
        },
        "subjects": [
            {
                "kind": "ServiceAccount",
                "name": LEARNER_SERVICE_ACCOUNT,
                "namespace": namespace,
            }
        ],
    }


def cluster_role_name(namespace: str) -> str:
    return f"labplatform:learner:{namespace}"


def make_namespace_cluster_role(
    *,
    namespace: str,
    labels: Mapping[str, str],
    can_label: bool,
    owner_uid: str,
) -> dict:
    """Cluster-scoped rights on the learner's own Namespace object only.

    resourceNames pins every verb to this one namespace. The owner
    reference lets the garbage collector remove the role together with
    the namespace, because a cluster-scoped object does not live inside it.
    """
    verbs = ["get", "watch"]
    if can_label:
        verbs += ["patch", "update"]
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": cluster_role_name(namespace),
            "labels": dict(labels),
            "ownerReferences": [_namespace_owner(namespace, owner_uid)],
        },
        "rules": [
            {
                "apiGroups": [""],
                "resources": ["namespaces"],
                "resourceNames": [namespace],
                "verbs": verbs,
            }
        ],
    }


def make_namespace_cluster_role_binding(
    *, namespace: str, labels: Mapping[str, str], owner_uid: str
) -> dict:
    name = cluster_role_name(namespace)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {
            "name": name,
            "labels": dict(labels),
            "ownerReferences": [_namespace_owner(namespace, owner_uid)],
        },
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": name,
        },
        "subjects": [
            {
                "kind": "ServiceAccount",
                "name": LEARNER_SERVICE_ACCOUNT,
                "namespace": namespace,
            }
        ],
    }


def _namespace_owner(namespace: str, uid: str) -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "name": namespace, "uid": uid}


def make_resource_quota(*, namespace: str, labels: Mapping[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ResourceQuota",
        "metadata": {
            "name": "lab-quota",
            "namespace": namespace,
            "labels": dict(labels),
        },
        "spec": {
            "hard": {
                "pods": "10",
                "requests.cpu": "1",
                "requests.memory": "1Gi",
                "limits.cpu": "2",
                "limits.memory": "2Gi",
                "configmaps": "20",
                "secrets": "10",
                "services": "5",
                "persistentvolumeclaims": "0",
                "count/deployments.apps": "5",
                "count/replicasets.apps": "20",
                "count/jobs.batch": "5",
                "count/cronjobs.batch": "2",
                "count/statefulsets.apps": "2",
                "count/daemonsets.apps": "2",
            }
        },
    }


def make_limit_range(*, namespace: str, labels: Mapping[str, str]) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "LimitRange",
        "metadata": {
            "name": "lab-limits",
            "namespace": namespace,
            "labels": dict(labels),
        },
        "spec": {
            "limits": [
                {
                    "type": "Container",
                    "default": {"cpu": "500m", "memory": "256Mi"},
                    "defaultRequest": {"cpu": "50m", "memory": "64Mi"},
                    "max": {"cpu": "1", "memory": "1Gi"},
                }
            ]
        },
    }


def make_default_deny_network_policy(
    *, namespace: str, labels: Mapping[str, str]
) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "default-deny",
            "namespace": namespace,
            "labels": dict(labels),
        },
        "spec": {"podSelector": {}, "policyTypes": ["Ingress", "Egress"]},
    }


def make_allow_dns_network_policy(*, namespace: str, labels: Mapping[str, str]) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "allow-dns",
            "namespace": namespace,
            "labels": dict(labels),
        },
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [
                        {
                            "namespaceSelector": {
                                "matchLabels": {
                                    "kubernetes.io/metadata.name": "kube-system"
                                }
                            },
                            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
                        }
                    ],
                    "ports": [
                        {"protocol": "UDP", "port": 53},
                        {"protocol": "TCP", "port": 53},
                    ],
                }
            ],
        },
    }


def place_in_namespace(
    manifest: Mapping, *, namespace: str, labels: Mapping[str, str]
) -> dict:
    """Copy a lab's starting manifest into the namespace, with platform labels."""
    placed = dict(manifest)
    metadata = dict(placed.get("metadata") or {})
    metadata["namespace"] = namespace
    metadata["labels"] = {**(metadata.get("labels") or {}), **labels}
    placed["metadata"] = metadata
    return placed
