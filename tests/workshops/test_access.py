"""Who may open which instructor page: 403 for learners, 404 across workshops."""

import pytest

from labplatform.grading.models import GradingRun
from labplatform.labsessions.models import LabSession
from labplatform.terminal.models import TerminalRecording

pytestmark = pytest.mark.django_db


@pytest.fixture
def two_workshops(make_user, make_workshop):
    alice = make_user("alice", instructor=True)
    bob = make_user("bob", instructor=True)
    ann = make_user("ann")
    ben = make_user("ben")
    workshop_a = make_workshop("workshop-a", instructors=[alice], members=[ann])
    workshop_b = make_workshop("workshop-b", instructors=[bob], members=[ben])
    session_b = LabSession.objects.create(
        learner=ben,
        workshop=workshop_b,
        lab_slug="pod-security-standards",
        namespace="lab-ben-pss-00000001",
        status=LabSession.Status.READY,
        expires_at=workshop_b.ends_at,
    )
    recording_b = TerminalRecording.objects.create(
        session=session_b, file_name=f"{session_b.id}/x.cast"
    )
    return {
        "alice": alice,
        "bob": bob,
        "ann": ann,
        "ben": ben,
        "a": workshop_a,
        "b": workshop_b,
        "session_b": session_b,
        "recording_b": recording_b,
    }


def instructor_urls(world) -> list[tuple[str, str]]:
    b = world["b"]
    session = world["session_b"]
    return [
        ("get", f"/instruct/{b.slug}/"),
        ("get", f"/instruct/{b.slug}/edit/"),
        ("get", f"/instruct/{b.slug}/learners/{world['ben'].pk}/"),
        ("get", f"/instruct/{b.slug}/export.csv"),
        ("get", f"/instruct/{b.slug}/export.json"),
        ("get", f"/instruct/{b.slug}/import/"),
        ("get", f"/instruct/{b.slug}/recordings/{world['recording_b'].pk}.cast"),
        ("post", f"/instruct/{b.slug}/sessions/{session.id}/extend/"),
        ("post", f"/instruct/{b.slug}/sessions/{session.id}/reset/"),
        ("post", f"/instruct/{b.slug}/sessions/{session.id}/end/"),
        ("post", f"/instruct/{b.slug}/end-all/"),
        ("post", f"/instruct/{b.slug}/broadcast/"),
    ]


def test_learner_gets_403_on_every_instructor_page(two_workshops, client_for):
    client = client_for(two_workshops["ben"])

    assert client.get("/instruct/").status_code == 403
    assert client.get("/instruct/new/").status_code == 403
    for method, url in instructor_urls(two_workshops):
        assert getattr(client, method)(url).status_code == 403, url
    session = two_workshops["session_b"]
    session.refresh_from_db()
    assert session.status == LabSession.Status.READY


def test_instructor_of_a_gets_404_on_workshop_b(two_workshops, client_for):
    client = client_for(two_workshops["alice"])

    for method, url in instructor_urls(two_workshops):
        assert getattr(client, method)(url).status_code == 404, url
    session = two_workshops["session_b"]
    before = session.expires_at
    session.refresh_from_db()
    assert session.status == LabSession.Status.READY
    assert session.expires_at == before


def test_instructor_of_b_opens_every_page(
    two_workshops, client_for, tmp_path, settings
):
    settings.RECORDINGS_DIR = tmp_path
    recording = two_workshops["recording_b"]
    (tmp_path / recording.file_name).parent.mkdir(parents=True)
    (tmp_path / recording.file_name).write_text('{"version": 2}\n')
    client = client_for(two_workshops["bob"])

    for url in [u for m, u in instructor_urls(two_workshops) if m == "get"]:
        assert client.get(url).status_code == 200, url


def test_anonymous_is_sent_to_login(two_workshops, client):
    response = client.get("/instruct/workshop-b/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/")


def test_learner_of_another_workshop_is_404_in_mine(two_workshops, client_for):
    client = client_for(two_workshops["alice"])

    url = f"/instruct/workshop-a/learners/{two_workshops['ben'].pk}/"
    assert client.get(url).status_code == 404
    url = f"/instruct/workshop-a/sessions/{two_workshops['session_b'].id}/end/"
    assert client.post(url).status_code == 404


def test_only_instructors_group_creates_workshops(two_workshops, client_for):
    client = client_for(two_workshops["alice"])
    response = client.post(
        "/instruct/new/",
        {
            "title": "Friday session",
            "slug": "friday",
            "starts_at": "2026-12-05T09:00",
            "ends_at": "2026-12-05T12:00",
            "capacity": 40,
            "warm_pool_size": 0,
        },
    )

    assert response.status_code == 302
    friday = two_workshops["alice"].instructed_workshops.get(slug="friday")
    assert friday.capacity == 40
    assert len(friday.join_code) == 8


def test_workshop_must_end_after_it_starts(two_workshops, client_for):
    client = client_for(two_workshops["alice"])
    response = client.post(
        "/instruct/new/",
        {
            "title": "Backwards",
            "slug": "backwards",
            "starts_at": "2026-12-05T12:00",
            "ends_at": "2026-12-05T09:00",
            "capacity": 10,
            "warm_pool_size": 0,
        },
    )

    assert response.status_code == 200
    assert b"must end after it starts" in response.content


def test_learner_controlled_text_is_escaped_on_instructor_pages(
    two_workshops, client_for
):
    hostile = '<img src=x onerror="alert(1)">'
    session = two_workshops["session_b"]
    GradingRun.objects.create(
        session=session,
        learner=two_workshops["ben"],
        lab_slug=session.lab_slug,
        status=GradingRun.Status.DONE,
        results=[
            {
                "id": "restricted-enforced",
                "title": "Restricted enforced",
                "status": "fail",
                "observed": f"pod {hostile} is privileged",
            }
        ],
        passed_count=0,
        total_count=1,
    )
    LabSession.objects.filter(pk=session.pk).update(error=hostile)
    client = client_for(two_workshops["bob"])

    page = client.get(f"/instruct/workshop-b/learners/{two_workshops['ben'].pk}/")

    assert hostile.encode() not in page.content
    assert b"&lt;img src=x onerror=&quot;alert(1)&quot;&gt;" in page.content


def test_actions_need_a_csrf_token(two_workshops):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)
    client.force_login(two_workshops["bob"])

    response = client.post("/instruct/workshop-b/end-all/")

    assert response.status_code == 403
    two_workshops["session_b"].refresh_from_db()
    assert two_workshops["session_b"].status == LabSession.Status.READY
