"""Copying kubectl and the lab helper into the workspace folder."""

from concurrent.futures import ThreadPoolExecutor

from django.test import override_settings

from labplatform.terminal.backends.local import LAB_HELPER
from labplatform.terminal.sessions import shared_tools


def test_shared_tools_survives_concurrent_first_copies(tmp_path):
    """Terminals opened together on a fresh workspace all get their tools."""
    kubectl = tmp_path / "kubectl"
    kubectl.write_bytes(b"#!/bin/sh\n" + b"x" * 4_000_000)
    workspaces = tmp_path / "workspaces"

    with override_settings(TERMINAL_WORKSPACE_DIR=workspaces):
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = list(pool.map(lambda _: shared_tools(kubectl), range(16)))

    tools = workspaces / "tools"
    assert all(result["kubectl"] == tools / "kubectl" for result in results)
    assert (tools / "kubectl").read_bytes() == kubectl.read_bytes()
    assert (tools / "lab").read_bytes() == LAB_HELPER.read_bytes()
    assert (tools / "kubectl").stat().st_mode & 0o777 == 0o755
    assert sorted(path.name for path in tools.iterdir()) == ["kubectl", "lab"]
