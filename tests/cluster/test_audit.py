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


def test_large_requests_do_not_hide_events(tmp_path):
    log = tmp_path / "audit.log"
    padding = event("theirs", "pad", {"x": "y"}, uri="/api?pad=" + "p" * 500_000)
    lines = [event("mine", "hostpid", VIOLATION, code=403)] + [padding] * 40
    log.write_text("\n".join(lines) + "\n")

    events = read_namespace_events(log, "mine")

    assert [e.name for e in events] == ["hostpid"]


def test_newest_events_first_and_limited(tmp_path):
    log = tmp_path / "audit.log"
    lines = [event("mine", f"pod-{i}", VIOLATION, code=403) for i in range(50)]
    log.write_text("\n".join(lines) + "\n")

    events = read_namespace_events(log, "mine", limit=10)

    assert len(events) == 10
    assert events[0].name == "pod-49"
    assert events[-1].name == "pod-40"
