"""The before/after attack-surface comparison of the hardening lab."""

import functools

from labplatform.cluster import kube
from labplatform.content.catalog import Lab

from .checks import SUBMISSION_CONFIGMAP, load_grader
from .dockerfile import DockerfileError, parse_dockerfile


def _surface(grader, text: str) -> dict:
    return _cached_surface(grader, text)


# The panel may be opened many times for the same text, and hadolint costs
# up to seconds of CPU per run, so results are kept per text.
@functools.lru_cache(maxsize=256)
def _cached_surface(grader, text: str) -> dict:
    try:
        return {"ok": True, **grader.attack_surface(parse_dockerfile(text))}
    except DockerfileError as error:
        return {"ok": False, "error": str(error)}


def dockerfile_comparison(*, lab: Lab, namespace: str) -> dict:
    """Compare the lab's starting Dockerfile with the learner's submission."""
    grader = load_grader(lab.folder)
    before = _surface(
        grader, (lab.resources_dir / "Dockerfile").read_text(encoding="utf-8")
    )
    config_map = kube.get("v1", "ConfigMap", SUBMISSION_CONFIGMAP, namespace)
    submitted = ((config_map or {}).get("data") or {}).get("Dockerfile")
    after = _surface(grader, submitted) if submitted is not None else None
    return {"before": before, "after": after}
