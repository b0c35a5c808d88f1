"""`manage.py check --deploy` is clean for production settings.

Settings are read once per process, so each case runs manage.py in a
subprocess with its own environment.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[2]


def production_environment(tmp_path: Path) -> dict[str, str]:
    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\n")
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith("LABPLATFORM_")
    }
    environment.update(
        {
            "LABPLATFORM_DEBUG": "false",
            "LABPLATFORM_SECRET_KEY": secrets.token_urlsafe(50),
            "LABPLATFORM_ALLOWED_HOSTS": "labs.example.org",
            "LABPLATFORM_CSRF_TRUSTED_ORIGINS": "https://labs.example.org",
            "LABPLATFORM_SECURE_COOKIES": "true",
            "LABPLATFORM_SSL_REDIRECT": "true",
            "LABPLATFORM_TRUST_X_FORWARDED_PROTO": "true",
            "LABPLATFORM_HSTS_SECONDS": "31536000",
            "LABPLATFORM_HSTS_INCLUDE_SUBDOMAINS": "true",
            "LABPLATFORM_HSTS_PRELOAD": "true",
            "LABPLATFORM_VAR_DIR": str(tmp_path / "var"),
            "LABPLATFORM_KUBECONFIG": str(kubeconfig),
            "LABPLATFORM_TERMINAL_BACKEND": "exec",
            "LABPLATFORM_WORKBENCH_IMAGE": "labplatform/workbench:0.1.0",
        }
    )
    return environment


def check_deploy(environment: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            sys.executable,
            str(REPO_DIR / "manage.py"),
            "check",
            "--deploy",
            "--fail-level",
            "WARNING",
        ],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_clean_for_production(tmp_path):
    result = check_deploy(production_environment(tmp_path))

    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout


def test_check_deploy_lists_missing_https(tmp_path):
    environment = production_environment(tmp_path)
    for name in ("SECURE_COOKIES", "SSL_REDIRECT", "HSTS_SECONDS"):
        del environment[f"LABPLATFORM_{name}"]

    result = check_deploy(environment)

    assert result.returncode != 0
    for check_id in ("security.W004", "security.W008", "security.W012"):
        assert check_id in result.stderr, check_id
