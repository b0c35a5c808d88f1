"""A Celery worker that records when provisioning tasks run and each API call.

The benchmark needs the stages of a lab start, which happen in the
worker process: the task's start and end, and every server-side apply.
Each is appended as one JSON line (wall-clock seconds) to the file named
by LABPLATFORM_BENCH_TIMINGS. Run as `python -m bench.worker worker ...`
with the arguments of `celery worker`.
"""

import json
import os
import sys
import time

from celery import signals

from labplatform.celery import app

TIMINGS = os.environ.get("LABPLATFORM_BENCH_TIMINGS", "")
PROVISION_TASK = "labplatform.labsessions.tasks.provision_session"
_current = {"session": None}


def record(**event) -> None:
    # One short write per line with O_APPEND, so the lines of the pool's
    # processes never interleave.
    with open(TIMINGS, "a") as timings:
        timings.write(json.dumps(event) + "\n")


@signals.task_prerun.connect
def _task_started(sender=None, task=None, args=None, **kwargs):
    if task is not None and task.name == PROVISION_TASK:
        _current["session"] = str(args[0])
        record(event="task_start", session=_current["session"], at=time.time())


@signals.task_postrun.connect
def _task_finished(sender=None, task=None, args=None, **kwargs):
    if task is not None and task.name == PROVISION_TASK:
        record(event="task_end", session=str(args[0]), at=time.time())
        _current["session"] = None


@signals.worker_process_init.connect
def _instrument(**kwargs):
    from labplatform.cluster import kube

    original_apply = kube.apply

    def timed_apply(manifest):
        started = time.time()
        try:
            return original_apply(manifest)
        finally:
            if _current["session"] is not None:
                record(
                    event="api",
                    session=_current["session"],
                    kind=manifest.get("kind"),
                    at=started,
                    ms=(time.time() - started) * 1000,
                )

    kube.apply = timed_apply


if __name__ == "__main__":
    if not TIMINGS:
        sys.exit("set LABPLATFORM_BENCH_TIMINGS to the file for the timings")
    app.worker_main(sys.argv[1:])
