"""The local control plane: etcd, kube-apiserver and kube-controller-manager.

Development and the tests need a real Kubernetes API but these machines
have no container engine, so kind cannot run. This module starts the real
components, built from Go modules by tools/controlplane/build.sh, as
plain processes on 127.0.0.1. There is no scheduler and no kubelet, so
pods are admitted and stored but never run. Everything at the API level
is the real thing: RBAC, Pod Security admission, ValidatingAdmissionPolicy,
quotas, dry runs, audit events and namespace deletion.
"""

import logging
import os
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import pki

logger = logging.getLogger(__name__)

REPO_DIR = Path(__file__).resolve().parents[2]
BUILD_SCRIPT = REPO_DIR / "tools" / "controlplane" / "build.sh"
SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
START_TIMEOUT_SECONDS = 90

AUDIT_POLICY = {
    "apiVersion": "audit.k8s.io/v1",
    "kind": "Policy",
    "omitStages": ["RequestReceived"],
    "rules": [
        # Leases and events would drown the learner's own requests. The
        # controllers' own writes stay in: a ReplicaSet's pod creations that
        # Pod Security rejects are exactly what the audit lab shows.
        {"level": "None", "resources": [{"group": "coordination.k8s.io"}]},
        {
            "level": "None",
            "resources": [
                {"group": "", "resources": ["events"]},
                {"group": "events.k8s.io"},
            ],
        },
        {"level": "None", "users": ["system:apiserver"]},
        # Metadata is enough for the pod-security.kubernetes.io annotations,
        # and it never writes request bodies (secrets, tokens) to the log.
        {
            "level": "Metadata",
            "verbs": ["create", "update", "patch", "delete", "deletecollection"],
        },
        {"level": "None"},
    ],
}

ADMISSION_CONFIG = {
    "apiVersion": "apiserver.config.k8s.io/v1",
    "kind": "AdmissionConfiguration",
    "plugins": [
        {
            "name": "PodSecurity",
            "configuration": {
                "apiVersion": "pod-security.admission.config.k8s.io/v1",
                "kind": "PodSecurityConfiguration",
                # The upstream defaults: namespaces without labels are not
                # restricted. Learner namespaces get explicit labels.
                "defaults": {
                    "enforce": "privileged",
                    "enforce-version": "latest",
                    "audit": "privileged",
                    "audit-version": "latest",
                    "warn": "privileged",
                    "warn-version": "latest",
                },
                "exemptions": {"usernames": [], "runtimeClasses": [], "namespaces": []},
            },
        }
    ],
}


class ControlPlaneError(RuntimeError):
    """The local control plane could not be built or started."""


def build_binaries() -> Path:
    """Build the binaries when missing (progress goes to stderr); return their folder."""
    try:
        result = subprocess.run(
            ["bash", str(BUILD_SCRIPT)], stdout=subprocess.PIPE, text=True, check=True
        )
    except subprocess.CalledProcessError as error:
        raise ControlPlaneError(
            f"building the control plane failed (exit {error.returncode}); "
            f"run {BUILD_SCRIPT} to see the Go errors"
        ) from None
    return Path(result.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class LocalControlPlane:
    """One running control plane whose files all live under data_dir."""

    data_dir: Path
    api_port: int = 0
    bin_dir: Path | None = None
    # The API server's audit policy and AdmissionConfiguration; tests start
    # a control plane with the workshop cluster's files in their place.
    audit_policy: dict = field(default_factory=lambda: AUDIT_POLICY)
    admission_config: dict = field(default_factory=lambda: ADMISSION_CONFIG)
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def kubeconfig_path(self) -> Path:
        return self.data_dir / "admin.kubeconfig"

    @property
    def audit_log_path(self) -> Path:
        return self.data_dir / "audit.log"

    @property
    def server_url(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    @property
    def kubectl_path(self) -> Path:
        assert self.bin_dir is not None
        return self.bin_dir / "kubectl"

    def start(self) -> None:
        started = time.monotonic()
        if self.bin_dir is None:
            self.bin_dir = build_binaries()
        if not self.api_port:
            self.api_port = free_port()
        self.data_dir.mkdir(parents=True, exist_ok=True)
        pki_dir = self.data_dir / "pki"
        pki_dir.mkdir(exist_ok=True)

        ca = pki.make_ca(pki_dir)
        serving = pki.make_signed(
            ca,
            pki_dir,
            file_stem="apiserver",
            common_name="kube-apiserver",
            server_names=(
                "localhost",
                "kubernetes",
                "kubernetes.default",
                "kubernetes.default.svc",
                "kubernetes.default.svc.cluster.local",
            ),
            server_ips=("127.0.0.1", "10.96.0.1"),
        )
        admin = pki.make_signed(
            ca,
            pki_dir,
            file_stem="admin",
            common_name="labplatform-admin",
            organization="system:masters",
        )
        controller = pki.make_signed(
            ca,
            pki_dir,
            file_stem="controller-manager",
            common_name="system:kube-controller-manager",
        )
        service_accounts = pki.make_service_account_keys(pki_dir)

        self._write_kubeconfig(self.kubeconfig_path, ca, admin)
        controller_kubeconfig = self.data_dir / "controller-manager.kubeconfig"
        self._write_kubeconfig(controller_kubeconfig, ca, controller)

        try:
            etcd_url = self._start_etcd()
            self._start_apiserver(etcd_url, ca, serving, service_accounts)
            self._wait_ready(ca, admin)
            self._start_controller_manager(controller_kubeconfig, ca, service_accounts)
        except BaseException:
            self.stop()
            raise
        logger.info(
            "Local control plane ready at %s in %.1f s (data in %s)",
            self.server_url,
            time.monotonic() - started,
            self.data_dir,
        )

    def stop(self) -> None:
        # Stop in reverse start order, so the controller-manager is gone
        # before the API server, and the API server before etcd.
        for name, process in reversed(list(self.processes.items())):
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
            logger.info("Stopped %s", name)
        self.processes.clear()

    def check_alive(self) -> None:
        for name, process in self.processes.items():
            if process.poll() is not None:
                raise ControlPlaneError(
                    f"{name} exited with code {process.returncode}; "
                    f"see {self.data_dir / (name + '.log')}"
                )

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        assert self.bin_dir is not None
        log = open(self.data_dir / f"{name}.log", "ab")
        process = subprocess.Popen(
            [str(self.bin_dir / name), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        self.processes[name] = process
        return process

    def _start_etcd(self) -> str:
        client_url = f"http://127.0.0.1:{free_port()}"
        peer_url = f"http://127.0.0.1:{free_port()}"
        self._spawn(
            "etcd",
            [
                "--name=labplatform",
                f"--data-dir={self.data_dir / 'etcd'}",
                f"--listen-client-urls={client_url}",
                f"--advertise-client-urls={client_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=labplatform={peer_url}",
                # Development data is disposable; skipping fsync keeps tests fast.
                "--unsafe-no-fsync=true",
                "--quota-backend-bytes=2147483648",
                "--log-level=warn",
            ],
        )
        self._wait_for(f"{client_url}/health", "etcd", context=None)
        return client_url

    def _start_apiserver(
        self,
        etcd_url: str,
        ca: pki.KeyPair,
        serving: pki.KeyPair,
        service_accounts: pki.KeyPair,
    ) -> None:
        audit_policy = self.data_dir / "audit-policy.yaml"
        audit_policy.write_text(yaml.safe_dump(self.audit_policy))
        admission_config = self.data_dir / "admission-config.yaml"
        admission_config.write_text(yaml.safe_dump(self.admission_config))

        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={self.api_port}",
                f"--tls-cert-file={serving.cert_path}",
                f"--tls-private-key-file={serving.key_path}",
                f"--client-ca-file={ca.cert_path}",
                "--authorization-mode=RBAC",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={service_accounts.cert_path}",
                f"--service-account-signing-key-file={service_accounts.key_path}",
                f"--api-audiences={SERVICE_ACCOUNT_ISSUER}",
                "--service-cluster-ip-range=10.96.0.0/16",
                # The escape lab stores privileged pods; admission still
                # decides per namespace through Pod Security labels.
                "--allow-privileged=true",
                f"--admission-control-config-file={admission_config}",
                f"--audit-policy-file={audit_policy}",
                f"--audit-log-path={self.audit_log_path}",
                "--audit-log-format=json",
                "--audit-log-maxsize=100",
                "--audit-log-maxbackup=1",
                # Without a kubelet the endpoint reconciler has nothing to do.
                "--endpoint-reconciler-type=none",
                "--profiling=false",
                "--v=0",
            ],
        )

    def _start_controller_manager(
        self, kubeconfig: Path, ca: pki.KeyPair, service_accounts: pki.KeyPair
    ) -> None:
        self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={kubeconfig}",
                f"--authentication-kubeconfig={kubeconfig}",
                f"--authorization-kubeconfig={kubeconfig}",
                f"--service-account-private-key-file={service_accounts.key_path}",
                f"--root-ca-file={ca.cert_path}",
                "--use-service-account-credentials=true",
                "--leader-elect=false",
                "--controllers=*",
                "--bind-address=127.0.0.1",
                f"--secure-port={free_port()}",
                # Namespace deletion is how sessions end: keep it prompt.
                "--namespace-sync-period=30s",
                "--concurrent-namespace-syncs=5",
                "--v=0",
            ],
        )
        time.sleep(0.2)
        self.check_alive()

    def _wait_ready(self, ca: pki.KeyPair, admin: pki.KeyPair) -> None:
        context = ssl.create_default_context(cafile=str(ca.cert_path))
        context.load_cert_chain(str(admin.cert_path), str(admin.key_path))
        self._wait_for(f"{self.server_url}/readyz", "kube-apiserver", context=context)

    def _wait_for(self, url: str, name: str, *, context: ssl.SSLContext | None) -> None:
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        last_error = ""
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                with urllib.request.urlopen(url, timeout=2, context=context) as reply:
                    if reply.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
                last_error = str(error)
            time.sleep(0.25)
        raise ControlPlaneError(
            f"{name} was not ready within {START_TIMEOUT_SECONDS} s "
            f"(last error: {last_error}); see {self.data_dir / (name + '.log')}"
        )

    def _write_kubeconfig(
        self, path: Path, ca: pki.KeyPair, client: pki.KeyPair
    ) -> None:
        import base64

        def encoded(file: Path) -> str:
            return base64.b64encode(file.read_bytes()).decode()

        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [
                {
                    "name": "local",
                    "cluster": {
                        "server": self.server_url,
                        "certificate-authority-data": encoded(ca.cert_path),
                    },
                }
            ],
            "users": [
                {
                    "name": "admin",
                    "user": {
                        "client-certificate-data": encoded(client.cert_path),
                        "client-key-data": encoded(client.key_path),
                    },
                }
            ],
            "contexts": [
                {"name": "local", "context": {"cluster": "local", "user": "admin"}}
            ],
            "current-context": "local",
        }
        path.write_text(yaml.safe_dump(config))
        path.chmod(0o600)
