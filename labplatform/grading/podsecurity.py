"""Pod Security Standards evaluation in Python, for explaining violations.

The API server's PodSecurity admission plugin is the authority; this
module mirrors its baseline and restricted checks (Kubernetes 1.37,
policy version "latest") so a grader can name the rule a pod breaks
even when no admission decision is at hand, for example for a
Deployment's pod template. Linux pods only: the Windows exemptions and
the hostUsers relaxations are not modelled.
"""

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

LEVELS = ("privileged", "baseline", "restricted")

BASELINE_CAPABILITIES = frozenset({
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD",
    "NET_BIND_SERVICE", "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
})
RESTRICTED_VOLUME_TYPES = frozenset({
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "image",
    "persistentVolumeClaim", "projected", "secret",
})
SAFE_SYSCTLS = frozenset({
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start", "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl", "net.ipv4.tcp_keepalive_probes",
    "net.ipv4.tcp_rmem", "net.ipv4.tcp_wmem",
})
SELINUX_TYPES = frozenset({"", "container_t", "container_init_t", "container_kvm_t",
                           "container_engine_t"})
CONTAINER_FIELDS = ("initContainers", "containers", "ephemeralContainers")


@dataclass(frozen=True)
class Violation:
    """One failed check, worded like the API server's rejection text."""

    check: str
    reason: str
    detail: str

    def __str__(self) -> str:
        return f"{self.reason} ({self.detail})"


def pod_spec_of(obj: Mapping) -> Mapping:
    """Return the pod spec of a Pod, a pod template holder, or a bare spec."""
    kind = obj.get("kind")
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec
    if kind == "CronJob":
        return ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template", {}).get(
            "spec") or {}
    if "template" in spec:
        return (spec.get("template") or {}).get("spec") or {}
    return spec if "containers" in spec else obj


def _containers(spec: Mapping) -> Iterator[Mapping]:
    for field in CONTAINER_FIELDS:
        yield from spec.get(field) or ()


def _quoted(names: list[str]) -> str:
    return ", ".join(f'"{name}"' for name in names)


def _container_phrase(names: list[str]) -> str:
    noun = "container" if len(names) == 1 else "containers"
    return f"{noun} {_quoted(names)}"


def _security_context(container: Mapping) -> Mapping:
    return container.get("securityContext") or {}


def check_host_namespaces(spec: Mapping) -> Violation | None:
    found = [f"{key}=true" for key in ("hostNetwork", "hostPID", "hostIPC") if spec.get(key)]
    if found:
        return Violation("hostNamespaces", "host namespaces", ", ".join(found))
    return None


def check_privileged(spec: Mapping) -> Violation | None:
    names = [c["name"] for c in _containers(spec) if _security_context(c).get("privileged")]
    if names:
        return Violation("privileged", "privileged",
                         f"{_container_phrase(names)} must not set "
                         "securityContext.privileged=true")
    return None


def check_capabilities_baseline(spec: Mapping) -> Violation | None:
    names, added = [], []
    for container in _containers(spec):
        caps = (_security_context(container).get("capabilities") or {}).get("add") or ()
        bad = [cap for cap in caps if cap not in BASELINE_CAPABILITIES]
        if bad:
            names.append(container["name"])
            added += [cap for cap in bad if cap not in added]
    if names:
        return Violation("capabilities_baseline", "non-default capabilities",
                         f"{_container_phrase(names)} must not include "
                         f"{_quoted(sorted(added))} in securityContext.capabilities.add")
    return None


def check_host_path(spec: Mapping) -> Violation | None:
    names = [v["name"] for v in spec.get("volumes") or () if v.get("hostPath") is not None]
    if names:
        noun = "volume" if len(names) == 1 else "volumes"
        return Violation("hostPathVolumes", "hostPath volumes", f"{noun} {_quoted(names)}")
    return None


def check_host_ports(spec: Mapping) -> Violation | None:
    names, ports = [], []
    for container in _containers(spec):
        used = [str(p["hostPort"]) for p in container.get("ports") or () if p.get("hostPort")]
        if used:
            names.append(container["name"])
            ports += used
    if names:
        return Violation("hostPorts", "hostPort",
                         f"{_container_phrase(names)} uses hostPort{'s' if len(ports) > 1 else ''} "
                         f"{', '.join(ports)}")
    return None


def check_seccomp_baseline(spec: Mapping) -> Violation | None:
    bad = []
    pod_type = ((spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
    if pod_type == "Unconfined":
        bad.append('pod must not set securityContext.seccompProfile.type to "Unconfined"')
    names = [c["name"] for c in _containers(spec)
             if (_security_context(c).get("seccompProfile") or {}).get("type") == "Unconfined"]
    if names:
        bad.append(f'{_container_phrase(names)} must not set '
                   'securityContext.seccompProfile.type to "Unconfined"')
    if bad:
        return Violation("seccompProfile_baseline", "seccompProfile", "; ".join(bad))
    return None


def check_proc_mount(spec: Mapping) -> Violation | None:
    names = [c["name"] for c in _containers(spec)
             if _security_context(c).get("procMount") not in (None, "Default")]
    if names:
        return Violation("procMount", "procMount",
                         f"{_container_phrase(names)} must not set securityContext.procMount "
                         "to \"Unmasked\"")
    return None


def check_sysctls(spec: Mapping) -> Violation | None:
    sysctls = (spec.get("securityContext") or {}).get("sysctls") or ()
    bad = [s["name"] for s in sysctls if s.get("name") not in SAFE_SYSCTLS]
    if bad:
        return Violation("sysctls", "forbidden sysctls", ", ".join(bad))
    return None


def check_apparmor(spec: Mapping) -> Violation | None:
    profiles = [(spec.get("securityContext") or {}).get("appArmorProfile")]
    profiles += [_security_context(c).get("appArmorProfile") for c in _containers(spec)]
    if any((p or {}).get("type") == "Unconfined" for p in profiles):
        return Violation("appArmorProfile", "forbidden AppArmor profile", "Unconfined")
    return None


def check_selinux(spec: Mapping) -> Violation | None:
    options = [(spec.get("securityContext") or {}).get("seLinuxOptions")]
    options += [_security_context(c).get("seLinuxOptions") for c in _containers(spec)]
    for option in filter(None, options):
        if option.get("type", "") not in SELINUX_TYPES or option.get("user") or option.get("role"):
            return Violation("seLinuxOptions", "seLinuxOptions",
                             "forbidden securityContext.seLinuxOptions")
    return None


def check_restricted_volumes(spec: Mapping) -> Violation | None:
    bad_names, bad_types = [], []
    for volume in spec.get("volumes") or ():
        kinds = [key for key in volume if key != "name"]
        illegal = [kind for kind in kinds if kind not in RESTRICTED_VOLUME_TYPES]
        if illegal:
            bad_names.append(volume["name"])
            bad_types += [kind for kind in illegal if kind not in bad_types]
    if bad_names:
        noun = "volume" if len(bad_names) == 1 else "volumes"
        return Violation("restrictedVolumes", "restricted volume types",
                         f"{noun} {_quoted(bad_names)} use{'s' if len(bad_names) == 1 else ''} "
                         f"restricted volume type{'s' if len(bad_types) > 1 else ''} "
                         f"{_quoted(bad_types)}")
    return None


def check_allow_privilege_escalation(spec: Mapping) -> Violation | None:
    names = [c["name"] for c in _containers(spec)
             if _security_context(c).get("allowPrivilegeEscalation") is not False]
    if names:
        return Violation("allowPrivilegeEscalation", "allowPrivilegeEscalation != false",
                         f"{_container_phrase(names)} must set "
                         "securityContext.allowPrivilegeEscalation=false")
    return None


def check_run_as_non_root(spec: Mapping) -> Violation | None:
    pod_value = (spec.get("securityContext") or {}).get("runAsNonRoot")
    explicit_false, implicit = [], []
    for container in _containers(spec):
        value = _security_context(container).get("runAsNonRoot")
        if value is False:
            explicit_false.append(container["name"])
        elif value is None and pod_value is not True:
            implicit.append(container["name"])
    parts = []
    if pod_value is False:
        parts.append("pod must not set securityContext.runAsNonRoot=false")
    if explicit_false:
        parts.append(f"{_container_phrase(explicit_false)} must not set "
                     "securityContext.runAsNonRoot=false")
    if implicit and pod_value is not False:
        parts.append(f"pod or {_container_phrase(implicit)} must set "
                     "securityContext.runAsNonRoot=true")
    if parts:
        return Violation("runAsNonRoot", "runAsNonRoot != true", "; ".join(parts))
    return None


def check_run_as_user(spec: Mapping) -> Violation | None:
    parts = []
    if (spec.get("securityContext") or {}).get("runAsUser") == 0:
        parts.append("pod must not set runAsUser=0")
    names = [c["name"] for c in _containers(spec) if _security_context(c).get("runAsUser") == 0]
    if names:
        parts.append(f"{_container_phrase(names)} must not set runAsUser=0")
    if parts:
        return Violation("runAsUser", "runAsUser=0", "; ".join(parts))
    return None


def check_seccomp_restricted(spec: Mapping) -> Violation | None:
    allowed = ("RuntimeDefault", "Localhost")
    pod_type = ((spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
    parts, bad, unset = [], [], []
    if pod_type is not None and pod_type not in allowed:
        parts.append(f'pod must not set securityContext.seccompProfile.type to "{pod_type}"')
    for container in _containers(spec):
        container_type = (_security_context(container).get("seccompProfile") or {}).get("type")
        if container_type is None:
            if pod_type is None:
                unset.append(container["name"])
        elif container_type not in allowed:
            bad.append(container["name"])
    if bad:
        parts.append(f"{_container_phrase(bad)} must not set "
                     'securityContext.seccompProfile.type to "Unconfined"')
    if unset:
        parts.append(f'pod or {_container_phrase(unset)} must set '
                     'securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost"')
    if parts:
        return Violation("seccompProfile_restricted", "seccompProfile", "; ".join(parts))
    return None


def check_capabilities_restricted(spec: Mapping) -> Violation | None:
    no_drop, bad_add, added = [], [], []
    for container in _containers(spec):
        caps = _security_context(container).get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or ()):
            no_drop.append(container["name"])
        extra = [cap for cap in caps.get("add") or () if cap != "NET_BIND_SERVICE"]
        if extra:
            bad_add.append(container["name"])
            added += [cap for cap in extra if cap not in added]
    parts = []
    if no_drop:
        parts.append(f'{_container_phrase(no_drop)} must set '
                     'securityContext.capabilities.drop=["ALL"]')
    if bad_add:
        parts.append(f"{_container_phrase(bad_add)} must not include {_quoted(added)} in "
                     "securityContext.capabilities.add")
    if parts:
        return Violation("capabilities_restricted", "unrestricted capabilities",
                         "; ".join(parts))
    return None


BASELINE_CHECKS = (
    check_host_namespaces, check_privileged, check_capabilities_baseline,
    check_host_path, check_host_ports, check_apparmor, check_selinux, check_proc_mount,
    check_seccomp_baseline, check_sysctls,
)
# Restricted replaces these baseline checks with stricter versions.
OVERRIDDEN_BY_RESTRICTED = {check_capabilities_baseline, check_seccomp_baseline, check_host_path}
RESTRICTED_CHECKS = (
    check_restricted_volumes, check_allow_privilege_escalation, check_run_as_non_root,
    check_run_as_user, check_seccomp_restricted, check_capabilities_restricted,
)


def evaluate(obj: Mapping, level: str) -> list[Violation]:
    """Return the violations of obj against level, baseline checks first."""
    if level not in LEVELS:
        raise ValueError(f"unknown Pod Security level {level!r}; use one of {LEVELS}")
    if level == "privileged":
        return []
    spec = pod_spec_of(obj)
    checks = list(BASELINE_CHECKS)
    if level == "restricted":
        checks = [c for c in checks if c not in OVERRIDDEN_BY_RESTRICTED]
        checks += RESTRICTED_CHECKS
    return [v for v in (check(spec) for check in checks) if v is not None]


def format_violations(name: str, level: str, violations: list[Violation]) -> str:
    """Word violations as the API server's rejection does."""
    joined = ", ".join(str(v) for v in violations)
    return f'pods "{name}" is forbidden: violates PodSecurity "{level}:latest": {joined}'
