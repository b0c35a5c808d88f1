"""Joining with a code or link, and importing learners from a CSV file."""

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from labplatform.workshops.models import Membership

pytestmark = pytest.mark.django_db


@pytest.fixture
def instructor(make_user):
    return make_user("ines", instructor=True)


def test_join_with_code_typed_loosely(make_user, make_workshop, client_for):
    workshop = make_workshop("kube-101")
    learner = make_user("lee")
    messy = "  " + "-".join([workshop.join_code[:4], workshop.join_code[4:]]).lower()

    response = client_for(learner).post("/join/", {"code": messy})

    assert response.status_code == 302
    assert response["Location"] == "/progress/"
    assert Membership.objects.filter(workshop=workshop, learner=learner).exists()


def test_join_link_names_the_workshop_and_joins_once(
    make_user, make_workshop, client_for
):
    workshop = make_workshop("kube-101")
    client = client_for(make_user("lee"))

    page = client.get(f"/join/{workshop.join_code}/")
    client.post(f"/join/{workshop.join_code}/", {"code": workshop.join_code})
    again = client.post("/join/", {"code": workshop.join_code}, follow=True)

    assert b"Kube 101" in page.content
    assert Membership.objects.filter(workshop=workshop).count() == 1
    assert b"already in Kube 101" in again.content


def test_join_link_survives_anonymous_login(make_workshop, client):
    workshop = make_workshop("kube-101")

    response = client.get(f"/join/{workshop.join_code}/")

    assert response.status_code == 302
    assert f"next=/join/{workshop.join_code}/" in response["Location"]


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        ("unknown", b"No workshop has this code"),
        ("ended", b"has ended"),
        ("full", b"is full (1 learners)"),
    ],
)
def test_join_rejections_explain_why(
    setup, message, make_user, make_workshop, client_for
):
    now = timezone.now()
    fields = {}
    if setup == "ended":
        fields = {"starts_at": now - timedelta(hours=3), "ends_at": now - timedelta(1)}
    if setup == "full":
        fields = {"capacity": 1}
    workshop = make_workshop("kube-101", **fields)
    if setup == "full":
        Membership.objects.create(workshop=workshop, learner=make_user("first"))
    code = "ZZZZ2222" if setup == "unknown" else workshop.join_code
    learner = make_user("lee")

    response = client_for(learner).post("/join/", {"code": code})

    assert response.status_code == 200
    assert message in response.content
    assert not Membership.objects.filter(learner=learner).exists()


def _upload(client, workshop, text: str | bytes):
    data = text.encode() if isinstance(text, str) else text
    return client.post(
        f"/instruct/{workshop.slug}/import/",
        {"file": SimpleUploadedFile("learners.csv", data, content_type="text/csv")},
    )


def test_import_creates_accounts_and_shows_passwords_once(
    instructor, make_user, make_workshop, client_for
):
    workshop = make_workshop("kube-101", instructors=[instructor])
    existing = make_user("existing", email="existing@example.org")
    # An account the instructor taught before is added as it is.
    make_workshop("kube-100", instructors=[instructor], members=[existing])
    csv_text = (
        "\ufeffusername,email,first_name,last_name\r\n"
        "amy,amy@example.org,Amy,Ng\r\n"
        "\r\n"
        "existing,EXISTING@example.org,,\r\n"
        "bo,bo@example.org,,\r\n"
    )

    response = _upload(client_for(instructor), workshop, csv_text)

    users = get_user_model().objects
    assert response.status_code == 200
    assert b"2 accounts created, 1 existing accounts added" in response.content
    amy = users.get(username="amy")
    assert amy.first_name == "Amy"
    assert amy.has_usable_password()
    shown = response.context["result"].created
    assert dict(shown)["amy"]
    assert amy.check_password(dict(shown)["amy"])
    assert set(workshop.memberships.values_list("learner__username", flat=True)) == {
        "amy",
        "existing",
        "bo",
    }


def test_import_reports_every_bad_row(instructor, make_user, make_workshop, client_for):
    workshop = make_workshop("kube-101", instructors=[instructor])
    make_user("taken", email="taken@example.org")
    csv_text = (
        "username,email\n"
        "good,good@example.org\n"  # line 2 is fine
        ",nobody@example.org\n"  # line 3
        "bad name!,bad@example.org\n"  # line 4
        "carl,not-an-email\n"  # line 5
        "Good,other@example.org\n"  # line 6 repeats line 2
        "taken,someone-else@example.org\n"  # line 7
        "x,x@example.org,extra\n"  # line 8
    )

    response = _upload(client_for(instructor), workshop, csv_text)

    errors = response.context["result"].errors
    assert [e.split(":")[0] for e in errors] == [
        "Line 3",
        "Line 4",
        "Line 5",
        "Line 6",
        "Line 7",
        "Line 8",
    ]
    assert "already on line 2" in errors[3]
    assert "another email address" in errors[4]
    assert b"Nothing was imported" in response.content
    assert not get_user_model().objects.filter(username="good").exists()
    assert workshop.memberships.count() == 0


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name,mail\nx,x@example.org\n", "header must name the columns"),
        (b"username,email\n\xff\xfe,bad@example.org\n", "not UTF-8"),
        (b"username,email\n" + b"a" * (1024 * 1024 + 10), "larger than"),
    ],
)
def test_import_rejects_unreadable_files(
    content, message, instructor, make_workshop, client_for
):
    workshop = make_workshop("kube-101", instructors=[instructor])

    response = _upload(client_for(instructor), workshop, content)

    assert message in response.context["result"].errors[0]
    assert workshop.memberships.count() == 0


def test_import_respects_capacity(instructor, make_workshop, client_for):
    workshop = make_workshop("kube-101", instructors=[instructor], capacity=1)

    response = _upload(
        client_for(instructor),
        workshop,
        "username,email\na,a@example.org\nb,b@example.org\n",
    )

    assert (
        "1 seats and 0 taken; this file adds 2" in response.context["result"].errors[0]
    )
    assert get_user_model().objects.filter(username__in=["a", "b"]).count() == 0


def test_instructors_command_grants_and_revokes(make_user, client_for):
    from django.core.management import CommandError, call_command

    user = make_user("nia")
    client = client_for(user)
    assert client.get("/instruct/new/").status_code == 403

    call_command("instructors", "add", "nia")
    assert client.get("/instruct/new/").status_code == 200

    call_command("instructors", "remove", "nia")
    assert client.get("/instruct/new/").status_code == 403
    with pytest.raises(CommandError, match="No account named ghost"):
        call_command("instructors", "add", "ghost")


def test_join_link_survives_sign_up(make_workshop, client):
    workshop = make_workshop("kube-101")
    join = f"/join/{workshop.join_code}/"

    login_page = client.get(client.get(join)["Location"]).content.decode()
    signup = f"/accounts/signup/?next={join}"
    assert f'href="{signup}"' in login_page
    created = client.post(
        signup,
        {
            "username": "newbie",
            "password1": "pw-Kube-101!",
            "password2": "pw-Kube-101!",
        },
    )

    assert created.status_code == 302
    assert created["Location"] == join
    assert b"You are about to join" in client.get(join).content


def test_broadcast_shows_until_cleared(
    instructor, make_user, make_workshop, client_for
):
    learner = make_user("lee")
    workshop = make_workshop("kube-101", instructors=[instructor], members=[learner])
    teacher = client_for(instructor)

    teacher.post("/instruct/kube-101/broadcast/", {"message": "Lunch at 12:30"})
    matrix = teacher.get("/instruct/kube-101/").content.decode()
    client = client_for(learner)
    shown = client.get("/broadcast/").content.decode()
    client_for(instructor).post("/instruct/kube-101/broadcast/", {"clear": "1"})
    cleared = client_for(learner).get("/broadcast/").content.decode()

    assert "Learners see: <strong>Lunch at 12:30</strong>" in matrix
    assert "Lunch at 12:30" in shown
    assert "broadcast empty" not in shown
    assert "Lunch at 12:30" not in cleared
    assert "broadcast empty" in cleared
    assert workshop.broadcasts.count() == 2
