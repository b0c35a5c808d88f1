"""Helpers shared by the cluster tests."""

import subprocess
import time


def kubectl(
    control_plane, *args: str, token: str | None = None, input_text: str | None = None
) -> subprocess.CompletedProcess:
    """Run the control plane's kubectl as admin, or with a bearer token."""
    command = [str(control_plane.kubectl_path)]
    if token is None:
        command += ["--kubeconfig", str(control_plane.kubeconfig_path)]
    else:
        command += [
            "--server",
            control_plane.server_url,
            "--certificate-authority",
            str(control_plane.data_dir / "pki" / "ca.crt"),
            "--token",
            token,
            "--kubeconfig",
            "/dev/null",
        ]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, input=input_text, timeout=60
    )


def wait_for(
    predicate, *, timeout: float = 30, interval: float = 0.2, message: str = ""
):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(
        f"timed out after {timeout} s waiting for {message or predicate}"
    )
