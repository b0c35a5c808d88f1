"""Checks for lab 3, "Container Escape Demonstration".

The learner replaces the privileged, hostPID `escape` pod with a hardened
one. Every check reads the live objects in the learner's namespace: Pods,
and the pod templates of Deployments, StatefulSets, DaemonSets, Jobs and
CronJobs, with init and ephemeral containers included. Where a rule is a
Pod Security rule, the check uses labplatform.grading.podsecurity, so the
observed text is the API server's own wording. Two rules are this lab's
own: added capabilities are compared after normalising case and a CAP_
prefix, and runAsNonRoot and runAsUser are required even in a pod with
hostUsers: false.
"""

import copy
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass

from labplatform.cluster import kube
from labplatform.grading.checks import (
    Finding,
    GradingContext,
    check,
    failed,
    not_available,
    passed,
)
from labplatform.grading.podsecurity import (
    BASELINE_CAPABILITIES,
    evaluate,
    pod_spec_of,
)

logger = logging.getLogger(__name__)

WORKLOAD_KINDS = ("Pod", "Deployment", "StatefulSet", "DaemonSet", "Job", "CronJob")
CONTAINER_ROLES = (
    ("initContainers", "init container"),
    ("containers", "container"),
    ("ephemeralContainers", "ephemeral container"),
)
# These open a way to the node whatever else the pod sets.
ESCAPE_CAPABILITIES = frozenset({"SYS_ADMIN", "SYS_PTRACE", "NET_ADMIN", "ALL"})
NOTHING_TO_GRADE = (
    "The namespace has no pods and no workloads yet, so there is nothing to grade. "
    "Create the hardened escape pod from step 5."
)
# The live probe compares the device and inode of the container's own
# root with those of PID 1's root.
PROBE_COMMAND = ["stat", "-L", "-c", "%d:%i", "/", "/proc/1/root/"]


@dataclass(frozen=True)
class Workload:
    """A Pod, or an object whose pod template would create pods."""

    kind: str
    name: str
    manifest: dict

    @property
    def label(self) -> str:
        return f'{self.kind} "{self.name}"'

    @property
    def spec(self) -> dict:
        return pod_spec_of(self.manifest)

    def containers(self) -> Iterator[tuple[str, dict]]:
        """Yield (role, container) for init, regular and ephemeral containers."""
        for field, role in CONTAINER_ROLES:
            for container in self.spec.get(field) or ():
                yield role, container


def _workloads(context: GradingContext) -> list[Workload]:
    def load() -> list[Workload]:
        return [
            Workload(kind, obj["metadata"]["name"], obj)
            for kind in WORKLOAD_KINDS
            for obj in context.objects(kind)
        ]

    return context.cached("container-escape:workloads", load)


def _labels(workloads: list[Workload]) -> str:
    return ", ".join(workload.label for workload in workloads)


def _security_context(container: dict) -> dict:
    return container.get("securityContext") or {}


def _without_user_namespace(manifest: dict) -> dict:
    """Return a copy of manifest judged as if hostUsers were unset.

    Pod Security waives runAsNonRoot and runAsUser for a pod in its own
    user namespace. This lab requires them anyway, because the hardened
    pod must not depend on a node feature the learner cannot see.
    """
    copied = copy.deepcopy(manifest)
    spec = pod_spec_of(copied)
    if isinstance(spec, dict):
        spec.pop("hostUsers", None)
    return copied


def _policy_finding(
    context: GradingContext,
    *,
    level: str,
    check_ids: set[str],
    passed_text: str,
    waive_user_namespace: bool = True,
    privileged_means: str = "",
) -> Finding:
    """Grade with the Pod Security evaluator, keeping only check_ids.

    passed_text may contain {workloads}, the list of graded objects. With
    privileged_means, a privileged container fails too, and the text states
    what privileged implies for this check.
    """
    workloads = _workloads(context)
    if not workloads:
        return failed(NOTHING_TO_GRADE)

    problems = []
    for workload in workloads:
        manifest = workload.manifest
        if not waive_user_namespace:
            manifest = _without_user_namespace(manifest)
        for violation in evaluate(manifest, level):
            if violation.check in check_ids:
                problems.append(f"{workload.label}: {violation.detail}.")
        if privileged_means:
            problems += [
                f'{workload.label}: {role} "{container["name"]}" is privileged, '
                f"{privileged_means}."
                for role, container in workload.containers()
                if _security_context(container).get("privileged")
            ]

    if problems:
        return failed(" ".join(problems))
    return passed(passed_text.format(workloads=_labels(workloads)))


# --- baseline: the settings that open the way out -----------------------------


@check(
    id="not-privileged",
    title="No container is privileged",
    hint="privileged: true gives a container every capability and every host "
    "device, and turns off seccomp and AppArmor, so root in the container is root "
    "on the node. Remove the field from each container's securityContext, or set "
    "`securityContext: {privileged: false}`. Pod specs are immutable, so delete the "
    "pod (kubectl delete pod escape --now) and create it again.",
)
def not_privileged(context: GradingContext) -> Finding:
    return _policy_finding(
        context,
        level="baseline",
        check_ids={"privileged"},
        passed_text="No container of {workloads} sets privileged: true.",
    )


@check(
    id="no-host-namespaces",
    title="The pod shares no namespace with the node",
    hint="hostPID: true puts the container in the node's process namespace, so PID 1 "
    "is the node's init and /proc/1/root is the node's filesystem. hostNetwork and "
    "hostIPC share the node's network stack and shared memory in the same way. "
    "Delete hostPID, hostNetwork and hostIPC from the pod spec (or set each to "
    "false, for example `spec: {hostPID: false}`), then recreate the pod.",
)
def no_host_namespaces(context: GradingContext) -> Finding:
    return _policy_finding(
        context,
        level="baseline",
        check_ids={"hostNamespaces"},
        passed_text="hostPID, hostNetwork and hostIPC are unset or false in "
        "{workloads}.",
    )


@check(
    id="no-hostpath-volume",
    title="No hostPath volume",
    hint="A hostPath volume mounts a folder of the node into the container. A path "
    "of /, /proc, /var/lib/kubelet or the container runtime's socket hands over "
    "the node outright. Delete the volume and its volumeMounts entry. For scratch "
    "space use `volumes: [{name: scratch, emptyDir: {}}]` instead.",
)
def no_hostpath_volume(context: GradingContext) -> Finding:
    workloads = _workloads(context)
    if not workloads:
        return failed(NOTHING_TO_GRADE)

    problems = []
    for workload in workloads:
        for volume in workload.spec.get("volumes") or ():
            host_path = volume.get("hostPath")
            if host_path is not None:
                path = host_path.get("path", "")
                problems.append(
                    f'{workload.label} mounts hostPath volume "{volume["name"]}" '
                    f'(node path "{path}").'
                )

    if problems:
        return failed(" ".join(problems))
    return passed(f"No hostPath volume in {_labels(workloads)}.")


def normalise_capability(name: str) -> str:
    """Return a capability name in the kernel's spelling: upper case, no CAP_."""
    return name.strip().upper().removeprefix("CAP_")


def _capability_problem(name: str) -> str | None:
    normalised = normalise_capability(name)
    if normalised in ESCAPE_CAPABILITIES or normalised not in BASELINE_CAPABILITIES:
        if normalised == name:
            return normalised
        return f'{normalised} (written "{name}")'
    return None


@check(
    id="no-added-capabilities",
    title="No capability beyond the default set is added",
    hint="capabilities.add grants root powers one by one: SYS_ADMIN allows mount "
    "and nsenter into the node's namespaces, SYS_PTRACE allows reading "
    "/proc/<PID>/root of other processes, NET_ADMIN reconfigures the network, and "
    "ALL adds every one. Case and a CAP_ prefix make no difference, so "
    "cap_sys_admin is SYS_ADMIN, and privileged: true grants them all. Remove "
    "privileged and capabilities.add, or keep only names from "
    "the default set such as NET_BIND_SERVICE, and drop everything else with "
    '`capabilities: {drop: ["ALL"]}`.',
)
def no_added_capabilities(context: GradingContext) -> Finding:
    workloads = _workloads(context)
    if not workloads:
        return failed(NOTHING_TO_GRADE)

    problems = []
    for workload in workloads:
        for role, container in workload.containers():
            where = f'{workload.label}: {role} "{container["name"]}"'
            settings = _security_context(container)
            if settings.get("privileged"):
                problems.append(
                    f"{where} is privileged, which grants every capability."
                )
            capabilities = settings.get("capabilities") or {}
            added = [
                _capability_problem(name) for name in capabilities.get("add") or ()
            ]
            added = [problem for problem in added if problem]
            if added:
                problems.append(f"{where} adds {', '.join(added)}.")

    if problems:
        return failed(" ".join(problems))
    return passed(
        f"No container of {_labels(workloads)} adds a capability beyond "
        "the default set."
    )


@check(
    id="no-unconfined-profiles",
    title="Neither seccomp nor AppArmor is Unconfined",
    hint="seccompProfile type Unconfined removes the system call filter, so calls "
    "such as setns, mount and unshare reach the kernel. AppArmor Unconfined (the "
    "appArmorProfile field, or the old annotation "
    "container.apparmor.security.beta.kubernetes.io/NAME: unconfined) lifts the "
    "runtime's ptrace and mount limits. Set "
    "`securityContext: {seccompProfile: {type: RuntimeDefault}}` at pod level, and "
    "delete any Unconfined appArmorProfile and the annotation.",
)
def no_unconfined_profiles(context: GradingContext) -> Finding:
    # Container runtimes apply neither the default seccomp filter nor the
    # default AppArmor profile to a privileged container.
    return _policy_finding(
        context,
        level="baseline",
        check_ids={"seccompProfile_baseline", "appArmorProfile"},
        privileged_means="so it runs with no seccomp filter and no AppArmor profile",
        passed_text="No seccomp or AppArmor profile in {workloads} is Unconfined.",
    )


@check(
    id="proc-mount-default",
    title="/proc is masked",
    hint="procMount: Unmasked shows the container the parts of /proc that the "
    "runtime normally hides or makes read-only, such as /proc/sys and "
    "/proc/sysrq-trigger. Delete the field or set "
    "`securityContext: {procMount: Default}` in each container.",
)
def proc_mount_default(context: GradingContext) -> Finding:
    # The restricted version of the check: it holds for user-namespace pods too.
    return _policy_finding(
        context,
        level="restricted",
        check_ids={"procMount_restricted"},
        passed_text="No container of {workloads} sets procMount: Unmasked.",
    )


# --- restricted: the hardened pod ---------------------------------------------


@check(
    id="run-as-non-root",
    title="Every container runs as non-root",
    hint="runAsNonRoot: true makes the kubelet refuse to start a container whose "
    "user would be UID 0. Set it once at pod level, "
    "`spec: {securityContext: {runAsNonRoot: true, runAsUser: 65532}}`, and do not "
    "set runAsNonRoot: false on any container, init and ephemeral ones included, "
    "because a container-level value overrides the pod.",
)
def run_as_non_root(context: GradingContext) -> Finding:
    return _policy_finding(
        context,
        level="restricted",
        check_ids={"runAsNonRoot"},
        passed_text="runAsNonRoot is true for every container of {workloads}.",
        waive_user_namespace=False,
    )


@check(
    id="run-as-user-not-root",
    title="No container sets runAsUser: 0",
    hint="runAsUser: 0 runs the process as root, and with the node's user namespace "
    "that is root on the node too. It also contradicts runAsNonRoot, so the kubelet "
    "would refuse to start the container. Use a numeric non-root user such as "
    "`securityContext: {runAsUser: 65532, runAsGroup: 65532}` at pod level, and "
    "remove runAsUser: 0 from every container.",
)
def run_as_user_not_root(context: GradingContext) -> Finding:
    return _policy_finding(
        context,
        level="restricted",
        check_ids={"runAsUser"},
        passed_text="runAsUser is not 0 anywhere in {workloads}.",
        waive_user_namespace=False,
    )


@check(
    id="drop-all-capabilities",
    title='Every container drops "ALL" capabilities',
    hint="Even a non-root process can hold capabilities through file capabilities "
    "or setuid binaries. Dropping ALL empties the bounding set, so none can be "
    "gained. Pod Security compares the string exactly: write "
    '`securityContext: {capabilities: {drop: ["ALL"]}}` in capitals in every '
    'container, because "all" or "CAP_ALL" does not count.',
)
def drop_all_capabilities(context: GradingContext) -> Finding:
    workloads = _workloads(context)
    if not workloads:
        return failed(NOTHING_TO_GRADE)

    problems = []
    for workload in workloads:
        for role, container in workload.containers():
            capabilities = _security_context(container).get("capabilities") or {}
            dropped = capabilities.get("drop") or []
            if "ALL" in dropped:
                continue
            where = f'{workload.label}: {role} "{container["name"]}"'
            near_misses = [
                name for name in dropped if normalise_capability(name) == "ALL"
            ]
            if near_misses:
                problems.append(
                    f'{where} drops "{near_misses[0]}", which Pod Security does not '
                    'accept as "ALL".'
                )
            else:
                problems.append(f'{where} does not drop "ALL".')

    if problems:
        return failed(" ".join(problems))
    return passed(f'Every container of {_labels(workloads)} drops "ALL".')


@check(
    id="no-privilege-escalation",
    title="allowPrivilegeEscalation is false",
    hint="allowPrivilegeEscalation: false sets the no_new_privs flag, so setuid "
    "binaries such as su and file capabilities cannot raise a process's "
    "privileges. The default is true, and the field exists only at container "
    "level: set `securityContext: {allowPrivilegeEscalation: false}` in every "
    "container, init and ephemeral ones included.",
)
def no_privilege_escalation(context: GradingContext) -> Finding:
    return _policy_finding(
        context,
        level="restricted",
        check_ids={"allowPrivilegeEscalation"},
        passed_text="Every container of {workloads} sets "
        "allowPrivilegeEscalation: false.",
    )


@check(
    id="seccomp-runtime-default",
    title="seccomp uses the RuntimeDefault or a Localhost profile",
    hint="With no seccomp profile the container runs unfiltered, because the "
    "kubelet does not apply the runtime's default profile on its own. The "
    "RuntimeDefault profile blocks setns, mount and other calls that an escape "
    "needs. Set it once at pod level: "
    "`spec: {securityContext: {seccompProfile: {type: RuntimeDefault}}}`.",
)
def seccomp_runtime_default(context: GradingContext) -> Finding:
    return _policy_finding(
        context,
        level="restricted",
        check_ids={"seccompProfile_restricted"},
        passed_text="Every container of {workloads} runs with a RuntimeDefault or "
        "Localhost seccomp profile.",
    )


# --- the live probe -----------------------------------------------------------


class ProbeFailed(Exception):
    """The probe command could not run or printed something unexpected."""


def probe_verdict(*, exit_code: int, output: str, spec: dict) -> tuple[bool, str]:
    """Judge the output of PROBE_COMMAND run in a container.

    Return (isolated, explanation). "Permission denied" counts as
    isolated: the kernel refused ptrace read access to PID 1.
    """
    if "Permission denied" in output:
        return True, "reading /proc/1/root was denied"
    lines = output.split()
    if exit_code != 0 or len(lines) != 2:
        raise ProbeFailed(f"stat exited with {exit_code}: {output.strip()!r}")
    if lines[0] == lines[1]:
        return True, "/proc/1/root is the container's own root filesystem"
    if spec.get("shareProcessNamespace") and not spec.get("hostPID"):
        return True, "PID 1 is the pod's own pause process"
    return False, "/proc/1/root is a different root filesystem, the node's"


def _run_probe(namespace: str, pod: str, container: str) -> tuple[int, str]:
    """Run PROBE_COMMAND in a container and return (exit code, output).

    NOTE: this path has not run against a cluster with a kubelet, because
    the local control plane has none. It belongs in labplatform.cluster.kube
    next to the other API calls once that module has an exec helper.
    """
    from kubernetes.client.exceptions import ApiException
    from kubernetes.stream import stream

    try:
        session = stream(
            kube.core().connect_get_namespaced_pod_exec,
            pod,
            namespace,
            container=container,
            command=PROBE_COMMAND,
            stdin=False,
            stdout=True,
            stderr=True,
            tty=False,
            _preload_content=False,
        )
        session.run_forever(timeout=kube.REQUEST_TIMEOUT_SECONDS)
        output = session.read_stdout() + session.read_stderr()
        status = json.loads(session.read_channel(3) or "{}")
    except ApiException as error:
        raise ProbeFailed(f"exec failed with API status {error.status}") from None
    except ValueError as error:
        raise ProbeFailed(f"exec returned an invalid status: {error}") from None
    if status.get("status") == "Success":
        return 0, output
    causes = ((status.get("details") or {}).get("causes")) or []
    exit_codes = [int(c["message"]) for c in causes if c.get("reason") == "ExitCode"]
    return (exit_codes[0] if exit_codes else 1), output


@check(
    id="host-not-exposed-live",
    title="From inside the pod, /proc/1/root no longer shows the node",
    hint="The probe runs stat on / and on /proc/1/root/ inside each running pod. "
    "When the two differ, PID 1 is a process outside the container, because the "
    "pod shares the node's PID namespace and may read other processes' files. "
    "Remove hostPID and privileged, drop ALL capabilities, recreate the pod, then "
    "check again.",
)
def host_not_exposed_live(context: GradingContext) -> Finding:
    if context.offline:
        return not_available(
            "Pods do not run when grading files offline, so the live probe was skipped."
        )
    nodes = context.cached("nodes", lambda: kube.list_objects("v1", "Node"))
    if not nodes:
        return not_available(
            "Pods do not run on this cluster: it has no nodes, so "
            "no container exists to probe. The spec checks above "
            "still apply."
        )

    running = [
        pod
        for pod in context.objects("Pod")
        if (pod.get("status") or {}).get("phase") == "Running"
    ]
    if not running:
        return not_available(
            "No pod in the namespace is running yet, so there is nothing to probe."
        )

    exposed, isolated = [], []
    for pod in running:
        name = pod["metadata"]["name"]
        container = pod["spec"]["containers"][0]["name"]
        try:
            exit_code, output = _run_probe(context.namespace, name, container)
            safe, explanation = probe_verdict(
                exit_code=exit_code, output=output, spec=pod["spec"]
            )
        except ProbeFailed as error:
            logger.warning(
                "Live probe of pod %s/%s container %s failed: %s",
                context.namespace,
                name,
                container,
                error,
            )
            return not_available(
                f'The probe could not run in pod "{name}", '
                f'container "{container}": {error}.'
            )
        sentence = f'Pod "{name}", container "{container}": {explanation}.'
        if safe:
            isolated.append(sentence)
        else:
            exposed.append(sentence)

    if exposed:
        return failed(" ".join(exposed))
    return passed(" ".join(isolated))


CHECKS = [
    not_privileged,
    no_host_namespaces,
    no_hostpath_volume,
    no_added_capabilities,
    no_unconfined_profiles,
    proc_mount_default,
    run_as_non_root,
    run_as_user_not_root,
    drop_all_capabilities,
    no_privilege_escalation,
    seccomp_runtime_default,
    host_not_exposed_live,
]
