"""Check every part of an installation and print how to fix what fails."""

from django.core.management.base import BaseCommand, CommandError

from labplatform.ops import doctor


class Command(BaseCommand):
    help = (
        "Check the kubeconfig, the cluster's version, Pod Security admission, "
        "the audit log, Redis, the database and the terminal backend. Prints "
        "one line per check and exits with 1 when any check fails."
    )
    # The doctor reports the same problems in more detail, with fixes.
    requires_system_checks = []

    def handle(self, *args, **options):
        failed = []
        unsure = []
        labels = {
            doctor.OK: self.style.SUCCESS("OK  "),
            doctor.WARNING: self.style.WARNING("WARN"),
            doctor.ERROR: self.style.ERROR("FAIL"),
            doctor.SKIPPED: "SKIP",
        }
        for finding in doctor.run_checks():
            self.stdout.write(
                f"{labels[finding.status]} {finding.check}: {finding.message}"
            )
            if finding.fix:
                self.stdout.write(f"     Fix: {finding.fix}")
            if finding.status == doctor.ERROR:
                failed.append(finding.check)
            elif finding.status in (doctor.WARNING, doctor.SKIPPED):
                unsure.append(finding.check)

        if failed:
            raise CommandError(f"{len(failed)} checks failed: {', '.join(failed)}.")
        if unsure:
            self.stdout.write(
                self.style.WARNING(
                    f"No check failed, but {len(unsure)} warned or were skipped: "
                    f"{', '.join(unsure)}. Read their lines above."
                )
            )
            return
        self.stdout.write(self.style.SUCCESS("Every check passed."))
