"""Read the API server's audit events for one namespace.

On the local control plane kube-apiserver writes JSON lines to a file
(--audit-log-path), which it rotates at --audit-log-maxsize.
"""

import collections
import json
import os
from dataclasses import dataclass
from pathlib import Path

POD_SECURITY_ANNOTATIONS = (
    "pod-security.kubernetes.io/enforce-policy",
    "pod-security.kubernetes.io/audit-violations",
    "pod-security.kubernetes.io/exempt",
    "pod-security.kubernetes.io/error",
)
# Requests the platform makes itself, such as the grader's dry-run probes,
# carry this name prefix and are left out of the learner's list.
PLATFORM_PROBE_PREFIX = "grader-"


@dataclass(frozen=True)
class AuditEvent:
    time: str
    user: str
    verb: str
    resource: str
    name: str
    code: int | None
    dry_run: bool
    decision: str
    enforce_policy: str
    violations: str

    @property
    def is_pod_security_violation(self) -> bool:
        return bool(self.violations) or (self.code == 403 and bool(self.enforce_policy))


def read_namespace_events(
    log_path: str | os.PathLike, namespace: str, *, limit: int = 100
) -> list[AuditEvent]:
    """Return up to limit Pod Security-relevant events, newest first.

    The whole current log file is scanned: reading only its tail let one
    learner push another learner's events out of view with a few large
    requests. A cheap byte search skips other namespaces' lines before any
    JSON is parsed; kube-apiserver rotates the file at --audit-log-maxsize.
    """
    path = Path(log_path)
    if not path.exists():
        return []
    marker = json.dumps(namespace).encode()
    events: collections.deque[AuditEvent] = collections.deque(maxlen=limit)
    with path.open("rb") as handle:
        for line in handle:
            if marker not in line:
                continue
            event = _parse_event(line, namespace)
            if event is not None:
                events.append(event)
    return list(reversed(events))


def _parse_event(line: bytes, namespace: str) -> AuditEvent | None:
    try:
        raw = json.loads(line)
    except ValueError:
        return None
    object_ref = raw.get("objectRef") or {}
    if object_ref.get("namespace") != namespace:
        return None
    annotations = raw.get("annotations") or {}
    if not any(key in annotations for key in POD_SECURITY_ANNOTATIONS):
        return None
    if object_ref.get("name", "").startswith(PLATFORM_PROBE_PREFIX):
        return None
    uri = raw.get("requestURI", "")
    return AuditEvent(
        time=raw.get("stageTimestamp") or raw.get("requestReceivedTimestamp", ""),
        user=(raw.get("user") or {}).get("username", ""),
        verb=raw.get("verb", ""),
        resource=object_ref.get("resource", ""),
        name=object_ref.get("name", ""),
        code=(raw.get("responseStatus") or {}).get("code"),
        dry_run="dryRun=All" in uri,
        decision=annotations.get("authorization.k8s.io/decision", ""),
        enforce_policy=annotations.get("pod-security.kubernetes.io/enforce-policy", ""),
        violations=annotations.get("pod-security.kubernetes.io/audit-violations", ""),
    )
