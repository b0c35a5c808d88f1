"""Session pages and actions that need no cluster."""

import pytest

from labplatform.labsessions.models import SolutionReveal

pytestmark = pytest.mark.django_db


@pytest.fixture
def learner_client(client, django_user_model):
    user = django_user_model.objects.create_user(username="kay", password="pw-123456!x")
    client.force_login(user)
    client.user = user
    return client


def test_show_solution_is_recorded(learner_client):
    url = "/labs/pod-security-standards/steps/2/solution/"

    first = learner_client.post(url)
    second = learner_client.post(url)

    assert first.status_code == 200
    assert b"Set all three modes in one command" in first.content
    assert second.status_code == 200
    reveal = SolutionReveal.objects.get(learner=learner_client.user)
    assert (reveal.lab_slug, reveal.step_number) == ("pod-security-standards", 2)
    assert reveal.view_count == 2


def test_solution_needs_login(client):
    response = client.post("/labs/pod-security-standards/steps/2/solution/")

    assert response.status_code == 302
    assert SolutionReveal.objects.count() == 0


def test_step_without_solution_is_404(learner_client):
    assert (
        learner_client.post(
            "/labs/pod-security-standards/steps/1/solution/"
        ).status_code
        == 404
    )
    assert (
        learner_client.post(
            "/labs/pod-security-standards/steps/99/solution/"
        ).status_code
        == 404
    )


def test_solution_needs_post(learner_client):
    assert (
        learner_client.get("/labs/pod-security-standards/steps/2/solution/").status_code
        == 405
    )


def test_lab_page_offers_solution_button(learner_client):
    html = learner_client.get("/labs/pod-security-standards/").content.decode()

    assert 'hx-post="/labs/pod-security-standards/steps/2/solution/"' in html
    assert 'hx-post="/labs/pod-security-standards/steps/1/solution/"' not in html


def test_console_blocks_are_runnable(learner_client):
    html = learner_client.get("/labs/pod-security-standards/").content.decode()

    assert 'class="runnable highlight"' in html


def test_other_learners_session_is_404(learner_client, django_user_model):
    from datetime import timedelta

    from django.utils import timezone

    from labplatform.labsessions.models import LabSession

    owner = django_user_model.objects.create_user(
        username="owner", password="pw-123456!x"
    )
    session = LabSession.objects.create(
        learner=owner,
        lab_slug="pod-security-standards",
        namespace="lab-owner-x",
        status=LabSession.Status.READY,
        expires_at=timezone.now() + timedelta(hours=1),
    )

    for url in (f"/sessions/{session.id}/status/", f"/sessions/{session.id}/audit/"):
        assert learner_client.get(url).status_code == 404
    for url in (f"/sessions/{session.id}/check/", f"/sessions/{session.id}/end/"):
        assert learner_client.post(url).status_code == 404
    session.refresh_from_db()
    assert session.status == LabSession.Status.READY


def test_signup_logs_in(client):
    response = client.post(
        "/accounts/signup/",
        {
            "username": "newbie",
            "password1": "a-long-pass-phrase-9",
            "password2": "a-long-pass-phrase-9",
        },
    )

    assert response.status_code == 302
    assert client.get("/progress/").status_code == 200


def test_start_requires_csrf(django_user_model):
    from django.test import Client

    user = django_user_model.objects.create_user(
        username="csrf", password="pw-123456!x"
    )
    client = Client(enforce_csrf_checks=True)
    client.force_login(user)

    response = client.post("/labs/pod-security-standards/start/")

    assert response.status_code == 403


def test_signup_ignores_foreign_next(client):
    response = client.post(
        "/accounts/signup/?next=https://evil.example/phish",
        {
            "username": "redirected",
            "password1": "a-long-pass-phrase-9",
            "password2": "a-long-pass-phrase-9",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == "/"


def test_check_twice_reuses_pending_run(learner_client):
    from datetime import timedelta

    from django.utils import timezone

    from labplatform.grading.models import GradingRun
    from labplatform.grading.services import grading_request
    from labplatform.labsessions.models import LabSession

    session = LabSession.objects.create(
        learner=learner_client.user,
        lab_slug="pod-security-standards",
        namespace="lab-kay-x",
        status=LabSession.Status.READY,
        expires_at=timezone.now() + timedelta(hours=1),
    )
    pending = GradingRun.objects.create(
        session=session, learner=learner_client.user, lab_slug=session.lab_slug
    )

    assert grading_request(session=session).pk == pending.pk
    assert GradingRun.objects.filter(session=session).count() == 1


def test_session_cap_per_learner(learner_client):
    from datetime import timedelta

    from django.utils import timezone

    from labplatform.labsessions.models import LabSession
    from labplatform.labsessions.services import MAX_ACTIVE_SESSIONS_PER_LEARNER

    for index in range(MAX_ACTIVE_SESSIONS_PER_LEARNER):
        LabSession.objects.create(
            learner=learner_client.user,
            lab_slug=f"other-lab-{index}",
            namespace=f"lab-cap-{index}",
            status=LabSession.Status.READY,
            expires_at=timezone.now() + timedelta(hours=1),
        )

    response = learner_client.post("/labs/pod-security-standards/start/", follow=True)

    assert b"end one before starting another" in response.content
    assert not LabSession.objects.filter(lab_slug="pod-security-standards").exists()


def test_lab_starts_are_rate_limited(learner_client, monkeypatch):
    from labplatform.labsessions import views
    from labplatform.labsessions.models import LabSession
    from labplatform.ratelimit import Limit

    monkeypatch.setattr(
        views, "LAB_START_LIMIT", Limit("lab-start", attempts=1, window_seconds=60)
    )

    learner_client.post("/labs/harden-container/start/")
    rejected = learner_client.post("/labs/pod-security-standards/start/", follow=True)
    again = learner_client.post("/labs/harden-container/start/")

    assert LabSession.objects.filter(learner=learner_client.user).count() == 1
    assert b"You started 1 labs in the last 1 minutes" in rejected.content
    # Returning to a lab that is already running is not a new start.
    assert again.status_code == 302


def test_checks_are_rate_limited(learner_client, monkeypatch):
    from django.utils import timezone

    from labplatform.labsessions import views
    from labplatform.labsessions.models import LabSession
    from labplatform.ratelimit import Limit

    monkeypatch.setattr(
        views, "CHECK_LIMIT", Limit("check", attempts=2, window_seconds=60)
    )
    session = LabSession.objects.create(
        learner=learner_client.user,
        lab_slug="harden-container",
        namespace="lab-kay-harden-container-00000000",
        expires_at=timezone.now(),
    )
    url = f"/sessions/{session.id}/check/"

    answers = [learner_client.post(url) for _ in range(3)]

    assert [a.status_code for a in answers] == [409, 409, 429]
    assert b"You checked 2 times in a minute" in answers[2].content
