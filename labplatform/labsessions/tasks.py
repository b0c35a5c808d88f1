"""Celery entry points for the session lifecycle; each calls one service."""

import logging

from celery import shared_task

from labplatform.cluster.kube import ClusterUnavailable

from . import services

logger = logging.getLogger(__name__)


@shared_task(
    bind=True,
    autoretry_for=(ClusterUnavailable,),
    retry_backoff=True,
    retry_backoff_max=10,
    max_retries=5,
    soft_time_limit=90,
    time_limit=120,
)
def provision_session(self, session_id: str) -> None:
    try:
        services.session_provision(session_id=session_id)
    except ClusterUnavailable:
        if self.request.retries >= self.max_retries:
            services.session_fail(
                session_id=session_id,
                message="The cluster is unavailable. End the lab and start it again "
                "in a few minutes.",
            )
            return
        raise
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
    max_retries=10,
    time_limit=60,
)
def end_session(session_id: str) -> None:
    services.session_end(session_id=session_id)


@shared_task(time_limit=300)
def reap_expired_sessions() -> None:
    ended = services.sessions_reap_expired()
    orphans = services.namespaces_reap_orphans()
    if ended or orphans:
        logger.info(
            "Reaper ended %d expired sessions and removed %d orphaned namespaces",
            ended,
            orphans,
        )
