"""The lab page's editor: read and save the lab's files for one session.

Saving writes the file into the learner's workspace (where the terminal
finds it) and then acts on the cluster as the learner: a Dockerfile is
submitted to the grader's ConfigMap, manifests are applied with the
learner's own token, so RBAC and Pod Security admission judge them
exactly as they would a kubectl apply from the terminal.
"""

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.conf import settings

from labplatform.cluster import kube
from labplatform.cluster.manifests import LEARNER_SERVICE_ACCOUNT
from labplatform.content.catalog import EditorFile, Lab
from labplatform.content.safe_yaml import load_all_untrusted
from labplatform.grading.checks import SUBMISSION_CONFIGMAP
from labplatform.terminal import safefs
from labplatform.terminal.workspace import sandbox_host_uid

from .models import LabSession

logger = logging.getLogger(__name__)

MAX_EDITOR_BYTES = 256 * 1024
MAX_MESSAGE_CHARS = 600
FIELD_MANAGER = "labplatform-editor"


class EditorError(ValueError):
    """The text cannot be saved. The message gives the reason and the change to make."""


@dataclass
class SaveResult:
    saved: bool = False
    messages: list[tuple[str, str]] = field(default_factory=list)  # (level, text)

    def add(self, level: str, text: str) -> None:
        self.messages.append((level, text))


def _home(session: LabSession) -> Path:
    home = settings.TERMINAL_WORKSPACE_DIR / str(session.id) / "home"
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    uid = sandbox_host_uid(str(session.id))
    if uid is not None:
        os.lchown(home, uid, uid)
    return home


def editor_file_read(*, session: LabSession, lab: Lab, editor_file: EditorFile) -> str:
    """Return the learner's copy of the file, else the lab's starter text."""
    try:
        text = safefs.read_text(
            _home(session), f"lab/{editor_file.name}", max_bytes=MAX_EDITOR_BYTES
        )
    except safefs.UnsafePath as error:
        raise EditorError(
            f"~/lab/{editor_file.name} cannot be opened in the editor: "
            f"{error}. Replace it with a plain file."
        ) from None
    if text is not None:
        return text
    if editor_file.starter:
        return (lab.folder / editor_file.starter).read_text(encoding="utf-8")
    return ""


def validate_text(text: str) -> str:
    if len(text.encode("utf-8")) > MAX_EDITOR_BYTES:
        raise EditorError(
            f"The file is larger than {MAX_EDITOR_BYTES // 1024} KiB; "
            "shorten it and save again."
        )
    if "\x00" in text:
        raise EditorError(
            "The file contains NUL bytes, so it is not text; paste text only."
        )
    return text.replace("\r\n", "\n")


def parse_manifests(text: str, *, namespace: str) -> list[dict]:
    """Parse YAML documents into objects placed in the learner's namespace."""
    try:
        documents = [doc for doc in load_all_untrusted(text) if doc is not None]
    except yaml.YAMLError as error:
        raise EditorError(f"The YAML is invalid: {error}") from None
    if not documents:
        raise EditorError("The file contains no Kubernetes object.")
    objects = []
    for index, document in enumerate(documents, start=1):
        if (
            not isinstance(document, dict)
            or not {"apiVersion", "kind"} <= document.keys()
        ):
            raise EditorError(
                f"Document {index} is not a Kubernetes object: it needs "
                "apiVersion, kind and metadata.name."
            )
        metadata = document.get("metadata")
        if not isinstance(metadata, dict) or not metadata.get("name"):
            raise EditorError(
                f"Document {index} ({document['kind']}) has no metadata.name."
            )
        requested = metadata.get("namespace")
        if requested not in (None, namespace):
            raise EditorError(
                f"Document {index} asks for namespace {requested!r}; objects "
                f"can only go into your namespace {namespace!r}. Remove "
                "metadata.namespace."
            )
        objects.append({**document, "metadata": {**metadata, "namespace": namespace}})
    return objects


def editor_file_save(
    *, session: LabSession, editor_file: EditorFile, text: str
) -> SaveResult:
    """Store the text in the workspace, then submit or apply it as the learner."""
    result = SaveResult()
    text = validate_text(text)
    objects = []
    if editor_file.action == "apply":
        objects = parse_manifests(text, namespace=session.namespace)

    try:
        safefs.write_text(
            _home(session),
            f"lab/{editor_file.name}",
            text,
            owner=sandbox_host_uid(str(session.id)),
        )
    except safefs.UnsafePath as error:
        raise EditorError(
            f"~/lab/{editor_file.name} cannot be saved: {error}. Remove "
            "the link or folder in the terminal and save again."
        ) from None
    result.saved = True
    result.add("ok", f"Saved ~/lab/{editor_file.name} in your workspace.")

    from .services import session_kubeconfig

    with kube.using_cluster(session_kubeconfig(session)):
        _act_on_cluster(
            session=session,
            editor_file=editor_file,
            text=text,
            objects=objects,
            result=result,
        )
    logger.info(
        "Editor saved %s for session %s (namespace %s): %s",
        editor_file.name,
        session.id,
        session.namespace,
        "; ".join(text for _, text in result.messages),
    )
    return result


def _act_on_cluster(
    *,
    session: LabSession,
    editor_file: EditorFile,
    text: str,
    objects: list[dict],
    result: SaveResult,
) -> None:
    """Submit or apply the saved text with the learner's own token."""
    token = kube.request_service_account_token(
        namespace=session.namespace,
        name=LEARNER_SERVICE_ACCOUNT,
        expiration_seconds=600,
    )
    if editor_file.action == "submit":
        kube.apply_as(
            token,
            {
                "apiVersion": "v1",
                "kind": "ConfigMap",
                "metadata": {
                    "name": SUBMISSION_CONFIGMAP,
                    "namespace": session.namespace,
                },
                "data": {editor_file.name: text},
            },
            field_manager=FIELD_MANAGER,
        )
        result.add("ok", f"Submitted {editor_file.name} for grading.")
    for obj in objects:
        label = f"{obj['kind']} {obj['metadata']['name']}"
        try:
            kube.apply_as(token, obj, field_manager=FIELD_MANAGER)
        except kube.ClusterUnavailable:
            raise
        except kube.ClusterError as error:
            message = _api_message(error)
            if len(message) > MAX_MESSAGE_CHARS:
                message = message[:MAX_MESSAGE_CHARS] + " …"
            result.add("error", f"{label} was rejected: {message}")
            if obj["kind"] == "Pod" and error.status == 422:
                result.add(
                    "error",
                    "Most of a pod's spec cannot change once it exists: "
                    f"delete it first (kubectl delete pod "
                    f"{obj['metadata']['name']} --now), then save again.",
                )
            continue
        result.add("ok", f"{label} applied.")


def _api_message(error: kube.ClusterError) -> str:
    import json

    try:
        return json.loads(error.body).get("message", str(error))
    except (ValueError, AttributeError, TypeError):
        return str(error)
