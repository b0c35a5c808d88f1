"""Django system checks for the platform's configuration."""

import shutil
from pathlib import Path

from django.conf import settings
from django.core.checks import Warning, register


@register()
def check_terminal_backend(app_configs, **kwargs):
    problems = []
    if settings.TERMINAL_BACKEND == "local":
        for tool, package in (("bwrap", "bubblewrap"), ("socat", "socat")):
            if shutil.which(tool) is None:
                problems.append(
                    Warning(
                        f"The local terminal backend needs {tool}, which is not installed.",
                        hint=f"Install the Debian package {package}.",
                        id="labplatform.W001",
                    )
                )
    elif settings.TERMINAL_BACKEND not in ("local", "exec"):
        problems.append(
            Warning(
                f"LABPLATFORM_TERMINAL_BACKEND={settings.TERMINAL_BACKEND!r} is not supported.",
                hint="Use 'local' (one machine) or 'exec' (workbench pods).",
                id="labplatform.W002",
            )
        )
    return problems


@register()
def check_kubeconfig(app_configs, **kwargs):
    if not Path(settings.KUBECONFIG).exists():
        return [
            Warning(
                f"The kubeconfig {settings.KUBECONFIG} does not exist yet.",
                hint="Start the local control plane (make run, or manage.py controlplane), "
                "or set LABPLATFORM_KUBECONFIG to a kind cluster's kubeconfig.",
                id="labplatform.W003",
            )
        ]
    return []
