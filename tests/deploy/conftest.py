"""Fixtures for the deployment files: the tools that parse and lint them."""

import shutil
import subprocess
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parents[2]


def require_tool(name: str, package: str) -> str:
    """Return the path of a Debian-packaged tool, or stop with how to install it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(
            f"{name} is not installed; install the Debian package {package} "
            "(scripts/setup.sh does this when run as root).",
            pytrace=False,
        )
    return path


@pytest.fixture(scope="session")
def helm_binary() -> str:
    """helm, built from its Go module by tools/helm/build.sh when missing."""
    result = subprocess.run(
        ["bash", str(REPO_DIR / "tools" / "helm" / "build.sh")],
        capture_output=True,
        text=True,
        timeout=1200,
    )
    if result.returncode != 0:
        pytest.fail(f"building helm failed:\n{result.stderr}", pytrace=False)
    return result.stdout.strip().splitlines()[-1]
