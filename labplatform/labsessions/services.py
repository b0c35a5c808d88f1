"""Lab session lifecycle: start, provision, end and reap.

Views and tasks call these functions; they keep the database and the
cluster in step and log each change in the domain's words.
"""

import logging
import os
import shlex
import subprocess
import time
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from labplatform.cluster import kube, manifests
from labplatform.cluster.names import make_namespace_name
from labplatform.content.catalog import get_catalog

from . import live, provisioning
from .models import LabProgress, LabSession, PoolCluster, SolutionReveal

logger = logging.getLogger(__name__)


MAX_ACTIVE_SESSIONS_PER_LEARNER = 3


class LabNotFound(LookupError):
    pass


class PlacementRefused(Exception):
    """The lab needs a dedicated cluster and this one is shared."""


class TooManySessions(Exception):
    """The learner already has the maximum number of live lab sessions."""


class NoClusterFree(Exception):
    """Every registered dedicated cluster is leased."""


def session_kubeconfig(session: LabSession) -> str | None:
    """Return the kubeconfig of the session's dedicated cluster, None for shared."""
    cluster = (
        PoolCluster.objects.filter(session=session).only("kubeconfig_path").first()
    )
    return cluster.kubeconfig_path if cluster else None


def _lease_cluster(session: LabSession) -> PoolCluster:
    """Lease a free pool cluster to the session; call inside a transaction."""
    cluster = (
        PoolCluster.objects.select_for_update(skip_locked=True)
        .filter(state=PoolCluster.State.FREE)
        .order_by("name")
        .first()
    )
    if cluster is None:
        raise NoClusterFree(
            "Every dedicated cluster for this lab is in use; try again in a few "
            "minutes or ask the host to add clusters."
        )
    cluster.state = PoolCluster.State.LEASED
    cluster.session = session
    cluster.leased_at = timezone.now()
    cluster.save(update_fields=["state", "session", "leased_at"])
    return cluster


def _release_cluster(session: LabSession) -> None:
    """Release the session's dedicated cluster to the pool.

    A cluster with a recycle command goes through recycle_cluster first.
    """
    from .tasks import recycle_cluster

    cluster = PoolCluster.objects.filter(session=session).first()
    if cluster is None:
        return
    if cluster.recycle_command:
        PoolCluster.objects.filter(pk=cluster.pk).update(
            state=PoolCluster.State.RECYCLING, session=None, leased_at=None
        )
        transaction.on_commit(lambda: recycle_cluster.delay(cluster.pk))
        logger.info(
            "Dedicated cluster %s of session %s is being recycled",
            cluster.name,
            session.id,
        )
        return
    PoolCluster.objects.filter(pk=cluster.pk).update(
        state=PoolCluster.State.FREE, session=None, leased_at=None
    )
    logger.info(
        "Dedicated cluster %s of session %s returned to the pool",
        cluster.name,
        session.id,
    )


def cluster_recycle(*, cluster_id) -> PoolCluster | None:
    """Run the host's recycle command, then free the cluster or mark it broken."""
    cluster = PoolCluster.objects.filter(
        pk=cluster_id, state=PoolCluster.State.RECYCLING
    ).first()
    if cluster is None:
        return None
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": os.environ.get("HOME", "/"),
        "LABPLATFORM_CLUSTER_NAME": cluster.name,
        "LABPLATFORM_CLUSTER_KUBECONFIG": cluster.kubeconfig_path,
    }
    started = time.monotonic()
    try:
        result = subprocess.run(
            shlex.split(cluster.recycle_command),
            env=environment,
            capture_output=True,
            text=True,
            timeout=settings.CLUSTER_RECYCLE_TIMEOUT_SECONDS,
        )
        problem = (
            ""
            if result.returncode == 0
            else f"exit status {result.returncode}: "
            f"{(result.stderr or result.stdout).strip()[-2000:]}"
        )
    except subprocess.TimeoutExpired:
        problem = (
            f"timed out after {settings.CLUSTER_RECYCLE_TIMEOUT_SECONDS} s, "
            "so the command was killed"
        )
    except OSError as error:
        problem = f"could not run the command: {error}"
    if problem:
        PoolCluster.objects.filter(pk=cluster.pk).update(
            state=PoolCluster.State.BROKEN, last_error=problem
        )
        logger.error(
            "Recycling dedicated cluster %s failed (%s); it stays out of the pool "
            "until a host runs: manage.py clusterpool free %s",
            cluster.name,
            problem,
            cluster.name,
        )
    else:
        PoolCluster.objects.filter(pk=cluster.pk).update(
            state=PoolCluster.State.FREE, last_error=""
        )
        logger.info(
            "Dedicated cluster %s recycled in %.1f s and back in the pool",
            cluster.name,
            time.monotonic() - started,
        )
    cluster.refresh_from_db()
    return cluster


def check_placement(lab) -> None:
    """Refuse a dedicated-placement lab on a shared cluster whose pods run.

    A privileged hostPID pod is root on its node, and on a shared node that
    reaches every other learner. A cluster without nodes (the local control
    plane) stores pods but never runs them, so the lab is safe there; a
    host may also accept the risk with LABPLATFORM_ALLOW_SHARED_PRIVILEGED_LABS.
    """
    if lab.placement != "dedicated" or settings.ALLOW_SHARED_PRIVILEGED_LABS:
        return
    if PoolCluster.objects.exists():
        return  # session_start leases a dedicated cluster
    nodes = kube.list_objects("v1", "Node")
    if nodes:
        raise PlacementRefused(
            f"The lab {lab.title!r} runs privileged pods and needs a cluster of its "
            f"own, but this cluster has {len(nodes)} node(s) shared by every learner. "
            "Ask the host to register per-learner clusters with manage.py "
            "clusterpool (see docs/security.md)."
        )


def session_get_active(*, learner, lab_slug: str) -> LabSession | None:
    return (
        LabSession.objects.filter(
            learner=learner, lab_slug=lab_slug, status__in=LabSession.LIVE_STATUSES
        )
        .order_by("-created_at")
        .first()
    )


def session_start(*, learner, lab_slug: str) -> tuple[LabSession, bool]:
    """Return the learner's live session for the lab, creating it when none.

    Starting twice returns the same session (created is False) and
    enqueues nothing new. A learner in an open workshop gets a session of
    that workshop, taken ready-made from its warm pool when one waits
    there. The provisioning task is enqueued only after the row is
    committed, so the worker always finds it.
    """
    from labplatform.workshops.services import workshop_for_lab

    lab = get_catalog().lab(lab_slug)
    if lab is None:
        raise LabNotFound(lab_slug)

    existing = session_get_active(learner=learner, lab_slug=lab_slug)
    if existing is not None:
        return existing, False
    check_placement(lab)
    active = LabSession.objects.filter(
        learner=learner, status__in=LabSession.LIVE_STATUSES
    ).count()
    if active >= MAX_ACTIVE_SESSIONS_PER_LEARNER:
        raise TooManySessions(
            f"You already have {active} labs running; end one before starting another."
        )

    from .tasks import adopt_pooled_session, provision_session

    workshop = workshop_for_lab(learner=learner, lab_slug=lab_slug)
    now = timezone.now()
    try:
        with transaction.atomic():
            session = None
            if workshop is not None and lab.placement != "dedicated":
                session = _claim_pooled(
                    workshop=workshop, learner=learner, lab_slug=lab_slug, now=now
                )
            claimed = session is not None
            if session is None:
                session = LabSession(
                    learner=learner,
                    workshop=workshop,
                    lab_slug=lab_slug,
                    expires_at=now + timedelta(minutes=settings.LAB_SESSION_MINUTES),
                )
                session.namespace = make_namespace_name(
                    username=learner.get_username(),
                    lab_slug=lab_slug,
                    session_key=str(session.id),
                )
                session.save()
                if lab.placement == "dedicated" and PoolCluster.objects.exists():
                    _lease_cluster(session)
            LabProgress.objects.get_or_create(learner=learner, lab_slug=lab_slug)
            LabProgress.objects.filter(
                learner=learner,
                lab_slug=lab_slug,
                status=LabProgress.Status.NOT_STARTED,
            ).update(status=LabProgress.Status.IN_PROGRESS, started_at=now)
            task = adopt_pooled_session if claimed else provision_session
            transaction.on_commit(lambda: task.delay(str(session.id)))
    except IntegrityError:
        # Another request started the same lab a moment ago.
        existing = session_get_active(learner=learner, lab_slug=lab_slug)
        if existing is None:
            raise
        return existing, False

    logger.info(
        "Learner %s started lab %s (session %s, namespace %s%s%s)",
        learner.get_username(),
        lab_slug,
        session.id,
        session.namespace,
        f", workshop {workshop.slug}" if workshop else "",
        ", from the warm pool" if claimed else "",
    )
    if claimed:
        live.push_session_status(session)
    return session, True


def _claim_pooled(*, workshop, learner, lab_slug: str, now) -> LabSession | None:
    """Give the learner a ready environment from the workshop's warm pool.

    Each conditional update claims a session only if no other learner
    claimed it first, and that works on every database backend. Up to five
    of the oldest ready sessions are tried.
    """
    candidates = LabSession.objects.filter(
        workshop=workshop,
        learner=None,
        lab_slug=lab_slug,
        status=LabSession.Status.READY,
        expires_at__gt=now,
    ).order_by("created_at")
    for candidate in candidates[:5]:
        claimed_count = LabSession.objects.filter(pk=candidate.pk, learner=None).update(
            learner=learner,
            expires_at=now + timedelta(minutes=settings.LAB_SESSION_MINUTES),
        )
        if claimed_count:
            return LabSession.objects.get(pk=candidate.pk)
    return None


def session_adopt(*, session_id) -> None:
    """Label a claimed warm-pool namespace with its learner.

    The labels are for people reading kubectl output. The learner can
    already work without them.
    """
    session = LabSession.objects.select_related("learner").filter(pk=session_id).first()
    if session is None or session.learner_id is None or not session.is_active:
        return
    lab = get_catalog().lab(session.lab_slug)
    with kube.using_cluster(session_kubeconfig(session)):
        provisioning.assign_environment(
            lab=lab,
            namespace=session.namespace,
            labels=manifests.make_platform_labels(
                session_id=str(session.id),
                lab_slug=session.lab_slug,
                learner_id=session.learner_id,
            ),
            expires_at=session.expires_at,
            learner_name=session.owner_name,
        )


def session_create_pooled(*, workshop, lab_slug: str) -> LabSession:
    """Queue a lab environment for the workshop's warm pool (no learner yet)."""
    from .tasks import provision_session

    with transaction.atomic():
        session = LabSession(
            learner=None,
            workshop=workshop,
            lab_slug=lab_slug,
            # Unclaimed environments go when the workshop ends.
            expires_at=workshop.ends_at,
        )
        session.namespace = make_namespace_name(
            username="pool", lab_slug=lab_slug, session_key=str(session.id)
        )
        session.save()
        transaction.on_commit(lambda: provision_session.delay(str(session.id)))
    return session


def _record_progress(session: LabSession, step: str) -> None:
    session.progress = [*session.progress, step]
    LabSession.objects.filter(pk=session.pk).update(progress=session.progress)
    live.push_session_status(session, matrix=False)


def session_provision(*, session_id) -> LabSession | None:
    """Build the session's namespace; safe to run any number of times."""
    session = LabSession.objects.select_related("learner").filter(pk=session_id).first()
    if session is None:
        logger.warning("Provisioning skipped: session %s no longer exists", session_id)
        return None
    if session.status not in (
        LabSession.Status.PENDING,
        LabSession.Status.PROVISIONING,
        LabSession.Status.READY,
    ):
        logger.info(
            "Provisioning skipped: session %s is %s", session.id, session.status
        )
        return session

    lab = get_catalog().lab(session.lab_slug)
    deadline = session.created_at + timedelta(
        seconds=settings.LAB_PROVISION_DEADLINE_SECONDS
    )
    if timezone.now() > deadline and session.status != LabSession.Status.READY:
        _fail(
            session,
            "The lab environment was not ready in time. End the lab and "
            "start it again; if this repeats, ask your instructor.",
        )
        return session

    started = time.monotonic()
    LabSession.objects.filter(pk=session.pk).update(
        status=LabSession.Status.PROVISIONING, progress=[]
    )
    session.status = LabSession.Status.PROVISIONING
    session.progress = []
    labels = manifests.make_platform_labels(
        session_id=str(session.id),
        lab_slug=session.lab_slug,
        learner_id=session.learner_id,
    )
    with kube.using_cluster(session_kubeconfig(session)):
        provisioning.build_environment(
            lab=lab,
            namespace=session.namespace,
            labels=labels,
            expires_at=session.expires_at,
            learner_name=session.owner_name,
            report=lambda step: _record_progress(session, step),
        )

    # The learner may have ended the lab while it was being built.
    updated = LabSession.objects.filter(
        pk=session.pk, status=LabSession.Status.PROVISIONING
    ).update(status=LabSession.Status.READY, ready_at=timezone.now())
    session.refresh_from_db()
    if updated:
        logger.info(
            "Namespace %s ready for learner %s, lab %s in %d ms",
            session.namespace,
            session.owner_name,
            session.lab_slug,
            (time.monotonic() - started) * 1000,
        )
    live.push_session_status(session)
    return session


def _fail(session: LabSession, message: str) -> None:
    LabSession.objects.filter(pk=session.pk).update(
        status=LabSession.Status.FAILED, error=message, ended_at=timezone.now()
    )
    session.refresh_from_db()
    logger.error(
        "Session %s (lab %s, namespace %s) failed: %s",
        session.id,
        session.lab_slug,
        session.namespace,
        message,
    )
    try:
        with kube.using_cluster(session_kubeconfig(session)):
            provisioning.delete_environment(namespace=session.namespace)
        _release_cluster(session)
    except kube.ClusterError as error:
        logger.warning(
            "Clean-up of namespace %s after failure did not finish: %s",
            session.namespace,
            error,
        )
    live.push_session_status(session)


def session_note(*, session_id, step: str) -> None:
    """Add a line to the session's live progress, such as a retry notice."""
    session = LabSession.objects.filter(pk=session_id).first()
    if session is not None and session.is_active:
        _record_progress(session, step)


def session_fail(*, session_id, message: str) -> None:
    """Mark a session that is still starting or running as failed.

    A session that is ending stays so: its provisioning may fail only
    because the namespace is being deleted under it, and the end task
    finishes the clean-up.
    """
    session = LabSession.objects.filter(pk=session_id).first()
    if session is not None and session.is_live:
        _fail(session, message)


def session_reset(*, session: LabSession, message: str = "") -> LabSession:
    """End the session and start the same lab afresh in a new namespace.

    The new namespace has a new name, so an old one that is slow to delete
    (or stuck on a finalizer) never blocks the learner.
    """
    session_request_end(session=session, message=message)
    new_session, _ = session_start(learner=session.learner, lab_slug=session.lab_slug)
    logger.info(
        "Learner %s reset lab %s: session %s replaces %s",
        session.owner_name,
        session.lab_slug,
        new_session.id,
        session.id,
    )
    return new_session


def session_request_end(*, session: LabSession, message: str = "") -> None:
    """Mark the session ending and enqueue the namespace's deletion.

    message, if given, is what open terminals show the learner as they close.
    """
    from .tasks import end_session

    LabSession.objects.filter(
        pk=session.pk, status__in=LabSession.ACTIVE_STATUSES
    ).update(status=LabSession.Status.ENDING)
    session.refresh_from_db()
    transaction.on_commit(lambda: end_session.delay(str(session.id)))
    live.push_session_closed(session, message)
    live.push_session_status(session)


def session_end(*, session_id, reason: str = "ended by the learner") -> None:
    """Delete the session's namespace and mark the session ended."""
    session = LabSession.objects.select_related("learner").filter(pk=session_id).first()
    if session is None or session.status in (LabSession.Status.ENDED,):
        return
    with kube.using_cluster(session_kubeconfig(session)):
        provisioning.delete_environment(namespace=session.namespace)
    _release_cluster(session)
    LabSession.objects.filter(pk=session.pk).update(
        status=LabSession.Status.ENDED, ended_at=timezone.now()
    )
    live.push_session_closed(session)
    remove_workspace(session)
    session.refresh_from_db()
    logger.info(
        "Session %s of learner %s (lab %s) %s; namespace %s deleted",
        session.id,
        session.owner_name,
        session.lab_slug,
        reason,
        session.namespace,
    )
    live.push_session_status(session)


def remove_workspace(session: LabSession) -> None:
    """Delete the session's workspace: the learner's files and an old token.

    rm removes links without following them and, unlike shutil.rmtree on
    Python 3.11, copes with folders nested thousands of levels deep.
    """
    folder = settings.TERMINAL_WORKSPACE_DIR / str(session.id)
    if not folder.exists():
        return
    result = subprocess.run(
        ["rm", "-rf", "--one-file-system", "--", str(folder)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if result.returncode != 0:
        logger.warning(
            "Could not remove the workspace of session %s: %s",
            session.id,
            result.stderr.strip()[:500],
        )


def session_record_answer(
    *, session: LabSession, question_id: str, answer: str
) -> None:
    """Store the learner's latest answer to one of the lab's questions."""
    with transaction.atomic():
        locked = LabSession.objects.select_for_update().get(pk=session.pk)
        locked.answers = {**locked.answers, question_id: answer}
        locked.save(update_fields=["answers"])
    session.answers = locked.answers


def solution_reveal(*, learner, lab_slug: str, step_number: int) -> SolutionReveal:
    """Record that the learner opened a step's solution (counted per step)."""
    reveal, created = SolutionReveal.objects.get_or_create(
        learner=learner, lab_slug=lab_slug, step_number=step_number
    )
    if not created:
        SolutionReveal.objects.filter(pk=reveal.pk).update(
            view_count=F("view_count") + 1
        )
    logger.info(
        "Learner %s revealed the solution of lab %s step %d",
        learner.get_username(),
        lab_slug,
        step_number,
    )
    return reveal


def sessions_close_terminals(*, learner) -> None:
    """Close every open terminal of the learner, for example at logout."""
    for session in LabSession.objects.filter(
        learner=learner, status__in=LabSession.ACTIVE_STATUSES
    ):
        live.push_session_closed(session)


def sessions_reap_expired() -> int:
    """End every live session past its expiry; return how many were ended."""
    expired = LabSession.objects.filter(
        status__in=LabSession.ACTIVE_STATUSES, expires_at__lt=timezone.now()
    ).values_list("pk", flat=True)
    count = 0
    for session_id in list(expired):
        # One session the cluster refuses to delete must not stop the rest.
        try:
            session_end(session_id=session_id, reason="expired")
        except kube.ClusterError as error:
            logger.warning("Could not end expired session %s: %s", session_id, error)
            continue
        count += 1
    return count


def sessions_mark_vanished(*, grace_seconds: int = 60) -> int:
    """Fail ready sessions whose namespace is gone, so learners can restart.

    Someone may delete a namespace by hand, or a cluster may be rebuilt;
    a session pointing at nothing would otherwise look ready forever.
    """
    existing = {
        ns["metadata"]["name"] for ns in provisioning.list_platform_namespaces()
    }
    cutoff = timezone.now() - timedelta(seconds=grace_seconds)
    vanished = LabSession.objects.filter(
        status=LabSession.Status.READY, ready_at__lt=cutoff
    ).exclude(namespace__in=existing)
    count = 0
    for session in vanished:
        LabSession.objects.filter(pk=session.pk).update(
            status=LabSession.Status.FAILED,
            error="Your lab environment no longer exists in the cluster. "
            "Start the lab again.",
            ended_at=timezone.now(),
        )
        logger.warning(
            "Session %s (lab %s): namespace %s vanished; marked failed",
            session.id,
            session.lab_slug,
            session.namespace,
        )
        live.push_session_closed(session)
        count += 1
    return count


STUCK_DELETION_MINUTES = 10


def _report_stuck_deletion(namespace: dict, *, now) -> None:
    """Log a namespace that has been terminating too long, with the reason.

    Stripping finalizers could leave objects behind in the cluster, so the
    platform only reports; an operator decides.
    """
    from django.utils.dateparse import parse_datetime

    metadata = namespace["metadata"]
    started = metadata["deletionTimestamp"]
    if isinstance(started, str):
        started = parse_datetime(started)
    if started is None or now - started < timedelta(minutes=STUCK_DELETION_MINUTES):
        return
    reasons = [
        f"{c.get('type')}: {c.get('message')}"
        for c in (namespace.get("status") or {}).get("conditions") or ()
        if c.get("status") == "True"
    ]
    logger.warning(
        "Namespace %s has been terminating since %s: %s",
        metadata["name"],
        started,
        "; ".join(reasons) or "no condition reported",
    )


def namespaces_reap_orphans() -> int:
    """Delete platform namespaces whose session is not live in the database.

    A namespace left behind by a crash or a lost task would otherwise hold
    quota and a learner token's rights forever.
    """
    live_sessions = {
        str(pk)
        for pk in LabSession.objects.filter(
            status__in=LabSession.ACTIVE_STATUSES
        ).values_list("pk", flat=True)
    }
    count = 0
    now = timezone.now()
    for namespace in provisioning.list_platform_namespaces():
        metadata = namespace["metadata"]
        if metadata.get("deletionTimestamp"):
            _report_stuck_deletion(namespace, now=now)
            continue
        session_label = (metadata.get("labels") or {}).get(manifests.LABEL_SESSION)
        if session_label in live_sessions:
            continue
        provisioning.delete_environment(namespace=metadata["name"])
        logger.warning(
            "Deleted orphaned lab namespace %s (session %s is not live)",
            metadata["name"],
            session_label,
        )
        count += 1
    return count
