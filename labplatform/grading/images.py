"""Known base images: who they run as, and whether they ship a shell.

The Dockerfile grader cannot pull images, so it relies on this table for
what the base of the final stage contains. Anything not listed here is
"unknown", and the grader reports that instead of guessing.

Facts per family, as the project's grading notes record them from each
image's documentation:

- gcr.io/distroless (static, base, base-nossl, cc and language images,
  debian12 and debian13): tags latest, nonroot, debug and debug-nonroot.
  Only the debug tags ship a shell (busybox). The nonroot tags run as
  65532; /etc/passwd also lists nobody (65534). The others run as root.
- cgr.dev (Chainguard): images run as nonroot (65532); the -dev tags add
  a shell and apk.
- scratch: no files at all, so no /etc/passwd either; it runs as root
  unless a numeric USER is set.
- Distribution and language images (ubuntu, debian, alpine, python, ...):
  a shell and a package manager, running as root.
"""

import re
from dataclasses import dataclass, field

DISTROLESS_PREFIX = "gcr.io/distroless/"
CHAINGUARD_PREFIX = "cgr.dev/"
DISTROLESS_SUPPORTED_DEBIAN = ("12", "13")
NONROOT_UID = 65532
NOBODY_UID = 65534

MB = 1000 * 1000
MiB = 1024 * 1024
# Compressed linux/amd64 sizes as each image's registry manifest reports
# them (the sum of its layer sizes), rounded. They are approximate: every
# rebuild of a tag changes them a little, and the distroless figures stand
# for both debian12 and debian13.
# NOTE: recorded by hand in December 2026, not read from a registry at run
# time; refresh them when the comparison panel looks off.
PUBLISHED_SIZES = {
    ("ubuntu", "22.04"): round(29.7 * MB),
    ("debian", "12-slim"): round(28.2 * MB),
    ("alpine", "3.22"): round(3.8 * MB),
    ("gcr.io/distroless/static", None): 2 * MiB,
    ("gcr.io/distroless/base", None): 20 * MB,
}
TAG_ALIASES = {
    ("ubuntu", "jammy"): "22.04",
    ("debian", "bookworm-slim"): "12-slim",
}

# Repository name -> package manager, for images that run as root and ship
# a shell. Language images follow their Debian variant unless the tag
# names alpine.
DISTRIBUTIONS = {
    "ubuntu": "apt",
    "debian": "apt",
    "alpine": "apk",
    "busybox": None,
    "fedora": "dnf",
    "centos": "yum",
    "rockylinux": "dnf",
    "almalinux": "dnf",
    "amazonlinux": "dnf",
    "oraclelinux": "dnf",
    "archlinux": "pacman",
    "opensuse/leap": "zypper",
    "opensuse/tumbleweed": "zypper",
    "registry.access.redhat.com/ubi8/ubi": "dnf",
    "registry.access.redhat.com/ubi9/ubi": "dnf",
    "registry.access.redhat.com/ubi8/ubi-minimal": "microdnf",
    "registry.access.redhat.com/ubi9/ubi-minimal": "microdnf",
}
LANGUAGE_IMAGES = frozenset(
    {
        "python",
        "golang",
        "node",
        "ruby",
        "php",
        "perl",
        "rust",
        "openjdk",
        "eclipse-temurin",
        "amazoncorretto",
        "maven",
        "gradle",
        "nginx",
        "httpd",
        "buildpack-deps",
    }
)
# Non-root users that a distribution's /etc/passwd defines, by name.
DISTRIBUTION_USERS = {"nobody": NOBODY_UID}
LANGUAGE_IMAGE_USERS = {"node": {"node": 1000}}


@dataclass(frozen=True)
class BaseImage:
    """The grader's facts about one image reference.

    default_user is the image's configured user ("0" for root) and None
    when unknown. has_shell and package_manager are None when unknown;
    package_manager is "" for an image known to have none.
    """

    reference: str
    repository: str
    tag: str | None
    digest: str | None
    family: str
    default_user: str | None
    has_shell: bool | None
    package_manager: str | None
    # Names that the image's /etc/passwd maps to a non-root UID.
    users: dict[str, int] = field(default_factory=dict)
    size_bytes: int | None = None
    # Debian release of a distroless image: "12", "13", an older one, or
    # None for a name without a -debianN suffix.
    debian_release: str | None = None
    flavor: str = ""

    @property
    def uses_latest_tag(self) -> bool:
        """Return True for an explicit or implied latest tag without a digest."""
        if self.family == "scratch" or self.digest:
            return False
        return self.tag in (None, "latest")


def split_reference(reference: str) -> tuple[str, str | None, str | None]:
    """Split an image reference into its repository, tag and digest.

    Docker Hub prefixes (docker.io/, index.docker.io/, library/) are
    removed, so docker.io/library/ubuntu and ubuntu give the same name.
    """
    name, _, digest = reference.partition("@")
    tag = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], name[colon + 1 :]
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        name = name.removeprefix(prefix)
    name = name.removeprefix("library/")
    return name.lower(), tag, digest or None


def identify_image(reference: str) -> BaseImage:
    """Look an image reference up in the table of known base images."""
    repository, tag, digest = split_reference(reference)
    common = {
        "reference": reference,
        "repository": repository,
        "tag": tag,
        "digest": digest,
    }

    if repository == "scratch":
        return BaseImage(
            **common,
            family="scratch",
            default_user="0",
            has_shell=False,
            package_manager="",
            size_bytes=0,
        )
    if repository.startswith(DISTROLESS_PREFIX):
        return _distroless(repository, tag, digest, common)
    if repository.startswith(CHAINGUARD_PREFIX):
        return _chainguard(repository, tag, common)

    if repository in DISTRIBUTIONS:
        manager = DISTRIBUTIONS[repository]
    elif repository in LANGUAGE_IMAGES:
        manager = "apk" if tag and "alpine" in tag else "apt"
    else:
        return BaseImage(
            **common,
            family="unknown",
            default_user=None,
            has_shell=None,
            package_manager=None,
        )
    users = {**DISTRIBUTION_USERS, **LANGUAGE_IMAGE_USERS.get(repository, {})}
    return BaseImage(
        **common,
        family="distribution",
        default_user="0",
        has_shell=True,
        package_manager=manager or "",
        users=users,
        size_bytes=_published_size(repository, tag),
    )


def _distroless(
    repository: str, tag: str | None, digest: str | None, common: dict
) -> BaseImage:
    name = repository.removeprefix(DISTROLESS_PREFIX)
    match = re.fullmatch(r"(?P<flavor>.+?)(?:-debian(?P<release>\d+))?", name)
    flavor = match.group("flavor") if match else name
    release = match.group("release") if match else None

    if tag is None and digest:
        # A digest alone does not say which variant it is.
        default_user, has_shell = None, None
    else:
        variant = tag or "latest"
        has_shell = variant.startswith("debug")
        default_user = str(NONROOT_UID) if "nonroot" in variant else "0"
    size = PUBLISHED_SIZES.get((DISTROLESS_PREFIX + flavor, None))
    return BaseImage(
        **common,
        family="distroless",
        default_user=default_user,
        has_shell=has_shell,
        package_manager="",
        users={"nonroot": NONROOT_UID, "nobody": NOBODY_UID},
        size_bytes=size,
        debian_release=release,
        flavor=flavor,
    )


def _chainguard(repository: str, tag: str | None, common: dict) -> BaseImage:
    flavor = repository.split("/")[-1]
    development = bool(tag) and (tag == "dev" or tag.endswith("-dev"))
    if flavor == "wolfi-base":
        # wolfi-base is a starting point for builds: it ships a shell and apk.
        return BaseImage(
            **common,
            family="chainguard",
            default_user=None,
            has_shell=True,
            package_manager="apk",
            flavor=flavor,
        )
    return BaseImage(
        **common,
        family="chainguard",
        default_user=str(NONROOT_UID),
        has_shell=development,
        package_manager="apk" if development else "",
        users={"nonroot": NONROOT_UID},
        flavor=flavor,
    )


def _published_size(repository: str, tag: str | None) -> int | None:
    if tag is None:
        return None
    tag = TAG_ALIASES.get((repository, tag), tag)
    if repository == "alpine":
        # Patch releases of one minor version are about the same size.
        tag = ".".join(tag.split(".")[:2])
    return PUBLISHED_SIZES.get((repository, tag))


def describe_size(size_bytes: int | None) -> str:
    """Format a size estimate for people, such as "about 29.7 MB"."""
    if size_bytes is None:
        return "unknown"
    if size_bytes == 0:
        return "0 bytes (empty)"
    # One unit (MB) for every image, so the comparison reads at a glance.
    megabytes = f"{size_bytes / MB:.1f}".removesuffix(".0")
    return f"about {megabytes} MB"
