"""Push workshop changes to instructors' and learners' open pages.

Instructor pages get the changed learner's matrix row and the summary
row as out-of-band HTML; learner pages get broadcast messages. push_html
logs a failure to send and never raises. push_session_change also catches
errors while building the row, so grading never fails over the matrix.
"""

import logging

from django.template.loader import render_to_string

from labplatform.labsessions.live import push_html

from .matrix import build_rows, summarize

logger = logging.getLogger(__name__)


def push_learner_row(workshop, learner_id) -> None:
    labs, rows = build_rows(workshop)
    row = next((r for r in rows if r.learner.pk == learner_id), None)
    if row is None:
        return
    html = render_to_string(
        "workshops/_matrix_update.html",
        {
            "workshop": workshop,
            "labs": labs,
            "row": row,
            "summaries": summarize(labs, rows),
            "oob": True,
        },
    )
    push_html(workshop.group_name, html)


def push_matrix(workshop) -> None:
    """Ask open matrix pages to reload the whole table, after learners join."""
    push_html(
        workshop.group_name,
        '<div id="matrix-reload-signal" hx-swap-oob="true" data-reload="1"></div>',
    )


def push_broadcast(broadcast) -> None:
    html = render_to_string(
        "workshops/_broadcast.html", {"broadcast": broadcast, "oob": True}
    )
    push_html(broadcast.workshop.learners_group_name, html)


def push_session_change(session) -> None:
    """Update the learner's matrix row after the session or a grading run changed."""
    if session.workshop_id is None or session.learner_id is None:
        return
    from .models import Workshop

    workshop = Workshop.objects.filter(pk=session.workshop_id).first()
    if workshop is not None:
        try:
            push_learner_row(workshop, session.learner_id)
        except Exception as error:  # noqa: BLE001 - a live view must not break grading
            logger.warning(
                "Updating the matrix of workshop %s for session %s failed: %s",
                workshop.slug,
                session.id,
                error,
            )
