"""Template context for every page: the instructor link and the broadcast banner.

Both are callables, so a page that does not show them makes no query.
"""

from . import access, services


def workshop_context(request):
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "nav_is_instructor": lambda: access.is_instructor(user),
        "nav_broadcast": lambda: services.latest_broadcast_for(user),
    }
