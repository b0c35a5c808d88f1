"""Glue between a lab session and a terminal backend."""

import asyncio
import os
import shutil
import tempfile
import uuid
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from labplatform.cluster import kube
from labplatform.cluster.manifests import (
    LEARNER_SERVICE_ACCOUNT,
    WORKBENCH_CONTAINER,
    WORKBENCH_POD,
    WORKBENCH_SHELL_COMMAND,
)
from labplatform.content.catalog import get_catalog
from labplatform.labsessions.models import LabSession

from .backends import ShellStartError
from .backends.exec import ExecShell, ExecTarget
from .backends.local import (
    LAB_HELPER,
    ApiRelay,
    BackendUnavailable,
    LocalShell,
    sandbox_command,
)
from .workbench import wait_for_workbench
from .workspace import LearnerCredentials, prepare_workspace

__all__ = ["ShellStartError", "open_shell"]
TERMINAL_BACKENDS = ("local", "exec")


def terminal_session_for(*, session_id: str, user) -> tuple[LabSession | None, str]:
    """Return the session if user may attach a terminal to it, else (None, reason)."""
    try:
        key = uuid.UUID(str(session_id))
    except ValueError:
        return None, "malformed session id"
    session = LabSession.objects.filter(pk=key).first()
    if session is None:
        return None, "no such session"
    if session.learner_id != user.pk:
        return None, f"session belongs to another learner (id {session.learner_id})"
    if session.status != LabSession.Status.READY:
        return None, "not ready"
    if session.expires_at <= timezone.now():
        return None, "session expired"
    return session, ""


def terminal_revoked_reason(*, session_id, user_id) -> str:
    """Return why an open terminal must close now, or "" when it may stay."""
    from django.contrib.auth import get_user_model

    if not get_user_model().objects.filter(pk=user_id, is_active=True).exists():
        return "the account is deactivated"
    session = (
        LabSession.objects.filter(pk=session_id).only("status", "expires_at").first()
    )
    if session is None or session.status != LabSession.Status.READY:
        return "the session is no longer ready"
    if session.expires_at <= timezone.now():
        return "the session expired"
    return ""


def kubectl_path() -> Path:
    if settings.KUBECTL_PATH:
        return Path(settings.KUBECTL_PATH)
    from labplatform.cluster.localcp import build_binaries

    return build_binaries() / "kubectl"


def shared_tools(kubectl: Path) -> dict[str, Path]:
    """Copy kubectl and the lab helper where every sandbox uid can read them.

    Sandboxes run as unprivileged uids, which may not reach the platform's
    cache or checkout (for example under /root), so the tools are copied
    once into the workspace folder, which is world-traversable.
    """
    base = settings.TERMINAL_WORKSPACE_DIR
    base.mkdir(parents=True, exist_ok=True)
    os.chmod(base, 0o711)
    tools = base / "tools"
    tools.mkdir(mode=0o755, exist_ok=True)
    copies = {}
    for name, source in (("kubectl", kubectl), ("lab", LAB_HELPER)):
        target = tools / name
        if (
            not target.exists()
            or target.stat().st_size != source.stat().st_size
            or target.stat().st_mtime < source.stat().st_mtime
        ):
            # Terminals opened together copy at the same time, each to a
            # temporary file of its own, so none renames another's away.
            handle, temporary_name = tempfile.mkstemp(dir=tools, prefix=f".{name}.")
            os.close(handle)
            temporary = Path(temporary_name)
            shutil.copyfile(source, temporary)
            temporary.chmod(0o755)
            temporary.replace(target)
        copies[name] = target
    return copies


def _learner_credentials(session: LabSession) -> LearnerCredentials:
    from labplatform.labsessions.services import session_kubeconfig

    with kube.using_cluster(session_kubeconfig(session)):
        return _credentials_in_current_cluster(session)


def _credentials_in_current_cluster(session: LabSession) -> LearnerCredentials:
    remaining = int((session.expires_at - timezone.now()).total_seconds())
    token = kube.request_service_account_token(
        namespace=session.namespace,
        name=LEARNER_SERVICE_ACCOUNT,
        expiration_seconds=remaining,
    )
    server_url, ca_pem = kube.cluster_server()
    return LearnerCredentials(
        namespace=session.namespace, token=token, server_url=server_url, ca_pem=ca_pem
    )


async def open_shell(
    *, session: LabSession, on_output, on_exit
) -> LocalShell | ExecShell:
    """Build the shell for session with the backend that TERMINAL_BACKEND names."""
    backend = settings.TERMINAL_BACKEND
    if backend not in TERMINAL_BACKENDS:
        raise ShellStartError(
            f"The terminal backend {backend!r} is unknown; set "
            "LABPLATFORM_TERMINAL_BACKEND to local or exec."
        )
    if backend == "exec":
        return await open_exec_shell(
            session=session, on_output=on_output, on_exit=on_exit
        )
    loop = asyncio.get_running_loop()
    try:
        credentials = await loop.run_in_executor(None, _learner_credentials, session)
        kubectl = await loop.run_in_executor(None, kubectl_path)
        tools = await loop.run_in_executor(None, shared_tools, kubectl)
    except kube.ClusterError as error:
        raise ShellStartError(
            f"The cluster is unavailable ({error}). Reload the page to try again."
        ) from None

    lab = get_catalog().lab(session.lab_slug)
    workspace = prepare_workspace(
        root=settings.TERMINAL_WORKSPACE_DIR / str(session.id),
        session_key=str(session.id),
        credentials=credentials,
        lab_files=lab.resources_dir if lab is not None else None,
    )
    try:
        command = sandbox_command(
            workspace=workspace,
            kubectl=tools["kubectl"],
            lab_helper=tools["lab"],
            namespace=session.namespace,
        )
    except BackendUnavailable as error:
        raise ShellStartError(str(error)) from None
    relay = ApiRelay(
        workspace.run / "api.sock", credentials.server_url, owner=workspace.host_uid
    )
    return LocalShell(
        command=command, relay=relay, on_output=on_output, on_exit=on_exit
    )


def _exec_target(session: LabSession) -> ExecTarget:
    """Wait for the session's workbench, then return where to exec and as whom."""
    from labplatform.labsessions.services import session_kubeconfig

    with kube.using_cluster(session_kubeconfig(session)):
        wait_for_workbench(
            namespace=session.namespace, timeout=settings.WORKBENCH_START_SECONDS
        )
        credentials = _credentials_in_current_cluster(session)
    return ExecTarget(
        server_url=credentials.server_url,
        ca_pem=credentials.ca_pem,
        token=credentials.token,
        namespace=session.namespace,
        pod=WORKBENCH_POD,
        container=WORKBENCH_CONTAINER,
        command=WORKBENCH_SHELL_COMMAND,
    )


async def open_exec_shell(*, session: LabSession, on_output, on_exit) -> ExecShell:
    """Build a shell in the session's workbench pod, as the learner.

    The exec connection carries the learner's own TokenRequest token, so
    the API server applies the learner's RBAC, not the platform's.
    """
    loop = asyncio.get_running_loop()
    try:
        target = await loop.run_in_executor(None, _exec_target, session)
    except kube.ClusterError as error:
        raise ShellStartError(
            f"The cluster is unavailable ({error}). Reload the page to try again."
        ) from None
    return ExecShell(target=target, on_output=on_output, on_exit=on_exit)
