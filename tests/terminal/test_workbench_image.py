"""The workbench image's build file, judged offline by our own lab 1 grader.

No Docker engine runs here, so the image is never built in CI; these
tests read deploy/workbench/Dockerfile with the platform's Dockerfile
parser, the harden-container checks and hadolint.
"""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from labplatform.cluster import manifests
from labplatform.grading.dockerfile import parse_dockerfile
from labplatform.grading.hadolint import run_hadolint

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "deploy" / "workbench" / "Dockerfile"
DOCKERFILE_CHECKS = (
    "final-base-minimal",
    "image-user-non-root",
    "image-user-numeric",
    "no-package-tools",
    "exec-form-entrypoint",
)
WORKLOAD_CHECKS = (
    "workload-run-as-non-root",
    "workload-read-only-root",
    "workload-no-privilege-escalation",
    "workload-drops-all-capabilities",
)


@pytest.fixture(scope="module")
def grade_results() -> dict[str, dict]:
    completed = subprocess.run(
        [
            sys.executable,
            str(REPO / "manage.py"),
            "grade",
            "harden-container",
            "--dockerfile",
            str(DOCKERFILE),
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=120,
    )
    # Exit code 1 means a check failed: the workload checks have no manifest.
    assert completed.returncode in (0, 1), completed.stderr
    return {result["id"]: result for result in json.loads(completed.stdout)}


@pytest.mark.parametrize("check_id", DOCKERFILE_CHECKS)
def test_lab1_dockerfile_check_passes(grade_results, check_id):
    assert grade_results[check_id]["status"] == "pass", grade_results[check_id]


@pytest.mark.parametrize("check_id", WORKLOAD_CHECKS)
def test_workload_checks_need_a_manifest(grade_results, check_id):
    # The workbench's pod spec is checked against the restricted standard
    # by tests/terminal/test_workbench.py, not by lab 1's "web" checks.
    assert grade_results[check_id]["status"] == "fail"
    assert "no Deployment named 'web'" in grade_results[check_id]["observed"]


def test_final_stage_is_scratch_as_uid_1000():
    dockerfile = parse_dockerfile(DOCKERFILE.read_text())
    final = dockerfile.final_stage

    assert final.image == "scratch"
    assert final.user == "1000:1000"
    assert final.cmd is not None
    assert list(final.cmd.exec_form) == ["sleep", "infinity"]
    assert [stage.name for stage in dockerfile.stages] == [
        "kubectl",
        "hadolint",
        "rootfs",
        None,
    ]


def test_uid_matches_pod_manifest():
    dockerfile = parse_dockerfile(DOCKERFILE.read_text())
    uid = int(dockerfile.final_stage.user.split(":")[0])

    assert uid == manifests.WORKBENCH_UID


def test_hadolint_findings_are_the_known_two():
    result = run_hadolint(DOCKERFILE.read_text())

    assert result.available, result.message
    codes = sorted(finding.code for finding in result.findings)
    # DL3008: apt packages without versions (the Dockerfile's inline
    # ignore is disabled when the platform runs hadolint). DL3067: the
    # final stage copies the assembled root filesystem, which is how apt
    # and dpkg stay behind in the build stage.
    assert codes == ["DL3008", "DL3067"]


def test_copied_files_exist():
    text = DOCKERFILE.read_text()

    for source in ("labplatform/terminal/bin/lab", "deploy/workbench/bashrc"):
        assert "COPY --chmod" in text
        assert source in text
        assert (REPO / source).is_file()


def test_profile_is_valid_bash_and_matches_command():
    profile = REPO / "deploy" / "workbench" / "bashrc"
    checked = subprocess.run(["bash", "-n", str(profile)], capture_output=True)

    assert checked.returncode == 0, checked.stderr
    assert "/etc/lab/bashrc" in manifests.WORKBENCH_SHELL_COMMAND
    assert "deploy/workbench/bashrc /etc/lab/bashrc" in DOCKERFILE.read_text()
    assert manifests.WORKBENCH_FILES_PATH in profile.read_text()
