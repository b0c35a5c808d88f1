"""Checks for lab 1, "Harden an insecure container".

Five checks read the Dockerfile that the learner submitted with
`lab submit Dockerfile` and judge the final stage, the image a build
produces. Four read the "web" Deployment's pod template, resolving
pod-level and container-level securityContext fields as Kubernetes does.
attack_surface() summarises one Dockerfile for the before/after panel.
"""

import posixpath
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from labplatform.grading.checks import (
    Finding,
    GradingContext,
    Status,
    check,
    failed,
    passed,
)
from labplatform.grading.dockerfile import (
    Dockerfile,
    DockerfileError,
    Instruction,
    Stage,
    parse_dockerfile,
)
from labplatform.grading.hadolint import run_hadolint
from labplatform.grading.images import (
    DISTROLESS_SUPPORTED_DEBIAN,
    BaseImage,
    describe_size,
    identify_image,
)

DEPLOYMENT_NAME = "web"
SUBMIT_COMMAND = "lab submit Dockerfile"

# Command word -> the subcommands that install packages.
INSTALL_SUBCOMMANDS = {
    "apt-get": {"install"},
    "apt": {"install"},
    "aptitude": {"install"},
    "apk": {"add"},
    "yum": {"install"},
    "dnf": {"install"},
    "microdnf": {"install"},
    "tdnf": {"install"},
    "zypper": {"install", "in"},
}
PIP_COMMAND = re.compile(r"pip(\d+(\.\d+)?)?")
PYTHON_COMMAND = re.compile(r"python(\d+(\.\d+)?)?")
DOWNLOAD_TOOLS = frozenset({"curl", "wget"})
SHELLS = frozenset({"sh", "bash", "ash", "dash", "zsh", "busybox"})
# Words that run the next word as the command.
COMMAND_PREFIXES = frozenset(
    {"sudo", "env", "exec", "command", "nice", "nohup", "time"}
)
SHELL_OPERATORS = frozenset(";&|()<>")

SHELL_FORM_CONSEQUENCES = (
    "Docker then starts it as /bin/sh -c, so the shell is PID 1: signals such "
    "as SIGTERM go to the shell and do not reach the app, which cannot shut "
    "down cleanly. A distroless image has no /bin/sh at all, so the container "
    "would not even start."
)


# --- the submitted Dockerfile -------------------------------------------------


def _submitted_dockerfile(context: GradingContext) -> Dockerfile | Finding:
    """Return the parsed submission, or a failed Finding that names the next step."""

    def load() -> Dockerfile | Finding:
        text = context.submitted_file("Dockerfile")
        if text is None:
            return failed(
                "No Dockerfile has been submitted yet. Run "
                f"`{SUBMIT_COMMAND}` in ~/lab, then check again."
            )
        try:
            return parse_dockerfile(text)
        except DockerfileError as error:
            return failed(f"The submitted Dockerfile could not be parsed: {error}")

    return context.cached("dockerfile", load)


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _final_stage_phrase(stage: Stage) -> str:
    return f"The final stage (FROM {stage.base}, line {stage.base_line})"


def _from_phrase(stage: Stage) -> str:
    """Describe a stage's base, naming the stage chain and any ARG substitution."""
    written = stage.instructions[0].value.split()[0]
    phrase = f"FROM {written} at line {stage.base_line}"
    if written != stage.base:
        phrase += f", which resolves to {stage.base}"
    if stage.base_stage is not None:
        phrase += f", a stage built on {stage.image}"
    return phrase


# --- the image's user ---------------------------------------------------------


@dataclass(frozen=True)
class ImageUser:
    """The user that the final image runs as, and where that user comes from.

    is_root is None when the grader cannot tell. numeric is True when
    the user part is a number, which is what runAsNonRoot can verify.
    """

    value: str
    uid: int | None
    is_root: bool | None
    numeric: bool
    source: str
    line: int
    problem: str = ""


def effective_user(dockerfile: Dockerfile) -> ImageUser:
    """Work out the final image's user: its last USER, inherited, or the base's."""
    stage = dockerfile.final_stage
    image = identify_image(stage.image)
    if stage.user is None:
        return _default_user(stage, image)

    source = f"USER {stage.user_written} at line {stage.user_line}"
    if stage.user_inherited:
        source += f", inherited from stage {stage.base!r}"
    if stage.user != stage.user_written:
        source += f", which resolves to {stage.user!r}"
    user_part, _, _group = stage.user.partition(":")
    common = {"value": stage.user, "source": source, "line": stage.user_line or 0}

    if not stage.user:
        return ImageUser(
            **common,
            uid=0,
            is_root=True,
            numeric=False,
            problem="the value is empty, so the image keeps running as root",
        )
    if any(char.isspace() for char in stage.user):
        return ImageUser(
            **common,
            uid=None,
            is_root=None,
            numeric=False,
            problem="the value contains a space. Docker takes the whole rest of the "
            "line as the user, an inline '# comment' included, so the "
            "container would fail to start. Put the comment on its own line",
        )
    if user_part.isascii() and user_part.isdigit():
        uid = int(user_part)
        return ImageUser(**common, uid=uid, is_root=uid == 0, numeric=True)
    if user_part == "root":
        return ImageUser(**common, uid=0, is_root=True, numeric=False)
    if user_part in image.users:
        return ImageUser(
            **common, uid=image.users[user_part], is_root=False, numeric=False
        )
    if image.family == "scratch":
        problem = (
            f"scratch has no /etc/passwd, so the name {user_part!r} cannot be "
            "resolved and the container would not start. Use a numeric UID "
            "such as 65532"
        )
    else:
        problem = (
            f"{user_part!r} is a name that the grader cannot map to a UID on "
            f"{stage.image}, so it cannot confirm that it is not root. Use a "
            "numeric UID such as 65532"
        )
    return ImageUser(**common, uid=None, is_root=None, numeric=False, problem=problem)


def _default_user(stage: Stage, image: BaseImage) -> ImageUser:
    common = {"line": stage.base_line}
    if image.default_user is None:
        return ImageUser(
            **common,
            value="",
            uid=None,
            is_root=None,
            numeric=False,
            source=f"no USER, and the grader does not know the default user of "
            f"{stage.image}",
            problem="most images run as root unless told otherwise. Add USER 65532",
        )
    if image.default_user == "0":
        return ImageUser(
            **common,
            value="root",
            uid=0,
            is_root=True,
            numeric=False,
            source="no USER, the image default is root",
        )
    return ImageUser(
        **common,
        value=image.default_user,
        uid=int(image.default_user),
        is_root=False,
        numeric=True,
        source=f"no USER, so the default user of {stage.image} "
        f"({image.default_user}) applies",
    )


# --- what the final stage installs --------------------------------------------


@dataclass(frozen=True)
class InstallFinding:
    """One RUN instruction that installs packages or uses a download tool."""

    line: int
    stage: Stage
    manager: str
    packages: tuple[str, ...]
    # Download tools that the RUN installs or runs (which means the image has them).
    download_tools: tuple[str, ...]
    invoked_tools: tuple[str, ...] = ()

    def describe(self, final_stage: Stage) -> str:
        """Return sentences naming the RUN line, what it installs and the tools."""
        parts = []
        if self.manager:
            listed = ", ".join(self.packages) or "packages"
            parts.append(f"installs {listed} with {self.manager}")
        if self.invoked_tools:
            parts.append(f"runs {', '.join(self.invoked_tools)}")
        where = f"RUN at line {self.line}"
        if self.stage is not final_stage:
            stage = repr(self.stage.name) if self.stage.name else self.stage.index
            where += f" (in stage {stage}, which the final stage starts FROM)"
        text = f"{where} " + " and ".join(parts) + "."
        if self.download_tools:
            text += f" Download tools: {', '.join(self.download_tools)}."
        return text


def install_findings(stage: Stage) -> list[InstallFinding]:
    """Find package installs and download tools in the RUNs an image contains.

    A stage that starts FROM an earlier stage contains everything that
    stage installed, so the whole FROM chain is scanned.
    """
    findings = []
    for member in reversed(stage.lineage):
        for instruction in member.instructions:
            if instruction.keyword != "RUN":
                continue
            finding = _scan_run(instruction, member)
            if finding is not None:
                findings.append(finding)
    return findings


def _scan_run(instruction: Instruction, stage: Stage) -> InstallFinding | None:
    managers: list[str] = []
    packages: list[str] = []
    tools: set[str] = set()
    invoked: set[str] = set()
    for words in _run_commands(instruction):
        manager, installed = _installed_packages(words)
        if manager:
            managers.append(manager)
            packages.extend(installed)
        tools.update(
            name for name in map(_package_name, installed) if name in DOWNLOAD_TOOLS
        )
        command = posixpath.basename(words[0])
        if command in DOWNLOAD_TOOLS:
            invoked.add(command)

    if not managers and not tools and not invoked:
        return None
    return InstallFinding(
        line=instruction.line,
        stage=stage,
        manager=", ".join(dict.fromkeys(managers)),
        packages=tuple(dict.fromkeys(packages)),
        download_tools=tuple(sorted(tools | invoked)),
        invoked_tools=tuple(sorted(invoked)),
    )


def _package_name(package: str) -> str:
    """Strip a version pin: curl=8.5.0-r0, requests==2.32 or requests>=2."""
    return re.split(r"[=<>~@!]", package, maxsplit=1)[0]


def _run_commands(instruction: Instruction) -> Iterator[list[str]]:
    """Yield the simple commands of a RUN, heredoc scripts included."""
    if instruction.exec_form is not None:
        if instruction.exec_form:
            yield list(instruction.exec_form)
        return
    yield from _shell_commands(instruction.value)
    if _runs_heredoc_as_script(instruction.value):
        for heredoc in instruction.heredocs:
            if not _has_foreign_shebang(heredoc.body):
                yield from _shell_commands(heredoc.body)


def _runs_heredoc_as_script(value: str) -> bool:
    """Return True when a RUN hands its heredoc to a shell (RUN <<EOF, bash <<EOF)."""
    first = value.split()[0] if value.split() else ""
    return "<<" in first or posixpath.basename(first) in SHELLS


def _has_foreign_shebang(body: str) -> bool:
    first_line = body.split("\n", 1)[0]
    if not first_line.startswith("#!"):
        return False
    interpreter = first_line[2:].split()
    if interpreter and posixpath.basename(interpreter[0]) == "env":
        interpreter = interpreter[1:]
    return bool(interpreter) and posixpath.basename(interpreter[0]) not in SHELLS


def _shell_commands(script: str) -> Iterator[list[str]]:
    """Split a shell script into simple commands at ;, &&, ||, | and newlines."""
    script = script.replace("\\\n", " ")
    for line in script.split("\n"):
        lexer = shlex.shlex(
            line, posix=True, punctuation_chars="".join(SHELL_OPERATORS)
        )
        lexer.whitespace_split = True
        # shlex would start a comment at any "#", but the shell only does so
        # at the start of a word (so a URL with a fragment stays whole).
        lexer.commenters = ""
        try:
            tokens = list(lexer)
        except ValueError:
            # An unclosed quote: the build would fail, so plain words will do.
            tokens = line.split()
        words: list[str] = []
        for token in tokens:
            if token.startswith("#"):
                break
            if set(token) <= SHELL_OPERATORS:
                if words:
                    yield words
                words = []
            else:
                words.append(token)
        if words:
            yield words


def _installed_packages(words: list[str]) -> tuple[str, list[str]]:
    """Return (package manager, packages) for an install command, else ("", [])."""
    while words and (
        ("=" in words[0] and not words[0].startswith("-"))
        or words[0] in COMMAND_PREFIXES
    ):
        words = words[1:]
    if not words:
        return "", []

    command = posixpath.basename(words[0])
    rest = words[1:]
    if PYTHON_COMMAND.fullmatch(command) and rest[:2] == ["-m", "pip"]:
        command, rest = "pip", rest[2:]
    if PIP_COMMAND.fullmatch(command):
        subcommands = {"install"}
    else:
        subcommands = INSTALL_SUBCOMMANDS.get(command, set())

    for index, word in enumerate(rest):
        if word in subcommands:
            packages = [
                word
                for word in rest[index + 1 :]
                if not word.startswith("-") and not word.isdigit()
            ]
            return command, packages
    return "", []


# --- the web Deployment -------------------------------------------------------


def _web_deployment(context: GradingContext) -> dict | Finding:
    deployments = context.objects("Deployment")
    for deployment in deployments:
        if (deployment.get("metadata") or {}).get("name") == DEPLOYMENT_NAME:
            return deployment
    others = sorted((d.get("metadata") or {}).get("name", "?") for d in deployments)
    found = f" (found: {', '.join(others)})" if others else ""
    return failed(
        f"There is no Deployment named {DEPLOYMENT_NAME!r} in your "
        f"namespace{found}. Apply the lab's manifest with kubectl apply."
    )


def _pod_spec(deployment: dict) -> dict:
    return ((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}


def _containers(spec: dict) -> list[dict]:
    return [*(spec.get("initContainers") or ()), *(spec.get("containers") or ())]


def _container_context(container: dict) -> dict:
    return container.get("securityContext") or {}


def _resolved(spec: dict, container: dict, name: str) -> tuple[object, str]:
    """Return a field's value as Kubernetes resolves it, and the level that set it.

    A container-level value overrides the pod-level one.
    """
    container_value = _container_context(container).get(name)
    if container_value is not None:
        return container_value, "container"
    pod_value = (spec.get("securityContext") or {}).get(name)
    if pod_value is not None:
        return pod_value, "pod"
    return None, ""


def _container_check(context: GradingContext, problem_of, success: str) -> Finding:
    """Run problem_of(spec, container) on every container of the web Deployment."""
    deployment = _web_deployment(context)
    if isinstance(deployment, Finding):
        return deployment
    spec = _pod_spec(deployment)
    containers = _containers(spec)
    if not containers:
        return failed(
            f"The {DEPLOYMENT_NAME!r} Deployment's pod template has no containers."
        )

    problems = []
    for container in containers:
        problem = problem_of(spec, container)
        if problem:
            problems.append(f"container {container.get('name', '?')!r}: {problem}")
    if problems:
        return failed("; ".join(problems) + ".")
    return passed(success)


def _refused_pods(context: GradingContext, deployment: dict) -> list[str]:
    """Return kubelet messages for the Deployment's pods refused by runAsNonRoot.

    Such a pod is admitted but never runs, which is not a pass. Pods that
    are still pending (as on a cluster that schedules nothing) report no
    container status and are not counted.
    """
    selector = ((deployment.get("spec") or {}).get("selector") or {}).get(
        "matchLabels"
    ) or {}
    messages = []
    for pod in context.objects("Pod"):
        labels = (pod.get("metadata") or {}).get("labels") or {}
        matches = all(labels.get(key) == value for key, value in selector.items())
        if not selector or not matches:
            continue
        status = pod.get("status") or {}
        for container_status in [
            *(status.get("initContainerStatuses") or ()),
            *(status.get("containerStatuses") or ()),
        ]:
            waiting = (container_status.get("state") or {}).get("waiting") or {}
            message = waiting.get("message") or ""
            if "runAsNonRoot" in message:
                name = (pod.get("metadata") or {}).get("name", "?")
                messages.append(f"{name}: {message}")
    return messages


def _run_as_users(context: GradingContext) -> list[int] | None:
    """Return the runAsUser of each container of web, or None unless all are > 0."""
    deployment = _web_deployment(context)
    if isinstance(deployment, Finding):
        return None
    spec = _pod_spec(deployment)
    uids = [
        _resolved(spec, container, "runAsUser")[0] for container in _containers(spec)
    ]
    for uid in uids:
        if isinstance(uid, bool) or not isinstance(uid, int) or uid <= 0:
            return None
    return uids or None


# --- Dockerfile checks --------------------------------------------------------


@check(
    id="final-base-minimal",
    title="The final stage builds on distroless or scratch",
    hint="Compile in an earlier stage, then start the last stage FROM "
    "gcr.io/distroless/static-debian12:nonroot (a debian13 distroless image, a "
    "Chainguard image without -dev, or scratch also work). These bases have no "
    "shell and no package manager, so an attacker who runs code in the container "
    "finds no tools. The :debug tags ship a busybox shell and do not count. Run "
    f"`{SUBMIT_COMMAND}` again after each change.",
)
def final_base_minimal(context: GradingContext) -> Finding:
    dockerfile = _submitted_dockerfile(context)
    if isinstance(dockerfile, Finding):
        return dockerfile
    stage = dockerfile.final_stage
    image = identify_image(stage.image)
    where = f"The final stage ({_from_phrase(stage)})"
    tag_note = ""
    if image.uses_latest_tag:
        tag = "is latest" if image.tag else "is missing, which means latest"
        tag_note = (
            f" The tag of {stage.image} {tag}, and latest moves with every "
            "release. Pin a version tag or a digest so that rebuilds are "
            "repeatable."
        )

    if image.family == "scratch":
        return passed(f"{where} is empty: no shell, no package manager, no files.")
    if image.family == "distroless":
        if image.has_shell is None:
            return failed(
                f"{where} names a distroless image by digest alone, so the "
                "grader cannot tell whether it is a debug variant. Write the "
                "tag next to the digest, such as "
                "static-debian12:nonroot@sha256:...."
            )
        if image.has_shell:
            return failed(
                f"{where} uses the {image.tag} tag, which ships a busybox "
                "shell. Use the nonroot tag instead." + tag_note
            )
        release = image.debian_release
        if release and release not in DISTROLESS_SUPPORTED_DEBIAN:
            return failed(
                f"{where} is built on Debian {image.debian_release}, which "
                "no longer gets distroless updates. Use a -debian12 or "
                "-debian13 image." + tag_note
            )
        return passed(
            f"{where} is distroless: no shell and no package manager." + tag_note
        )
    if image.family == "chainguard":
        if image.has_shell or image.default_user is None:
            return failed(
                f"{where} ships a shell and apk; the -dev variants and "
                "wolfi-base are meant for build stages." + tag_note
            )
        return passed(f"{where} is a Chainguard image without a shell." + tag_note)
    if image.family == "distribution":
        manager = f" and {image.package_manager}" if image.package_manager else ""
        return failed(
            f"{where} is a full image with a shell{manager}, not distroless "
            "or scratch." + tag_note
        )
    return failed(
        f"{where} is not a distroless, Chainguard or scratch image that the "
        "grader knows." + tag_note
    )


@check(
    id="image-user-non-root",
    title="The image runs as a non-root user",
    hint="Make USER 65532:65532 the last USER of the final stage. Without USER the "
    "container runs as the base image's user, which is root for most images, and "
    "USER 0, root, 0:0 or root:root all mean root. A USER in a build stage does "
    "not carry over to a final stage that starts FROM another image. Run "
    f"`{SUBMIT_COMMAND}` again after each change.",
)
def image_user_non_root(context: GradingContext) -> Finding:
    dockerfile = _submitted_dockerfile(context)
    if isinstance(dockerfile, Finding):
        return dockerfile
    stage = dockerfile.final_stage
    user = effective_user(dockerfile)
    where = _final_stage_phrase(stage)

    if user.is_root:
        reason = f": {user.problem}" if user.problem else ""
        return failed(
            f"{where}: {user.source}, so the container runs as root (UID 0){reason}."
        )
    if user.is_root is None:
        return failed(f"{where}: {user.source}. {_sentence(user.problem)}.")
    return passed(f"{where}: {user.source}, a non-root user (UID {user.uid}).")


@check(
    id="image-user-numeric",
    title="runAsNonRoot can verify the image's user",
    hint="Write the user as a number, such as USER 65532:65532. With runAsNonRoot: "
    "true, the kubelet checks the image's user before it starts the container, "
    "and it can only check a number. With a name such as USER app and no "
    "runAsUser, the pod is admitted but its container never starts. A non-zero "
    "runAsUser in the pod's securityContext fixes it too.",
)
def image_user_numeric(context: GradingContext) -> Finding:
    dockerfile = _submitted_dockerfile(context)
    if isinstance(dockerfile, Finding):
        return dockerfile
    user = effective_user(dockerfile)
    where = _final_stage_phrase(dockerfile.final_stage)
    run_as_users = _run_as_users(context)

    if user.numeric and user.uid:
        return passed(f"{where}: {user.source}, a numeric UID the kubelet can verify.")
    if run_as_users is not None:
        shown = ", ".join(str(uid) for uid in sorted(set(run_as_users)))
        return passed(
            f"{where}: {user.source}. The {DEPLOYMENT_NAME!r} Deployment "
            f"sets runAsUser {shown} for every container, which the "
            "kubelet verifies instead."
        )
    if user.is_root:
        return failed(
            f"{where}: {user.source}. With runAsNonRoot: true the kubelet "
            "refuses to start a container that would run as root."
        )
    if user.problem and user.uid is None and " " in user.value:
        return failed(f"{where}: {user.source}. {_sentence(user.problem)}.")
    return failed(
        f"{where}: {user.source}, a user name rather than a number. With "
        "runAsNonRoot: true and no runAsUser, the kubelet cannot verify a name and "
        'refuses to start the container ("image has non-numeric user, cannot '
        'verify user is non-root"): the pod is admitted but never runs.'
    )


@check(
    id="no-package-tools",
    title="The final stage installs no package manager or download tool",
    hint="Do not RUN apt-get, apk, yum, dnf or pip installs, curl or wget in the "
    "final stage, or in a stage it starts FROM. Install and download in a build "
    "stage, then COPY --from=build only the files the app needs: whatever the "
    "final image contains is there for an attacker too. Run "
    f"`{SUBMIT_COMMAND}` again after each change.",
)
def no_package_tools(context: GradingContext) -> Finding:
    dockerfile = _submitted_dockerfile(context)
    if isinstance(dockerfile, Finding):
        return dockerfile
    stage = dockerfile.final_stage
    where = _final_stage_phrase(stage)
    findings = install_findings(stage)
    if findings:
        described = " ".join(finding.describe(stage) for finding in findings)
        return failed(f"{where} contains tools an attacker could use. {described}")

    runs = [
        i for member in stage.lineage for i in member.instructions if i.keyword == "RUN"
    ]
    observed = (
        f"{where} installs nothing and uses no download tool"
        if runs
        else f"{where} runs no commands; it only copies files in"
    )
    image = identify_image(stage.image)
    if image.package_manager:
        observed += (
            f". Its base {stage.image} still ships {image.package_manager}, "
            "which the base-image check reports"
        )
    return passed(observed + ".")


@check(
    id="exec-form-entrypoint",
    title="ENTRYPOINT and CMD use exec form",
    hint="Write ENTRYPOINT as a JSON array with double quotes, such as "
    'ENTRYPOINT ["/app/server"]. Shell form (ENTRYPOINT /app/server), or an '
    "array that is not valid JSON because of single quotes or a trailing comma, "
    "runs under /bin/sh -c: the shell becomes PID 1, SIGTERM does not reach the "
    "app, and distroless has no /bin/sh, so the container cannot start. Run "
    f"`{SUBMIT_COMMAND}` again after each change.",
)
def exec_form_entrypoint(context: GradingContext) -> Finding:
    dockerfile = _submitted_dockerfile(context)
    if isinstance(dockerfile, Finding):
        return dockerfile
    stage = dockerfile.final_stage
    where = _final_stage_phrase(stage)
    commands = [
        instruction
        for instruction in (stage.entrypoint, stage.cmd)
        if instruction is not None
    ]
    if not commands:
        return failed(
            f"{where} sets neither ENTRYPOINT nor CMD, so the container "
            "would run the base image's default command, if it has one."
        )

    problems = []
    for instruction in commands:
        if instruction.exec_form is not None:
            continue
        written = (
            f"{instruction.keyword} {instruction.value} at line {instruction.line}"
        )
        if instruction.json_problem:
            problems.append(
                f"{written} is not a JSON array "
                f"({instruction.json_problem}), so it is shell form"
            )
        else:
            problems.append(f"{written} is shell form")
    if problems:
        return failed(
            f"{where}: " + "; ".join(problems) + ". " + SHELL_FORM_CONSEQUENCES
        )

    if not any(instruction.exec_form for instruction in commands):
        return failed(
            f"{where}: the exec-form arrays are empty, so the container "
            "has no command to run."
        )
    written = " and ".join(f"{i.keyword} at line {i.line}" for i in commands)
    verb = "is" if len(commands) == 1 else "are"
    return passed(
        f"{where}: {written} {verb} in exec form, so the app itself is PID 1."
    )


# --- workload checks ----------------------------------------------------------


def _run_as_non_root_problem(spec: dict, container: dict) -> str:
    value, level = _resolved(spec, container, "runAsNonRoot")
    if value is not True:
        if value is None:
            return "runAsNonRoot is not set at pod or container level"
        return f"runAsNonRoot is {value!r} at {level} level"
    uid, uid_level = _resolved(spec, container, "runAsUser")
    if uid == 0:
        return (
            f"runAsUser is 0 at {uid_level} level, so the kubelet would refuse "
            "to start it"
        )
    return ""


@check(
    id="workload-run-as-non-root",
    title="The web Deployment requires runAsNonRoot",
    hint="In the web Deployment, set runAsNonRoot: true and runAsUser: 65532 in the "
    "pod's securityContext (spec.template.spec.securityContext). The kubelet then "
    "refuses to start any container that would run as UID 0, whatever the image "
    "says. A container-level runAsNonRoot: false overrides the pod level.",
)
def workload_run_as_non_root(context: GradingContext) -> Finding:
    finding = _container_check(
        context,
        _run_as_non_root_problem,
        f"runAsNonRoot is true for every container of {DEPLOYMENT_NAME!r}.",
    )
    deployment = _web_deployment(context)
    if isinstance(deployment, Finding) or finding.status != Status.PASS:
        return finding
    refused = _refused_pods(context, deployment)
    if refused:
        return failed(
            "The Deployment's spec is right, but the kubelet refused to "
            "start its pods, so they are admitted and not running.",
            detail="\n".join(refused),
        )
    return finding


def _read_only_problem(spec: dict, container: dict) -> str:
    value = _container_context(container).get("readOnlyRootFilesystem")
    if value is True:
        return ""
    return "readOnlyRootFilesystem is " + ("not set" if value is None else repr(value))


@check(
    id="workload-read-only-root",
    title="Every container has a read-only root filesystem",
    hint="Set readOnlyRootFilesystem: true in each container's securityContext of the "
    "web Deployment. An attacker then cannot drop tools into the container or "
    "change its binaries. If an app must write, mount an emptyDir at that path.",
)
def workload_read_only_root(context: GradingContext) -> Finding:
    return _container_check(
        context,
        _read_only_problem,
        f"readOnlyRootFilesystem is true for every container of {DEPLOYMENT_NAME!r}.",
    )


def _privilege_escalation_problem(spec: dict, container: dict) -> str:
    security_context = _container_context(container)
    if security_context.get("privileged") is True:
        return "privileged is true, which always allows privilege escalation"
    value = security_context.get("allowPrivilegeEscalation")
    if value is False:
        return ""
    # Unset means allowed: Kubernetes defaults it to true.
    shown = "not set" if value is None else repr(value)
    return f"allowPrivilegeEscalation is {shown}"


@check(
    id="workload-no-privilege-escalation",
    title="Every container sets allowPrivilegeEscalation: false",
    hint="Set allowPrivilegeEscalation: false in each container's securityContext of "
    "the web Deployment. It sets no_new_privs, so setuid binaries and file "
    "capabilities cannot raise the process's privileges. The field exists only "
    "at container level.",
)
def workload_no_privilege_escalation(context: GradingContext) -> Finding:
    return _container_check(
        context,
        _privilege_escalation_problem,
        f"allowPrivilegeEscalation is false for every container of "
        f"{DEPLOYMENT_NAME!r}.",
    )


def _capabilities_problem(spec: dict, container: dict) -> str:
    capabilities = _container_context(container).get("capabilities") or {}
    dropped = capabilities.get("drop") or []
    added = [
        name for name in capabilities.get("add") or [] if name != "NET_BIND_SERVICE"
    ]
    if "ALL" not in dropped:
        if any(str(name).upper() == "ALL" for name in dropped):
            return (
                f"capabilities.drop is {dropped}, but Pod Security compares "
                'case-sensitively and expects "ALL"'
            )
        return 'capabilities.drop does not contain "ALL"'
    if added:
        return f"capabilities.add puts back {', '.join(map(str, added))}"
    return ""


@check(
    id="workload-drops-all-capabilities",
    title="Every container drops all capabilities",
    hint='Set capabilities: {drop: ["ALL"]} in each container\'s securityContext of '
    "the web Deployment, with ALL in capitals. The server listens on port 8080 "
    "and needs no Linux capability; only an app that binds a port below 1024 "
    "would add back NET_BIND_SERVICE.",
)
def workload_drops_all_capabilities(context: GradingContext) -> Finding:
    return _container_check(
        context,
        _capabilities_problem,
        f"Every container of {DEPLOYMENT_NAME!r} drops ALL capabilities.",
    )


CHECKS = [
    final_base_minimal,
    image_user_non_root,
    image_user_numeric,
    no_package_tools,
    exec_form_entrypoint,
    workload_run_as_non_root,
    workload_read_only_root,
    workload_no_privilege_escalation,
    workload_drops_all_capabilities,
]


# --- the before/after panel ---------------------------------------------------


def attack_surface(dockerfile: Dockerfile) -> dict:
    """Summarise what an attacker would find in the image a Dockerfile builds.

    The size is the base image's published compressed size (an estimate,
    None when unknown); it leaves out what the Dockerfile adds. shell and
    package_manager are None when the base image is unknown.
    """
    stage = dockerfile.final_stage
    image = identify_image(stage.image)
    user = effective_user(dockerfile)
    installs = install_findings(stage)

    packages = [package for finding in installs for package in finding.packages]
    tools = sorted({tool for finding in installs for tool in finding.download_tools})
    managers = [finding.manager for finding in installs if finding.manager]
    shell = image.has_shell
    if any(posixpath.basename(package) in SHELLS for package in packages):
        shell = True
    package_manager = image.package_manager
    if not package_manager and managers:
        package_manager = managers[0]

    return {
        "base": stage.image,
        "base_family": image.family,
        "size_estimate_bytes": image.size_bytes,
        "size_estimate": describe_size(image.size_bytes),
        "shell": shell,
        "package_manager": package_manager,
        "user": user.value,
        "user_is_root": user.is_root,
        "user_source": user.source,
        "tools_installed": list(dict.fromkeys([*packages, *tools])),
        "hadolint": run_hadolint(dockerfile.source).to_dict(),
    }
