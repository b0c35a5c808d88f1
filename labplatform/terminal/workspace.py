"""The folders of a learner's sandbox in the local terminal backend.

The learner's home contains the lab's files and whatever they create. A
private folder, read-only inside the sandbox, contains a kubeconfig bound to
the learner's own ServiceAccount token and the shell profile. Nothing of
the platform's (its admin kubeconfig, its settings, its database) is
ever written into either.
"""

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from . import safefs

logger = logging.getLogger(__name__)

# Inside the sandbox kubectl reaches the API server through a local
# forwarder on this address; see backends.local.
SANDBOX_API_ADDRESS = "127.0.0.1:6443"
SANDBOX_UID = 1000


@dataclass(frozen=True)
class LearnerCredentials:
    namespace: str
    token: str
    server_url: str
    ca_pem: str


def make_learner_kubeconfig(credentials: LearnerCredentials) -> dict:
    """Build a kubeconfig that uses the learner's token and namespace.

    The server address is the sandbox's local forwarder, so the real API
    server's name goes in tls-server-name to keep certificate checks on.
    """
    import base64

    real_host = urlsplit(credentials.server_url).hostname or "localhost"
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {
                "name": "lab",
                "cluster": {
                    "server": f"https://{SANDBOX_API_ADDRESS}",
                    "tls-server-name": real_host,
                    "certificate-authority-data": base64.b64encode(
                        credentials.ca_pem.encode()
                    ).decode(),
                },
            }
        ],
        "users": [{"name": "learner", "user": {"token": credentials.token}}],
        "contexts": [
            {
                "name": "lab",
                "context": {
                    "cluster": "lab",
                    "user": "learner",
                    "namespace": credentials.namespace,
                },
            }
        ],
        "current-context": "lab",
    }


BASHRC = """\
# Lab shell profile, written by labplatform.
export PS1='\\[\\e[32m\\]learner@lab\\[\\e[0m\\]:\\[\\e[34m\\]\\w\\[\\e[0m\\]$ '
alias k=kubectl
source <(kubectl completion bash) 2>/dev/null
[ -f ~/.bashrc ] && source ~/.bashrc
echo "Namespace: $LAB_NAMESPACE (kubectl uses it by default)."
"""
# Host uids for sandboxes when the platform runs as root: each session gets
# its own unprivileged uid, so learner processes are never root on the host
# and per-uid limits (RLIMIT_NPROC) apply per session.
SANDBOX_HOST_UID_BASE = 200000
SANDBOX_HOST_UID_SPAN = 60000
MAX_LAB_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True)
class Workspace:
    """Host folders of one session's sandbox.

    home is the learner's and writable by them; private and run belong
    to the platform and are mounted read-only, so the learner cannot swap
    what the platform writes there for links.
    """

    root: Path
    host_uid: int | None

    @property
    def home(self) -> Path:
        return self.root / "home"

    @property
    def private(self) -> Path:
        return self.root / "private"

    @property
    def run(self) -> Path:
        return self.root / "run"

    @property
    def kubeconfig(self) -> Path:
        return self.private / "kubeconfig"

    @property
    def bashrc(self) -> Path:
        return self.private / "bashrc"


def sandbox_host_uid(session_key: str) -> int | None:
    """Return the host uid a session's sandbox runs as, None to keep our own."""
    if os.geteuid() != 0:
        return None
    digest = int(hashlib.sha256(session_key.encode()).hexdigest()[:8], 16)
    # NOTE: two sessions can hash to the same uid (about 1 in 60000 per
    # pair); they then share RLIMIT_NPROC but not files or namespaces.
    return SANDBOX_HOST_UID_BASE + digest % SANDBOX_HOST_UID_SPAN


def prepare_workspace(
    *,
    root: Path,
    session_key: str,
    credentials: LearnerCredentials,
    lab_files: Path | None,
) -> Workspace:
    """Create or refresh the session's folders and the platform's files."""
    workspace = Workspace(root=root, host_uid=sandbox_host_uid(session_key))
    for folder in (workspace.root, workspace.private, workspace.run):
        folder.mkdir(mode=0o755, parents=True, exist_ok=True)
        os.chmod(folder, 0o755)
    workspace.home.mkdir(mode=0o700, exist_ok=True)
    if workspace.host_uid is not None:
        os.lchown(workspace.home, workspace.host_uid, workspace.host_uid)

    # The kubeconfig carries the learner's own token, so the sandbox user
    # may read it; it lives in a folder only the platform can write.
    _write_private(
        workspace.kubeconfig,
        yaml.safe_dump(make_learner_kubeconfig(credentials)),
        mode=0o644,
    )
    _write_private(workspace.bashrc, BASHRC, mode=0o644)
    _write_private(
        workspace.private / "passwd",
        f"learner:x:{SANDBOX_UID}:{SANDBOX_UID}:Learner:/home/learner:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
        mode=0o644,
    )
    _write_private(
        workspace.private / "group",
        f"learner:x:{SANDBOX_UID}:\nnogroup:x:65534:\n",
        mode=0o644,
    )

    if lab_files is not None and lab_files.is_dir():
        copy_lab_files(lab_files, workspace)
    return workspace


def _write_private(path: Path, text: str, *, mode: int) -> None:
    temporary = path.with_name(path.name + ".new")
    temporary.write_text(text)
    temporary.chmod(mode)
    temporary.replace(path)


def copy_lab_files(source: Path, workspace: Workspace) -> None:
    """Copy the lab's files into ~/lab, keeping any the learner changed."""
    for path in sorted(source.rglob("*")):
        if not path.is_file():
            continue
        relative = Path("lab") / path.relative_to(source)
        try:
            safefs.write_text(
                workspace.home,
                str(relative),
                path.read_text(encoding="utf-8", errors="replace"),
                owner=workspace.host_uid,
                replace=False,
            )
        except safefs.UnsafePath as error:
            # The learner replaced ~/lab or a file in it with a link: leave
            # it, and still give them a shell in which to fix it.
            logger.warning(
                "Lab file %s not copied into %s: %s", relative, workspace.root, error
            )
