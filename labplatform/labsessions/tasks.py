"""Celery entry points for the session lifecycle; each calls one service."""

import logging

from celery import shared_task

from labplatform.cluster.kube import ClusterUnavailable

from . import services

logger = logging.getLogger(__name__)


@shared_task(bind=True, max_retries=5, soft_time_limit=90, time_limit=120)
def provision_session(self, session_id: str) -> None:
    try:
        services.session_provision(session_id=session_id)
    except ClusterUnavailable as error:
        if self.request.retries >= self.max_retries:
            services.session_fail(
                session_id=session_id,
                message="The cluster is unavailable. End the lab and start it again "
                "in a few minutes.",
            )
            return
        # Honour the API server's Retry-After, else back off 1, 2, 4, 8 s.
        delay = (
            error.retry_after
            if error.retry_after is not None
            else 2**self.request.retries
        )
        delay = min(delay, 30)
        logger.warning(
            "Provisioning session %s: %s; retry %d in %.0f s",
            session_id,
            error,
            self.request.retries + 1,
            delay,
        )
        services.session_note(
            session_id=session_id,
            step=f"Cluster unavailable, retrying in {delay:.0f} s",
        )
        raise self.retry(countdown=delay) from None
    except Exception as error:
        services.session_fail(
            session_id=session_id,
            message=f"Building the lab environment failed: {error}. "
            "End the lab and start it again.",
        )
        raise


@shared_task(
    autoretry_for=(ClusterUnavailable,),
    retry_backoff=True,
    max_retries=5,
    time_limit=60,
)
def adopt_pooled_session(session_id: str) -> None:
    services.session_adopt(session_id=session_id)


@shared_task(
    autoretry_for=(ClusterUnavailable,),
    retry_backoff=True,
    max_retries=10,
    time_limit=60,
)
def end_session(session_id: str) -> None:
    services.session_end(session_id=session_id)


@shared_task(time_limit=3600)
def recycle_cluster(cluster_id: int) -> None:
    services.cluster_recycle(cluster_id=cluster_id)


@shared_task(time_limit=300)
def reap_expired_sessions() -> None:
    ended = services.sessions_reap_expired()
    orphans = services.namespaces_reap_orphans()
    vanished = services.sessions_mark_vanished()
    if vanished:
        logger.warning("Reaper found %d sessions whose namespace vanished", vanished)
    if ended or orphans:
        logger.info(
            "Reaper ended %d expired sessions and removed %d orphaned namespaces",
            ended,
            orphans,
        )
