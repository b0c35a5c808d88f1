"""Pod Security Standards evaluation in Python, for explaining violations.

The API server's PodSecurity admission plugin is the authority. This
module mirrors its baseline and restricted checks (Kubernetes 1.37,
policy version "latest"), so a grader can name the rule a pod breaks
even when no admission decision is at hand, for example for a
Deployment's pod template. Check ids, reasons, detail text and their
order match the plugin's rejection message, and a differential test
(tests/grading/test_podsecurity_differential.py) compares them with the
real API server. Windows pods (spec.os.name "windows") get the plugin's
exemptions, and pods with hostUsers false its user-namespace relaxations.

A manifest or pod template is judged as the API server would store the
pod: the deprecated AppArmor annotations are copied into the containers'
fields, and with hostNetwork every container port becomes a host port.
"""

import copy
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass

LEVELS = ("privileged", "baseline", "restricted")

BASELINE_CAPABILITIES = frozenset(
    {
        "AUDIT_WRITE",
        "CHOWN",
        "DAC_OVERRIDE",
        "FOWNER",
        "FSETID",
        "KILL",
        "MKNOD",
        "NET_BIND_SERVICE",
        "SETFCAP",
        "SETGID",
        "SETPCAP",
        "SETUID",
        "SYS_CHROOT",
    }
)
RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "image",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
# Volume sources that the restricted check names in its message. Any
# other source is reported as "unknown".
NAMED_VOLUME_TYPES = frozenset(
    {
        "hostPath",
        "gcePersistentDisk",
        "awsElasticBlockStore",
        "gitRepo",
        "nfs",
        "iscsi",
        "glusterfs",
        "rbd",
        "flexVolume",
        "cinder",
        "cephfs",
        "flocker",
        "fc",
        "azureFile",
        "vsphereVolume",
        "quobyte",
        "azureDisk",
        "photonPersistentDisk",
        "portworxVolume",
        "scaleIO",
        "storageos",
    }
)
# The safe set of policy version 1.37. Later versions may add names.
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
        "net.ipv4.tcp_rmem",
        "net.ipv4.tcp_wmem",
        "net.ipv4.tcp_slow_start_after_idle",
        "net.ipv4.tcp_notsent_lowat",
    }
)
SELINUX_TYPES = frozenset(
    {
        "",
        "container_t",
        "container_init_t",
        "container_kvm_t",
        "container_engine_t",
    }
)
ALLOWED_PROFILE_TYPES = ("RuntimeDefault", "Localhost")
CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")
APPARMOR_ANNOTATION_PREFIX = "container.apparmor.security.beta.kubernetes.io/"


@dataclass(frozen=True)
class Violation:
    """One failed check, worded like the API server's rejection text.

    check is the admission plugin's check id, such as "runAsNonRoot" or
    "capabilities_restricted".
    """

    check: str
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.reason} ({self.detail})" if self.detail else self.reason


def pod_spec_of(obj: Mapping) -> Mapping:
    """Return the pod spec of a Pod, a pod template holder, or a bare spec."""
    return _pod_parts(obj)[1]


def _pod_parts(obj: Mapping) -> tuple[Mapping, Mapping]:
    """Return the metadata and spec of the pod that obj is or would create."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return obj.get("metadata") or {}, spec
    if kind == "CronJob":
        spec = (spec.get("jobTemplate") or {}).get("spec") or {}
    if "template" in spec:
        template = spec.get("template") or {}
        return template.get("metadata") or {}, template.get("spec") or {}
    if "containers" in spec:
        return obj.get("metadata") or {}, spec
    return {}, obj


# --- helpers shared by the checks -------------------------------------------


def _containers(spec: Mapping) -> Iterator[Mapping]:
    for field in CONTAINER_FIELDS:
        yield from spec.get(field) or ()


def _context(container: Mapping) -> Mapping:
    return container.get("securityContext") or {}


def _pod_context(spec: Mapping) -> Mapping:
    return spec.get("securityContext") or {}


def _quoted(items: list[str]) -> str:
    return ", ".join(f'"{item}"' for item in items)


def _plural(singular: str, plural: str, count: int) -> str:
    return singular if count == 1 else plural


def _container_phrase(names: list[str]) -> str:
    return f"{_plural('container', 'containers', len(names))} {_quoted(names)}"


def _setters(pod_is_bad: bool, container_names: list[str]) -> list[str]:
    """Name who set a forbidden value: "pod", then the containers."""
    setters = ["pod"] if pod_is_bad else []
    if container_names:
        setters.append(_container_phrase(container_names))
    return setters


def _is_windows(spec: Mapping) -> bool:
    return (spec.get("os") or {}).get("name") == "windows"


def _uses_user_namespace(spec: Mapping) -> bool:
    return spec.get("hostUsers") is False


def _profile_type(holder: Mapping, field: str) -> str | None:
    """Return the type of a seccompProfile or appArmorProfile, None when unset."""
    profile = holder.get(field)
    if profile is None:
        return None
    return profile.get("type") or ""


# --- baseline checks --------------------------------------------------------


def check_apparmor(metadata: Mapping, spec: Mapping) -> Violation | None:
    setters, values = [], set()
    pod_type = _profile_type(_pod_context(spec), "appArmorProfile")
    if pod_type is not None and pod_type not in ALLOWED_PROFILE_TYPES:
        setters.append("pod")
        values.add(pod_type)
    names = []
    for container in _containers(spec):
        container_type = _profile_type(_context(container), "appArmorProfile")
        if container_type is not None and container_type not in ALLOWED_PROFILE_TYPES:
            names.append(container["name"])
            values.add(container_type)
    if names:
        setters.append(_container_phrase(names))
    annotations = sorted(
        f'{key}="{value}"'
        for key, value in (metadata.get("annotations") or {}).items()
        if key.startswith(APPARMOR_ANNOTATION_PREFIX)
        and not _allowed_apparmor_annotation(value)
    )
    if annotations:
        setters.append(_plural("annotation", "annotations", len(annotations)))
    if not setters:
        return None
    bad = sorted(values) + annotations
    return Violation(
        "appArmorProfile",
        _plural("forbidden AppArmor profile", "forbidden AppArmor profiles", len(bad)),
        f"{' and '.join(setters)} must not set AppArmor profile type to {_quoted(bad)}",
    )


def _allowed_apparmor_annotation(value: str) -> bool:
    return value in ("", "runtime/default") or value.startswith("localhost/")


def check_capabilities_baseline(metadata: Mapping, spec: Mapping) -> Violation | None:
    names, added = [], set()
    for container in _containers(spec):
        capabilities = _context(container).get("capabilities") or {}
        bad = [
            cap
            for cap in capabilities.get("add") or ()
            if cap not in BASELINE_CAPABILITIES
        ]
        if bad:
            names.append(container["name"])
            added.update(bad)
    if not names:
        return None
    return Violation(
        "capabilities_baseline",
        "non-default capabilities",
        f"{_container_phrase(names)} must not include {_quoted(sorted(added))} "
        "in securityContext.capabilities.add",
    )


def check_host_namespaces(metadata: Mapping, spec: Mapping) -> Violation | None:
    found = [
        f"{key}=true" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key)
    ]
    if not found:
        return None
    return Violation("hostNamespaces", "host namespaces", ", ".join(found))


def check_host_path(metadata: Mapping, spec: Mapping) -> Violation | None:
    names = [
        v["name"] for v in spec.get("volumes") or () if v.get("hostPath") is not None
    ]
    if not names:
        return None
    noun = _plural("volume", "volumes", len(names))
    return Violation("hostPathVolumes", "hostPath volumes", f"{noun} {_quoted(names)}")


def check_host_ports(metadata: Mapping, spec: Mapping) -> Violation | None:
    names, ports = [], set()
    for container in _containers(spec):
        used = {
            str(p["hostPort"])
            for p in container.get("ports") or ()
            if p.get("hostPort")
        }
        if used:
            names.append(container["name"])
            ports.update(used)
    if not names:
        return None
    return Violation(
        "hostPorts",
        "hostPort",
        f"{_container_phrase(names)} {_plural('uses', 'use', len(names))} "
        f"{_plural('hostPort', 'hostPorts', len(ports))} {', '.join(sorted(ports))}",
    )


def check_probe_hosts(metadata: Mapping, spec: Mapping) -> Violation | None:
    names, hosts = set(), set()
    for container in _containers(spec):
        handlers = [
            container.get(probe)
            for probe in ("livenessProbe", "readinessProbe", "startupProbe")
        ]
        lifecycle = container.get("lifecycle") or {}
        handlers += [lifecycle.get("postStart"), lifecycle.get("preStop")]
        for handler in filter(None, handlers):
            for action in ("httpGet", "tcpSocket"):
                host = (handler.get(action) or {}).get("host")
                if host:
                    names.add(container["name"])
                    hosts.add(host)
    if not names:
        return None
    return Violation(
        "hostProbesAndHostLifecycle",
        "probe or lifecycle host",
        f"{_container_phrase(sorted(names))} {_plural('uses', 'use', len(names))} "
        f"{_plural('probe or lifecycle host', 'probe or lifecycle hosts', len(hosts))} "
        f"{_quoted(sorted(hosts))}",
    )


def check_privileged(metadata: Mapping, spec: Mapping) -> Violation | None:
    names = [c["name"] for c in _containers(spec) if _context(c).get("privileged")]
    if not names:
        return None
    return Violation(
        "privileged",
        "privileged",
        f"{_container_phrase(names)} must not set securityContext.privileged=true",
    )


def _proc_mount(metadata: Mapping, spec: Mapping, check_id: str) -> Violation | None:
    names, kinds = [], set()
    for container in _containers(spec):
        proc_mount = _context(container).get("procMount")
        if proc_mount is not None and proc_mount != "Default":
            names.append(container["name"])
            kinds.add(proc_mount)
    if not names:
        return None
    return Violation(
        check_id,
        "procMount",
        f"{_container_phrase(names)} must not set securityContext.procMount "
        f"to {_quoted(sorted(kinds))}",
    )


def check_proc_mount_baseline(metadata: Mapping, spec: Mapping) -> Violation | None:
    # A pod in its own user namespace cannot reach the host's /proc.
    if _uses_user_namespace(spec):
        return None
    return _proc_mount(metadata, spec, "procMount")


def check_selinux(metadata: Mapping, spec: Mapping) -> Violation | None:
    bad_types: set[str] = set()
    user_set = role_set = False

    def forbidden(options: Mapping) -> bool:
        nonlocal user_set, role_set
        bad = False
        if (options.get("type") or "") not in SELINUX_TYPES:
            bad_types.add(options["type"])
            bad = True
        if options.get("user"):
            user_set = bad = True
        if options.get("role"):
            role_set = bad = True
        return bad

    pod_options = _pod_context(spec).get("seLinuxOptions")
    pod_is_bad = pod_options is not None and forbidden(pod_options)
    names = [
        c["name"]
        for c in _containers(spec)
        if _context(c).get("seLinuxOptions") is not None
        and forbidden(_context(c)["seLinuxOptions"])
    ]
    setters = _setters(pod_is_bad, names)
    if not setters:
        return None
    problems = []
    if bad_types:
        problems.append(
            f"{_plural('type', 'types', len(bad_types))} {_quoted(sorted(bad_types))}"
        )
    if user_set:
        problems.append("user may not be set")
    if role_set:
        problems.append("role may not be set")
    return Violation(
        "seLinuxOptions",
        "seLinuxOptions",
        f"{' and '.join(setters)} set forbidden "
        f"securityContext.seLinuxOptions: {'; '.join(problems)}",
    )


def check_seccomp_baseline(metadata: Mapping, spec: Mapping) -> Violation | None:
    # Since policy version 1.19 only the fields count: the old seccomp
    # annotations are neither checked nor copied into the fields.
    values = set()
    pod_type = _profile_type(_pod_context(spec), "seccompProfile")
    pod_is_bad = pod_type is not None and pod_type not in ALLOWED_PROFILE_TYPES
    if pod_is_bad:
        values.add(pod_type)
    names = []
    for container in _containers(spec):
        container_type = _profile_type(_context(container), "seccompProfile")
        if container_type is not None and container_type not in ALLOWED_PROFILE_TYPES:
            names.append(container["name"])
            values.add(container_type)
    setters = _setters(pod_is_bad, names)
    if not setters:
        return None
    return Violation(
        "seccompProfile_baseline",
        "seccompProfile",
        f"{' and '.join(setters)} must not set "
        f"securityContext.seccompProfile.type to {_quoted(sorted(values))}",
    )


def check_sysctls(metadata: Mapping, spec: Mapping) -> Violation | None:
    sysctls = _pod_context(spec).get("sysctls") or ()
    bad = [s["name"] for s in sysctls if s.get("name") not in SAFE_SYSCTLS]
    if not bad:
        return None
    return Violation("sysctls", "forbidden sysctls", ", ".join(bad))


def check_windows_host_process(metadata: Mapping, spec: Mapping) -> Violation | None:
    def host_process(context: Mapping) -> bool:
        return (context.get("windowsOptions") or {}).get("hostProcess") is True

    names = [c["name"] for c in _containers(spec) if host_process(_context(c))]
    setters = _setters(host_process(_pod_context(spec)), names)
    if not setters:
        return None
    return Violation(
        "windowsHostProcess",
        "hostProcess",
        f"{' and '.join(setters)} must not set "
        "securityContext.windowsOptions.hostProcess=true",
    )


# --- restricted checks ------------------------------------------------------


def check_allow_privilege_escalation(
    metadata: Mapping, spec: Mapping
) -> Violation | None:
    if _is_windows(spec):
        return None
    names = [
        c["name"]
        for c in _containers(spec)
        if _context(c).get("allowPrivilegeEscalation") is not False
    ]
    if not names:
        return None
    return Violation(
        "allowPrivilegeEscalation",
        "allowPrivilegeEscalation != false",
        f"{_container_phrase(names)} must set "
        "securityContext.allowPrivilegeEscalation=false",
    )


def check_capabilities_restricted(metadata: Mapping, spec: Mapping) -> Violation | None:
    if _is_windows(spec):
        return None
    no_drop, bad_add, added = [], [], set()
    for container in _containers(spec):
        capabilities = _context(container).get("capabilities")
        if capabilities is None:
            no_drop.append(container["name"])
            continue
        # Exactly "ALL": the plugin compares the string case-sensitively.
        if "ALL" not in (capabilities.get("drop") or ()):
            no_drop.append(container["name"])
        extra = [
            cap for cap in capabilities.get("add") or () if cap != "NET_BIND_SERVICE"
        ]
        if extra:
            bad_add.append(container["name"])
            added.update(extra)
    parts = []
    if no_drop:
        parts.append(
            f"{_container_phrase(no_drop)} must set "
            'securityContext.capabilities.drop=["ALL"]'
        )
    if bad_add:
        parts.append(
            f"{_container_phrase(bad_add)} must not include "
            f"{_quoted(sorted(added))} in securityContext.capabilities.add"
        )
    if not parts:
        return None
    return Violation(
        "capabilities_restricted", "unrestricted capabilities", "; ".join(parts)
    )


def check_proc_mount_restricted(metadata: Mapping, spec: Mapping) -> Violation | None:
    # Unlike the baseline check, this one holds for user-namespace pods too.
    return _proc_mount(metadata, spec, "procMount_restricted")


def check_restricted_volumes(metadata: Mapping, spec: Mapping) -> Violation | None:
    names, kinds = [], set()
    for volume in spec.get("volumes") or ():
        sources = [
            key for key, value in volume.items() if key != "name" and value is not None
        ]
        if any(source in RESTRICTED_VOLUME_TYPES for source in sources):
            continue
        names.append(volume["name"])
        named = [source for source in sources if source in NAMED_VOLUME_TYPES]
        kinds.add(named[0] if named else "unknown")
    if not names:
        return None
    return Violation(
        "restrictedVolumes",
        "restricted volume types",
        f"{_plural('volume', 'volumes', len(names))} {_quoted(names)} "
        f"{_plural('uses', 'use', len(names))} "
        f"{_plural('restricted volume type', 'restricted volume types', len(kinds))} "
        f"{_quoted(sorted(kinds))}",
    )


def check_run_as_non_root(metadata: Mapping, spec: Mapping) -> Violation | None:
    if _uses_user_namespace(spec):
        return None
    pod_value = _pod_context(spec).get("runAsNonRoot")
    explicit_false, implicit = [], []
    for container in _containers(spec):
        value = _context(container).get("runAsNonRoot")
        if value is False:
            explicit_false.append(container["name"])
        elif value is None and pod_value is not True:
            implicit.append(container["name"])
    setters = _setters(pod_value is False, explicit_false)
    # An explicit false hides the containers that merely leave it unset.
    if setters:
        return Violation(
            "runAsNonRoot",
            "runAsNonRoot != true",
            f"{' and '.join(setters)} must not set securityContext.runAsNonRoot=false",
        )
    if implicit:
        return Violation(
            "runAsNonRoot",
            "runAsNonRoot != true",
            f"pod or {_container_phrase(implicit)} must set "
            "securityContext.runAsNonRoot=true",
        )
    return None


def check_run_as_user(metadata: Mapping, spec: Mapping) -> Violation | None:
    if _uses_user_namespace(spec):
        return None
    names = [c["name"] for c in _containers(spec) if _context(c).get("runAsUser") == 0]
    setters = _setters(_pod_context(spec).get("runAsUser") == 0, names)
    if not setters:
        return None
    return Violation(
        "runAsUser", "runAsUser=0", f"{' and '.join(setters)} must not set runAsUser=0"
    )


def check_seccomp_restricted(metadata: Mapping, spec: Mapping) -> Violation | None:
    if _is_windows(spec):
        return None

    values = set()
    pod_type = _profile_type(_pod_context(spec), "seccompProfile")
    pod_is_bad = pod_type is not None and pod_type not in ALLOWED_PROFILE_TYPES
    if pod_is_bad:
        values.add(pod_type)
    pod_is_set = pod_type is not None and not pod_is_bad

    explicit, implicit = [], []
    for container in _containers(spec):
        container_type = _profile_type(_context(container), "seccompProfile")
        if container_type is None:
            if not pod_is_set:
                implicit.append(container["name"])
        elif container_type not in ALLOWED_PROFILE_TYPES:
            explicit.append(container["name"])
            values.add(container_type)

    setters = _setters(pod_is_bad, explicit)
    # A forbidden value hides the containers that merely leave it unset.
    if setters:
        return Violation(
            "seccompProfile_restricted",
            "seccompProfile",
            f"{' and '.join(setters)} must not set "
            f"securityContext.seccompProfile.type to {_quoted(sorted(values))}",
        )
    if implicit:
        return Violation(
            "seccompProfile_restricted",
            "seccompProfile",
            f"pod or {_container_phrase(implicit)} must set "
            'securityContext.seccompProfile.type to "RuntimeDefault" or '
            '"Localhost"',
        )
    return None


# --- the registry -----------------------------------------------------------

CheckFunction = Callable[[Mapping, Mapping], Violation | None]

# Check ids as the admission plugin registers them. The plugin lists
# violations in the order of the ids, sorted bytewise: baseline ids
# first, then restricted ones.
BASELINE_CHECKS: dict[str, CheckFunction] = {
    "appArmorProfile": check_apparmor,
    "capabilities_baseline": check_capabilities_baseline,
    "hostNamespaces": check_host_namespaces,
    "hostPathVolumes": check_host_path,
    "hostPorts": check_host_ports,
    "hostProbesAndHostLifecycle": check_probe_hosts,
    "privileged": check_privileged,
    "procMount": check_proc_mount_baseline,
    "seLinuxOptions": check_selinux,
    "seccompProfile_baseline": check_seccomp_baseline,
    "sysctls": check_sysctls,
    "windowsHostProcess": check_windows_host_process,
}
RESTRICTED_CHECKS: dict[str, CheckFunction] = {
    "allowPrivilegeEscalation": check_allow_privilege_escalation,
    "capabilities_restricted": check_capabilities_restricted,
    "procMount_restricted": check_proc_mount_restricted,
    "restrictedVolumes": check_restricted_volumes,
    "runAsNonRoot": check_run_as_non_root,
    "runAsUser": check_run_as_user,
    "seccompProfile_restricted": check_seccomp_restricted,
}
# The baseline checks that restricted replaces with a stricter version.
OVERRIDDEN_BY_RESTRICTED = frozenset(
    {
        "capabilities_baseline",
        "hostPathVolumes",
        "procMount",
        "seccompProfile_baseline",
    }
)


def checks_for(level: str) -> list[tuple[str, CheckFunction]]:
    """Return the (id, function) pairs that level runs, in message order."""
    if level not in LEVELS:
        raise ValueError(f"unknown Pod Security level {level!r}; use one of {LEVELS}")
    if level == "privileged":
        return []
    checks = sorted(BASELINE_CHECKS.items())
    if level == "restricted":
        checks = [item for item in checks if item[0] not in OVERRIDDEN_BY_RESTRICTED]
        checks += sorted(RESTRICTED_CHECKS.items())
    return checks


def as_admitted(metadata: Mapping, spec: Mapping) -> tuple[Mapping, Mapping]:
    """Apply the API server's changes on create that the checks can see.

    Two changes matter. An AppArmor annotation
    (container.apparmor.security.beta.kubernetes.io/NAME) on a container
    without an appArmorProfile field is copied into that field, unless the
    pod-level field already sets the same profile. With hostNetwork, a
    container port without a hostPort gets hostPort = containerPort.
    Both are no-ops on a Pod read back from the API server, which rejects
    AppArmor annotations added after create.
    """
    spec = copy.deepcopy(dict(spec))
    if not _is_windows(spec):
        _copy_apparmor_annotations(metadata, spec)
    if spec.get("hostNetwork"):
        for field in ("initContainers", "containers"):
            for container in spec.get(field) or ():
                for port in container.get("ports") or ():
                    if not port.get("hostPort"):
                        port["hostPort"] = port.get("containerPort")
    return metadata, spec


def _copy_apparmor_annotations(metadata: Mapping, spec: dict) -> None:
    annotations = metadata.get("annotations") or {}
    pod_profile = _pod_context(spec).get("appArmorProfile")
    # Ephemeral containers cannot exist when a pod is created, and the
    # copy happens only then.
    for field in ("initContainers", "containers"):
        for container in spec.get(field) or ():
            value = annotations.get(APPARMOR_ANNOTATION_PREFIX + container["name"])
            if value is None or _context(container).get("appArmorProfile") is not None:
                continue
            profile = _apparmor_field_for(value)
            if profile is None or profile == pod_profile:
                continue
            container["securityContext"] = {
                **_context(container),
                "appArmorProfile": profile,
            }


def _apparmor_field_for(annotation: str) -> dict | None:
    if annotation == "unconfined":
        return {"type": "Unconfined"}
    if annotation == "runtime/default":
        return {"type": "RuntimeDefault"}
    name = annotation.removeprefix("localhost/")
    # The API server skips a Localhost name that validation would reject.
    if annotation.startswith("localhost/") and name and name == name.strip():
        return {"type": "Localhost", "localhostProfile": name}
    return None


def evaluate(obj: Mapping, level: str) -> list[Violation]:
    """Return the violations of obj against level, in the API server's order.

    obj is a Pod, an object with a pod template (Deployment, Job,
    CronJob and the like), or a bare pod spec.
    """
    checks = checks_for(level)
    metadata, spec = as_admitted(*_pod_parts(obj))
    results = (function(metadata, spec) for _, function in checks)
    return [violation for violation in results if violation is not None]


def format_violations(name: str, level: str, violations: list[Violation]) -> str:
    """Word violations as the API server's rejection does."""
    joined = ", ".join(str(v) for v in violations)
    return (
        f'pods "{name}" is forbidden: violates PodSecurity "{level}:latest": {joined}'
    )
