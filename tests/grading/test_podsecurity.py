"""The Python Pod Security evaluator, checked against the real API server."""

import copy

import pytest

from labplatform.cluster import kube
from labplatform.grading.podsecurity import evaluate

RESTRICTED_CONTAINER = {
    "name": "app",
    "image": "registry.k8s.io/pause:3.10",
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    },
}


def make_pod(*, pod_context=None, containers=None, init_containers=None, **spec_fields):
    spec = {
        "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"},
                            **(pod_context or {})},
        "containers": containers or [copy.deepcopy(RESTRICTED_CONTAINER)],
        **spec_fields,
    }
    if init_containers:
        spec["initContainers"] = init_containers
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"}, "spec": spec}


def with_context(container_context: dict, name: str = "app") -> dict:
    container = copy.deepcopy(RESTRICTED_CONTAINER)
    container["name"] = name
    container["securityContext"] = {**container["securityContext"], **container_context}
    return container


CASES = {
    "compliant": make_pod(),
    # Pod sets runAsNonRoot true, the container sets false: rejected.
    "container-overrides-non-root": make_pod(
        containers=[with_context({"runAsNonRoot": False})]),
    # Pod unset, app container true, init container unset: rejected.
    "init-container-unset": make_pod(
        pod_context={"runAsNonRoot": None},
        containers=[with_context({"runAsNonRoot": True})],
        init_containers=[with_context({}, name="init")],
    ),
    # Pod non-root but the container runs as UID 0: rejected.
    "container-run-as-root": make_pod(containers=[with_context({"runAsUser": 0})]),
    "host-pid": make_pod(hostPID=True),
    "privileged": make_pod(containers=[with_context(
        {"privileged": True, "allowPrivilegeEscalation": True})]),
    "added-sys-admin": make_pod(containers=[with_context(
        {"capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}})]),
    "drop-lowercase-all": make_pod(containers=[with_context(
        {"capabilities": {"drop": ["all"]}})]),
    "host-path": make_pod(volumes=[{"name": "root", "hostPath": {"path": "/"}}]),
    "no-seccomp": make_pod(pod_context={"seccompProfile": None}),
    "bare": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "probe"},
             "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]}},
}


def _clean(pod: dict) -> dict:
    """Drop the None placeholders the cases use to unset a field."""
    if isinstance(pod, dict):
        return {key: _clean(value) for key, value in pod.items() if value is not None}
    if isinstance(pod, list):
        return [_clean(item) for item in pod]
    return pod


def test_init_container_named_in_violation():
    violations = evaluate(_clean(CASES["init-container-unset"]), "restricted")

    assert [v.check for v in violations] == ["runAsNonRoot"]
    assert '"init"' in violations[0].detail


def test_ephemeral_containers_are_checked():
    pod = _clean(make_pod())
    pod["spec"]["ephemeralContainers"] = [{"name": "debugger", "image": "busybox"}]

    checks = {v.check for v in evaluate(pod, "restricted")}

    assert {"allowPrivilegeEscalation", "capabilities_restricted"} <= checks


def test_deployment_template_is_evaluated():
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment",
                  "spec": {"template": _clean(CASES["host-pid"])}}

    assert [v.check for v in evaluate(deployment, "baseline")] == ["hostNamespaces"]


def test_privileged_level_allows_anything():
    assert evaluate(_clean(CASES["privileged"]), "privileged") == []


@pytest.fixture(scope="module")
def level_namespaces(control_plane):
    names = {}
    for level in ("baseline", "restricted"):
        name = f"evaluator-{level}"
        kube.apply({"apiVersion": "v1", "kind": "Namespace", "metadata": {
            "name": name, "labels": {"pod-security.kubernetes.io/enforce": level}}})
        kube.apply({"apiVersion": "v1", "kind": "ServiceAccount",
                    "metadata": {"name": "default", "namespace": name}})
        names[level] = name
    yield names
    for name in names.values():
        kube.delete("v1", "Namespace", name)


@pytest.mark.cluster
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("level", ["baseline", "restricted"])
def test_evaluator_agrees_with_api_server(level_namespaces, case, level):
    pod = _clean(copy.deepcopy(CASES[case]))
    pod["metadata"]["namespace"] = level_namespaces[level]

    violations = evaluate(pod, level)
    answer = kube.dry_run_create(pod)

    assert answer.allowed == (not violations), answer.message
    for violation in violations:
        assert violation.reason in answer.message
