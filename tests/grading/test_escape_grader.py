"""The "Container Escape Demonstration" grader, offline and on the local cluster."""

import copy
from pathlib import Path

import pytest
import yaml
from django.conf import settings

from labplatform.grading.checks import GradingContext, load_grader, run_checks

from ..helpers import kubectl

LAB = Path(settings.BASE_DIR) / "labs" / "container-escape"
START_POD = yaml.safe_load((LAB / "resources" / "00-escape.yaml").read_text())
FIXED_POD = yaml.safe_load((LAB / "solution" / "fixed-pod.yaml").read_text())

SPEC_CHECKS = (
    "not-privileged",
    "no-host-namespaces",
    "no-hostpath-volume",
    "no-added-capabilities",
    "no-unconfined-profiles",
    "proc-mount-default",
    "run-as-non-root",
    "run-as-user-not-root",
    "drop-all-capabilities",
    "no-privilege-escalation",
    "seccomp-runtime-default",
)
LIVE_CHECK = "host-not-exposed-live"
# What the starting pod gets wrong: privileged and hostPID, and no
# hardening at all. It sets no hostPath, procMount or runAsUser.
START_FAILURES = {
    "not-privileged",
    "no-host-namespaces",
    "no-added-capabilities",
    "no-unconfined-profiles",
    "run-as-non-root",
    "drop-all-capabilities",
    "no-privilege-escalation",
    "seccomp-runtime-default",
}

grader = load_grader(LAB)


def grade(objects: list[dict]) -> dict:
    """Run every check of the lab offline and return the results by check id."""
    context = GradingContext(
        namespace="offline",
        lab_slug="container-escape",
        offline_objects=copy.deepcopy(objects),
    )
    return {result.id: result for result in run_checks(grader.CHECKS, context)}


def failing(results: dict) -> set[str]:
    return {check_id for check_id, result in results.items() if result.status == "fail"}


def fixed_pod(**changes) -> dict:
    """Return the solution pod with changes at paths such as spec__hostPID.

    Path parts are separated by "__", and a number indexes a list. None
    deletes the field.
    """
    pod = copy.deepcopy(FIXED_POD)
    for path, value in changes.items():
        target = pod
        *parents, leaf = path.split("__")
        for key in parents:
            target = target[int(key)] if key.isdigit() else target.setdefault(key, {})
        if value is None:
            target.pop(leaf, None)
        else:
            target[leaf] = value
    return pod


def as_deployment(pod: dict) -> dict:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": pod["metadata"]["name"]},
        "spec": {
            "selector": {"matchLabels": pod["metadata"]["labels"]},
            "template": {
                "metadata": {"labels": pod["metadata"]["labels"]},
                "spec": pod["spec"],
            },
        },
    }


def test_grader_has_every_check():
    assert [item.id for item in grader.CHECKS] == [*SPEC_CHECKS, LIVE_CHECK]


def test_solution_passes_spec_checks():
    results = grade([FIXED_POD])

    for check_id in SPEC_CHECKS:
        assert results[check_id].status == "pass", results[check_id]
        assert 'Pod "escape"' in results[check_id].observed
    assert results[LIVE_CHECK].status == "not_available"
    assert "Pods do not run" in results[LIVE_CHECK].observed


def test_starting_pod_fails_with_hints():
    results = grade([START_POD])

    assert failing(results) == START_FAILURES
    for check_id in START_FAILURES:
        assert results[check_id].hint, check_id
        assert 'Pod "escape"' in results[check_id].observed, check_id
    assert results[LIVE_CHECK].status == "not_available"


def test_starting_pod_observations_name_container():
    results = grade([START_POD])

    assert results["not-privileged"].observed == (
        'Pod "escape": container "shell" must not set securityContext.privileged=true.'
    )
    assert results["no-host-namespaces"].observed == ('Pod "escape": hostPID=true.')
    assert results["no-added-capabilities"].observed == (
        'Pod "escape": container "shell" is privileged, which grants every capability.'
    )
    assert "no seccomp filter" in results["no-unconfined-profiles"].observed
    assert results["drop-all-capabilities"].observed == (
        'Pod "escape": container "shell" does not drop "ALL".'
    )


def test_every_check_can_fail_with_hint():
    """A namespace with every bad setting fails every spec check."""
    worst = copy.deepcopy(START_POD)
    worst["metadata"]["annotations"] = {
        "container.apparmor.security.beta.kubernetes.io/shell": "unconfined"
    }
    worst["spec"]["securityContext"] = {"runAsUser": 0}
    worst["spec"]["volumes"] = [{"name": "host", "hostPath": {"path": "/"}}]
    worst["spec"]["containers"][0]["securityContext"].update(
        {"procMount": "Unmasked", "capabilities": {"add": ["SYS_PTRACE"]}}
    )

    results = grade([worst])

    assert failing(results) == set(SPEC_CHECKS)
    for check_id in SPEC_CHECKS:
        assert results[check_id].hint, check_id


def test_hints_show_yaml_fix():
    for item in grader.CHECKS:
        if item.id != LIVE_CHECK:
            assert "`" in item.hint, f"{item.id} hint has no YAML to copy"


def test_empty_namespace_has_nothing_to_grade():
    results = grade([])

    assert failing(results) == set(SPEC_CHECKS)
    assert "nothing to grade" in results["not-privileged"].observed
    assert results[LIVE_CHECK].status == "not_available"


PARTIAL_FIXES = {
    # Privileged removed, hostPID kept.
    "hostpid-only": (
        [fixed_pod(spec__hostPID=True)],
        {"no-host-namespaces"},
    ),
    # hostPID removed, the container still privileged and unhardened.
    "privileged-only": (
        [fixed_pod(spec__containers__0__securityContext={"privileged": True})],
        {
            "not-privileged",
            "no-added-capabilities",
            "no-unconfined-profiles",
            "drop-all-capabilities",
            "no-privilege-escalation",
        },
    ),
    "drop-lowercase-all": (
        [
            fixed_pod(
                spec__containers__0__securityContext__capabilities={"drop": ["all"]}
            )
        ],
        {"drop-all-capabilities"},
    ),
    "added-cap-sys-admin": (
        [
            fixed_pod(
                spec__containers__0__securityContext__capabilities={
                    "drop": ["ALL"],
                    "add": ["cap_sys_admin"],
                }
            )
        ],
        {"no-added-capabilities"},
    ),
    # CAP_CHOWN is CHOWN, which the default set contains.
    "added-cap-chown": (
        [
            fixed_pod(
                spec__containers__0__securityContext__capabilities={
                    "drop": ["ALL"],
                    "add": ["CAP_CHOWN", "NET_BIND_SERVICE"],
                }
            )
        ],
        set(),
    ),
    "container-not-non-root": (
        [fixed_pod(spec__containers__0__securityContext__runAsNonRoot=False)],
        {"run-as-non-root"},
    ),
    "container-runs-as-root": (
        [fixed_pod(spec__containers__0__securityContext__runAsUser=0)],
        {"run-as-user-not-root"},
    ),
    # Pod Security waives these in a user namespace, but this lab does not.
    "user-namespace-without-non-root": (
        [
            fixed_pod(
                spec__hostUsers=False,
                spec__securityContext__runAsNonRoot=None,
                spec__securityContext__runAsUser=0,
            )
        ],
        {"run-as-non-root", "run-as-user-not-root"},
    ),
    "seccomp-unconfined": (
        [
            fixed_pod(
                spec__containers__0__securityContext__seccompProfile={
                    "type": "Unconfined"
                }
            )
        ],
        {"no-unconfined-profiles", "seccomp-runtime-default"},
    ),
    "seccomp-unset": (
        [fixed_pod(spec__securityContext__seccompProfile=None)],
        {"seccomp-runtime-default"},
    ),
    "apparmor-annotation": (
        [
            fixed_pod(
                metadata__annotations={
                    "container.apparmor.security.beta.kubernetes.io/shell": "unconfined"
                }
            )
        ],
        {"no-unconfined-profiles"},
    ),
    "host-path": (
        [fixed_pod(spec__volumes=[{"name": "host", "hostPath": {"path": "/"}}])],
        {"no-hostpath-volume"},
    ),
    "proc-mount-unmasked": (
        [
            fixed_pod(
                spec__hostUsers=False,
                spec__containers__0__securityContext__procMount="Unmasked",
            )
        ],
        {"proc-mount-default"},
    ),
    "escalation-allowed": (
        [
            fixed_pod(
                spec__containers__0__securityContext__allowPrivilegeEscalation=True
            )
        ],
        {"no-privilege-escalation"},
    ),
    # The pod-level runAsNonRoot and seccompProfile cover the init
    # container, but its container-level settings are missing.
    "bare-init-container": (
        [fixed_pod(spec__initContainers=[{"name": "setup", "image": "busybox:1.37"}])],
        {"drop-all-capabilities", "no-privilege-escalation"},
    ),
    "privileged-debug-container": (
        [
            fixed_pod(
                spec__ephemeralContainers=[
                    {
                        "name": "debugger",
                        "image": "busybox:1.37",
                        "securityContext": {"privileged": True},
                    }
                ]
            )
        ],
        {
            "not-privileged",
            "no-added-capabilities",
            "no-unconfined-profiles",
            "drop-all-capabilities",
            "no-privilege-escalation",
        },
    ),
    # A fixed pod does not excuse a bad Deployment next to it.
    "bad-deployment-beside-fixed-pod": (
        [FIXED_POD, as_deployment(fixed_pod(spec__hostNetwork=True))],
        {"no-host-namespaces"},
    ),
    "fixed-deployment": (
        [as_deployment(FIXED_POD)],
        set(),
    ),
}


@pytest.mark.parametrize("case", sorted(PARTIAL_FIXES))
def test_partial_fix_fails_expected_checks(case):
    objects, expected = PARTIAL_FIXES[case]

    results = grade(objects)

    assert failing(results) == expected
    assert results[LIVE_CHECK].status == "not_available"


def test_init_container_named_in_observed():
    objects, _ = PARTIAL_FIXES["bare-init-container"]

    results = grade(objects)

    assert results["no-privilege-escalation"].observed == (
        'Pod "escape": container "setup" must set '
        "securityContext.allowPrivilegeEscalation=false."
    )
    assert results["drop-all-capabilities"].observed == (
        'Pod "escape": init container "setup" does not drop "ALL".'
    )


def test_debug_container_named_in_observed():
    objects, _ = PARTIAL_FIXES["privileged-debug-container"]

    results = grade(objects)

    assert results["no-added-capabilities"].observed == (
        'Pod "escape": ephemeral container "debugger" is privileged, which grants '
        "every capability."
    )


def test_capability_spelling_in_observed():
    lowercase, _ = PARTIAL_FIXES["drop-lowercase-all"]
    sys_admin, _ = PARTIAL_FIXES["added-cap-sys-admin"]

    assert grade(lowercase)["drop-all-capabilities"].observed == (
        'Pod "escape": container "shell" drops "all", which Pod Security does not '
        'accept as "ALL".'
    )
    assert grade(sys_admin)["no-added-capabilities"].observed == (
        'Pod "escape": container "shell" adds SYS_ADMIN (written "cap_sys_admin").'
    )


def test_deployment_named_in_observed():
    objects, _ = PARTIAL_FIXES["bad-deployment-beside-fixed-pod"]

    results = grade(objects)

    assert results["no-host-namespaces"].observed == (
        'Deployment "escape": hostNetwork=true.'
    )


@pytest.mark.parametrize(
    ("exit_code", "output", "spec", "isolated"),
    [
        (0, "2049:131\n2049:131\n", {}, True),
        (0, "2049:131\n64768:2\n", {"hostPID": True}, False),
        (0, "2049:131\n64768:2\n", {"shareProcessNamespace": True}, True),
        (
            1,
            "stat: can't stat '/proc/1/root/': Permission denied\n2049:131\n",
            {"hostPID": True},
            True,
        ),
    ],
    ids=["own-root", "node-root", "pause-process", "denied"],
)
def test_probe_verdict(exit_code, output, spec, isolated):
    verdict, explanation = grader.probe_verdict(
        exit_code=exit_code, output=output, spec=spec
    )

    assert verdict is isolated
    assert explanation


def test_probe_verdict_rejects_odd_output():
    with pytest.raises(grader.ProbeFailed, match="exited with 126"):
        grader.probe_verdict(exit_code=126, output="stat: not found", spec={})


@pytest.mark.cluster
@pytest.mark.django_db(transaction=True)
def test_grades_live_namespace(start_ready_session, make_learner, control_plane):  # noqa: F811
    session = start_ready_session(make_learner("lamarr"), "container-escape")
    namespace = session.namespace

    def grade_live() -> dict:
        context = GradingContext(namespace=namespace, lab_slug="container-escape")
        return {result.id: result for result in run_checks(grader.CHECKS, context)}

    before = grade_live()
    assert failing(before) == START_FAILURES
    assert before[LIVE_CHECK].status == "not_available"
    assert "Pods do not run on this cluster" in before[LIVE_CHECK].observed

    deleted = kubectl(
        control_plane,
        "delete",
        "pod",
        "escape",
        "-n",
        namespace,
        "--now",
        "--wait=true",
    )
    assert deleted.returncode == 0, deleted.stderr
    applied = kubectl(
        control_plane,
        "apply",
        "-n",
        namespace,
        "-f",
        str(LAB / "solution" / "fixed-pod.yaml"),
    )
    assert applied.returncode == 0, applied.stderr

    after = grade_live()
    assert failing(after) == set()
    for check_id in SPEC_CHECKS:
        assert after[check_id].status == "pass", after[check_id]
    assert after[LIVE_CHECK].status == "not_available"
