"""Access rules: which user may see and act on which workshop.

Instructors see only the workshops they teach. A learner who opens an
instructor page gets 403; an instructor who opens another instructor's
workshop gets 404, so the page does not even confirm that it exists.
"""

from django.core.exceptions import PermissionDenied
from django.http import Http404

from .models import INSTRUCTORS_GROUP, Workshop


def is_instructor(user) -> bool:
    """Return whether user is a superuser, in Instructors, or teaches a workshop."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return (
        user.groups.filter(name=INSTRUCTORS_GROUP).exists()
        or user.instructed_workshops.exists()
    )


def can_create_workshops(user) -> bool:
    return user.is_authenticated and (
        user.is_superuser or user.groups.filter(name=INSTRUCTORS_GROUP).exists()
    )


def workshops_taught_by(user):
    if user.is_superuser:
        return Workshop.objects.all()
    return Workshop.objects.filter(instructors=user)


def workshop_for_instructor(user, slug: str) -> Workshop:
    """Return the workshop with this slug if user teaches it.

    Raise PermissionDenied (403) for a user who is no instructor, and
    Http404 when the workshop does not exist or another instructor teaches it.
    """
    if not is_instructor(user):
        raise PermissionDenied("Only instructors can open this page.")
    workshop = workshops_taught_by(user).filter(slug=slug).first()
    if workshop is None:
        raise Http404("Workshop not found among the workshops you teach.")
    return workshop


def still_teaches(user_id, workshop_id) -> bool:
    """Return whether the account is active and still teaches the workshop.

    A superuser counts as teaching every workshop.
    """
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.filter(pk=user_id, is_active=True).first()
    if user is None:
        return False
    return workshops_taught_by(user).filter(pk=workshop_id).exists()


def can_watch_session(user, session) -> bool:
    """Return whether user teaches the workshop the session belongs to.

    A superuser may watch every session, including one outside a workshop.
    """
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    if session.workshop_id is None:
        return False
    return Workshop.objects.filter(pk=session.workshop_id, instructors=user).exists()
