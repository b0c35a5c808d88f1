"""What a learner's own token can and cannot do, asked of the real API server."""

import os
from pathlib import Path

import pytest

from ..fixtures import learner_token, namespace_labels
from ..helpers import kubectl

pytestmark = pytest.mark.cluster

ENFORCE = "pod-security.kubernetes.io/enforce"


@pytest.fixture
def two_sessions(start_ready_session, make_learner):
    first = start_ready_session(make_learner("alice"))
    second = start_ready_session(make_learner("bob"))
    return first, second


def test_token_cannot_list_other_pods(control_plane, two_sessions):
    first, second = two_sessions
    token = learner_token(first)

    own = kubectl(control_plane, "get", "pods", "-n", first.namespace, token=token)
    other = kubectl(control_plane, "get", "pods", "-n", second.namespace, token=token)

    assert own.returncode == 0, own.stderr
    assert other.returncode != 0
    assert "Forbidden" in other.stderr
    assert f'in the namespace "{second.namespace}"' in other.stderr


def test_token_cannot_label_other_namespace(control_plane, two_sessions):
    first, second = two_sessions
    token = learner_token(first)

    result = kubectl(
        control_plane,
        "label",
        "namespace",
        second.namespace,
        f"{ENFORCE}=restricted",
        token=token,
    )

    assert result.returncode != 0
    assert "Forbidden" in result.stderr
    assert ENFORCE not in namespace_labels(control_plane, second.namespace)


def test_token_can_label_own_namespace(control_plane, two_sessions):
    first, _ = two_sessions
    token = learner_token(first)

    result = kubectl(
        control_plane,
        "label",
        "namespace",
        first.namespace,
        f"{ENFORCE}=restricted",
        token=token,
    )

    assert result.returncode == 0, result.stderr
    assert namespace_labels(control_plane, first.namespace)[ENFORCE] == "restricted"


def test_token_cannot_weaken_pod_security(control_plane, two_sessions):
    first, _ = two_sessions
    token = learner_token(first)
    assert (
        kubectl(
            control_plane,
            "label",
            "namespace",
            first.namespace,
            f"{ENFORCE}=restricted",
            token=token,
        ).returncode
        == 0
    )

    privileged = kubectl(
        control_plane,
        "label",
        "--overwrite",
        "namespace",
        first.namespace,
        f"{ENFORCE}=privileged",
        token=token,
    )
    removed = kubectl(
        control_plane, "label", "namespace", first.namespace, f"{ENFORCE}-", token=token
    )

    assert privileged.returncode != 0
    assert "may only be tightened" in privileged.stderr
    assert removed.returncode != 0
    assert namespace_labels(control_plane, first.namespace)[ENFORCE] == "restricted"


def test_token_cannot_touch_platform_labels(control_plane, two_sessions):
    first, second = two_sessions
    token = learner_token(first)

    relabel = kubectl(
        control_plane,
        "label",
        "--overwrite",
        "namespace",
        first.namespace,
        f"labplatform.io/session={second.id}",
        token=token,
    )
    remove = kubectl(
        control_plane,
        "label",
        "namespace",
        first.namespace,
        "app.kubernetes.io/managed-by-",
        token=token,
    )

    assert relabel.returncode != 0
    assert "platform's labels" in relabel.stderr
    assert remove.returncode != 0
    labels = namespace_labels(control_plane, first.namespace)
    assert labels["labplatform.io/session"] == str(first.id)
    assert labels["app.kubernetes.io/managed-by"] == "labplatform"


def test_token_cannot_bind_wider_roles(control_plane, two_sessions):
    first, _ = two_sessions
    token = learner_token(first)

    result = kubectl(
        control_plane,
        "create",
        "rolebinding",
        "grab-admin",
        "--clusterrole=cluster-admin",
        f"--serviceaccount={first.namespace}:learner",
        "-n",
        first.namespace,
        token=token,
    )

    assert result.returncode != 0
    assert "forbidden" in result.stderr.lower()


def test_token_cannot_read_secrets_or_nodes(control_plane, two_sessions):
    first, _ = two_sessions
    token = learner_token(first)

    secrets = kubectl(control_plane, "get", "secrets", token=token)
    nodes = kubectl(control_plane, "get", "nodes", token=token)
    namespaces = kubectl(control_plane, "get", "namespaces", token=token)

    assert secrets.returncode != 0
    assert nodes.returncode != 0
    assert namespaces.returncode != 0


def test_token_cannot_downgrade_policy_version(control_plane, two_sessions):
    first, _ = two_sessions
    token = learner_token(first)

    old = kubectl(
        control_plane,
        "label",
        "namespace",
        first.namespace,
        "pod-security.kubernetes.io/enforce-version=v1.0",
        token=token,
    )
    latest = kubectl(
        control_plane,
        "label",
        "namespace",
        first.namespace,
        "pod-security.kubernetes.io/enforce-version=latest",
        token=token,
    )

    assert old.returncode != 0
    assert "may only be set to latest" in old.stderr
    assert latest.returncode == 0, latest.stderr


def test_token_cannot_add_finalizers(control_plane, two_sessions):
    first, _ = two_sessions
    token = learner_token(first)
    patch = '{"metadata":{"finalizers":["example.com/wedge"]}}'

    on_namespace = kubectl(
        control_plane, "patch", "namespace", first.namespace, "-p", patch, token=token
    )
    created = kubectl(
        control_plane,
        "create",
        "configmap",
        "wedge",
        "-n",
        first.namespace,
        token=token,
    )
    on_configmap = kubectl(
        control_plane,
        "patch",
        "configmap",
        "wedge",
        "-n",
        first.namespace,
        "-p",
        patch,
        token=token,
    )

    assert on_namespace.returncode != 0
    assert "Finalizers cannot be added" in on_namespace.stderr
    assert created.returncode == 0, created.stderr
    assert on_configmap.returncode != 0
    assert "Finalizers cannot be added" in on_configmap.stderr


GOLDEN = Path(__file__).parent / "golden" / "learner-can-i.txt"


def test_learner_rights_match_golden_file(control_plane, two_sessions):
    """kubectl auth can-i --list for a learner; regenerate the file on purpose only."""
    first, _ = two_sessions
    token = learner_token(first)

    result = kubectl(
        control_plane, "auth", "can-i", "--list", "-n", first.namespace, token=token
    )

    assert result.returncode == 0, result.stderr
    # Column widths follow the longest name, so spacing is normalised.
    lines = result.stdout.replace(first.namespace, "LEARNER_NAMESPACE").splitlines()
    listing = "\n".join(" ".join(line.split()) for line in lines) + "\n"
    if os.environ.get("LABPLATFORM_UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(listing)
    assert listing == GOLDEN.read_text()
