"""allauth's pages under /sso/ open nothing beyond single sign-on, and a
provider's email address never logs anyone into an existing account."""

import pytest
from django.contrib.auth import get_user_model
from django.core import mail

from .test_single_sign_on import sign_in

pytestmark = pytest.mark.django_db

PASSWORD = "c0rrect-horse-battery"


def test_password_signup_under_sso_creates_nothing(client):
    answer = client.post(
        "/sso/signup/",
        {
            "username": "amy",
            "email": "amy@example.org",
            "password1": PASSWORD,
            "password2": PASSWORD,
        },
    )

    assert answer.status_code == 302
    assert answer["Location"] == "/accounts/signup/"
    assert not get_user_model().objects.filter(username="amy").exists()
    assert "_auth_user_id" not in client.session


def test_sso_login_goes_to_the_platform_login(client):
    answer = client.get("/sso/login/?next=/progress/")

    assert answer.status_code == 302
    assert answer["Location"] == "/accounts/login/?next=/progress/"


@pytest.mark.parametrize(
    ("path", "form"),
    [
        ("/sso/email/", {"action_add": "", "email": "amy@example.org"}),
        ("/sso/password/change/", {"oldpassword": PASSWORD}),
        ("/sso/password/set/", {"password1": "x", "password2": "x"}),
        ("/sso/password/reset/", {"email": "learner@example.org"}),
        ("/sso/login/code/confirm/", {"code": "123456"}),
    ],
)
def test_allauth_account_pages_are_closed(client, django_user_model, path, form):
    learner = django_user_model.objects.create_user(
        "learner", email="learner@example.org", password=PASSWORD
    )
    client.force_login(learner)

    assert client.get(path).status_code == 404
    assert client.post(path, form).status_code == 404
    learner.refresh_from_db()
    assert learner.email == "learner@example.org"
    assert mail.outbox == []


def test_sso_logout_closes_like_the_platform_logout(client, django_user_model):
    learner = django_user_model.objects.create_user("learner", password=PASSWORD)
    client.force_login(learner)

    answer = client.post("/sso/logout/")

    assert answer.status_code == 302
    assert "_auth_user_id" not in client.session


@pytest.mark.parametrize("verified", [False, True])
def test_provider_email_never_takes_over_an_account(
    client,
    provider,
    django_user_model,
    verified,
):
    instructor = django_user_model.objects.create_user(
        "alice", email="alice@example.org", password=PASSWORD
    )
    provider.claims = {
        "sub": "attacker-1",
        "preferred_username": "alice",
        "email": "ALICE@example.org",
        "email_verified": verified,
    }

    sign_in(client, provider)

    assert client.session.get("_auth_user_id") != str(instructor.pk)
    instructor.refresh_from_db()
    assert instructor.socialaccount_set.count() == 0
    assert instructor.check_password(PASSWORD)
    assert get_user_model().objects.filter(username="alice").count() == 1


def test_taken_username_gets_a_new_account(
    client,
    provider,
    django_user_model,
):
    instructor = django_user_model.objects.create_user(
        "alice", email="alice@example.org", password=PASSWORD
    )
    provider.claims = {
        "sub": "attacker-2",
        "preferred_username": "alice",
        "email": "mallory@example.org",
        "email_verified": True,
    }

    sign_in(client, provider)

    user_id = client.session.get("_auth_user_id")
    assert user_id is not None
    assert user_id != str(instructor.pk)
    assert get_user_model().objects.get(pk=user_id).username != "alice"
