"""The Pod Security evaluator against the real API server, on generated pods.

Hypothesis builds pod specs that touch every baseline and restricted
check. Each spec is dry-run into a namespace enforcing baseline and one
enforcing restricted, and the evaluator must produce the same decision,
the same reasons in the same order, and the same rejection text.

Every generated spec is valid, so the API server rejects it only for
Pod Security. The generator works around validation rules that would
otherwise reject a spec first (privileged with allowPrivilegeEscalation
false, procMount Unmasked without hostUsers false, host ports that
clash, AppArmor annotations that contradict the field, and so on).
"""

import copy
import json
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from kubernetes.client.exceptions import ApiException

from labplatform.cluster import kube
from labplatform.grading.podsecurity import (
    BASELINE_CHECKS,
    RESTRICTED_CHECKS,
    evaluate,
    format_violations,
)

LEVELS = ("baseline", "restricted")
IMAGE = "registry.k8s.io/pause:3.10"
BATCH_SIZE = 20
POD_BATCHES = 20  # 400 pods, each dry-run at both levels
EPHEMERAL_BATCHES = 5  # 100 ephemeral container sets
DRY_RUN_THREADS = 4
# Deterministic runs for CI. Shrinking is off: one shrink step costs a
# batch of dry runs, and the assertion already prints the one pod that
# disagrees together with both messages.
SETTINGS = {
    "deadline": None,
    "derandomize": True,
    "database": None,
    "phases": (Phase.explicit, Phase.generate),
    "report_multiple_bugs": False,
    "suppress_health_check": (HealthCheck.too_slow, HealthCheck.data_too_large),
}

# Every reason the plugin can put in a message, for splitting one apart.
REASONS = (
    "allowPrivilegeEscalation != false",
    "forbidden AppArmor profiles",
    "forbidden AppArmor profile",
    "forbidden sysctls",
    "host namespaces",
    "hostPath volumes",
    "hostPort",
    "hostProcess",
    "non-default capabilities",
    "privileged",
    "probe or lifecycle host",
    "procMount",
    "restricted volume types",
    "runAsNonRoot != true",
    "runAsUser=0",
    "seLinuxOptions",
    "seccompProfile",
    "unrestricted capabilities",
)
# Checks no generated pod can fail. Windows pods cannot carry most of
# the Linux fields generated here, so hostProcess is covered by fixed
# cases in test_podsecurity.py. The baseline procMount check cannot fail
# on a valid pod: validation allows procMount Unmasked only with
# hostUsers false, and that is exactly when the check relaxes.
NOT_GENERATED = {"windowsHostProcess", "procMount"}


def parse_reasons(message: str) -> list[str]:
    """Split an admission message into its reasons, in order.

    Details contain commas and quotes, so the message is cut only where
    ", " is followed by a known reason and then " (", ", " or the end.
    """
    _, _, body = message.partition('": ')
    reasons = []
    position = 0
    while position < len(body):
        reason = next(
            (
                r
                for r in REASONS
                if body.startswith(r, position)
                and body[position + len(r) : position + len(r) + 2] in ("", " (", ", ")
            ),
            None,
        )
        assert reason is not None, f"unknown reason at {body[position:]!r}"
        reasons.append(reason)
        position += len(reason)
        if body.startswith(" (", position):
            position = _end_of_detail(body, position)
        if body.startswith(", ", position):
            position += 2
    return reasons


def _end_of_detail(body: str, start: int) -> int:
    """Return the index after the ")" that closes the detail opened at start."""
    candidate = start
    while True:
        candidate = body.index(")", candidate + 1)
        rest = body[candidate + 1 :]
        if rest == "" or any(rest.startswith(f", {r}") for r in REASONS):
            return candidate + 1


# --- the generator ----------------------------------------------------------

SECCOMP = {
    "RuntimeDefault": {"type": "RuntimeDefault"},
    "Localhost": {"type": "Localhost", "localhostProfile": "profiles/audit.json"},
    "Unconfined": {"type": "Unconfined"},
}
APPARMOR = {
    "RuntimeDefault": {"type": "RuntimeDefault"},
    "Localhost": {"type": "Localhost", "localhostProfile": "k8s-apparmor-example"},
    "Unconfined": {"type": "Unconfined"},
}
APPARMOR_ANNOTATION_FOR = {
    "RuntimeDefault": "runtime/default",
    "Localhost": "localhost/k8s-apparmor-example",
    "Unconfined": "unconfined",
}
SELINUX = [
    {"type": "container_t"},
    {"type": "container_engine_t", "level": "s0:c1,c2"},
    {"type": "spc_t"},
    {"user": "system_u"},
    {"role": "system_r", "type": "container_init_t"},
    {"type": "unconfined_t", "user": "root", "role": "sysadm_r"},
    {"level": "s0:c123,c456"},
]
ADDED_CAPABILITIES = [
    ["NET_BIND_SERVICE"],
    ["CHOWN", "KILL"],
    ["SYS_ADMIN"],
    ["CAP_SYS_ADMIN"],
    ["sys_ptrace"],
    ["NET_RAW", "NET_BIND_SERVICE"],
    ["ALL"],
    ["CAP_CHOWN", "net_admin"],
]
DROPPED_CAPABILITIES = [None, [], ["all"], ["NET_RAW"], ["ALL", "NET_RAW"], ["CAP_ALL"]]
SYSCTLS = [
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.tcp_notsent_lowat",
    "net.ipv4.tcp_slow_start_after_idle",
    "net.ipv4.tcp_keepalive_time",
    "kernel.msgmax",
    "kernel.sem",
    "net.core.somaxconn",
    "vm.swappiness",
]
IPC_SYSCTLS = {"kernel.shm_rmid_forced", "kernel.msgmax", "kernel.sem"}
VOLUMES = {
    "emptyDir": {"emptyDir": {}},
    "configMap": {"configMap": {"name": "settings"}},
    "secret": {"secret": {"secretName": "credentials"}},
    "persistentVolumeClaim": {"persistentVolumeClaim": {"claimName": "data"}},
    "projected": {"projected": {"sources": [{"configMap": {"name": "settings"}}]}},
    "downwardAPI": {
        "downwardAPI": {
            "items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]
        }
    },
    "csi": {"csi": {"driver": "inline.storage.example"}},
    "ephemeral": {
        "ephemeral": {
            "volumeClaimTemplate": {
                "spec": {
                    "accessModes": ["ReadWriteOnce"],
                    "resources": {"requests": {"storage": "1Gi"}},
                }
            }
        }
    },
    "image": {"image": {"reference": "registry.k8s.io/pause:3.10"}},
    "hostPath": {"hostPath": {"path": "/var/run"}},
    "hostPath-root": {"hostPath": {"path": "/"}},
    "nfs": {"nfs": {"server": "nfs.example.invalid", "path": "/exports"}},
    "gitRepo": {"gitRepo": {"repository": "https://git.example.invalid/app.git"}},
    "iscsi": {
        "iscsi": {
            "targetPortal": "192.0.2.1:3260",
            "iqn": "iqn.2001-04.com.example:storage",
            "lun": 0,
        }
    },
    "cephfs": {"cephfs": {"monitors": ["192.0.2.2:6789"]}},
    "azureFile": {"azureFile": {"secretName": "azure", "shareName": "share"}},
}
# Documentation addresses (RFC 5737): no kubelet runs here, so nothing
# ever connects to them.
PROBE_HOSTS = ["192.0.2.10", "192.0.2.11"]
PROBES = [
    {"livenessProbe": {"httpGet": {"port": 8080}}},
    {"livenessProbe": {"httpGet": {"port": 8080, "host": PROBE_HOSTS[0]}}},
    {"readinessProbe": {"tcpSocket": {"port": 8080, "host": PROBE_HOSTS[1]}}},
    {
        "startupProbe": {"httpGet": {"port": 8080, "host": PROBE_HOSTS[0]}},
        "readinessProbe": {"httpGet": {"port": 8080, "host": PROBE_HOSTS[1]}},
    },
    {"lifecycle": {"postStart": {"httpGet": {"port": 8080, "host": PROBE_HOSTS[1]}}}},
    {"lifecycle": {"preStop": {"tcpSocket": {"port": 8080, "host": PROBE_HOSTS[0]}}}},
]


class Picker:
    """Draw field values that mostly keep a compliant default.

    In strict mode only the fields named in `deviate` leave the
    restricted-compliant value, so whole pods that pass (or miss by one
    field) are common. In free mode every field is drawn independently.
    """

    def __init__(self, draw, fields: list[str]):
        self.draw = draw
        self.strict = draw(st.booleans())
        self.deviate = (
            draw(st.sets(st.sampled_from(fields), max_size=3)) if self.strict else set()
        )

    def __call__(self, field: str, compliant, others: list):
        if self.strict and field not in self.deviate:
            return compliant
        options = others if self.strict else [compliant, *others]
        return copy.deepcopy(self.draw(st.sampled_from(options)))


CONTAINER_FIELDS = [
    "privileged",
    "allowPrivilegeEscalation",
    "drop",
    "add",
    "runAsNonRoot",
    "runAsUser",
    "seccompProfile",
    "appArmorProfile",
    "seLinuxOptions",
    "procMount",
    "ports",
    "probes",
    "no-securityContext",
]
POD_FIELDS = [
    "hostNetwork",
    "hostPID",
    "hostIPC",
    "hostUsers",
    "runAsNonRoot",
    "runAsUser",
    "seccompProfile",
    "appArmorProfile",
    "seLinuxOptions",
    "sysctls",
    "volumes",
    "apparmor-annotation",
    "seccomp-annotation",
]


@st.composite
def containers(draw, name: str, *, probes: bool = True, ports: bool = True) -> dict:
    pick = Picker(draw, CONTAINER_FIELDS)
    context = {
        "privileged": pick("privileged", None, [True, False]),
        "allowPrivilegeEscalation": pick(
            "allowPrivilegeEscalation", False, [None, True]
        ),
        "runAsNonRoot": pick("runAsNonRoot", None, [True, False]),
        "runAsUser": pick("runAsUser", None, [0, 1000]),
        "seccompProfile": pick("seccompProfile", None, list(SECCOMP.values())),
        "appArmorProfile": pick("appArmorProfile", None, list(APPARMOR.values())),
        "seLinuxOptions": pick("seLinuxOptions", None, SELINUX),
        "procMount": pick("procMount", None, ["Default", "Unmasked"]),
    }
    drop = pick("drop", ["ALL"], DROPPED_CAPABILITIES)
    add = pick("add", None, ADDED_CAPABILITIES)
    if drop is not None or add is not None:
        context["capabilities"] = {"drop": drop, "add": add}
    container = {"name": name, "image": IMAGE, "securityContext": context}
    if pick("no-securityContext", False, [True]):
        del container["securityContext"]
    if ports:
        container["ports"] = pick(
            "ports",
            None,
            [[{"containerPort": 0}], [{"containerPort": 0, "hostPort": 0}]],
        )
    if probes:
        container.update(pick("probes", {}, PROBES))
    return container


@st.composite
def pods(draw) -> dict:
    pick = Picker(draw, POD_FIELDS)
    spec = {
        "hostNetwork": pick("hostNetwork", None, [True, False]),
        "hostPID": pick("hostPID", None, [True, False]),
        "hostIPC": pick("hostIPC", None, [True, False]),
        "hostUsers": pick("hostUsers", None, [True, False]),
        "securityContext": {
            "runAsNonRoot": pick("runAsNonRoot", True, [None, False]),
            "runAsUser": pick("runAsUser", None, [0, 1000]),
            "seccompProfile": pick(
                "seccompProfile",
                SECCOMP["RuntimeDefault"],
                [None, SECCOMP["Localhost"], SECCOMP["Unconfined"]],
            ),
            "appArmorProfile": pick("appArmorProfile", None, list(APPARMOR.values())),
            "seLinuxOptions": pick("seLinuxOptions", None, SELINUX),
            "sysctls": [
                {"name": name, "value": "1"}
                for name in pick(
                    "sysctls",
                    [],
                    [SYSCTLS[:2], SYSCTLS[3:5], SYSCTLS[5:8], SYSCTLS[6:]],
                )
            ],
        },
        "initContainers": [
            draw(containers(name, probes=False))
            for name in ("init-a", "init-b")[: draw(st.integers(0, 2))]
        ],
        "containers": [
            draw(containers(name))
            for name in ("app", "sidecar")[: draw(st.integers(1, 2))]
        ],
        "volumes": [
            {"name": kind.lower(), **VOLUMES[kind]}
            for kind in pick(
                "volumes",
                [],
                [
                    ["emptyDir", "configMap", "secret"],
                    ["projected", "downwardAPI", "csi"],
                    ["persistentVolumeClaim", "ephemeral", "image"],
                    ["hostPath"],
                    ["hostPath-root", "emptyDir"],
                    ["nfs", "gitRepo"],
                    ["iscsi", "cephfs"],
                    ["azureFile", "hostPath", "secret"],
                ],
            )
        ],
    }
    annotations = {}
    apparmor_names = pick(
        "apparmor-annotation", [], [["app"], ["app", "init-a"], ["sidecar"]]
    )
    apparmor_value = draw(
        st.sampled_from(
            ["unconfined", "runtime/default", "localhost/k8s-apparmor-example", ""]
        )
    )
    for name in apparmor_names:
        annotations["container.apparmor.security.beta.kubernetes.io/" + name] = (
            apparmor_value
        )
    seccomp_value = pick(
        "seccomp-annotation",
        None,
        [
            "unconfined",
            "runtime/default",
            "localhost/profiles/a.json",
            "docker/default",
        ],
    )
    if seccomp_value is not None:
        annotations["seccomp.security.alpha.kubernetes.io/pod"] = seccomp_value
        annotations["container.seccomp.security.alpha.kubernetes.io/app"] = (
            seccomp_value
        )
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "probe", "annotations": annotations},
        "spec": spec,
    }
    return make_valid(_without_none(pod))


def _without_none(value):
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(item) for item in value]
    return value


def make_valid(pod: dict) -> dict:
    """Adjust a generated pod so that API validation accepts it.

    Each rule here is a validation error the API server would return
    before Pod Security runs. The adjustments keep the fields that the
    checks look at wherever validation allows.
    """
    spec = pod["spec"]
    metadata = pod["metadata"]
    all_containers = spec["initContainers"] + spec["containers"]
    contexts = [c.get("securityContext", {}) for c in all_containers]

    # procMount Unmasked needs its own user namespace, which in turn
    # rules out the host's network, PID and IPC namespaces.
    if any(c.get("procMount") == "Unmasked" for c in contexts):
        spec["hostUsers"] = False
    if spec.get("hostUsers") is False:
        for key in ("hostNetwork", "hostPID", "hostIPC"):
            spec.pop(key, None)

    for context in contexts:
        make_context_valid(context)

    # Host ports must not clash. With hostNetwork, the host port is the
    # container port.
    for number, container in enumerate(all_containers):
        for port in container.get("ports", []):
            port["containerPort"] = 8080 + number
            if "hostPort" in port:
                port["hostPort"] = (
                    port["containerPort"] if spec.get("hostNetwork") else 30000 + number
                )

    sysctls = spec["securityContext"]["sysctls"]
    if spec.get("hostNetwork"):
        sysctls[:] = [s for s in sysctls if not s["name"].startswith("net.")]
    if spec.get("hostIPC"):
        sysctls[:] = [s for s in sysctls if s["name"] not in IPC_SYSCTLS]

    # An AppArmor annotation must name a container and agree with the
    # profile field that applies to it.
    names = {c["name"]: c.get("securityContext", {}) for c in all_containers}
    pod_profile = spec["securityContext"].get("appArmorProfile")
    prefix = "container.apparmor.security.beta.kubernetes.io/"
    for key in [k for k in metadata["annotations"] if k.startswith(prefix)]:
        name = key.removeprefix(prefix)
        if name not in names:
            del metadata["annotations"][key]
            continue
        profile = names[name].get("appArmorProfile") or pod_profile
        if profile is not None:
            metadata["annotations"][key] = APPARMOR_ANNOTATION_FOR[profile["type"]]

    # A seccomp annotation must agree with the field when both are set.
    if "seccompProfile" in spec["securityContext"]:
        metadata["annotations"].pop("seccomp.security.alpha.kubernetes.io/pod", None)
    if "seccompProfile" in names.get("app", {}):
        metadata["annotations"].pop(
            "container.seccomp.security.alpha.kubernetes.io/app", None
        )
    return pod


def make_context_valid(context: dict) -> None:
    """Drop the container settings that validation rejects together."""
    if context.get("privileged") and context.get("allowPrivilegeEscalation") is False:
        del context["allowPrivilegeEscalation"]
    added = (context.get("capabilities") or {}).get("add") or []
    if context.get("allowPrivilegeEscalation") is False and "CAP_SYS_ADMIN" in added:
        added.remove("CAP_SYS_ADMIN")


# --- running the comparison -------------------------------------------------


@pytest.fixture(scope="module")
def level_namespaces(control_plane):
    names = {}
    for level in LEVELS:
        name = f"differential-{level}"
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
    if not violations:
        return ""
    return format_violations(pod["metadata"]["name"], level, violations)


def assert_agrees(pod: dict, level: str, allowed: bool, message: str) -> None:
    """Compare one API server response with the evaluator, decision first."""
    assert allowed or "violates PodSecurity" in message, (
        f"the API server rejected the pod for another reason: {message}\n"
        f"{json.dumps(pod, indent=1)}"
    )
    expected = expected_message(pod, level)
    context = (
        f"level {level}\nAPI:       {message}\nevaluator: {expected}\n"
        f"pod: {json.dumps(pod, sort_keys=True)}"
    )
    assert allowed == (expected == ""), context
    assert parse_reasons(message) == parse_reasons(expected), context
    assert message == expected, context


def dry_run_pod(pod: dict, namespace: str) -> tuple[bool, str]:
    placed = copy.deepcopy(pod)
    placed["metadata"]["namespace"] = namespace
    result = kube.dry_run_create(placed)
    return result.allowed, result.message


def test_parse_reasons_with_commas_in_details():
    message = (
        'pods "p" is forbidden: violates PodSecurity "restricted:latest": '
        "host namespaces (hostNetwork=true, hostPID=true), forbidden AppArmor "
        'profiles (container "app" and annotation must not set AppArmor profile '
        'type to "Unconfined", "container.apparmor.security.beta.kubernetes.io/'
        'app="unconfined""), runAsUser=0 (pod must not set runAsUser=0)'
    )

    assert parse_reasons(message) == [
        "host namespaces",
        "forbidden AppArmor profiles",
        "runAsUser=0",
    ]


@pytest.mark.cluster
def test_generated_pods_match_api_server(level_namespaces):
    seen = Counter()
    checked = 0
    started = time.monotonic()

    @settings(max_examples=POD_BATCHES, **SETTINGS)
    @given(st.lists(pods(), min_size=BATCH_SIZE, max_size=BATCH_SIZE))
    def compare(batch):
        nonlocal checked
        jobs = [(pod, level) for pod in batch for level in LEVELS]
        with ThreadPoolExecutor(DRY_RUN_THREADS) as pool:
            answers = list(
                pool.map(
                    lambda job: dry_run_pod(job[0], level_namespaces[job[1]]), jobs
                )
            )
        for (pod, level), (allowed, message) in zip(jobs, answers, strict=True):
            assert_agrees(pod, level, allowed, message)
            seen.update(v.check for v in evaluate(pod, level))
            seen[f"{level}:allowed"] += allowed
        checked += len(batch)

    compare()
    elapsed = time.monotonic() - started
    print(f"{checked} pods in {elapsed:.1f} s; violations per check: {dict(seen)}")

    assert checked >= 300, f"only {checked} pods generated in {elapsed:.1f} s"
    generated = set(BASELINE_CHECKS) | set(RESTRICTED_CHECKS)
    missing = sorted(generated - NOT_GENERATED - set(seen))
    assert not missing, f"no generated pod violated {missing}"
    assert seen["restricted:allowed"] > 0
    assert seen["baseline:allowed"] > seen["restricted:allowed"]


# --- ephemeral containers ---------------------------------------------------

COMPLIANT_POD = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "debug-target"},
    "spec": {
        "securityContext": {
            "runAsNonRoot": True,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "app",
                "image": IMAGE,
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
    },
}


@pytest.fixture(scope="module")
def debug_targets(level_namespaces):
    """A stored, compliant pod in each namespace, to attach debug containers to."""
    api = kube.core()
    targets = {}
    for level, namespace in level_namespaces.items():
        try:
            api.create_namespaced_pod(namespace, COMPLIANT_POD)
        except ApiException as error:
            if error.status != 409:
                raise
        stored = api.read_namespaced_pod(COMPLIANT_POD["metadata"]["name"], namespace)
        targets[level] = api.api_client.sanitize_for_serialization(stored)
    return targets


def dry_run_ephemeral(pod: dict) -> tuple[bool, str]:
    """Dry-run an ephemeralcontainers subresource update, as kubectl debug does."""
    metadata = pod["metadata"]
    try:
        kube.core().replace_namespaced_pod_ephemeralcontainers(
            metadata["name"], metadata["namespace"], pod, dry_run="All"
        )
    except ApiException as error:
        if error.status not in (403, 422):
            raise
        return False, json.loads(error.body)["message"]
    return True, ""


@pytest.mark.cluster
def test_debug_containers_match_api_server(debug_targets):
    seen = Counter()

    @settings(max_examples=EPHEMERAL_BATCHES, **SETTINGS)
    @given(
        st.lists(
            st.lists(
                st.sampled_from(["debugger", "shell"]),
                min_size=1,
                max_size=2,
                unique=True,
            ).flatmap(
                lambda names: st.tuples(
                    *(containers(name, probes=False, ports=False) for name in names)
                )
            ),
            min_size=BATCH_SIZE,
            max_size=BATCH_SIZE,
        )
    )
    def compare(batch):
        jobs = []
        for debug_containers in batch:
            for level in LEVELS:
                pod = copy.deepcopy(debug_targets[level])
                debug = _without_none(list(debug_containers))
                for container in debug:
                    context = container.get("securityContext", {})
                    make_context_valid(context)
                    # The target pod shares the host's user namespace, and
                    # validation allows Unmasked only without it.
                    if context.get("procMount") == "Unmasked":
                        context["procMount"] = "Default"
                pod["spec"]["ephemeralContainers"] = debug
                jobs.append((pod, level))
        with ThreadPoolExecutor(DRY_RUN_THREADS) as pool:
            answers = list(pool.map(lambda job: dry_run_ephemeral(job[0]), jobs))
        for (pod, level), (allowed, message) in zip(jobs, answers, strict=True):
            assert_agrees(pod, level, allowed, message)
            seen.update(v.check for v in evaluate(pod, level))

    compare()

    assert {
        "privileged",
        "allowPrivilegeEscalation",
        "capabilities_restricted",
        "runAsUser",
        "seccompProfile_restricted",
    } <= set(seen)
