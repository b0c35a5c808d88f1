"""Register the dedicated clusters that labs with placement "dedicated" lease."""

import signal
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from labplatform.cluster.localcp import ControlPlaneError, LocalControlPlane
from labplatform.labsessions.models import PoolCluster


class Command(BaseCommand):
    help = (
        "Manage the pool of dedicated clusters: add NAME KUBECONFIG, remove NAME, "
        "list, or start-local COUNT to run COUNT extra local control planes "
        "(development and CI) registered until Ctrl-C."
    )
    requires_system_checks = []

    def add_arguments(self, parser):
        commands = parser.add_subparsers(dest="action", required=True)
        add = commands.add_parser("add", help="Register a cluster by its kubeconfig.")
        add.add_argument("name")
        add.add_argument("kubeconfig", type=Path)
        add.add_argument(
            "--recycle-command",
            default="",
            help="Command run after each session to rebuild the cluster. Its "
            "environment contains LABPLATFORM_CLUSTER_NAME and "
            "LABPLATFORM_CLUSTER_KUBECONFIG.",
        )
        free = commands.add_parser(
            "free", help="Return a broken cluster to the pool after fixing it."
        )
        free.add_argument("name")
        remove = commands.add_parser("remove", help="Unregister a free cluster.")
        remove.add_argument("name")
        commands.add_parser("list", help="Show the pool.")
        local = commands.add_parser(
            "start-local", help="Run extra local control planes as the pool."
        )
        local.add_argument("count", type=int)

    def handle(self, *args, action, **options):
        getattr(self, f"handle_{action.replace('-', '_')}")(**options)

    def handle_add(self, *, name, kubeconfig, recycle_command, **options):
        if not kubeconfig.is_file():
            raise CommandError(f"kubeconfig {kubeconfig} not found.")
        cluster, created = PoolCluster.objects.update_or_create(
            name=name,
            defaults={
                "kubeconfig_path": str(kubeconfig.resolve()),
                "recycle_command": recycle_command,
            },
        )
        self.stdout.write(f"{'Added' if created else 'Updated'} {cluster.name}.")

    def handle_free(self, *, name, **options):
        updated = PoolCluster.objects.filter(
            name=name, state=PoolCluster.State.BROKEN
        ).update(state=PoolCluster.State.FREE, last_error="")
        if not updated:
            raise CommandError(
                f"No broken cluster named {name!r} in the pool; see "
                "manage.py clusterpool list."
            )
        self.stdout.write(f"{name} is back in the pool.")

    def handle_remove(self, *, name, **options):
        cluster = PoolCluster.objects.filter(name=name).first()
        if cluster is None:
            raise CommandError(f"No cluster {name!r} in the pool.")
        if cluster.state != PoolCluster.State.FREE:
            raise CommandError(
                f"{name} is leased to session {cluster.session_id}; "
                "end that session first."
            )
        cluster.delete()
        self.stdout.write(f"Removed {name}.")

    def handle_list(self, **options):
        for cluster in PoolCluster.objects.order_by("name"):
            lease = f" to session {cluster.session_id}" if cluster.session_id else ""
            error = f"\t{cluster.last_error}" if cluster.last_error else ""
            self.stdout.write(
                f"{cluster.name}\t{cluster.state}{lease}\t"
                f"{cluster.kubeconfig_path}{error}"
            )

    def handle_start_local(self, *, count, **options):
        if count < 1:
            raise CommandError("COUNT must be at least 1.")
        planes = []
        try:
            for index in range(1, count + 1):
                name = f"local-{index}"
                plane = LocalControlPlane(data_dir=settings.VAR_DIR / "pool" / name)
                plane.start()
                planes.append((name, plane))
                PoolCluster.objects.update_or_create(
                    name=name,
                    defaults={
                        "kubeconfig_path": str(plane.kubeconfig_path),
                        "state": PoolCluster.State.FREE,
                        "session": None,
                    },
                )
                self.stdout.write(f"{name}: {plane.server_url}")
            self.stdout.write("Pool running; press Ctrl-C to stop it.")
            signal.signal(signal.SIGTERM, _interrupt)
            while True:
                for _, plane in planes:
                    plane.check_alive()
                time.sleep(1)
        except KeyboardInterrupt:
            pass
        except ControlPlaneError as error:
            raise CommandError(str(error)) from None
        finally:
            for name, plane in planes:
                plane.stop()
                PoolCluster.objects.filter(
                    name=name, state=PoolCluster.State.FREE
                ).delete()


def _interrupt(signum, frame):
    raise KeyboardInterrupt
