"""Grade a Dockerfile or manifests offline, for lab authors and CI."""

import json
from pathlib import Path

import yaml
from django.core.management.base import BaseCommand, CommandError

from labplatform.content.catalog import get_catalog
from labplatform.content.safe_yaml import load_all_untrusted
from labplatform.grading.checks import (
    GraderNotFound,
    GradingContext,
    Status,
    load_grader,
    run_checks,
)

MAX_FILE_BYTES = 1024 * 1024
MARKS = {
    Status.PASS: "PASS",
    Status.FAIL: "FAIL",
    Status.NOT_AVAILABLE: "N/A ",
    Status.ERROR: "ERR ",
}


def read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CommandError(f"cannot read {path}: {error.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise CommandError(
            f"{path} is {len(data)} bytes; the limit is {MAX_FILE_BYTES}."
        )
    return data.decode("utf-8", errors="replace")


def read_manifests(path: Path) -> list[dict]:
    try:
        documents = load_all_untrusted(read_text(path))
    except yaml.YAMLError as error:
        raise CommandError(f"{path} is not valid YAML: {error}") from None
    objects = []
    for document in documents:
        if document is None:
            continue
        if not isinstance(document, dict) or "kind" not in document:
            raise CommandError(
                f"{path} contains a document that is not a Kubernetes "
                "object (no kind field)."
            )
        if document["kind"] == "List":
            objects.extend(document.get("items") or [])
        else:
            objects.append(document)
    return objects


class Command(BaseCommand):
    help = (
        "Run a lab's checks on files instead of a learner's namespace and print "
        "the results. Exits 1 when a check fails. Checks that need a live API "
        "server report N/A."
    )

    def add_arguments(self, parser):
        parser.add_argument("lab", help="Lab slug, for example harden-container.")
        parser.add_argument(
            "--dockerfile",
            type=Path,
            help="Dockerfile to grade as the learner's submission.",
        )
        parser.add_argument(
            "--manifest",
            type=Path,
            action="append",
            default=[],
            help="YAML file of Kubernetes objects; repeat for several.",
        )
        parser.add_argument(
            "--json",
            dest="as_json",
            action="store_true",
            help="Print the results as JSON instead of text.",
        )

    def handle(self, *args, lab, dockerfile, manifest, as_json: bool, **options):
        catalog_lab = get_catalog().lab(lab)
        if catalog_lab is None:
            known = ", ".join(sorted(get_catalog().labs))
            raise CommandError(f"No lab {lab!r}. Known labs: {known}.")
        try:
            grader = load_grader(catalog_lab.folder)
        except GraderNotFound as error:
            raise CommandError(str(error)) from None

        files = {"Dockerfile": read_text(dockerfile)} if dockerfile else {}
        objects = [obj for path in manifest for obj in read_manifests(path)]
        context = GradingContext(
            namespace="offline",
            lab_slug=lab,
            offline_files=files,
            offline_objects=objects,
        )
        results = run_checks(grader.CHECKS, context)

        if as_json:
            self.stdout.write(
                json.dumps([result.to_dict() for result in results], indent=2)
            )
        else:
            for result in results:
                self.stdout.write(f"{MARKS[result.status]} {result.id}: {result.title}")
                self.stdout.write(f"     {result.observed}")
                if result.detail:
                    for line in result.detail.splitlines():
                        self.stdout.write(f"     | {line}")
                if result.hint:
                    self.stdout.write(f"     How to fix: {result.hint}")
            passed = sum(1 for r in results if r.status == Status.PASS)
            self.stdout.write(f"{passed} of {len(results)} checks pass.")
        if any(result.status in (Status.FAIL, Status.ERROR) for result in results):
            raise SystemExit(1)
