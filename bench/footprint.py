"""What one lab session costs the cluster, and what the worker processes cost.

Starts a private local control plane and Redis, then provisions SESSIONS
lab environments with the platform's own provisioning code, as a worker
would. Prints the objects in one lab namespace, the control plane's
resident memory before and after, and the resident memory of an idle
Celery worker (prefork, concurrency 2) and of Celery beat.

    .venv/bin/python -m bench.footprint [SESSIONS]
"""

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labplatform.settings")
ROOT = Path(__file__).resolve().parent.parent
LAB = "pod-security-standards"
NAMESPACED_KINDS = [
    ("v1", "ServiceAccount"),
    ("v1", "ConfigMap"),
    ("v1", "Pod"),
    ("v1", "ResourceQuota"),
    ("v1", "LimitRange"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("apps/v1", "Deployment"),
]


def rss_mib(pid: int) -> float:
    """Return the resident memory of pid and its descendants, in MiB."""
    total_kib = 0
    pids = [pid]
    children = subprocess.run(
        ["pgrep", "-P", str(pid)], capture_output=True, text=True
    ).stdout.split()
    pids += [int(child) for child in children]
    for each in pids:
        for line in Path(f"/proc/{each}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                total_kib += int(line.split()[1])
    return total_kib / 1024


def main() -> None:
    sessions = int(sys.argv[1]) if len(sys.argv) > 1 else 20
    work = Path(tempfile.mkdtemp(prefix="labplatform-footprint-"))
    os.environ["LABPLATFORM_VAR_DIR"] = str(work)
    django.setup()
    from django.conf import settings
    from django.utils import timezone

    from labplatform.cluster import kube
    from labplatform.cluster.localcp import LocalControlPlane, free_port
    from labplatform.content.catalog import get_catalog
    from labplatform.labsessions import provisioning

    plane = LocalControlPlane(data_dir=work / "controlplane")
    plane.start()
    settings.KUBECONFIG = str(plane.kubeconfig_path)
    kube.reset_clients()
    redis_port = free_port()
    redis = subprocess.Popen(
        ["redis-server", "--port", str(redis_port), "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        lab = get_catalog().lab(LAB)
        time.sleep(2)
        before = {name: rss_mib(p.pid) for name, p in plane.processes.items()}
        started = time.monotonic()
        namespaces = []
        for index in range(sessions):
            namespace = f"lab-footprint-{index}-{uuid.uuid4().hex[:6]}"
            labels = {
                "app.kubernetes.io/managed-by": "labplatform",
                "labplatform.io/session": uuid.uuid4().hex,
                "labplatform.io/lab": LAB,
                "labplatform.io/learner": str(index),
            }
            provisioning.build_environment(
                lab=lab,
                namespace=namespace,
                labels=labels,
                expires_at=timezone.now(),
                learner_name=f"learner{index}",
                report=lambda step: None,
            )
            provisioning.build_workbench(lab=lab, namespace=namespace, labels=labels)
            namespaces.append(namespace)
        elapsed = time.monotonic() - started
        time.sleep(2)
        after = {name: rss_mib(p.pid) for name, p in plane.processes.items()}

        counts = {
            kind: len(kube.list_objects(version, kind, namespace=namespaces[0]))
            for version, kind in NAMESPACED_KINDS
        }
        print(f"Lab {LAB}: {sessions} environments provisioned in {elapsed:.1f} s")
        print("Objects in one lab namespace:")
        for kind, count in counts.items():
            print(f"  {kind:15} {count}")
        print(f"  {'total':15} {sum(counts.values())} (plus 1 ClusterRole, 1 binding)")
        for name in before:
            print(
                f"{name:24} RSS {before[name]:6.0f} MiB before, "
                f"{after[name]:6.0f} MiB after "
                f"({(after[name] - before[name]) / sessions:.2f} MiB per session)"
            )

        environment = {
            **os.environ,
            "LABPLATFORM_REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
            "LABPLATFORM_KUBECONFIG": str(plane.kubeconfig_path),
        }
        celery = [sys.executable, "-m", "celery", "-A", "labplatform"]
        worker = subprocess.Popen(
            [*celery, "worker", "--concurrency=2", "--loglevel=WARNING"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        beat = subprocess.Popen(
            [*celery, "beat", "--loglevel=WARNING", f"--schedule={work / 'beat'}"],
            cwd=ROOT,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(15)
        print(f"celery worker (main + 2 children) RSS {rss_mib(worker.pid):.0f} MiB")
        print(f"celery beat RSS {rss_mib(beat.pid):.0f} MiB")
        worker.terminate()
        beat.terminate()
        worker.wait(timeout=30)
        beat.wait(timeout=30)
    finally:
        redis.terminate()
        plane.stop()


if __name__ == "__main__":
    main()
