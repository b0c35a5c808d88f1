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


# The learner label of an environment waiting in a workshop's warm pool.
POOLED_LEARNER = "pool"


def make_platform_labels(
    *, session_id: str, lab_slug: str, learner_id: int | None
) -> dict:
    return {
        LABEL_MANAGED_BY: MANAGED_BY,
        LABEL_SESSION: session_id,
        LABEL_LAB: lab_slug,
        LABEL_LEARNER: POOLED_LEARNER if learner_id is None else str(learner_id),
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


# --- the workbench: the learner's shell for the exec terminal backend ---------

WORKBENCH_POD = "workbench"
WORKBENCH_CONTAINER = "shell"
WORKBENCH_FILES_CONFIG_MAP = "workbench-files"
LABEL_COMPONENT = "app.kubernetes.io/component"
WORKBENCH_COMPONENT = "workbench"
# The Dockerfile's USER (deploy/workbench/Dockerfile).
WORKBENCH_UID = 1000
WORKBENCH_HOME = "/home/learner"
WORKBENCH_FILES_PATH = "/opt/lab/files"
# The command the terminal runs in the container. Its profile copies the
# lab's files into ~/lab on first start.
WORKBENCH_SHELL_COMMAND = ("/bin/bash", "--rcfile", "/etc/lab/bashrc", "-i")


def workbench_labels(labels: Mapping[str, str]) -> dict:
    return {**labels, LABEL_COMPONENT: WORKBENCH_COMPONENT}


def is_workbench_pod(obj: Mapping) -> bool:
    metadata = obj.get("metadata") or {}
    labels = metadata.get("labels") or {}
    return (
        obj.get("kind", "Pod") == "Pod"
        and metadata.get("name") == WORKBENCH_POD
        and labels.get(LABEL_COMPONENT) == WORKBENCH_COMPONENT
        and labels.get(LABEL_MANAGED_BY) == MANAGED_BY
    )


def make_workbench_files_config_map(
    *, namespace: str, labels: Mapping[str, str], files: Mapping[str, str]
) -> dict:
    """Build the ConfigMap that carries the lab's starting files to the workbench.

    ConfigMap keys cannot contain "/", so each file gets a numbered key and
    the pod's volume maps it back to its path (see make_workbench_pod).
    """
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": WORKBENCH_FILES_CONFIG_MAP,
            "namespace": namespace,
            "labels": workbench_labels(labels),
        },
        "data": {
            f"file-{index}": files[path] for index, path in enumerate(sorted(files))
        },
    }


def make_workbench_pod(
    *,
    namespace: str,
    labels: Mapping[str, str],
    image: str,
    file_paths: list[str],
) -> dict:
    """Build the pod the exec terminal backend opens shells in.

    It meets the restricted Pod Security Standard, so it is admitted
    whatever level the lab sets on the namespace. It is the one pod that
    mounts the learner's ServiceAccount token, which kubectl inside
    reads through its in-cluster configuration. The root filesystem is
    read-only; the home folder and /tmp are size-limited emptyDirs.
    """
    volumes = [
        {"name": "home", "emptyDir": {"sizeLimit": "256Mi"}},
        {"name": "tmp", "emptyDir": {"sizeLimit": "64Mi"}},
    ]
    mounts = [
        {"name": "home", "mountPath": WORKBENCH_HOME},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
    if file_paths:
        volumes.append(
            {
                "name": "lab-files",
                "configMap": {
                    "name": WORKBENCH_FILES_CONFIG_MAP,
                    "items": [
                        {"key": f"file-{index}", "path": path}
                        for index, path in enumerate(sorted(file_paths))
                    ],
                },
            }
        )
        mounts.append(
            {"name": "lab-files", "mountPath": WORKBENCH_FILES_PATH, "readOnly": True}
        )
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": WORKBENCH_POD,
            "namespace": namespace,
            "labels": workbench_labels(labels),
        },
        "spec": {
            "serviceAccountName": LEARNER_SERVICE_ACCOUNT,
            # The service account sets false, so no other pod in the
            # namespace gets the token by default.
            "automountServiceAccountToken": True,
            "enableServiceLinks": False,
            "hostname": "lab",
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 5,
            "securityContext": {
                "runAsNonRoot": True,
                "runAsUser": WORKBENCH_UID,
                "runAsGroup": WORKBENCH_UID,
                "fsGroup": WORKBENCH_UID,
                "seccompProfile": {"type": "RuntimeDefault"},
            },
            "containers": [
                {
                    "name": WORKBENCH_CONTAINER,
                    "image": image,
                    "imagePullPolicy": "IfNotPresent",
                    "env": [
                        {
                            "name": "LAB_NAMESPACE",
                            "valueFrom": {
                                "fieldRef": {"fieldPath": "metadata.namespace"}
                            },
                        },
                        {"name": "HOME", "value": WORKBENCH_HOME},
                        {"name": "TERM", "value": "xterm-256color"},
                    ],
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "readOnlyRootFilesystem": True,
                        "runAsNonRoot": True,
                        "capabilities": {"drop": ["ALL"]},
                    },
                    "resources": {
                        "requests": {"cpu": "50m", "memory": "64Mi"},
                        "limits": {"cpu": "500m", "memory": "256Mi"},
                    },
                    "volumeMounts": mounts,
                }
            ],
            "volumes": volumes,
        },
    }


def make_workbench_network_policy(
    *,
    namespace: str,
    labels: Mapping[str, str],
    api_addresses: list[tuple[str, int]],
) -> dict:
    """Let the workbench reach the API server, which default-deny blocks.

    api_addresses contains the kubernetes Service's cluster IP with port 443
    and its endpoints with their port. Network plugins differ on whether a
    policy matches the Service address or the endpoint address after
    translation, so both are listed. Nothing else opens, because the
    learner's kubectl needs only the API server, and DNS stays with
    allow-dns.
    """
    rules = [
        {
            "to": [{"ipBlock": {"cidr": _host_cidr(address)}}],
            "ports": [{"protocol": "TCP", "port": port}],
        }
        for address, port in sorted(set(api_addresses))
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {
            "name": "workbench-api-server",
            "namespace": namespace,
            "labels": workbench_labels(labels),
        },
        "spec": {
            "podSelector": {"matchLabels": {LABEL_COMPONENT: WORKBENCH_COMPONENT}},
            "policyTypes": ["Egress"],
            "egress": rules,
        },
    }


def _host_cidr(address: str) -> str:
    return f"{address}/128" if ":" in address else f"{address}/32"
