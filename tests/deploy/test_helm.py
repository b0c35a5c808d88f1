"""The Helm chart renders, the API server accepts it, and its RBAC is tight.

helm is built from its Go module by tools/helm/build.sh. Every rendered
manifest goes through a server-side dry run on the local control plane,
and the platform's ClusterRole and scope policy are applied for real and
probed with impersonation and with the real provisioning code.
"""

import base64
import json
import subprocess
import uuid

import pytest
import yaml

from labplatform.cluster import kube
from labplatform.content.catalog import get_catalog
from labplatform.labsessions import provisioning
from tests.helpers import kubectl

from .conftest import REPO_DIR

CHART_DIR = REPO_DIR / "deploy" / "helm" / "labplatform"
RELEASE = "labs"
EXTERNAL_SERVICES = [
    "--set",
    "postgresql.enabled=false",
    "--set",
    "redis.enabled=false",
    "--set",
    "externalDatabase.url=postgres://labplatform:pw@db.example:5432/labplatform",
    "--set",
    "externalRedis.url=redis://redis.example:6379/0",
]
VARIANTS = {
    "bundled": [],
    "external": EXTERNAL_SERVICES,
    "https-audit-fixed-replicas": [
        "--set",
        "https.enabled=true",
        "--set",
        "allowedHosts={labs.example}",
        "--set",
        "audit.volume.hostPath.path=/var/log/kubernetes/audit",
        "--set",
        "web.autoscaling.enabled=false",
        "--set",
        "worker.autoscaling.enabled=false",
        "--set",
        "dataVolumeClaim=labplatform-data",
    ],
}


def render(helm_binary: str, namespace: str, *options: str) -> list[dict]:
    result = subprocess.run(
        [helm_binary, "template", RELEASE, str(CHART_DIR), "-n", namespace, *options],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def by_kind(documents: list[dict], kind: str) -> dict[str, dict]:
    return {doc["metadata"]["name"]: doc for doc in documents if doc["kind"] == kind}


@pytest.fixture
def scratch_namespace(control_plane):
    name = f"chart-{uuid.uuid4().hex[:8]}"
    created = kubectl(control_plane, "create", "namespace", name)
    assert created.returncode == 0, created.stderr
    yield name
    kubectl(control_plane, "delete", "namespace", name, "--wait=false")


def test_chart_passes_helm_lint(helm_binary):
    result = subprocess.run(
        [helm_binary, "lint", "--strict", str(CHART_DIR), *EXTERNAL_SERVICES],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stdout + result.stderr


def test_default_render_has_every_part(helm_binary):
    documents = render(helm_binary, "labs")

    deployments = by_kind(documents, "Deployment")
    assert set(deployments) == {"labs-web", "labs-worker", "labs-beat", "labs-redis"}
    assert set(by_kind(documents, "StatefulSet")) == {"labs-postgres"}
    assert set(by_kind(documents, "HorizontalPodAutoscaler")) == {
        "labs-web",
        "labs-worker",
    }
    assert set(by_kind(documents, "Job")) == {"labs-migrate"}
    assert set(by_kind(documents, "ClusterRole")) == {"labs-platform"}
    assert set(by_kind(documents, "ValidatingAdmissionPolicy")) == {
        "labs-platform-scope"
    }


def test_platform_containers_have_probes_and_requests(helm_binary):
    deployments = by_kind(render(helm_binary, "labs"), "Deployment")

    for name in ("labs-web", "labs-worker", "labs-beat"):
        (container,) = deployments[name]["spec"]["template"]["spec"]["containers"]
        assert "livenessProbe" in container, name
        assert container["resources"]["requests"]["cpu"], name
        assert container["resources"]["requests"]["memory"], name
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, name
    (web,) = deployments["labs-web"]["spec"]["template"]["spec"]["containers"]
    assert web["readinessProbe"]["httpGet"]["path"] == "/readyz"


def test_external_services_replace_bundled_ones(helm_binary):
    documents = render(helm_binary, "labs", *EXTERNAL_SERVICES)

    assert "labs-redis" not in by_kind(documents, "Deployment")
    assert by_kind(documents, "StatefulSet") == {}
    secret = by_kind(documents, "Secret")["labs"]
    database_url = base64.b64decode(secret["data"]["LABPLATFORM_DATABASE_URL"])
    assert database_url == b"postgres://labplatform:pw@db.example:5432/labplatform"


def test_bundled_postgres_password_matches(helm_binary):
    secrets = by_kind(render(helm_binary, "labs"), "Secret")

    password = base64.b64decode(secrets["labs-postgres"]["data"]["POSTGRES_PASSWORD"])
    url = base64.b64decode(secrets["labs"]["data"]["LABPLATFORM_DATABASE_URL"])
    assert len(password) == 32
    assert (
        url
        == b"postgres://labplatform:" + password + b"@labs-postgres:5432/labplatform"
    )


def test_missing_external_url_is_explained(helm_binary):
    result = subprocess.run(
        [
            helm_binary,
            "template",
            RELEASE,
            str(CHART_DIR),
            "--set",
            "redis.enabled=false",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode != 0
    assert "externalRedis.url is required when redis.enabled is false" in result.stderr


@pytest.mark.cluster
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_api_server_accepts_every_manifest(
    helm_binary, control_plane, scratch_namespace, variant
):
    documents = render(helm_binary, scratch_namespace, *VARIANTS[variant])
    manifest = "\n---\n".join(yaml.safe_dump(doc) for doc in documents)

    result = kubectl(
        control_plane,
        "apply",
        "--dry-run=server",
        "-n",
        scratch_namespace,
        "-f",
        "-",
        input_text=manifest,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(server dry run)") == len(documents)


@pytest.mark.cluster
def test_platform_pods_meet_restricted_standard(
    helm_binary, control_plane, scratch_namespace
):
    labelled = kubectl(
        control_plane,
        "label",
        "namespace",
        scratch_namespace,
        "pod-security.kubernetes.io/enforce=restricted",
    )
    assert labelled.returncode == 0, labelled.stderr
    documents = render(helm_binary, scratch_namespace)
    workloads = [
        doc for doc in documents if doc["kind"] in ("Deployment", "StatefulSet", "Job")
    ]

    result = kubectl(
        control_plane,
        "apply",
        "--dry-run=server",
        "-n",
        scratch_namespace,
        "-f",
        "-",
        input_text="\n---\n".join(yaml.safe_dump(doc) for doc in workloads),
    )

    assert result.returncode == 0, result.stderr
    assert "would violate PodSecurity" not in result.stderr


# ---- The platform's RBAC, applied for real -------------------------------


@pytest.fixture(scope="module")
def platform_account(helm_binary, control_plane):
    """The chart's ServiceAccount, ClusterRole and scope policy, applied."""
    namespace = f"platform-{uuid.uuid4().hex[:6]}"
    kubectl(control_plane, "create", "namespace", namespace)
    documents = [
        doc
        for doc in render(helm_binary, namespace)
        if doc["kind"]
        in (
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "ValidatingAdmissionPolicy",
            "ValidatingAdmissionPolicyBinding",
        )
    ]
    applied = kubectl(
        control_plane,
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        input_text="\n---\n".join(yaml.safe_dump(doc) for doc in documents),
    )
    assert applied.returncode == 0, applied.stderr
    user = f"system:serviceaccount:{namespace}:{RELEASE}"
    yield namespace, user
    kubectl(
        control_plane,
        "delete",
        "-f",
        "-",
        input_text="\n---\n".join(yaml.safe_dump(doc) for doc in documents),
    )
    kubectl(control_plane, "delete", "namespace", namespace, "--wait=false")


def can_i(control_plane, user: str, *request: str) -> bool:
    result = kubectl(control_plane, "auth", "can-i", *request, "--as", user)
    assert result.stdout.strip() in ("yes", "no"), result.stderr
    return result.stdout.strip() == "yes"


FORBIDDEN_REQUESTS = [
    ("get", "secrets", "-n", "kube-system"),
    ("list", "secrets", "--all-namespaces"),
    ("create", "secrets", "-n", "default"),
    ("delete", "nodes"),
    ("patch", "nodes"),
    ("impersonate", "users"),
    ("impersonate", "serviceaccounts"),
    ("escalate", "clusterroles"),
    ("bind", "clusterroles"),
    ("create", "mutatingwebhookconfigurations"),
    ("create", "validatingwebhookconfigurations"),
    ("create", "customresourcedefinitions"),
    ("update", "certificatesigningrequests/approval"),
    ("patch", "validatingadmissionpolicies/labs-platform-scope"),
    ("delete", "validatingadmissionpolicies/labs-platform-scope"),
    ("create", "persistentvolumes"),
]
ALLOWED_REQUESTS = [
    ("create", "namespaces"),
    ("delete", "namespaces"),
    ("create", "serviceaccounts/token", "-n", "lab-any"),
    ("create", "pods/exec", "-n", "lab-any"),
    ("create", "clusterroles"),
    ("patch", "validatingadmissionpolicies/labplatform-learner-namespace-guard"),
    ("list", "nodes"),
]


@pytest.mark.cluster
@pytest.mark.parametrize("request_args", FORBIDDEN_REQUESTS, ids=" ".join)
def test_platform_rbac_forbids(control_plane, platform_account, request_args):
    _, user = platform_account

    assert not can_i(control_plane, user, *request_args)


@pytest.mark.cluster
@pytest.mark.parametrize("request_args", ALLOWED_REQUESTS, ids=" ".join)
def test_platform_rbac_allows(control_plane, platform_account, request_args):
    _, user = platform_account

    assert can_i(control_plane, user, *request_args)


def as_platform(control_plane, user: str, manifest: dict, *extra: str):
    return kubectl(
        control_plane,
        "apply",
        "--as",
        user,
        *extra,
        "-f",
        "-",
        input_text=json.dumps(manifest),
    )


def config_map(namespace: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "probe", "namespace": namespace},
    }


def namespace(name: str, labels: dict | None = None) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": labels or {}},
    }


MANAGED = {"app.kubernetes.io/managed-by": "labplatform"}


@pytest.mark.cluster
def test_scope_policy_rejects_writes_outside_labs(control_plane, platform_account):
    _, user = platform_account
    message = "The platform may only write inside lab namespaces"

    result = as_platform(control_plane, user, config_map("kube-system"))

    assert result.returncode != 0
    assert message in result.stderr


@pytest.mark.cluster
def test_scope_policy_rejects_foreign_namespaces(control_plane, platform_account):
    _, user = platform_account
    message = "The platform may only manage namespaces named lab-*"

    unmanaged = as_platform(control_plane, user, namespace("lab-unlabelled"))
    wrong_name = as_platform(control_plane, user, namespace("team-a", MANAGED))
    relabel = kubectl(
        control_plane,
        "label",
        "namespace",
        "kube-system",
        "app.kubernetes.io/managed-by=labplatform",
        "--as",
        user,
    )

    assert message in unmanaged.stderr
    assert message in wrong_name.stderr
    assert message in relabel.stderr


@pytest.mark.cluster
def test_scope_policy_rejects_wide_bindings(control_plane, platform_account):
    _, user = platform_account
    binding = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": "labplatform:learner:lab-x"},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": "labs-platform",
        },
        "subjects": [{"kind": "ServiceAccount", "name": "learner", "namespace": "x"}],
    }
    other_role = {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": "team-admin"},
        "rules": [],
    }

    wide = as_platform(control_plane, user, binding)
    foreign = as_platform(control_plane, user, other_role)

    assert "may only bind the ClusterRole of the same name" in wide.stderr
    assert "labplatform:learner:lab-* cluster roles" in foreign.stderr


@pytest.mark.cluster
def test_provisioning_works_with_chart_rbac(control_plane, platform_account):
    """The real provisioning code, run as the chart's ServiceAccount, succeeds."""
    account_namespace, _ = platform_account
    token = json.loads(
        kubectl(
            control_plane,
            "create",
            "token",
            RELEASE,
            "-n",
            account_namespace,
            "-o",
            "json",
        ).stdout
    )["status"]["token"]
    kubeconfig = control_plane.data_dir / f"platform-{account_namespace}.kubeconfig"
    kubeconfig.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [
                    {
                        "name": "local",
                        "cluster": {
                            "server": control_plane.server_url,
                            "certificate-authority": str(
                                control_plane.data_dir / "pki" / "ca.crt"
                            ),
                        },
                    }
                ],
                "users": [{"name": "platform", "user": {"token": token}}],
                "contexts": [
                    {"name": "p", "context": {"cluster": "local", "user": "platform"}}
                ],
                "current-context": "p",
            }
        )
    )
    lab = get_catalog().lab("pod-security-standards")
    lab_namespace = f"lab-chart-rbac-{uuid.uuid4().hex[:6]}"
    labels = {
        "app.kubernetes.io/managed-by": "labplatform",
        "labplatform.io/session": uuid.uuid4().hex,
        "labplatform.io/lab": lab.slug,
        "labplatform.io/learner": "1",
    }
    steps: list[str] = []

    from django.utils import timezone

    with kube.using_cluster(str(kubeconfig)):
        provisioning.build_environment(
            lab=lab,
            namespace=lab_namespace,
            labels=labels,
            expires_at=timezone.now(),
            learner_name="chart-rbac",
            report=steps.append,
        )
        provisioning.build_workbench(lab=lab, namespace=lab_namespace, labels=labels)
        token = kube.request_service_account_token(
            namespace=lab_namespace, name="learner", expiration_seconds=600
        )
        listed = provisioning.list_platform_namespaces()
        deleted = provisioning.delete_environment(namespace=lab_namespace)

    assert steps[-1] == "Lab starting resources deployed"
    assert token
    assert lab_namespace in [item["metadata"]["name"] for item in listed]
    assert deleted is True
