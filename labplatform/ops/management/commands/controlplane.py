"""Run the local control plane in the foreground until interrupted."""

import signal
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from labplatform.cluster.localcp import ControlPlaneError, LocalControlPlane


class Command(BaseCommand):
    # The checks warn about a missing kubeconfig, which this command is
    # about to create; runplatform runs them with its migrate step.
    requires_system_checks = []
    help = (
        "Build (when missing) and start etcd, kube-apiserver and "
        "kube-controller-manager on 127.0.0.1, and write the admin kubeconfig."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--data-dir",
            default=str(settings.VAR_DIR / "controlplane"),
            help="Folder for certificates, etcd data, logs and the kubeconfig "
            "(default: %(default)s).",
        )
        parser.add_argument(
            "--port",
            type=int,
            default=0,
            help="API server port on 127.0.0.1 (default: a free port).",
        )

    def handle(self, *args, data_dir, port, **options):
        control_plane = LocalControlPlane(data_dir=Path(data_dir), api_port=port)
        try:
            control_plane.start()
        except ControlPlaneError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"Kubernetes API at {control_plane.server_url}\n"
                f"kubeconfig: {control_plane.kubeconfig_path}\n"
                f"kubectl:    {control_plane.kubectl_path} --kubeconfig "
                f"{control_plane.kubeconfig_path} get namespaces\n"
                "Press Ctrl-C to stop."
            )
        )
        stop = False

        def request_stop(signum, frame):
            nonlocal stop
            stop = True

        signal.signal(signal.SIGTERM, request_stop)
        try:
            while not stop:
                control_plane.check_alive()
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        except ControlPlaneError as error:
            raise CommandError(str(error)) from None
        finally:
            control_plane.stop()
