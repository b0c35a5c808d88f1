"""Warm pools: built before the workshop, claimed at once, refilled and reclaimed."""

from datetime import timedelta

import pytest
from django.utils import timezone

from labplatform.cluster import kube, manifests
from labplatform.labsessions import services
from labplatform.labsessions.models import LabSession
from labplatform.workshops import pool
from labplatform.workshops.models import Membership

from ..fixtures import namespace_labels, wait_until_ready
from ..helpers import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]

PSS = "pod-security-standards"


def pooled(workshop):
    return LabSession.objects.filter(
        workshop=workshop, learner=None, status__in=LabSession.LIVE_STATUSES
    )


@pytest.fixture
def pool_workshop(make_workshop, control_plane, celery_worker_thread):
    workshop = make_workshop(
        "pooled",
        labs=[PSS],
        warm_pool_size=2,
        capacity=3,
        starts_at=timezone.now() + timedelta(minutes=10),
    )
    yield workshop
    for session in LabSession.objects.filter(workshop=workshop):
        kube.delete("v1", "Namespace", session.namespace)


def test_pool_fills_early_then_claimed(pool_workshop, make_user, control_plane):
    # Ten minutes before the start is inside the default 30-minute lead.
    pool.maintain_warm_pools()
    waiting = list(pooled(pool_workshop))
    assert len(waiting) == 2
    for session in waiting:
        wait_until_ready(session)
        labels = namespace_labels(control_plane, session.namespace)
        assert labels[manifests.LABEL_LEARNER] == manifests.POOLED_LEARNER
    # Running again changes nothing: the pool is full.
    assert pool.maintain_warm_pools() == 0

    pool_workshop.starts_at = timezone.now() - timedelta(minutes=1)
    pool_workshop.save()
    learner = make_user("pia")
    Membership.objects.create(workshop=pool_workshop, learner=learner)

    session, created = services.session_start(learner=learner, lab_slug=PSS)

    assert created
    assert session.status == LabSession.Status.READY
    assert session.pk in {s.pk for s in waiting}
    assert session.learner_id == learner.pk
    assert session.expires_at > timezone.now() + timedelta(minutes=60)
    wait_for(
        lambda: (
            namespace_labels(control_plane, session.namespace).get(
                manifests.LABEL_LEARNER
            )
            == str(learner.pk)
        ),
        timeout=20,
        message="the claimed namespace to carry the learner's label",
    )

    # The pool refills; with 3 seats and 1 learner in, 2 may wait.
    pool.maintain_warm_pools()
    assert pooled(pool_workshop).count() == 2


def test_pool_shrinks_then_ends_with_workshop(pool_workshop, make_user):
    pool_workshop.capacity = 1
    pool_workshop.save()
    pool.maintain_warm_pools()
    assert pooled(pool_workshop).count() == 1

    # A learner takes the only seat with a session built on demand.
    learner = make_user("pia")
    Membership.objects.create(workshop=pool_workshop, learner=learner)
    pool_workshop.starts_at = timezone.now() - timedelta(minutes=1)
    pool_workshop.save()
    LabSession.objects.filter(workshop=pool_workshop, learner=None).update(
        status=LabSession.Status.PROVISIONING
    )
    session, _ = services.session_start(learner=learner, lab_slug=PSS)
    assert session.learner_id == learner.pk
    pool.maintain_warm_pools()
    assert pooled(pool_workshop).count() == 0

    pool_workshop.capacity = 5
    pool_workshop.save()
    pool.maintain_warm_pools()
    assert pooled(pool_workshop).count() == 2

    pool_workshop.ends_at = timezone.now() - timedelta(seconds=1)
    pool_workshop.save()
    pool.maintain_warm_pools()
    assert pooled(pool_workshop).count() == 0
    wait_for(
        lambda: (
            LabSession.objects.filter(
                workshop=pool_workshop, learner=None, status="ended"
            ).count()
            >= 3
        ),
        timeout=60,
        message="unclaimed environments to be removed",
    )


def test_no_pool_for_dedicated_labs(make_workshop):
    workshop = make_workshop("escape", labs=["container-escape"], warm_pool_size=3)

    assert pool.pool_target(workshop, "container-escape", now=timezone.now()) == 0
