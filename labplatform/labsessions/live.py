"""Push a session's live status to the learner's page over Channels."""

import logging

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.template.loader import render_to_string

logger = logging.getLogger(__name__)


def push_html(group: str, html: str) -> None:
    """Send out-of-band HTML fragments to every page watching the group.

    Failing to push never fails the caller: the page also reloads its
    state on demand, and provisioning must not stop because Redis blinked.
    """
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(group, {"type": "live.html", "html": html})
    except Exception as error:  # noqa: BLE001 - any layer failure is non-fatal here
        logger.warning("Could not push live update to %s: %s", group, error)


def push_session_status(session, *, matrix: bool = True) -> None:
    """Send the session's status to its pages and its workshop's matrix.

    matrix=False skips the instructors' matrix, for progress lines that do
    not change what the matrix shows.
    """
    html = render_to_string(
        "labs/_session_status.html", {"session": session, "oob": True}
    )
    push_html(session.group_name, html)
    if matrix:
        push_workshop_change(session)


def push_workshop_change(session) -> None:
    """Update the matrix of the session's workshop, if it has one."""
    if session.workshop_id is None:
        return
    from labplatform.workshops.live import push_session_change

    push_session_change(session)


def push_session_closed(session, message: str = "") -> None:
    """Tell open terminals of the session to close, showing message if given."""
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        async_to_sync(layer.group_send)(
            session.group_name, {"type": "session.closed", "message": message}
        )
    except Exception as error:  # noqa: BLE001 - any layer failure is non-fatal here
        logger.warning(
            "Could not notify terminals of session %s: %s", session.id, error
        )
