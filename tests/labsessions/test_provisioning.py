"""Starting, restarting and ending a lab against the real API server."""

import json

import pytest

from labplatform.cluster import kube
from labplatform.labsessions import services
from labplatform.labsessions.models import LabProgress, LabSession

from ..helpers import kubectl, wait_for

pytestmark = pytest.mark.cluster

NAMESPACED_KINDS = (
    "serviceaccounts,roles,rolebindings,resourcequotas,limitranges,networkpolicies"
)


def _objects_in(control_plane, namespace: str) -> dict[str, str]:
    """Map kind/name to resourceVersion for every platform object in namespace."""
    result = kubectl(
        control_plane, "get", NAMESPACED_KINDS, "-n", namespace, "-o", "json"
    )
    assert result.returncode == 0, result.stderr
    objects = {}
    for item in json.loads(result.stdout)["items"]:
        key = f"{item['kind']}/{item['metadata']['name']}"
        objects[key] = item["metadata"]["resourceVersion"]
    return objects


def test_start_creates_environment(control_plane, start_ready_session, make_learner):
    session = start_ready_session(make_learner("ada"))

    namespace = kube.get("v1", "Namespace", session.namespace)
    labels = namespace["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "labplatform"
    assert labels["labplatform.io/session"] == str(session.id)
    assert labels["labplatform.io/lab"] == "pod-security-standards"
    assert "labplatform.io/expires-at" in namespace["metadata"]["annotations"]
    assert set(_objects_in(control_plane, session.namespace)) == {
        "ServiceAccount/default",
        "ServiceAccount/learner",
        "Role/learner",
        "RoleBinding/learner",
        "ResourceQuota/lab-quota",
        "LimitRange/lab-limits",
        "NetworkPolicy/default-deny",
        "NetworkPolicy/allow-dns",
    }
    cluster_role = kube.get(
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
        f"labplatform:learner:{session.namespace}",
    )
    assert cluster_role["rules"][0]["resourceNames"] == [session.namespace]
    assert (
        kube.get(
            "rbac.authorization.k8s.io/v1",
            "ClusterRoleBinding",
            f"labplatform:learner:{session.namespace}",
        )
        is not None
    )
    assert session.progress[-1] == "Lab starting resources deployed"
    progress = LabProgress.objects.get(
        learner=session.learner, lab_slug=session.lab_slug
    )
    assert progress.status == LabProgress.Status.IN_PROGRESS


def test_start_twice_reuses_session(control_plane, start_ready_session, make_learner):
    learner = make_learner("grace")
    session = start_ready_session(learner)
    before = _objects_in(control_plane, session.namespace)

    again, created = services.session_start(learner=learner, lab_slug=session.lab_slug)
    assert created is False
    assert again.pk == session.pk
    assert LabSession.objects.filter(learner=learner).count() == 1

    # Provisioning the same session again (a duplicate delivery) is a no-op.
    services.session_provision(session_id=session.pk)
    assert _objects_in(control_plane, session.namespace) == before


def test_end_deletes_namespace(control_plane, start_ready_session, make_learner):
    from pathlib import Path

    from django.conf import settings

    session = start_ready_session(make_learner("linus"))
    workspace = Path(settings.TERMINAL_WORKSPACE_DIR) / str(session.id) / "home"
    workspace.mkdir(parents=True)
    (workspace / "notes.txt").write_text("learner data")

    services.session_request_end(session=session)

    wait_for(
        lambda: kube.get("v1", "Namespace", session.namespace) is None,
        timeout=60,
        message="the controller-manager to finalize the namespace",
    )
    session.refresh_from_db()
    assert session.status == LabSession.Status.ENDED
    assert not workspace.exists()
    assert (
        kube.get(
            "rbac.authorization.k8s.io/v1",
            "ClusterRole",
            f"labplatform:learner:{session.namespace}",
        )
        is None
    )


def test_reaper_ends_expired_sessions(control_plane, start_ready_session, make_learner):
    from datetime import timedelta

    from django.utils import timezone

    session = start_ready_session(make_learner("barbara"))
    LabSession.objects.filter(pk=session.pk).update(
        expires_at=timezone.now() - timedelta(minutes=1)
    )

    assert services.sessions_reap_expired() == 1

    session.refresh_from_db()
    assert session.status == LabSession.Status.ENDED
    namespace = kube.get("v1", "Namespace", session.namespace)
    assert namespace is None or namespace["metadata"].get("deletionTimestamp")


@pytest.mark.parametrize(
    "lab_slug, kind, name",
    [
        ("harden-container", "Deployment", "web"),
        ("container-escape", "Pod", "escape"),
    ],
)
def test_every_lab_deploys_starting_resources(
    control_plane, start_ready_session, make_learner, lab_slug, kind, name
):
    session = start_ready_session(make_learner(f"starter-{lab_slug}"), lab_slug)

    result = kubectl(
        control_plane, "get", kind.lower(), name, "-n", session.namespace, "-o", "json"
    )

    assert result.returncode == 0, result.stderr
    labels = json.loads(result.stdout)["metadata"]["labels"]
    assert labels["labplatform.io/session"] == str(session.id)


def test_deep_workspace_is_removed(settings, tmp_path, make_learner, transactional_db):
    from datetime import timedelta

    from django.utils import timezone

    from labplatform.labsessions.services import remove_workspace

    settings.TERMINAL_WORKSPACE_DIR = tmp_path
    session = LabSession.objects.create(
        learner=make_learner("deep"),
        lab_slug="pod-security-standards",
        namespace="lab-deep-x",
        expires_at=timezone.now() + timedelta(hours=1),
    )
    folder = tmp_path / str(session.id) / "home"
    folder.mkdir(parents=True)
    import os

    fd = os.open(folder, os.O_RDONLY)
    for _ in range(1500):
        os.mkdir("d", dir_fd=fd)
        next_fd = os.open("d", os.O_RDONLY, dir_fd=fd)
        os.close(fd)
        fd = next_fd
    os.close(fd)

    remove_workspace(session)

    assert not (tmp_path / str(session.id)).exists()


def test_escape_lab_needs_dedicated_cluster(
    control_plane, make_learner, settings, transactional_db
):
    learner = make_learner("placed")
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "shared-worker"}}
    kube.apply(node)
    try:
        with pytest.raises(
            services.PlacementRefused, match="needs a cluster of its own"
        ):
            services.session_start(learner=learner, lab_slug="container-escape")
        assert not LabSession.objects.filter(learner=learner).exists()

        settings.ALLOW_SHARED_PRIVILEGED_LABS = True
        session, created = services.session_start(
            learner=learner, lab_slug="container-escape"
        )
        assert created is True
    finally:
        kube.delete("v1", "Node", "shared-worker")


def test_shared_lab_ignores_nodes(control_plane, make_learner, transactional_db):
    kube.apply({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "shared-2"}})
    try:
        session, created = services.session_start(
            learner=make_learner("shared"), lab_slug="pod-security-standards"
        )
        assert created is True
    finally:
        kube.delete("v1", "Node", "shared-2")


def test_reset_gives_fresh_namespace(control_plane, start_ready_session, make_learner):
    session = start_ready_session(make_learner("resetter"))
    kubectl(control_plane, "create", "configmap", "leftover", "-n", session.namespace)

    fresh = services.session_reset(session=session)

    from ..fixtures import wait_until_ready

    wait_until_ready(fresh)
    session.refresh_from_db()
    assert fresh.pk != session.pk
    assert fresh.namespace != session.namespace
    assert session.status in (LabSession.Status.ENDING, LabSession.Status.ENDED)
    assert kube.get("v1", "ConfigMap", "leftover", fresh.namespace) is None
    wait_for(
        lambda: kube.get("v1", "Namespace", session.namespace) is None,
        timeout=60,
        message="the old namespace to be deleted",
    )


def test_stuck_deletion_is_reported(caplog):
    from datetime import timedelta

    from django.utils import timezone

    from labplatform.labsessions.services import _report_stuck_deletion

    started = (timezone.now() - timedelta(minutes=30)).isoformat()
    namespace = {
        "metadata": {"name": "lab-stuck", "deletionTimestamp": started},
        "status": {
            "conditions": [
                {
                    "type": "NamespaceDeletionDiscoveryFailure",
                    "status": "True",
                    "message": "unable to retrieve the complete list of server APIs",
                }
            ]
        },
    }

    with caplog.at_level("WARNING"):
        _report_stuck_deletion(namespace, now=timezone.now())

    assert "lab-stuck has been terminating since" in caplog.text
    assert "NamespaceDeletionDiscoveryFailure" in caplog.text
