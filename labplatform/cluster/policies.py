"""Cluster-wide guard rails the platform installs once per cluster.

RBAC alone cannot express "the learner may add a Pod Security label but not
weaken one", so a ValidatingAdmissionPolicy in the API server checks every
namespace update a learner's service account makes.
"""

from .manifests import (
    ANNOTATION_EXPIRES_AT,
    ANNOTATION_LEARNER_NAME,
    LABEL_MANAGED_BY,
    LEARNER_SERVICE_ACCOUNT,
    MANAGED_BY,
    PLATFORM_LABELS,
    POD_SECURITY_PREFIX,
)

GUARD_POLICY_NAME = "labplatform-learner-namespace-guard"
FINALIZER_POLICY_NAME = "labplatform-learner-finalizer-guard"
LEARNER_USER_CONDITION = {
    "name": "learner-service-account",
    "expression": (
        "request.userInfo.username.startsWith('system:serviceaccount:') && "
        f"request.userInfo.username.endsWith(':{LEARNER_SERVICE_ACCOUNT}')"
    ),
}


def _cel_list(items) -> str:
    return "[" + ", ".join(f"'{item}'" for item in items) + "]"


def make_namespace_guard_policy() -> dict:
    ranks = "{'privileged': 0, 'baseline': 1, 'restricted': 2}"
    modes = _cel_list(["enforce", "warn", "audit"])
    prefix = POD_SECURITY_PREFIX
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {
            "name": GUARD_POLICY_NAME,
            "labels": {LABEL_MANAGED_BY: MANAGED_BY},
        },
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["UPDATE"],
                        "resources": ["namespaces"],
                    }
                ],
                "objectSelector": {"matchLabels": {LABEL_MANAGED_BY: MANAGED_BY}},
            },
            # Only learners are held to these rules; the platform itself
            # (and cluster admins) may relabel a namespace.
            "matchConditions": [LEARNER_USER_CONDITION],
            "variables": [
                {
                    "name": "oldLabels",
                    "expression": "has(oldObject.metadata.labels) ? oldObject.metadata.labels : {}",
                },
                {
                    "name": "newLabels",
                    "expression": "has(object.metadata.labels) ? object.metadata.labels : {}",
                },
                {
                    "name": "oldAnnotations",
                    "expression": "has(oldObject.metadata.annotations) ? "
                    "oldObject.metadata.annotations : {}",
                },
                {
                    "name": "newAnnotations",
                    "expression": "has(object.metadata.annotations) ? "
                    "object.metadata.annotations : {}",
                },
                {"name": "ranks", "expression": ranks},
            ],
            "validations": [
                {
                    "expression": (
                        f"{_cel_list(PLATFORM_LABELS)}.all(k, "
                        "(k in variables.oldLabels) == (k in variables.newLabels) && "
                        "(!(k in variables.oldLabels) || "
                        "variables.newLabels[k] == variables.oldLabels[k]))"
                    ),
                    "message": "The platform's labels on a lab namespace cannot be "
                    "changed or removed.",
                    "reason": "Forbidden",
                },
                {
                    "expression": (
                        f"{_cel_list([ANNOTATION_EXPIRES_AT, ANNOTATION_LEARNER_NAME])}"
                        ".all(k, (k in variables.oldAnnotations) == (k in variables.newAnnotations)"
                        " && (!(k in variables.oldAnnotations) || "
                        "variables.newAnnotations[k] == variables.oldAnnotations[k]))"
                    ),
                    "message": "The platform's annotations on a lab namespace cannot "
                    "be changed or removed.",
                    "reason": "Forbidden",
                },
                {
                    # A mode that was set may only stay or get stricter; a
                    # mode that was unset may be set to baseline or
                    # restricted. Removing a label or choosing privileged
                    # would weaken the namespace.
                    "expression": (
                        f"{modes}.all(m, !(('{prefix}' + m) in variables.oldLabels) ? "
                        f"(!(('{prefix}' + m) in variables.newLabels) || "
                        f"variables.newLabels['{prefix}' + m] in ['baseline', 'restricted']) : "
                        f"(('{prefix}' + m) in variables.newLabels && "
                        f"variables.newLabels['{prefix}' + m] in variables.ranks && "
                        f"variables.ranks[variables.newLabels['{prefix}' + m]] >= "
                        f"(variables.oldLabels['{prefix}' + m] in variables.ranks ? "
                        f"variables.ranks[variables.oldLabels['{prefix}' + m]] : 0)))"
                    ),
                    "messageExpression": (
                        "'Pod Security labels on a lab namespace may only be tightened: "
                        "set enforce, warn and audit to baseline or restricted, and do not "
                        "remove or lower a level that is already set.'"
                    ),
                    "reason": "Forbidden",
                },
                {
                    # An old policy version (enforce-version=v1.0) would
                    # quietly drop checks added since, so learners may only
                    # pin "latest" or leave a version as it was.
                    "expression": (
                        f"{modes}.all(m, !(('{prefix}' + m + '-version') in variables.newLabels)"
                        f" || variables.newLabels['{prefix}' + m + '-version'] == 'latest'"
                        f" || (('{prefix}' + m + '-version') in variables.oldLabels && "
                        f"variables.oldLabels['{prefix}' + m + '-version'] == "
                        f"variables.newLabels['{prefix}' + m + '-version']))"
                    ),
                    "message": "Pod Security version labels on a lab namespace may only be "
                    "set to latest.",
                    "reason": "Forbidden",
                },
                {
                    # A finalizer that no controller removes keeps the namespace in
                    # Terminating forever when the session ends.
                    "expression": (
                        "!has(object.metadata.finalizers) || "
                        "object.metadata.finalizers.all(f, has(oldObject.metadata.finalizers)"
                        " && f in oldObject.metadata.finalizers)"
                    ),
                    "message": "Finalizers cannot be added to a lab namespace.",
                    "reason": "Forbidden",
                },
            ],
        },
    }


def make_finalizer_guard_policy() -> dict:
    """Deny learners adding finalizers to any object in a lab namespace.

    Namespace deletion waits for every object's finalizers, so a learner
    could otherwise keep their namespace, and its quota, alive forever.
    """
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicy",
        "metadata": {
            "name": FINALIZER_POLICY_NAME,
            "labels": {LABEL_MANAGED_BY: MANAGED_BY},
        },
        "spec": {
            "failurePolicy": "Fail",
            "matchConstraints": {
                "resourceRules": [
                    {
                        "apiGroups": ["*"],
                        "apiVersions": ["*"],
                        "operations": ["CREATE", "UPDATE"],
                        "resources": ["*"],
                    }
                ],
                "namespaceSelector": {"matchLabels": {LABEL_MANAGED_BY: MANAGED_BY}},
            },
            "matchConditions": [LEARNER_USER_CONDITION],
            "validations": [
                {
                    "expression": (
                        "!has(object.metadata.finalizers) || "
                        "object.metadata.finalizers.all(f, oldObject != null && "
                        "has(oldObject.metadata.finalizers) && f in oldObject.metadata.finalizers)"
                    ),
                    "message": "Finalizers cannot be added in a lab namespace: nothing would "
                    "remove them, and the namespace could never be deleted.",
                    "reason": "Forbidden",
                }
            ],
        },
    }


def make_finalizer_guard_binding() -> dict:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {
            "name": FINALIZER_POLICY_NAME,
            "labels": {LABEL_MANAGED_BY: MANAGED_BY},
        },
        "spec": {"policyName": FINALIZER_POLICY_NAME, "validationActions": ["Deny"]},
    }


def make_namespace_guard_binding() -> dict:
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": {
            "name": GUARD_POLICY_NAME,
            "labels": {LABEL_MANAGED_BY: MANAGED_BY},
        },
        "spec": {"policyName": GUARD_POLICY_NAME, "validationActions": ["Deny"]},
    }
