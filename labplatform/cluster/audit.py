"""Read the API server's audit events for one namespace.

On the local control plane kube-apiserver writes JSON lines to a file
(--audit-log-path). Only the tail of the file is read, so a long-running
cluster's log does not make the audit panel slow.
"""

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
TAIL_BYTES = 8 * 1024 * 1024
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


def _tail_lines(path: Path, max_bytes: int) -> list[str]:
    with path.open("rb") as handle:
        handle.seek(0, os.SEEK_END)
        size = handle.tell()
        start = max(0, size - max_bytes)
        handle.seek(start)
        data = handle.read()
    lines = data.decode("utf-8", errors="replace").splitlines()
    # The first line may be cut in half when reading from the middle.
    return lines[1:] if start > 0 else lines


def read_namespace_events(
    log_path: str | os.PathLike, namespace: str, *, limit: int = 100
) -> list[AuditEvent]:
    """Return up to limit Pod Security-relevant events, newest first."""
    path = Path(log_path)
    if not path.exists():
        return []
    events = []
    for line in _tail_lines(path, TAIL_BYTES):
        try:
            raw = json.loads(line)
        except ValueError:
            continue
        object_ref = raw.get("objectRef") or {}
        if object_ref.get("namespace") != namespace:
            continue
        annotations = raw.get("annotations") or {}
        if not any(key in annotations for key in POD_SECURITY_ANNOTATIONS):
            continue
        if object_ref.get("name", "").startswith(PLATFORM_PROBE_PREFIX):
            continue
        uri = raw.get("requestURI", "")
        events.append(
            AuditEvent(
                time=raw.get("stageTimestamp")
                or raw.get("requestReceivedTimestamp", ""),
                user=(raw.get("user") or {}).get("username", ""),
                verb=raw.get("verb", ""),
                resource=object_ref.get("resource", ""),
                name=object_ref.get("name", ""),
                code=(raw.get("responseStatus") or {}).get("code"),
                dry_run="dryRun=All" in uri,
                decision=annotations.get("authorization.k8s.io/decision", ""),
                enforce_policy=annotations.get(
                    "pod-security.kubernetes.io/enforce-policy", ""
                ),
                violations=annotations.get(
                    "pod-security.kubernetes.io/audit-violations", ""
                ),
            )
        )
    events.reverse()
    return events[:limit]
