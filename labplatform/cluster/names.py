"""Safe Kubernetes names for learner namespaces."""

import hashlib
import re
import unicodedata

MAX_NAME = 63


def slugify_dns_label(text: str, *, max_length: int) -> str:
    """Lower-case ASCII letters, digits and single hyphens, trimmed to max_length."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    slug = re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")
    return slug[:max_length].strip("-")


def make_namespace_name(*, username: str, lab_slug: str, session_key: str) -> str:
    """Build a namespace name unique to one session: lab-<user>-<lab>-<hash>.

    The readable parts are only a courtesy for people reading kubectl
    output. The hash of session_key keeps names distinct when different
    usernames slug to the same text ("Test.User" and "test_user").
    """
    digest = hashlib.sha256(session_key.encode()).hexdigest()[:8]
    lab_part = slugify_dns_label(lab_slug, max_length=24) or "lab"
    fixed = len("lab-") + len(lab_part) + 1 + len(digest) + 1
    user_part = slugify_dns_label(username, max_length=MAX_NAME - fixed) or "learner"
    return f"lab-{user_part}-{lab_part}-{digest}"
