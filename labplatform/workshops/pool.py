"""Warm pools: lab environments built before learners ask for them.

Celery beat runs maintain_warm_pools every 30 seconds, which maintains
the pool of each workshop that has one. From WARM_POOL_LEAD_MINUTES before
the start until the end, it keeps up to warm_pool_size unclaimed
environments per open lab. A lab never gets more than its seats still
free, and at the end the unclaimed ones are removed. Labs that need a
dedicated cluster are not pooled, because each would take a whole cluster
from the host's pool while no learner uses it.
"""

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from labplatform.content.catalog import get_catalog
from labplatform.labsessions import services as lab_services
from labplatform.labsessions.models import LabSession

from .models import Workshop

logger = logging.getLogger(__name__)


def pool_target(workshop: Workshop, lab_slug: str, *, now) -> int:
    """Return how many unclaimed environments the lab should have at now."""
    lead = timedelta(minutes=settings.WARM_POOL_LEAD_MINUTES)
    if workshop.warm_pool_size == 0 or not (
        workshop.starts_at - lead <= now < workshop.ends_at
    ):
        return 0
    lab = get_catalog().lab(lab_slug)
    if lab is None or lab.placement == "dedicated" or not workshop.allows_lab(lab_slug):
        return 0
    learners_with_session = (
        LabSession.objects.filter(workshop=workshop, lab_slug=lab_slug)
        .exclude(learner=None)
        .values("learner_id")
        .distinct()
        .count()
    )
    seats_left = max(0, workshop.capacity - learners_with_session)
    return min(workshop.warm_pool_size, seats_left)


def _pooled(workshop: Workshop, lab_slug: str):
    return LabSession.objects.filter(
        workshop=workshop,
        learner=None,
        lab_slug=lab_slug,
        status__in=LabSession.LIVE_STATUSES,
    )


def maintain_pool(workshop: Workshop, *, now=None) -> dict[str, int]:
    """Fill or shrink each lab's pool to its target; return the change per lab."""
    now = now or timezone.now()
    catalog = get_catalog()
    slugs = {lab.slug for module in catalog.modules for lab in catalog.labs_of(module)}
    slugs |= set(
        LabSession.objects.filter(workshop=workshop, learner=None).values_list(
            "lab_slug", flat=True
        )
    )
    changes = {}
    for lab_slug in sorted(slugs):
        target = pool_target(workshop, lab_slug, now=now)
        waiting = list(_pooled(workshop, lab_slug).order_by("-created_at"))
        if len(waiting) < target:
            for _ in range(target - len(waiting)):
                lab_services.session_create_pooled(workshop=workshop, lab_slug=lab_slug)
        elif len(waiting) > target:
            # Remove the newest first: older ones are more likely ready.
            for session in waiting[: len(waiting) - target]:
                lab_services.session_request_end(session=session)
        change = target - len(waiting)
        if change:
            changes[lab_slug] = change
            logger.info(
                "Warm pool of workshop %s, lab %s: %d waiting, target %d",
                workshop.slug,
                lab_slug,
                len(waiting),
                target,
            )
    return changes


def maintain_warm_pools(*, now=None) -> int:
    """Run maintain_pool for every workshop that has or wants a pool."""
    now = now or timezone.now()
    workshops = Workshop.objects.filter(
        Q(warm_pool_size__gt=0, ends_at__gt=now - timedelta(days=1))
        | Q(
            sessions__learner=None,
            sessions__status__in=LabSession.LIVE_STATUSES,
        )
    ).distinct()
    changed = 0
    for workshop in workshops:
        if maintain_pool(workshop, now=now):
            changed += 1
    return changed
