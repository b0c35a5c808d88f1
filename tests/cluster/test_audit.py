"""Reading Pod Security audit events from an API server audit log."""

import json

from labplatform.cluster.audit import read_namespace_events


def event(
    namespace: str,
    name: str,
    annotations: dict,
    code: int = 201,
    uri: str = "/api/v1/namespaces/x/pods",
) -> str:
    return json.dumps(
        {
            "verb": "create",
            "requestURI": uri,
            "user": {"username": "system:serviceaccount:x:learner"},
            "objectRef": {"resource": "pods", "namespace": namespace, "name": name},
            "responseStatus": {"code": code},
            "stageTimestamp": "2026-12-04T10:00:00.000000Z",
            "annotations": annotations,
        }
    )


VIOLATION = {
    "pod-security.kubernetes.io/enforce-policy": "restricted:latest",
    "pod-security.kubernetes.io/audit-violations": 'would violate PodSecurity "restricted:latest": host namespaces (hostPID=true)',
}


def test_events_filtered_to_namespace(tmp_path):
    log = tmp_path / "audit.log"
    log.write_text(
        "\n".join(
            [
                event("mine", "hostpid", VIOLATION, code=403),
                event("theirs", "hostpid", VIOLATION, code=403),
                event("mine", "plain", {"authorization.k8s.io/decision": "allow"}),
                event(
                    "mine",
                    "grader-hostpid-probe",
                    VIOLATION,
                    code=403,
                    uri="/api/v1/namespaces/mine/pods?dryRun=All",
                ),
                event(
                    "mine",
                    "compliant",
                    {"pod-security.kubernetes.io/enforce-policy": "restricted:latest"},
                ),
                "{not json",
            ]
        )
        + "\n"
    )

    events = read_namespace_events(log, "mine")

    assert [e.name for e in events] == ["compliant", "hostpid"]
    assert events[1].is_pod_security_violation
    assert not events[0].is_pod_security_violation
    assert "host namespaces" in events[1].violations


def test_missing_log_gives_no_events(tmp_path):
    assert read_namespace_events(tmp_path / "absent.log", "mine") == []


def test_tail_skips_cut_first_line(tmp_path, monkeypatch):
    from labplatform.cluster import audit

    log = tmp_path / "audit.log"
    lines = [event("mine", f"pod-{i}", VIOLATION, code=403) for i in range(50)]
    log.write_text("\n".join(lines) + "\n")
    monkeypatch.setattr(audit, "TAIL_BYTES", len(lines[0]) * 10)

    events = read_namespace_events(log, "mine")

    assert 0 < len(events) < 50
    assert events[0].name == "pod-49"
