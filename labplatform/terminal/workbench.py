"""Wait for the learner's workbench pod before the exec backend opens a shell."""

import time
from collections.abc import Callable

from labplatform.cluster import kube
from labplatform.cluster.manifests import WORKBENCH_CONTAINER, WORKBENCH_POD

from .backends import ShellStartError

POLL_SECONDS = 1.0
# Container waiting reasons that end the wait at once. The kubelet keeps
# retrying them, but they need the host's fix, not a longer wait.
IMAGE_REASONS = frozenset(
    {"ErrImagePull", "ImagePullBackOff", "InvalidImageName", "ErrImageNeverPull"}
)
BROKEN_REASONS = frozenset(
    {"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}
)


class WorkbenchNotReady(ShellStartError):
    """The workbench pod is missing, broken, or did not start in time."""


def workbench_state(pod: dict | None) -> tuple[bool, str, bool]:
    """Return (ready, problem message, whether waiting may help) for a pod."""
    if pod is None:
        return (
            False,
            f"Your workbench pod {WORKBENCH_POD!r} does not exist (it may have been "
            "deleted). Use Reset lab to create it again.",
            False,
        )
    status = pod.get("status") or {}
    phase = status.get("phase") or "Pending"
    if phase in ("Succeeded", "Failed"):
        return (
            False,
            f"Your workbench pod has stopped (phase {phase}). Use Reset lab to "
            "start a new one.",
            False,
        )

    for container in status.get("containerStatuses") or []:
        if container.get("name") != WORKBENCH_CONTAINER:
            continue
        state = container.get("state") or {}
        waiting = state.get("waiting") or {}
        reason = waiting.get("reason") or ""
        message = waiting.get("message") or ""
        if reason in IMAGE_REASONS:
            return (
                False,
                f"The workbench image {container.get('image')!r} cannot be pulled "
                f"({reason}: {message or 'no details'}). Ask the workshop host to "
                "check LABPLATFORM_WORKBENCH_IMAGE and that the cluster can pull it.",
                False,
            )
        if reason in BROKEN_REASONS or reason == "CrashLoopBackOff":
            return (
                False,
                f"The workbench container cannot start ({reason}: "
                f"{message or 'no details'}). Ask the workshop host to check the "
                "workbench image.",
                False,
            )
        if phase == "Running" and state.get("running"):
            return True, "", True

    scheduled = _condition(status, "PodScheduled")
    if scheduled is not None and scheduled.get("status") == "False":
        detail = scheduled.get("message") or scheduled.get("reason") or ""
        return (
            False,
            f"Your workbench pod is not scheduled on a node yet ({detail}).",
            True,
        )
    if not (pod.get("spec") or {}).get("nodeName"):
        return (
            False,
            "Your workbench pod is Pending and no node has taken it yet. The "
            "cluster may have no free node, or no nodes at all.",
            True,
        )
    return (
        False,
        f"Your workbench pod is {phase} and its shell is not running yet.",
        True,
    )


def _condition(status: dict, kind: str) -> dict | None:
    for condition in status.get("conditions") or []:
        if condition.get("type") == kind:
            return condition
    return None


def wait_for_workbench(
    *,
    namespace: str,
    timeout: float,
    read: Callable[[], dict | None] | None = None,
) -> None:
    """Return once the workbench pod runs, or raise WorkbenchNotReady.

    Problems that waiting cannot fix (no pod, an image that cannot be
    pulled) raise at once. Others raise after timeout seconds, with the
    last problem seen.
    """
    read = read or (lambda: kube.get("v1", "Pod", WORKBENCH_POD, namespace))
    deadline = time.monotonic() + timeout
    while True:
        ready, problem, may_clear = workbench_state(read())
        if ready:
            return
        if not may_clear:
            raise WorkbenchNotReady(problem)
        if time.monotonic() >= deadline:
            raise WorkbenchNotReady(
                f"{problem} Waited {timeout:g} s; reload the page to try again."
            )
        time.sleep(POLL_SECONDS)
