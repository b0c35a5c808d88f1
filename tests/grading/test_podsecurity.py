"""The Python Pod Security evaluator, checked against the real API server."""

import copy
import json

import pytest
from kubernetes.client.exceptions import ApiException

from labplatform.cluster import kube
from labplatform.grading.podsecurity import evaluate, format_violations

RESTRICTED_CONTAINER = {
    "name": "app",
    "image": "registry.k8s.io/pause:3.10",
    "securityContext": {
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
    },
}
# What `kubectl debug --profile=restricted` sets on its ephemeral container.
RESTRICTED_DEBUG_CONTAINER = {
    "name": "debugger",
    "image": "busybox:1.37",
    "securityContext": {
        "runAsNonRoot": True,
        "runAsUser": 65532,
        "allowPrivilegeEscalation": False,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    },
}
# The default profile sets no securityContext at all.
DEFAULT_DEBUG_CONTAINER = {"name": "debugger", "image": "busybox:1.37"}


def make_pod(
    *,
    pod_context=None,
    containers=None,
    init_containers=None,
    annotations=None,
    **spec_fields,
):
    spec = {
        "securityContext": {
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
            **(pod_context or {}),
        },
        "containers": containers or [copy.deepcopy(RESTRICTED_CONTAINER)],
        **spec_fields,
    }
    if init_containers:
        spec["initContainers"] = init_containers
    metadata = {"name": "probe"}
    if annotations:
        metadata["annotations"] = annotations
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}


def with_context(container_context: dict, name: str = "app") -> dict:
    container = copy.deepcopy(RESTRICTED_CONTAINER)
    container["name"] = name
    container["securityContext"] = {**container["securityContext"], **container_context}
    return container


CASES = {
    "compliant": make_pod(),
    # Pod sets runAsNonRoot true, the container sets false: rejected.
    "container-overrides-non-root": make_pod(
        containers=[with_context({"runAsNonRoot": False})]
    ),
    # Pod unset, app container true, init container unset: rejected.
    "init-container-unset": make_pod(
        pod_context={"runAsNonRoot": None},
        containers=[with_context({"runAsNonRoot": True})],
        init_containers=[with_context({}, name="init")],
    ),
    # Pod non-root but the container runs as UID 0: rejected.
    "container-run-as-root": make_pod(containers=[with_context({"runAsUser": 0})]),
    # Pod true, containers unset: admitted.
    "pod-level-non-root": make_pod(
        containers=[with_context({}), with_context({}, name="sidecar")],
        init_containers=[with_context({}, name="init")],
    ),
    "host-pid": make_pod(hostPID=True),
    "privileged": make_pod(
        containers=[
            with_context({"privileged": True, "allowPrivilegeEscalation": True})
        ]
    ),
    "added-sys-admin": make_pod(
        containers=[
            with_context({"capabilities": {"drop": ["ALL"], "add": ["SYS_ADMIN"]}})
        ]
    ),
    "drop-lowercase-all": make_pod(
        containers=[with_context({"capabilities": {"drop": ["all"]}})]
    ),
    "cap-prefix-not-in-baseline-list": make_pod(
        containers=[
            with_context(
                {"capabilities": {"drop": ["ALL"], "add": ["CAP_CHOWN", "CHOWN"]}}
            )
        ]
    ),
    "host-path": make_pod(volumes=[{"name": "root", "hostPath": {"path": "/"}}]),
    "no-seccomp": make_pod(pod_context={"seccompProfile": None}),
    # The API server copies the annotation into the container's field.
    "apparmor-annotation": make_pod(
        annotations={"container.apparmor.security.beta.kubernetes.io/app": "unconfined"}
    ),
    # With hostNetwork, every container port becomes a host port.
    "host-network-port": make_pod(
        hostNetwork=True,
        containers=[{**with_context({}), "ports": [{"containerPort": 8080}]}],
    ),
    # Its own user namespace relaxes runAsNonRoot, runAsUser and the
    # baseline procMount check, but not the restricted one.
    "user-namespace": make_pod(
        hostUsers=False,
        pod_context={"runAsNonRoot": None},
        containers=[with_context({"runAsUser": 0, "procMount": "Unmasked"})],
    ),
    "new-safe-sysctl": make_pod(
        pod_context={
            "sysctls": [{"name": "net.ipv4.tcp_notsent_lowat", "value": "16384"}]
        }
    ),
    "probe-host": make_pod(
        containers=[
            {
                **with_context({}),
                "readinessProbe": {"httpGet": {"port": 8080, "host": "192.0.2.10"}},
            }
        ]
    ),
    # Windows pods skip the Linux-only restricted checks, and hostProcess
    # fails baseline.
    "windows-host-process": {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe"},
        "spec": {
            "os": {"name": "windows"},
            "hostNetwork": True,
            "securityContext": {
                "runAsNonRoot": True,
                "windowsOptions": {
                    "hostProcess": True,
                    "runAsUserName": "NT AUTHORITY\\SYSTEM",
                },
            },
            "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}],
        },
    },
    "bare": {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe"},
        "spec": {
            "containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10"}]
        },
    },
}


def _clean(pod: dict) -> dict:
    """Drop the None placeholders the cases use to unset a field."""
    if isinstance(pod, dict):
        return {key: _clean(value) for key, value in pod.items() if value is not None}
    if isinstance(pod, list):
        return [_clean(item) for item in pod]
    return pod


def checks_of(case: str, level: str = "restricted") -> list[str]:
    return [v.check for v in evaluate(_clean(CASES[case]), level)]


def test_init_container_named_in_violation():
    violations = evaluate(_clean(CASES["init-container-unset"]), "restricted")

    assert [v.check for v in violations] == ["runAsNonRoot"]
    assert violations[0].detail == (
        'pod or container "init" must set securityContext.runAsNonRoot=true'
    )


def test_container_false_overrides_pod_true():
    violations = evaluate(_clean(CASES["container-overrides-non-root"]), "restricted")

    assert [v.check for v in violations] == ["runAsNonRoot"]
    assert violations[0].detail == (
        'container "app" must not set securityContext.runAsNonRoot=false'
    )


def test_container_run_as_root_rejected():
    violations = evaluate(_clean(CASES["container-run-as-root"]), "restricted")

    assert [str(v) for v in violations] == [
        'runAsUser=0 (container "app" must not set runAsUser=0)'
    ]


def test_pod_level_non_root_covers_containers():
    assert checks_of("pod-level-non-root") == []


def test_violations_listed_in_check_id_order():
    pod = _clean(
        make_pod(
            hostPID=True,
            containers=[
                with_context(
                    {
                        "privileged": True,
                        "allowPrivilegeEscalation": None,
                        "capabilities": {"add": ["SYS_ADMIN"]},
                    }
                )
            ],
            volumes=[{"name": "root", "hostPath": {"path": "/"}}],
        )
    )

    assert [v.check for v in evaluate(pod, "baseline")] == [
        "capabilities_baseline",
        "hostNamespaces",
        "hostPathVolumes",
        "privileged",
    ]
    assert [v.check for v in evaluate(pod, "restricted")] == [
        "hostNamespaces",
        "privileged",
        "allowPrivilegeEscalation",
        "capabilities_restricted",
        "restrictedVolumes",
    ]


def test_capabilities_compared_as_written():
    baseline = evaluate(_clean(CASES["cap-prefix-not-in-baseline-list"]), "baseline")
    restricted = checks_of("drop-lowercase-all")

    assert [str(v) for v in baseline] == [
        'non-default capabilities (container "app" must not include "CAP_CHOWN" in '
        "securityContext.capabilities.add)"
    ]
    assert restricted == ["capabilities_restricted"]


def test_apparmor_annotation_copied_to_field():
    violations = evaluate(_clean(CASES["apparmor-annotation"]), "baseline")

    assert [str(v) for v in violations] == [
        'forbidden AppArmor profiles (container "app" and annotation must not set '
        'AppArmor profile type to "Unconfined", '
        '"container.apparmor.security.beta.kubernetes.io/app="unconfined"")'
    ]


def test_host_network_turns_ports_into_host_ports():
    assert checks_of("host-network-port", "baseline") == ["hostNamespaces", "hostPorts"]


def test_user_namespace_relaxes_some_checks():
    assert checks_of("user-namespace", "baseline") == []
    assert checks_of("user-namespace") == ["procMount_restricted"]


def test_windows_pod_exempt_from_linux_checks():
    assert checks_of("windows-host-process") == ["hostNamespaces", "windowsHostProcess"]


def test_ephemeral_containers_are_checked():
    pod = _clean(make_pod())
    pod["spec"]["ephemeralContainers"] = [copy.deepcopy(DEFAULT_DEBUG_CONTAINER)]

    violations = evaluate(pod, "restricted")

    # The pod-level runAsNonRoot and seccompProfile cover it; the rest
    # are container-only settings.
    assert [v.check for v in violations] == [
        "allowPrivilegeEscalation",
        "capabilities_restricted",
    ]
    assert all('"debugger"' in v.detail for v in violations)


def test_restricted_debug_profile_admitted():
    pod = _clean(make_pod())
    pod["spec"]["ephemeralContainers"] = [copy.deepcopy(RESTRICTED_DEBUG_CONTAINER)]

    assert evaluate(pod, "restricted") == []


def test_earlier_debug_container_still_fails():
    pod = _clean(make_pod())
    later = {**copy.deepcopy(RESTRICTED_DEBUG_CONTAINER), "name": "debugger-2"}
    pod["spec"]["ephemeralContainers"] = [copy.deepcopy(DEFAULT_DEBUG_CONTAINER), later]

    violations = evaluate(pod, "restricted")

    assert violations
    assert all('"debugger"' in v.detail for v in violations)
    assert not any("debugger-2" in v.detail for v in violations)


def test_deployment_template_is_evaluated():
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "spec": {"template": _clean(CASES["host-pid"])},
    }

    assert [v.check for v in evaluate(deployment, "baseline")] == ["hostNamespaces"]


def test_cronjob_template_is_evaluated():
    cronjob = {
        "apiVersion": "batch/v1",
        "kind": "CronJob",
        "spec": {"jobTemplate": {"spec": {"template": _clean(CASES["host-pid"])}}},
    }

    assert [v.check for v in evaluate(cronjob, "baseline")] == ["hostNamespaces"]


def test_privileged_level_allows_anything():
    assert evaluate(_clean(CASES["privileged"]), "privileged") == []


def test_unknown_level_rejected():
    with pytest.raises(ValueError, match="unknown Pod Security level"):
        evaluate(_clean(CASES["compliant"]), "strict")


@pytest.fixture(scope="module")
def level_namespaces(control_plane):
    names = {}
    for level in ("baseline", "restricted"):
        name = f"evaluator-{level}"
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {
                    "name": name,
                    "labels": {"pod-security.kubernetes.io/enforce": level},
                },
            }
        )
        kube.apply(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": "default", "namespace": name},
            }
        )
        names[level] = name
    yield names
    for name in names.values():
        kube.delete("v1", "Namespace", name)


def expected_message(pod: dict, level: str) -> str:
    violations = evaluate(pod, level)
    return (
        format_violations(pod["metadata"]["name"], level, violations)
        if violations
        else ""
    )


@pytest.mark.cluster
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("level", ["baseline", "restricted"])
def test_evaluator_agrees_with_api_server(level_namespaces, case, level):
    pod = _clean(copy.deepcopy(CASES[case]))
    pod["metadata"]["namespace"] = level_namespaces[level]

    answer = kube.dry_run_create(pod)

    assert answer.allowed == (expected_message(pod, level) == ""), answer.message
    assert answer.message == expected_message(pod, level)


@pytest.mark.cluster
@pytest.mark.parametrize(
    "debug_container",
    [DEFAULT_DEBUG_CONTAINER, RESTRICTED_DEBUG_CONTAINER],
    ids=["default-profile", "restricted-profile"],
)
def test_debug_container_agrees_with_api_server(level_namespaces, debug_container):
    """kubectl debug adds an ephemeral container through a subresource update."""
    api = kube.core()
    namespace = level_namespaces["restricted"]
    target = _clean(make_pod())
    target["metadata"]["name"] = "debug-target"
    try:
        api.create_namespaced_pod(namespace, target)
    except ApiException as error:
        if error.status != 409:
            raise
    stored = api.api_client.sanitize_for_serialization(
        api.read_namespaced_pod("debug-target", namespace)
    )
    stored["spec"]["ephemeralContainers"] = [copy.deepcopy(debug_container)]

    try:
        api.replace_namespaced_pod_ephemeralcontainers(
            "debug-target", namespace, stored, dry_run="All"
        )
        message = ""
    except ApiException as error:
        message = json.loads(error.body)["message"]

    assert message == expected_message(stored, "restricted")
