"""Provisioning recovers from crashes, duplicate runs and an absent API server."""

from datetime import timedelta

import pytest
import yaml
from django.conf import settings
from django.utils import timezone

from labplatform.cluster import kube
from labplatform.content.catalog import get_catalog
from labplatform.labsessions import provisioning, services
from labplatform.labsessions.models import LabSession
from labplatform.labsessions.tasks import provision_session

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


class Crash(Exception):
    pass


def make_pending(learner, lab_slug="pod-security-standards") -> LabSession:
    session = LabSession(
        learner=learner,
        lab_slug=lab_slug,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    session.namespace = f"lab-recovery-{str(session.id)[:8]}"
    session.save()
    return session


def test_crash_between_steps_converges(control_plane, make_learner):
    session = make_pending(make_learner("crashy"))
    steps = []

    def crash_after_accounts(step):
        steps.append(step)
        if len(steps) == 3:
            raise Crash("worker killed")

    with pytest.raises(Crash):
        provisioning.build_environment(
            lab=get_catalog().lab(session.lab_slug),
            namespace=session.namespace,
            labels={
                "app.kubernetes.io/managed-by": "labplatform",
                "labplatform.io/session": str(session.id),
            },
            expires_at=session.expires_at,
            learner_name="crashy",
            report=crash_after_accounts,
        )
    assert kube.get("v1", "ServiceAccount", "learner", session.namespace) is not None
    assert kube.get("v1", "ResourceQuota", "lab-quota", session.namespace) is None

    services.session_provision(session_id=session.pk)
    services.session_provision(session_id=session.pk)

    session.refresh_from_db()
    assert session.status == LabSession.Status.READY
    assert kube.get("v1", "ResourceQuota", "lab-quota", session.namespace) is not None
    assert (
        len(kube.list_objects("v1", "ServiceAccount", namespace=session.namespace)) == 2
    )
    kube.delete("v1", "Namespace", session.namespace)


def test_api_server_down_retries_then_completes(
    control_plane, celery_worker_thread, make_learner, tmp_path, settings
):
    from ..helpers import wait_for

    session = make_pending(make_learner("patient"))
    broken = yaml.safe_load(control_plane.kubeconfig_path.read_text())
    broken["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:1"
    broken_path = tmp_path / "down.kubeconfig"
    broken_path.write_text(yaml.safe_dump(broken))
    settings.KUBECONFIG = str(broken_path)
    kube.reset_clients()

    provision_session.delay(str(session.id))

    def retry_noted():
        session.refresh_from_db()
        return any("Cluster unavailable, retrying" in step for step in session.progress)

    wait_for(retry_noted, timeout=20, message="a retry notice in the session progress")
    assert session.status in (LabSession.Status.PENDING, LabSession.Status.PROVISIONING)

    # The API server comes back: the pending retry completes the session.
    settings.KUBECONFIG = str(control_plane.kubeconfig_path)
    kube.reset_clients()

    def ready():
        session.refresh_from_db()
        return session.status == LabSession.Status.READY

    wait_for(ready, timeout=40, message="the retried provisioning")
    kube.delete("v1", "Namespace", session.namespace)


def test_vanished_namespace_marks_session_failed(
    control_plane, start_ready_session, make_learner
):
    session = start_ready_session(make_learner("vanisher"))
    LabSession.objects.filter(pk=session.pk).update(
        ready_at=timezone.now() - timedelta(minutes=5)
    )
    kube.delete("v1", "Namespace", session.namespace)

    def namespace_gone():
        return kube.get("v1", "Namespace", session.namespace) is None

    from ..helpers import wait_for

    wait_for(namespace_gone, timeout=60, message="the namespace to be deleted")
    assert services.sessions_mark_vanished() == 1

    session.refresh_from_db()
    assert session.status == LabSession.Status.FAILED
    assert "Start the lab again" in session.error
    again, created = services.session_start(
        learner=session.learner, lab_slug=session.lab_slug
    )
    assert created is True
    assert again.pk != session.pk
    assert settings.LAB_SESSION_MINUTES > 0


@pytest.mark.asyncio
async def test_redis_restart_keeps_sessions(ready_session, redis_server):
    from asgiref.sync import sync_to_async

    from labplatform.grading.models import GradingRun

    from ..helpers import wait_for
    from ..terminal.test_terminal import ORIGIN, owner_cookie, path_for
    from ..terminal.wsclient import TerminalClient, handshake_headers

    await sync_to_async(redis_server.stop)()
    await sync_to_async(redis_server.start)()

    # A terminal opened after the restart works, and Celery still grades.
    cookie = await sync_to_async(owner_cookie)(ready_session)
    client = TerminalClient(
        path_for(ready_session), handshake_headers(cookie=cookie, origin=ORIGIN)
    )
    connected, _ = await client.connect()
    assert connected
    answer = await client.run("echo after-$((40 + 2))")
    await client.close()
    assert "after-42" in answer

    from labplatform.grading.services import grading_request

    run = await sync_to_async(grading_request)(session=ready_session)

    def graded():
        run.refresh_from_db()
        return run.status == GradingRun.Status.DONE

    await sync_to_async(wait_for)(
        graded, timeout=60, message="grading after the restart"
    )
    refreshed = await sync_to_async(LabSession.objects.get)(pk=ready_session.pk)
    assert refreshed.status == LabSession.Status.READY


@pytest.mark.asyncio
async def test_open_terminal_survives_redis_restart(ready_session, redis_server):
    from asgiref.sync import sync_to_async

    from ..terminal.test_terminal import ORIGIN, owner_cookie, path_for
    from ..terminal.wsclient import TerminalClient, handshake_headers

    cookie = await sync_to_async(owner_cookie)(ready_session)
    client = TerminalClient(
        path_for(ready_session), handshake_headers(cookie=cookie, origin=ORIGIN)
    )
    await client.connect()
    await client.run("true")

    await sync_to_async(redis_server.stop)()
    await sync_to_async(redis_server.start)()
    answer = await client.run("echo still-$((40 + 2))")
    await client.close()

    assert "still-42" in answer


def test_failure_while_ending_leaves_the_session_ending(make_learner, db):
    """Provisioning that fails because the namespace is going away does not
    turn an ending session into a failed one."""
    from django.utils import timezone

    from labplatform.labsessions import services
    from labplatform.labsessions.models import LabSession

    session = LabSession.objects.create(
        learner=make_learner("quitter"),
        lab_slug="pod-security-standards",
        namespace="lab-quitter-pod-security-standards-0000000a",
        status=LabSession.Status.ENDING,
        expires_at=timezone.now(),
    )

    services.session_fail(session_id=session.pk, message="namespace is terminating")

    session.refresh_from_db()
    assert session.status == LabSession.Status.ENDING
    assert session.error == ""
