"""The Pod Security lab end to end: the terminal websocket, Celery, the grader."""

from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings
from django.test import Client

from labplatform.grading.models import GradingRun
from labplatform.labsessions.models import LabProgress

from ..helpers import wait_for
from ..terminal.wsclient import TerminalClient, handshake_headers

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

SOLUTION = Path(settings.BASE_DIR) / "labs" / "pod-security-standards" / "solution"


def grade(client: Client, session) -> dict[str, dict]:
    """Press "Check my work" and wait for the stored run; return results by check id."""
    response = client.post(f"/sessions/{session.id}/check/", HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    run = GradingRun.objects.filter(session=session).order_by("-created_at").first()

    def finished():
        run.refresh_from_db()
        return run.status in (GradingRun.Status.DONE, GradingRun.Status.ERROR)

    wait_for(finished, timeout=30, message="the grading task")
    assert run.status == GradingRun.Status.DONE, run.error
    return {result["id"]: result for result in run.results}


def grade_after_answer(client: Client, session, answer: str) -> dict[str, dict]:
    response = client.post(
        f"/sessions/{session.id}/answers/audit-violation/", {"answer": answer}
    )
    assert response.status_code == 200
    return grade(client, session)


def heredoc_apply(manifest: str) -> str:
    return f"kubectl apply -f - <<'EOF'\n{manifest.strip()}\nEOF\n"


@pytest.fixture
def lab(start_ready_session, make_learner):
    session = start_ready_session(make_learner("hopper"), "pod-security-standards")
    client = Client()
    client.force_login(session.learner)
    return session, client


@pytest.mark.asyncio
async def test_pod_security_lab_through_terminal(lab):
    session, http = lab
    cookie = f"sessionid={http.cookies['sessionid'].value}"

    first = await sync_to_async(grade)(http, session)
    assert first["namespace-enforces-restricted"]["status"] == "fail"
    assert "kubectl label" in first["namespace-enforces-restricted"]["hint"]
    assert first["namespace-warns-and-audits"]["status"] == "fail"
    assert first["hostpid-pod-rejected"]["status"] == "fail"
    assert first["hostpid-pod-rejected"]["hint"]
    assert first["compliant-pod-admitted"]["status"] == "fail"
    assert first["audit-events-reviewed"]["status"] == "fail"

    terminal = TerminalClient(
        f"/ws/sessions/{session.id}/terminal/",
        handshake_headers(cookie=cookie, origin="http://testserver"),
    )
    connected, _ = await terminal.connect()
    assert connected
    labelled = await terminal.run(
        'kubectl label namespace "$LAB_NAMESPACE" '
        "pod-security.kubernetes.io/enforce=restricted "
        "pod-security.kubernetes.io/warn=restricted "
        "pod-security.kubernetes.io/audit=restricted"
    )
    compliant = await terminal.run(
        heredoc_apply((SOLUTION / "compliant-pod.yaml").read_text())
    )
    rejected = await terminal.run(
        heredoc_apply((SOLUTION / "hostpid-pod.yaml").read_text())
    )
    await terminal.close()

    assert "labeled" in labelled
    assert "pod/compliant created" in compliant
    assert (
        'pods "hostpid" is forbidden: violates PodSecurity "restricted:latest"'
        in rejected
    )
    assert "host namespaces (hostPID=true)" in rejected

    audit_page = await sync_to_async(http.get)(f"/sessions/{session.id}/audit/")
    assert audit_page.status_code == 200
    assert b"hostpid" in audit_page.content
    assert b"Which one is about the pod sharing" in audit_page.content

    wrong = await sync_to_async(grade_after_answer)(http, session, "privileged")
    assert wrong["audit-events-reviewed"]["status"] == "fail"
    assert "privileged" in wrong["audit-events-reviewed"]["observed"]
    answered = await sync_to_async(http.post)(
        f"/sessions/{session.id}/answers/audit-violation/",
        {"answer": "host namespaces"},
    )
    assert answered.status_code == 200

    second = await sync_to_async(grade)(http, session)
    for check_id in (
        "namespace-enforces-restricted",
        "namespace-warns-and-audits",
        "compliant-pod-admitted",
        "no-hostpid-pod",
        "no-workload-template-breaks-restricted",
        "hostpid-pod-rejected",
        "audit-events-reviewed",
    ):
        assert second[check_id]["status"] == "pass", second[check_id]
    assert "violates PodSecurity" in second["hostpid-pod-rejected"]["detail"]

    progress = await sync_to_async(LabProgress.objects.get)(
        learner_id=session.learner_id, lab_slug="pod-security-standards"
    )
    assert progress.status == LabProgress.Status.COMPLETED


HOSTPID_DEPLOYMENT = """
apiVersion: apps/v1
kind: Deployment
metadata:
  name: hostpid-deploy
spec:
  replicas: 1
  selector:
    matchLabels: {app: hostpid-deploy}
  template:
    metadata:
      labels: {app: hostpid-deploy}
    spec:
      hostPID: true
      containers:
        - name: pause
          image: registry.k8s.io/pause:3.10
"""


def test_hostpid_deployment_accepted_but_flagged(lab, control_plane):
    from ..fixtures import learner_token
    from ..helpers import kubectl

    session, http = lab
    token = learner_token(session)
    labelled = kubectl(
        control_plane,
        "label",
        "namespace",
        session.namespace,
        "pod-security.kubernetes.io/enforce=restricted",
        "pod-security.kubernetes.io/warn=restricted",
        token=token,
    )
    assert labelled.returncode == 0, labelled.stderr

    applied = kubectl(
        control_plane,
        "apply",
        "-n",
        session.namespace,
        "-f",
        "-",
        token=token,
        input_text=HOSTPID_DEPLOYMENT,
    )

    assert applied.returncode == 0, applied.stderr
    assert 'would violate PodSecurity "restricted:latest"' in applied.stderr

    def failed_create_seen():
        events = kubectl(
            control_plane,
            "get",
            "events",
            "-n",
            session.namespace,
            "--field-selector",
            "reason=FailedCreate",
            "-o",
            "name",
        )
        return events.stdout.strip()

    wait_for(
        failed_create_seen, timeout=30, message="the ReplicaSet's FailedCreate event"
    )
    flagged = grade(http, session)
    result = flagged["no-workload-template-breaks-restricted"]
    assert result["status"] == "fail"
    assert "Deployment hostpid-deploy" in result["observed"]
    assert "event: Error creating" in result["detail"]
    assert flagged["no-hostpid-pod"]["status"] == "pass"

    deleted = kubectl(
        control_plane,
        "delete",
        "deployment",
        "hostpid-deploy",
        "-n",
        session.namespace,
        token=token,
    )
    assert deleted.returncode == 0, deleted.stderr

    cleared = grade(http, session)
    assert cleared["no-workload-template-breaks-restricted"]["status"] == "pass"
