"""The grading framework: checks, their results, and loading a lab's grader.

A lab's grader.py defines CHECKS, a list of functions made with the
@check decorator. Each receives a GradingContext and returns a Finding;
the framework adds the id, title and hint and turns an unexpected error
into an "error" result instead of losing the whole run.
"""

import functools
import importlib.util
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from pathlib import Path
from types import ModuleType

from labplatform.cluster.kube import ClusterError, ClusterUnavailable

logger = logging.getLogger(__name__)


class Status(StrEnum):
    PASS = "pass"
    FAIL = "fail"
    NOT_AVAILABLE = "not_available"
    ERROR = "error"


@dataclass(frozen=True)
class Finding:
    """The outcome of one check: its status and a sentence about the evidence."""

    status: Status
    observed: str
    # Extra text to show as-is, such as the API server's own message.
    detail: str = ""


def passed(observed: str, detail: str = "") -> Finding:
    return Finding(Status.PASS, observed, detail)


def failed(observed: str, detail: str = "") -> Finding:
    return Finding(Status.FAIL, observed, detail)


def not_available(observed: str) -> Finding:
    return Finding(Status.NOT_AVAILABLE, observed)


# The API group and version of each kind a grader may list.
KIND_API_VERSIONS = {
    "Pod": "v1",
    "ConfigMap": "v1",
    "Namespace": "v1",
    "Deployment": "apps/v1",
    "ReplicaSet": "apps/v1",
    "StatefulSet": "apps/v1",
    "DaemonSet": "apps/v1",
    "Job": "batch/v1",
    "CronJob": "batch/v1",
}
SUBMISSION_CONFIGMAP = "lab-submission"


def _without_workbench(kind: str, objects: list[dict]) -> list[dict]:
    """Leave out the platform's workbench pod, which is not the learner's work.

    It meets the restricted standard, so it would pass "a compliant pod was
    admitted" by itself. Only a pod that still meets restricted is left
    out, so a learner cannot hide a violating pod by naming it workbench.
    """
    if kind != "Pod":
        return objects
    from labplatform.cluster.manifests import is_workbench_pod

    from .podsecurity import evaluate

    return [
        obj
        for obj in objects
        if not (is_workbench_pod(obj) and not evaluate(obj, "restricted"))
    ]


@dataclass
class GradingContext:
    """What a check may read: the learner's namespace, or files given offline.

    In a lab session, objects come from the API server. The command-line
    grader passes offline_objects (parsed manifests) and offline_files
    instead; checks that need a live API server report "not available".
    """

    namespace: str
    lab_slug: str
    audit_reviewed_at: object = None
    answers: dict = field(default_factory=dict)
    offline_objects: list[dict] | None = None
    offline_files: dict[str, str] | None = None
    cache: dict = field(default_factory=dict)

    @property
    def offline(self) -> bool:
        return self.offline_objects is not None or self.offline_files is not None

    def cached(self, key: str, load: Callable[[], object]):
        """Load a value once per run, so checks share API reads."""
        if key not in self.cache:
            self.cache[key] = load()
        return self.cache[key]

    def objects(self, kind: str) -> list[dict]:
        """List objects of kind in the learner's namespace (or the offline set)."""
        if self.offline:
            return [
                obj for obj in self.offline_objects or () if obj.get("kind") == kind
            ]
        from labplatform.cluster import kube

        return self.cached(
            f"objects:{kind}",
            lambda: _without_workbench(
                kind,
                kube.list_objects(
                    KIND_API_VERSIONS[kind], kind, namespace=self.namespace
                ),
            ),
        )

    def submitted_file(self, name: str) -> str | None:
        """Return a file the learner submitted (kept in the lab-submission ConfigMap)."""
        if self.offline:
            return (self.offline_files or {}).get(name)
        for config_map in self.objects("ConfigMap"):
            if config_map["metadata"]["name"] == SUBMISSION_CONFIGMAP:
                return (config_map.get("data") or {}).get(name)
        return None


@dataclass(frozen=True)
class CheckResult:
    id: str
    title: str
    status: Status
    observed: str
    hint: str
    detail: str = ""
    duration_ms: int = 0

    def to_dict(self) -> dict:
        data = asdict(self)
        data["status"] = str(self.status)
        return data


@dataclass(frozen=True)
class Check:
    id: str
    title: str
    hint: str
    function: Callable[[GradingContext], Finding]

    def run(self, context: GradingContext) -> CheckResult:
        started = time.monotonic()
        try:
            finding = self.function(context)
        except ClusterUnavailable:
            raise
        except ClusterError as error:
            finding = Finding(Status.ERROR, f"The cluster rejected a read: {error}")
        except Exception:  # noqa: BLE001 - one broken check must not lose the run
            # Learner input can reach corners a check did not foresee (deep
            # nesting, odd types); the other checks still report.
            logger.exception(
                "Check %s failed on namespace %s", self.id, context.namespace
            )
            finding = Finding(
                Status.ERROR,
                "This check could not evaluate what it found; "
                "the platform logged the details for the lab's authors.",
            )
        hint = self.hint if finding.status in (Status.FAIL, Status.ERROR) else ""
        return CheckResult(
            id=self.id,
            title=self.title,
            status=finding.status,
            observed=finding.observed,
            hint=hint,
            detail=finding.detail,
            duration_ms=int((time.monotonic() - started) * 1000),
        )


def check(*, id: str, title: str, hint: str) -> Callable[[Callable], Check]:  # noqa: A002
    def wrap(function: Callable[[GradingContext], Finding]) -> Check:
        return Check(id=id, title=title, hint=hint, function=function)

    return wrap


class GraderNotFound(LookupError):
    pass


@functools.cache
def load_grader(lab_folder: Path) -> ModuleType:
    """Import the lab's grader.py once per process."""
    path = lab_folder / "grader.py"
    if not path.exists():
        raise GraderNotFound(f"{path} not found: the lab has no grader yet")
    module_name = f"labplatform_lab_graders.{lab_folder.name.replace('-', '_')}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    if not isinstance(getattr(module, "CHECKS", None), list):
        raise GraderNotFound(f"{path} defines no CHECKS list")
    return module


def run_checks(checks: list[Check], context: GradingContext) -> list[CheckResult]:
    return [item.run(context) for item in checks]
