"""Fixtures for workshop tests: workshops, instructors and members."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from labplatform.workshops.models import INSTRUCTORS_GROUP, Membership, Workshop


@pytest.fixture
def make_user(django_user_model):
    def make(username: str, *, instructor: bool = False, **extra):
        user = django_user_model.objects.create_user(
            username=username, password="s3cret-pass!", **extra
        )
        if instructor:
            group, _ = Group.objects.get_or_create(name=INSTRUCTORS_GROUP)
            user.groups.add(group)
        return user

    return make


@pytest.fixture
def make_workshop():
    def make(slug: str, *, instructors=(), members=(), **fields):
        now = timezone.now()
        values = {
            "title": slug.replace("-", " ").title(),
            "starts_at": now - timedelta(minutes=5),
            "ends_at": now + timedelta(hours=3),
            "capacity": 30,
            **fields,
        }
        workshop = Workshop.objects.create(slug=slug, **values)
        workshop.instructors.add(*instructors)
        for learner in members:
            Membership.objects.create(workshop=workshop, learner=learner)
        return workshop

    return make


@pytest.fixture
def client_for(client):
    """A logged-in test client for the given user (one client at a time)."""

    def login(user):
        client.force_login(user)
        return client

    return login
