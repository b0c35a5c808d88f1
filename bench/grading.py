"""Measure grading latency per lab against the local control plane.

Starts a private control plane and SQLite database and provisions one
session per lab. Then it runs each lab's grader RUNS times in this process
(the Celery task's body, without the queue) and prints n, p50, p95, p99,
max and the API calls per run. Run from the repository root:

    .venv/bin/python bench/grading.py [--runs 50]
"""

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    index = min(len(ordered) - 1, max(0, round(fraction * (len(ordered) - 1))))
    return ordered[index]


def main() -> int:
    parser = argparse.ArgumentParser(description="Grading latency per lab.")
    parser.add_argument("--runs", type=int, default=50, help="Grading runs per lab.")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="labplatform-bench-"))
    os.environ["LABPLATFORM_VAR_DIR"] = str(work)
    os.environ["LABPLATFORM_CELERY_EAGER"] = "true"
    os.environ["LABPLATFORM_LOG_LEVEL"] = "WARNING"
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labplatform.settings")

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from kubernetes.client import ApiClient

    from labplatform.cluster import kube
    from labplatform.cluster.localcp import LocalControlPlane
    from labplatform.content.catalog import get_catalog
    from labplatform.grading import services as grading
    from labplatform.grading.checks import GraderNotFound, load_grader
    from labplatform.grading.models import GradingRun
    from labplatform.labsessions import services as sessions

    settings.CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}
    }
    call_command("migrate", verbosity=0)
    plane = LocalControlPlane(data_dir=work / "controlplane")
    plane.start()
    settings.KUBECONFIG = str(plane.kubeconfig_path)
    settings.AUDIT_LOG_PATH = str(plane.audit_log_path)
    kube.reset_clients()

    calls = {"count": 0}
    original_request = ApiClient.call_api

    def counting_request(self, *request_args, **request_kwargs):
        calls["count"] += 1
        return original_request(self, *request_args, **request_kwargs)

    ApiClient.call_api = counting_request
    learner = User.objects.create_user("bench", password="bench-password-1")
    rows = []
    try:
        for lab in sorted(get_catalog().labs.values(), key=lambda lab: lab.order):
            try:
                load_grader(lab.folder)
            except GraderNotFound:
                print(f"{lab.slug}: no grader, skipped")
                continue
            session, _ = sessions.session_start(learner=learner, lab_slug=lab.slug)
            session.refresh_from_db()
            samples, api_calls = [], []
            for _ in range(args.runs):
                run = GradingRun.objects.create(
                    session=session, learner=learner, lab_slug=lab.slug
                )
                before = calls["count"]
                started = time.perf_counter()
                grading.grading_run(run_id=run.pk)
                samples.append((time.perf_counter() - started) * 1000)
                api_calls.append(calls["count"] - before)
            rows.append(
                (
                    lab.slug,
                    len(samples),
                    statistics.median(samples),
                    percentile(samples, 0.95),
                    percentile(samples, 0.99),
                    max(samples),
                    statistics.median(api_calls),
                )
            )
    finally:
        plane.stop()

    print(
        f"Grading latency, {args.runs} runs per lab, local control plane "
        f"({os.cpu_count()} CPUs). Times in ms."
    )
    print(
        f"{'lab':<26}{'n':>5}{'p50':>9}{'p95':>9}{'p99':>9}{'max':>9}{'API calls':>11}"
    )
    for slug, count, p50, p95, p99, largest, api in rows:
        print(
            f"{slug:<26}{count:>5}{p50:>9.1f}{p95:>9.1f}{p99:>9.1f}{largest:>9.1f}{api:>11.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
