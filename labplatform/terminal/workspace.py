"""The learner's home folder for the local terminal backend.

Holds a kubeconfig bound to the learner's own ServiceAccount token, a
shell profile, and the lab's files. Nothing of the platform's (its admin
kubeconfig, its settings, its database) is ever written here.
"""

import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import yaml

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
        "clusters": [{
            "name": "lab",
            "cluster": {
                "server": f"https://{SANDBOX_API_ADDRESS}",
                "tls-server-name": real_host,
                "certificate-authority-data": base64.b64encode(
                    credentials.ca_pem.encode()).decode(),
            },
        }],
        "users": [{"name": "learner", "user": {"token": credentials.token}}],
        "contexts": [{
            "name": "lab",
            "context": {"cluster": "lab", "user": "learner",
                        "namespace": credentials.namespace},
        }],
        "current-context": "lab",
    }


BASHRC = """\
# Lab shell profile, written by labplatform.
export PS1='\\[\\e[32m\\]learner@lab\\[\\e[0m\\]:\\[\\e[34m\\]\\w\\[\\e[0m\\]$ '
alias k=kubectl
source <(kubectl completion bash) 2>/dev/null
echo "Namespace: $LAB_NAMESPACE (kubectl uses it by default)."
"""


def prepare_workspace(*, root: Path, credentials: LearnerCredentials,
                      lab_files: Path | None) -> Path:
    """Create or refresh the workspace; return the folder to use as HOME."""
    home = root / "home"
    (home / ".kube").mkdir(parents=True, exist_ok=True)
    (root / "etc").mkdir(exist_ok=True)
    (root / "run").mkdir(exist_ok=True)

    kubeconfig = home / ".kube" / "config"
    kubeconfig.write_text(yaml.safe_dump(make_learner_kubeconfig(credentials)))
    kubeconfig.chmod(0o600)
    (home / ".bashrc").write_text(BASHRC)
    (root / "etc" / "passwd").write_text(
        f"learner:x:{SANDBOX_UID}:{SANDBOX_UID}:Learner:/home/learner:/bin/bash\n"
        "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"
    )
    (root / "etc" / "group").write_text(
        f"learner:x:{SANDBOX_UID}:\nnogroup:x:65534:\n"
    )

    if lab_files is not None and lab_files.is_dir():
        copy_lab_files(lab_files, home / "lab")
    return home


def copy_lab_files(source: Path, target: Path) -> None:
    """Copy the lab's files into the workspace, keeping any the learner changed."""

    def copy_if_missing(source_file: str, target_file: str) -> str:
        if not Path(target_file).exists():
            shutil.copy2(source_file, target_file)
        return target_file

    shutil.copytree(source, target, dirs_exist_ok=True, copy_function=copy_if_missing)


def lab_folder(workspace_root: Path) -> Path:
    """Return the folder inside the workspace that holds the lab's files."""
    return workspace_root / "home" / "lab"
