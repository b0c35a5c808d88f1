"""Grading latency per lab and Kubernetes API calls per grading run.

Two figures per lab, against one ready session of that lab in its
starting state:

- the task body: grading_run() called in this process, without the
  queue, with every API call counted;
- Check my work: the POST the button sends, through the Celery worker,
  until the run is stored as done (read from the database every 2 ms;
  the push of the result to the page is not included).
"""

import asyncio
import statistics
import time

from .stats import Table, percentile, target_note
from .web import csrf_token, learner_http


def _count_api_calls():
    from kubernetes.client import ApiClient

    calls = {"count": 0}
    original = ApiClient.call_api

    def counting_call_api(self, *args, **kwargs):
        calls["count"] += 1
        return original(self, *args, **kwargs)

    ApiClient.call_api = counting_call_api
    return calls, lambda: setattr(ApiClient, "call_api", original)


def _task_body(session, learner, runs: int) -> tuple[list[float], list[int]]:
    from labplatform.grading import services as grading
    from labplatform.grading.models import GradingRun

    calls, restore = _count_api_calls()
    samples, api_calls = [], []
    try:
        for _ in range(runs):
            run = GradingRun.objects.create(
                session=session, learner=learner, lab_slug=session.lab_slug
            )
            before = calls["count"]
            started = time.perf_counter()
            grading.grading_run(run_id=run.pk)
            samples.append((time.perf_counter() - started) * 1000)
            api_calls.append(calls["count"] - before)
    finally:
        restore()
    return samples, api_calls


async def _check_my_work(stack, session, cookie: str, runs: int) -> list[float]:
    from labplatform.grading.models import GradingRun

    base = stack.base_url
    samples = []
    async with learner_http(base, cookie) as http:
        async with http.get(f"{base}/labs/{session.lab_slug}/") as response:
            response.raise_for_status()
        token = csrf_token(http, base)
        for _ in range(runs):
            started = time.perf_counter()
            async with http.post(
                f"{base}/sessions/{session.id}/check/",
                headers={"X-CSRFToken": token, "Origin": base, "HX-Request": "true"},
            ) as response:
                response.raise_for_status()
            while True:
                run = GradingRun.objects.filter(session=session).latest("created_at")
                if run.status in (GradingRun.Status.DONE, GradingRun.Status.ERROR):
                    break
                await asyncio.sleep(0.002)
            samples.append((time.perf_counter() - started) * 1000)
    return samples


def run(stack, *, runs: int) -> list[Table]:
    from labplatform.content.catalog import get_catalog
    from labplatform.grading.checks import GraderNotFound, load_grader

    table = Table(f"Grading latency, {runs} runs per lab, ms")
    for lab in sorted(get_catalog().labs.values(), key=lambda lab: lab.order):
        try:
            load_grader(lab.folder)
        except GraderNotFound:
            table.footnotes.append(f"{lab.slug} has no grader and was skipped.")
            continue
        learner, cookie = stack.make_learner("grading")
        session = stack.ready_session(learner, lab.slug)
        body, api_calls = _task_body(session, learner, runs)
        table.add(
            f"{lab.slug}: task body",
            body,
            note=f"{statistics.median(api_calls):.0f} API calls per run; "
            + target_note(percentile(body, 0.95), 300, "p95"),
        )
        clicks = asyncio.run(_check_my_work(stack, session, cookie, runs))
        table.add(
            f"{lab.slug}: Check my work to stored result",
            clicks,
            note=target_note(percentile(clicks, 0.95), 300, "p95"),
        )
    return [table]
