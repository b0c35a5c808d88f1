"""Celery entry point for grading."""

from celery import shared_task

from labplatform.cluster.kube import ClusterUnavailable

from . import services


@shared_task(
    bind=True,
    autoretry_for=(ClusterUnavailable,),
    retry_backoff=True,
    retry_backoff_max=5,
    max_retries=3,
    soft_time_limit=30,
    time_limit=45,
)
def grade_session(self, run_id: str) -> None:
    try:
        services.grading_run(run_id=run_id)
    except ClusterUnavailable:
        if self.request.retries >= self.max_retries:
            services.grading_fail(
                run_id=run_id,
                message="The cluster did not respond. Press Check my work again shortly.",
            )
            return
        raise
    except Exception as error:
        services.grading_fail(run_id=run_id, message=f"Grading failed: {error}")
        raise
