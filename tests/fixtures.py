"""Fixtures for tests that start real lab sessions."""

import json

import pytest

from labplatform.cluster import kube
from labplatform.labsessions import services
from labplatform.labsessions.models import LabSession

from .helpers import kubectl, wait_for


def wait_until_ready(session: LabSession, timeout: float = 30) -> LabSession:
    def ready():
        session.refresh_from_db()
        if session.status == LabSession.Status.FAILED:
            raise AssertionError(f"provisioning failed: {session.error}")
        return session.status == LabSession.Status.READY

    wait_for(ready, timeout=timeout, message=f"session {session.id} to be ready")
    return session


def learner_token(session: LabSession) -> str:
    return kube.request_service_account_token(
        namespace=session.namespace, name="learner", expiration_seconds=600
    )


def namespace_labels(control_plane, namespace: str) -> dict:
    result = kubectl(control_plane, "get", "namespace", namespace, "-o", "json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)["metadata"].get("labels", {})


@pytest.fixture
def make_learner(django_user_model):
    def make(username: str):
        return django_user_model.objects.create_user(
            username=username, password="s3cret-pass!"
        )

    return make


@pytest.fixture
def start_ready_session(
    control_plane, celery_worker_thread, transactional_db, keep_namespaces
):
    """Start a lab for a learner through Celery and wait until it is ready."""
    started = []

    def start(learner, lab_slug: str = "pod-security-standards") -> LabSession:
        session, _ = services.session_start(learner=learner, lab_slug=lab_slug)
        started.append(session)
        return wait_until_ready(session)

    yield start
    if not keep_namespaces:
        for session in started:
            try:
                kube.delete("v1", "Namespace", session.namespace)
            except kube.ClusterError:
                pass


@pytest.fixture
def ready_session(start_ready_session, make_learner):
    """A ready Pod Security lab session of a learner named ferris."""
    return start_ready_session(make_learner("ferris"))
