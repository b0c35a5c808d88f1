"""Start and run grading: one stored GradingRun per "Check my work"."""

import logging
from datetime import timedelta

from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from labplatform.content.catalog import get_catalog
from labplatform.labsessions import live
from labplatform.labsessions.models import LabProgress, LabSession

from .checks import GradingContext, Status, load_grader, run_checks
from .models import GradingRun

logger = logging.getLogger(__name__)


PENDING_RUN_TIMEOUT_SECONDS = 60


class SessionNotReady(Exception):
    pass


def grading_request(*, session: LabSession) -> GradingRun:
    """Store a queued run and enqueue its task once the row is committed."""
    from .tasks import grade_session

    if session.status != LabSession.Status.READY:
        raise SessionNotReady(
            f"the lab environment is {session.get_status_display().lower()}, not ready"
        )
    # One pending run per session: pressing the button again while a run
    # is queued returns that run instead of queueing more work. A run
    # pending for longer than a task may live was lost and does not count.
    pending = (
        session.grading_runs.filter(
            status__in=(GradingRun.Status.QUEUED, GradingRun.Status.RUNNING),
            created_at__gte=timezone.now()
            - timedelta(seconds=PENDING_RUN_TIMEOUT_SECONDS),
        )
        .order_by("-created_at")
        .first()
    )
    if pending is not None:
        return pending
    with transaction.atomic():
        run = GradingRun.objects.create(
            session=session, learner_id=session.learner_id, lab_slug=session.lab_slug
        )
        transaction.on_commit(lambda: grade_session.delay(str(run.id)))
    return run


def grading_run(*, run_id) -> GradingRun | None:
    """Run every check of the lab against the cluster and store the results."""
    run = (
        GradingRun.objects.select_related("session", "learner")
        .filter(pk=run_id)
        .first()
    )
    if run is None:
        return None
    if run.status == GradingRun.Status.DONE:
        return run

    session = run.session
    lab = get_catalog().lab(run.lab_slug)
    GradingRun.objects.filter(pk=run.pk).update(status=GradingRun.Status.RUNNING)
    grader = load_grader(lab.folder)
    context = GradingContext(
        namespace=session.namespace,
        lab_slug=session.lab_slug,
        audit_reviewed_at=session.audit_reviewed_at,
        answers=dict(session.answers),
    )
    from labplatform.cluster import kube
    from labplatform.labsessions.services import session_kubeconfig

    with kube.using_cluster(session_kubeconfig(session)):
        results = run_checks(grader.CHECKS, context)

    run.results = [result.to_dict() for result in results]
    run.total_count = len(results)
    run.passed_count = sum(1 for r in results if r.status == Status.PASS)
    run.status = GradingRun.Status.DONE
    run.finished_at = timezone.now()
    # The run and the learner's progress change together, so anyone who
    # sees the run done also sees the progress it earned.
    with transaction.atomic():
        run.save(
            update_fields=[
                "results",
                "total_count",
                "passed_count",
                "status",
                "finished_at",
            ]
        )
        _update_progress(run)

    failed = [r.id for r in results if r.status == Status.FAIL]
    logger.info(
        "Graded lab %s for learner %s (namespace %s): %d/%d passed%s",
        run.lab_slug,
        run.learner.get_username(),
        session.namespace,
        run.passed_count,
        run.total_count,
        f"; failed: {', '.join(failed)}" if failed else "",
    )
    live.push_html(
        session.group_name,
        render_to_string("labs/_grading_run.html", {"run": run, "oob": True}),
    )
    live.push_workshop_change(session)
    return run


def grading_fail(*, run_id, message: str) -> None:
    run = GradingRun.objects.select_related("session").filter(pk=run_id).first()
    if run is None:
        return
    GradingRun.objects.filter(pk=run.pk).update(
        status=GradingRun.Status.ERROR, error=message, finished_at=timezone.now()
    )
    run.refresh_from_db()
    live.push_html(
        run.session.group_name,
        render_to_string("labs/_grading_run.html", {"run": run, "oob": True}),
    )


def _update_progress(run: GradingRun) -> None:
    progress, _ = LabProgress.objects.get_or_create(
        learner=run.learner, lab_slug=run.lab_slug
    )
    # Progress keeps the best run; a grader with a new number of checks
    # starts the count again. Checks this cluster cannot judge (they need
    # running pods) do not count against finishing the lab.
    if progress.checks_total != run.judged_count:
        progress.checks_passed = 0
    progress.checks_total = run.judged_count
    progress.checks_passed = max(progress.checks_passed, run.passed_count)
    if run.all_passed and progress.status != LabProgress.Status.COMPLETED:
        progress.status = LabProgress.Status.COMPLETED
        progress.completed_at = timezone.now()
    elif progress.status == LabProgress.Status.NOT_STARTED:
        progress.status = LabProgress.Status.IN_PROGRESS
    progress.save()


def latest_run(*, session: LabSession) -> GradingRun | None:
    return session.grading_runs.order_by("-created_at").first()
