"""Checks for the Pod Security Standards lab.

Every check reads the learner's namespace from the API server. The
hostPID check queries the API server itself, with a server-side dry run, so
the learner sees the admission controller's real answer. Enforcement
judges Pods only: a Deployment whose template breaks the level is stored
with a warning, and its ReplicaSet then fails to create pods, so workload
templates are judged here with the Python evaluator.
"""

from django.conf import settings

from labplatform.cluster import audit, kube
from labplatform.content.catalog import get_catalog
from labplatform.grading.checks import (
    GradingContext,
    check,
    failed,
    not_available,
    passed,
)
from labplatform.grading.podsecurity import evaluate

PREFIX = "pod-security.kubernetes.io/"
WORKLOAD_KINDS = (
    "Deployment",
    "StatefulSet",
    "DaemonSet",
    "Job",
    "CronJob",
    "ReplicaSet",
)
AUDIT_QUESTION = "audit-violation"


def _namespace_labels(context: GradingContext) -> dict:
    namespaces = (
        context.objects("Namespace")
        if context.offline
        else [
            context.cached(
                "namespace", lambda: kube.get("v1", "Namespace", context.namespace)
            )
        ]
    )
    namespace = next((n for n in namespaces if n), None)
    return ((namespace or {}).get("metadata") or {}).get("labels") or {}


@check(
    id="namespace-enforces-restricted",
    title="The namespace enforces the restricted standard",
    hint="Set the label pod-security.kubernetes.io/enforce=restricted on your "
    "namespace with kubectl label namespace. Enforce is the mode that rejects pods.",
)
def namespace_enforces_restricted(context: GradingContext):
    value = _namespace_labels(context).get(PREFIX + "enforce")
    if value == "restricted":
        return passed(f"{PREFIX}enforce is restricted.")
    if value is None:
        return failed(
            f"The namespace has no {PREFIX}enforce label, so the cluster "
            "default (privileged) applies."
        )
    return failed(f"{PREFIX}enforce is {value!r}, not 'restricted'.")


@check(
    id="namespace-warns-and-audits",
    title="Warn and audit are set to restricted as well",
    hint="Add pod-security.kubernetes.io/warn=restricted and "
    "pod-security.kubernetes.io/audit=restricted. Warn shows kubectl users a "
    "warning; audit records violations in the API server's audit log.",
)
def namespace_warns_and_audits(context: GradingContext):
    labels = _namespace_labels(context)
    wrong = [
        f"{mode}={labels.get(PREFIX + mode, 'unset')}"
        for mode in ("warn", "audit")
        if labels.get(PREFIX + mode) != "restricted"
    ]
    if not wrong:
        return passed("warn and audit are both restricted.")
    return failed(f"Not restricted yet: {', '.join(wrong)}.")


@check(
    id="compliant-pod-admitted",
    title="A pod that meets the restricted standard was admitted",
    hint="Create a pod whose securityContext sets runAsNonRoot: true, a non-zero "
    "runAsUser, seccompProfile RuntimeDefault, allowPrivilegeEscalation: false and "
    'capabilities drop ["ALL"]; the lab\'s step 3 has a complete manifest.',
)
def compliant_pod_admitted(context: GradingContext):
    pods = context.objects("Pod")
    if not pods:
        return failed("There are no pods in the namespace yet.")
    reports = []
    for pod in pods:
        violations = evaluate(pod, "restricted")
        name = pod["metadata"]["name"]
        if not violations:
            return passed(f"Pod {name!r} meets the restricted standard.")
        reports.append(f"{name}: " + ", ".join(str(v) for v in violations))
    return failed(
        "No pod meets the restricted standard yet.", detail="\n".join(reports)
    )


@check(
    id="no-hostpid-pod",
    title="No pod shares the host's process namespace",
    hint="Delete any pod with hostPID: true (kubectl delete pod NAME). A pod created "
    "before the namespace was labelled keeps running: labels only judge new pods.",
)
def no_hostpid_pod(context: GradingContext):
    offenders = [
        p["metadata"]["name"]
        for p in context.objects("Pod")
        if (p.get("spec") or {}).get("hostPID")
    ]
    if offenders:
        return failed(f"Pods with hostPID: {', '.join(sorted(offenders))}.")
    return passed("No pod in the namespace sets hostPID.")


def _failed_create_messages(context: GradingContext, owner: str) -> list[str]:
    if context.offline:
        return []
    events = context.cached(
        "events", lambda: kube.list_objects("v1", "Event", namespace=context.namespace)
    )
    return [
        event.get("message", "")
        for event in events
        if event.get("reason") == "FailedCreate"
        and (event.get("involvedObject") or {}).get("name", "").startswith(owner)
    ]


@check(
    id="no-workload-template-breaks-restricted",
    title="No workload's pod template breaks the restricted standard",
    hint="Enforce judges Pods only, so a Deployment with hostPID is stored with a "
    "warning and its ReplicaSet then fails to create pods (kubectl get events "
    "--field-selector reason=FailedCreate). Fix the template or delete the "
    "workload, for example kubectl delete deployment hostpid-deploy.",
)
def no_workload_template_breaks_restricted(context: GradingContext):
    problems, details = [], []
    for kind in WORKLOAD_KINDS:
        for workload in context.objects(kind):
            # ReplicaSets owned by a Deployment are reported through it.
            if kind == "ReplicaSet" and workload["metadata"].get("ownerReferences"):
                continue
            violations = evaluate(workload, "restricted")
            if violations:
                name = workload["metadata"]["name"]
                problems.append(f"{kind} {name}")
                details.append(
                    f"{kind} {name}: " + ", ".join(str(v) for v in violations)
                )
                details += [
                    f"  event: {m}" for m in _failed_create_messages(context, name)
                ]
    if problems:
        return failed(
            f"Stored but unable to create pods: {', '.join(problems)}.",
            detail="\n".join(details),
        )
    return passed("Every workload template in the namespace meets restricted.")


def make_hostpid_probe(namespace: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "grader-hostpid-probe", "namespace": namespace},
        "spec": {
            "hostPID": True,
            "containers": [{"name": "probe", "image": "registry.k8s.io/pause:3.10"}],
        },
    }


@check(
    id="hostpid-pod-rejected",
    title="The API server rejects a hostPID pod right now",
    hint="The grader asked the API server to create a hostPID pod in your namespace "
    "(a dry run, nothing is stored) and it was admitted. Label the namespace "
    "enforce=restricted (or at least baseline), then check again.",
)
def hostpid_pod_rejected(context: GradingContext):
    if context.offline:
        return not_available("A dry run needs a live API server.")
    result = kube.dry_run_create(make_hostpid_probe(context.namespace))
    if not result.allowed and "PodSecurity" in result.message:
        return passed("The API server rejected the hostPID pod.", detail=result.message)
    if not result.allowed:
        return failed(
            "The dry run was rejected, but not by Pod Security admission.",
            detail=result.message,
        )
    return failed("The API server would admit a hostPID pod in this namespace.")


@check(
    id="audit-events-reviewed",
    title="You reviewed the audit events for your namespace",
    hint="Open the Audit events panel on this page after trying the hostPID pod, read "
    "the pod-security.kubernetes.io/audit-violations of the rejected request, and "
    "answer the question under the table.",
)
def audit_events_reviewed(context: GradingContext):
    if context.offline:
        return not_available("Audit events exist only on a live cluster.")
    events = audit.read_namespace_events(settings.AUDIT_LOG_PATH, context.namespace)
    violations = [e for e in events if e.is_pod_security_violation]
    if not violations:
        return failed(
            "The audit log has no Pod Security violation for your namespace "
            "yet; try creating the hostPID pod with audit set to restricted."
        )
    if context.audit_reviewed_at is None:
        return failed(
            f"The audit log holds {len(violations)} Pod Security violation(s) "
            "for your namespace, but you have not opened the Audit events panel."
        )
    answer = context.answers.get(AUDIT_QUESTION)
    if answer is None:
        return failed(
            "You opened the audit events but have not answered the question "
            "under them yet."
        )
    expected = get_catalog().lab(context.lab_slug).question(AUDIT_QUESTION).answer
    if answer != expected:
        return failed(
            f"You answered {answer!r}. Look again at the violation that names hostPID."
        )
    return passed(
        f"You reviewed {len(violations)} Pod Security violation(s) and named "
        "the check that rejected the hostPID pod."
    )


CHECKS = [
    namespace_enforces_restricted,
    namespace_warns_and_audits,
    compliant_pod_admitted,
    no_hostpid_pod,
    no_workload_template_breaks_restricted,
    hostpid_pod_rejected,
    audit_events_reviewed,
]
