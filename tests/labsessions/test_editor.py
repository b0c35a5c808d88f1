"""The lab page's editor saves into the workspace and acts as the learner."""

from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client

from labplatform.cluster import kube

from ..helpers import kubectl

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

SOLUTION = Path(settings.BASE_DIR) / "labs" / "pod-security-standards" / "solution"


@pytest.fixture
def lab_client(start_ready_session, make_learner):
    def start(lab_slug: str):
        session = start_ready_session(make_learner(f"editor-{lab_slug[:8]}"), lab_slug)
        client = Client()
        client.force_login(session.learner)
        return session, client

    return start


def file_url(session, name: str) -> str:
    return f"/sessions/{session.id}/files/{name}/"


def test_editor_starts_from_starter(lab_client):
    session, client = lab_client("harden-container")

    response = client.get(file_url(session, "Dockerfile"))

    assert response.status_code == 200
    assert b"ubuntu:22.04" in response.content


def test_dockerfile_save_submits(lab_client):
    session, client = lab_client("harden-container")
    text = "FROM scratch\nUSER 65532\n"

    response = client.post(file_url(session, "Dockerfile"), {"text": text})

    assert response.status_code == 200
    assert b"Submitted Dockerfile" in response.content
    config_map = kube.get("v1", "ConfigMap", "lab-submission", session.namespace)
    assert config_map["data"]["Dockerfile"] == text
    workspace_file = (
        Path(settings.TERMINAL_WORKSPACE_DIR)
        / str(session.id)
        / "home"
        / "lab"
        / "Dockerfile"
    )
    assert workspace_file.read_text() == text


def test_manifest_applied_as_learner(lab_client, control_plane):
    session, client = lab_client("pod-security-standards")

    response = client.post(
        file_url(session, "compliant-pod.yaml"),
        {"text": (SOLUTION / "compliant-pod.yaml").read_text()},
    )

    assert response.status_code == 200
    assert b"Pod compliant applied" in response.content
    pod = kube.get("v1", "Pod", "compliant", session.namespace)
    managers = {entry["manager"] for entry in pod["metadata"]["managedFields"]}
    assert "labplatform-editor" in managers


def test_rejected_pod_shows_api_message(lab_client, control_plane):
    session, client = lab_client("pod-security-standards")
    kubectl(
        control_plane,
        "label",
        "namespace",
        session.namespace,
        "pod-security.kubernetes.io/enforce=restricted",
    )

    response = client.post(
        file_url(session, "compliant-pod.yaml"),
        {"text": (SOLUTION / "hostpid-pod.yaml").read_text()},
    )

    assert response.status_code == 200
    assert b"was rejected" in response.content
    assert b"violates PodSecurity" in response.content
    assert kube.get("v1", "Pod", "hostpid", session.namespace) is None


def test_other_namespace_is_refused(lab_client):
    session, client = lab_client("pod-security-standards")
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n  namespace: kube-system\n"

    response = client.post(file_url(session, "compliant-pod.yaml"), {"text": text})

    assert response.status_code == 400
    assert b"can only go into your namespace" in response.content
    assert kube.get("v1", "ConfigMap", "x", "kube-system") is None


def test_invalid_yaml_is_reported(lab_client):
    session, client = lab_client("pod-security-standards")

    response = client.post(
        file_url(session, "compliant-pod.yaml"), {"text": "kind: Pod\n  metadata: [\n"}
    )

    assert response.status_code == 400
    assert b"The YAML is invalid" in response.content


def test_unknown_file_is_404(lab_client):
    session, client = lab_client("pod-security-standards")

    assert client.get(file_url(session, "..%2F..%2Fsecret_key")).status_code == 404
    assert client.get(file_url(session, "Dockerfile")).status_code == 404


def test_symlinked_file_is_refused(lab_client, tmp_path):
    import os

    session, client = lab_client("pod-security-standards")
    secret = tmp_path / "host-secret"
    secret.write_text("platform secret")
    lab = Path(settings.TERMINAL_WORKSPACE_DIR) / str(session.id) / "home" / "lab"
    lab.mkdir(parents=True, exist_ok=True)
    os.symlink(secret, lab / "compliant-pod.yaml")

    read = client.get(file_url(session, "compliant-pod.yaml"))
    written = client.post(
        file_url(session, "compliant-pod.yaml"),
        {"text": (SOLUTION / "compliant-pod.yaml").read_text()},
    )

    assert read.status_code == 400
    assert b"platform secret" not in read.content
    assert written.status_code == 400
    assert secret.read_text() == "platform secret"


def test_hard_linked_file_is_refused(lab_client, tmp_path):
    import os

    session, client = lab_client("harden-container")
    target = Path(settings.TERMINAL_WORKSPACE_DIR) / "host-file"
    target.write_text("keep me")
    lab = Path(settings.TERMINAL_WORKSPACE_DIR) / str(session.id) / "home" / "lab"
    lab.mkdir(parents=True, exist_ok=True)
    os.link(target, lab / "Dockerfile")

    written = client.post(file_url(session, "Dockerfile"), {"text": "FROM scratch\n"})

    assert written.status_code == 400
    assert target.read_text() == "keep me"


def test_attack_surface_compares_submission(lab_client):
    session, client = lab_client("harden-container")
    solution = (
        Path(settings.BASE_DIR)
        / "labs"
        / "harden-container"
        / "solution"
        / "Dockerfile"
    ).read_text()

    before_submit = client.get(f"/sessions/{session.id}/attack-surface/")
    client.post(file_url(session, "Dockerfile"), {"text": solution})
    after_submit = client.get(f"/sessions/{session.id}/attack-surface/")

    assert before_submit.status_code == 200
    assert b"You have not submitted a Dockerfile yet" in before_submit.content
    html = after_submit.content.decode()
    assert "ubuntu:22.04" in html
    assert "gcr.io/distroless/static-debian12:nonroot" in html
    assert "curl" in html
    assert "65532" in html


def test_attack_surface_only_for_dockerfile_labs(lab_client):
    session, client = lab_client("pod-security-standards")

    assert client.get(f"/sessions/{session.id}/attack-surface/").status_code == 404


def test_alias_bomb_is_refused(lab_client):
    session, client = lab_client("pod-security-standards")
    levels = ["l0: &l0 [a, a, a, a, a, a, a, a]"]
    levels += [
        f"l{n}: &l{n} [" + ", ".join([f"*l{n - 1}"] * 10) + "]" for n in range(1, 8)
    ]
    text = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bomb\nextra:\n  "
        + "\n  ".join(levels)
        + "\n"
    )

    response = client.post(file_url(session, "compliant-pod.yaml"), {"text": text})

    assert response.status_code == 400
    assert b"aliases" in response.content


def test_folder_in_place_of_file_is_refused(lab_client):
    session, client = lab_client("harden-container")
    lab = Path(settings.TERMINAL_WORKSPACE_DIR) / str(session.id) / "home" / "lab"
    (lab / "Dockerfile").mkdir(parents=True)

    responses = [client.get(file_url(session, "Dockerfile")) for _ in range(20)]

    assert {r.status_code for r in responses} == {400}
