"""Celery entry points for workshops."""

from celery import shared_task

from . import pool


@shared_task(time_limit=120)
def maintain_warm_pools() -> None:
    pool.maintain_warm_pools()
