"""The kind cluster config and the API server files it mounts.

kind and Docker cannot run here, so the config is checked as data, and the
audit policy and admission configuration are loaded by a real
kube-apiserver of the local control plane, which must then enforce them.
"""

import json
import subprocess

import pytest
import yaml

from labplatform.cluster import audit
from labplatform.cluster.localcp import AUDIT_POLICY, LocalControlPlane
from tests.helpers import kubectl

from .conftest import REPO_DIR, require_tool

KIND_DIR = REPO_DIR / "deploy" / "kind"
APISERVER_DIR = KIND_DIR / "apiserver"
CONTAINER_CONFIG_DIR = "/etc/kubernetes/labplatform"
CONTAINER_AUDIT_DIR = "/var/log/kubernetes/audit"


def load(path):
    return yaml.safe_load(path.read_text())


def cluster_config() -> dict:
    return load(KIND_DIR / "cluster.yaml")


def apiserver_patches() -> dict[str, dict]:
    """The control-plane node's ClusterConfiguration patches by apiVersion."""
    control_plane = cluster_config()["nodes"][0]
    patches = [yaml.safe_load(text) for text in control_plane["kubeadmConfigPatches"]]
    return {patch["apiVersion"]: patch for patch in patches}


def test_cluster_config_nodes():
    config = cluster_config()
    roles = [node["role"] for node in config["nodes"]]

    assert config["kind"] == "Cluster"
    assert config["apiVersion"] == "kind.x-k8s.io/v1alpha4"
    assert roles[0] == "control-plane"
    assert roles.count("control-plane") == 1
    assert roles.count("worker") >= 2


def test_cluster_config_mounts_files_that_exist():
    mounts = cluster_config()["nodes"][0]["extraMounts"]
    by_container_path = {mount["containerPath"]: mount for mount in mounts}

    config_mount = by_container_path[CONTAINER_CONFIG_DIR]
    assert (REPO_DIR / config_mount["hostPath"]).is_dir()
    assert config_mount["readOnly"] is True
    # create-cluster.sh creates the audit folder before kind starts.
    assert by_container_path[CONTAINER_AUDIT_DIR]["hostPath"] == "var/kind/audit"


def test_both_kubeadm_versions_set_same_flags():
    patches = apiserver_patches()
    v1beta3 = patches["kubeadm.k8s.io/v1beta3"]["apiServer"]
    v1beta4 = patches["kubeadm.k8s.io/v1beta4"]["apiServer"]

    assert isinstance(v1beta3["extraArgs"], dict)
    assert isinstance(v1beta4["extraArgs"], list)
    as_map = {arg["name"]: arg["value"] for arg in v1beta4["extraArgs"]}
    assert as_map == v1beta3["extraArgs"]
    assert v1beta3["extraVolumes"] == v1beta4["extraVolumes"]


def test_apiserver_flags_point_into_mounts():
    patch = apiserver_patches()["kubeadm.k8s.io/v1beta3"]["apiServer"]
    flags = patch["extraArgs"]
    volume_paths = {volume["mountPath"] for volume in patch["extraVolumes"]}

    assert flags["audit-policy-file"] == f"{CONTAINER_CONFIG_DIR}/audit-policy.yaml"
    assert flags["admission-control-config-file"] == (
        f"{CONTAINER_CONFIG_DIR}/admission-config.yaml"
    )
    assert flags["audit-log-path"] == f"{CONTAINER_AUDIT_DIR}/audit.log"
    assert flags["audit-log-format"] == "json"
    assert volume_paths == {CONTAINER_CONFIG_DIR, CONTAINER_AUDIT_DIR}
    for flag in ("audit-policy-file", "admission-control-config-file"):
        file_name = flags[flag].rsplit("/", 1)[1]
        assert (APISERVER_DIR / file_name).is_file(), flag


def test_audit_policy_matches_local_control_plane():
    assert load(APISERVER_DIR / "audit-policy.yaml") == AUDIT_POLICY


def test_pod_security_defaults():
    admission = load(APISERVER_DIR / "admission-config.yaml")
    (plugin,) = admission["plugins"]
    defaults = plugin["configuration"]["defaults"]

    assert plugin["name"] == "PodSecurity"
    assert defaults["enforce"] == "baseline"
    assert defaults["warn"] == "restricted"
    assert defaults["audit"] == "restricted"


def test_scripts_pass_shellcheck():
    shellcheck = require_tool("shellcheck", "shellcheck")
    scripts = sorted((REPO_DIR / "deploy").rglob("*.sh"))
    scripts.append(REPO_DIR / "tools" / "helm" / "build.sh")

    result = subprocess.run(
        [shellcheck, "--severity=style", *map(str, scripts)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert KIND_DIR / "create-cluster.sh" in scripts
    assert result.returncode == 0, result.stdout


def test_create_cluster_rejects_arguments():
    result = subprocess.run(
        ["bash", str(KIND_DIR / "create-cluster.sh"), "--nodes", "3"],
        capture_output=True,
        text=True,
        timeout=30,
    )

    assert result.returncode == 2
    assert "takes no arguments (got: --nodes 3)" in result.stderr


@pytest.fixture(scope="module")
def workshop_apiserver(tmp_path_factory):
    """A local control plane started with the kind cluster's API server files."""
    data_dir = tmp_path_factory.mktemp("kind-apiserver")
    # create-cluster.sh creates the log file up front with mode 0644.
    (data_dir / "audit.log").touch(mode=0o644)
    plane = LocalControlPlane(
        data_dir=data_dir,
        audit_policy=load(APISERVER_DIR / "audit-policy.yaml"),
        admission_config=load(APISERVER_DIR / "admission-config.yaml"),
    )
    plane.start()
    yield plane
    plane.stop()


def privileged_pod(namespace: str) -> str:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "privileged", "namespace": namespace},
            "spec": {
                "containers": [
                    {
                        "name": "shell",
                        "image": "busybox",
                        "securityContext": {"privileged": True},
                    }
                ]
            },
        }
    )


def create_namespace(plane, name: str) -> None:
    """Create a namespace with its default ServiceAccount, which pod admission
    needs and the controller-manager would create only a moment later."""
    if name != "kube-system":
        created = kubectl(plane, "create", "namespace", name)
        assert created.returncode == 0, created.stderr
    account = {"apiVersion": "v1", "kind": "ServiceAccount"}
    account["metadata"] = {"name": "default", "namespace": name}
    applied = kubectl(plane, "apply", "-f", "-", input_text=json.dumps(account))
    assert applied.returncode == 0, applied.stderr


@pytest.mark.cluster
def test_unlabelled_namespace_enforces_baseline(workshop_apiserver):
    create_namespace(workshop_apiserver, "unlabelled")

    result = kubectl(
        workshop_apiserver,
        "apply",
        "-f",
        "-",
        input_text=privileged_pod("unlabelled"),
    )

    assert result.returncode != 0
    assert 'violates PodSecurity "baseline:latest"' in result.stderr


@pytest.mark.cluster
def test_kube_system_is_exempt(workshop_apiserver):
    create_namespace(workshop_apiserver, "kube-system")

    result = kubectl(
        workshop_apiserver,
        "apply",
        "--dry-run=server",
        "-f",
        "-",
        input_text=privileged_pod("kube-system"),
    )

    assert result.returncode == 0, result.stderr


@pytest.mark.cluster
def test_audit_log_feeds_events_panel(workshop_apiserver):
    create_namespace(workshop_apiserver, "audited")
    kubectl(
        workshop_apiserver, "apply", "-f", "-", input_text=privileged_pod("audited")
    )

    events = audit.read_namespace_events(workshop_apiserver.audit_log_path, "audited")

    assert any(event.is_pod_security_violation for event in events)
    assert any("privileged" in event.violations for event in events)


@pytest.mark.cluster
def test_audit_log_stays_readable(workshop_apiserver):
    create_namespace(workshop_apiserver, "mode-check")

    mode = workshop_apiserver.audit_log_path.stat().st_mode & 0o777

    assert workshop_apiserver.audit_log_path.stat().st_size > 0
    assert mode == 0o644
