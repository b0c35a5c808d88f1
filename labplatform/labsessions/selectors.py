"""Read-only queries behind the lab pages."""

from labplatform.cluster.audit import AuditEvent

from .models import LabProgress, LabSession


def progress_by_lab(user) -> dict[str, LabProgress]:
    return {row.lab_slug: row for row in LabProgress.objects.filter(learner=user)}


def lab_page_state(*, user, lab) -> dict:
    """Everything the lab page shows that depends on the learner."""
    if not user.is_authenticated:
        return {"session": None, "latest_run": None, "progress": None}
    session = (
        LabSession.objects.filter(
            learner=user, lab_slug=lab.slug, status__in=LabSession.LIVE_STATUSES
        )
        .order_by("-created_at")
        .first()
    )
    if session is None:
        session = (
            LabSession.objects.filter(learner=user, lab_slug=lab.slug)
            .order_by("-created_at")
            .first()
        )
    latest_run = (
        session.grading_runs.order_by("-created_at").first() if session else None
    )
    progress = LabProgress.objects.filter(learner=user, lab_slug=lab.slug).first()
    return {"session": session, "latest_run": latest_run, "progress": progress}


def summarize_audit_events(events: list[AuditEvent]) -> dict:
    violations = [e for e in events if e.is_pod_security_violation]
    return {"events": events, "violation_count": len(violations)}
