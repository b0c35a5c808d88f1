"""Course modules and labs, loaded from their content files.

Module text lives in labplatform/content/modules/<slug>/ and labs in
labs/<slug>/ (see docs/content-format.md). Loading happens once per
process; the result is immutable.
"""

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from django.conf import settings

from .markdown_render import render_markdown

MODULES_DIR = Path(__file__).resolve().parent / "modules"
FRONT_MATTER = re.compile(r"\A---\s*\n(.*?)\n---\s*\n", re.DOTALL)
LEVELS = ("beginner", "intermediate", "advanced")


class ContentError(ValueError):
    """A content file is missing or invalid; the message names the file."""


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    html: str


@dataclass(frozen=True)
class ComparisonSide:
    title: str
    items: tuple[str, ...]
    outcome: str


@dataclass(frozen=True)
class GlossaryEntry:
    term: str
    definition: str


@dataclass(frozen=True)
class Module:
    slug: str
    position: int
    title: str
    summary: str
    effort_minutes: int
    price: str
    lab_slugs: tuple[str, ...]
    objectives: tuple[str, ...]
    isolated: ComparisonSide
    escape: ComparisonSide
    glossary: tuple[GlossaryEntry, ...]
    sections: tuple[Section, ...]


@dataclass(frozen=True)
class Step:
    number: int
    title: str
    hint: str
    html: str
    # From NN-name.solution.md beside the step; empty when the step has none.
    solution_html: str = ""


@dataclass(frozen=True)
class Question:
    id: str
    prompt: str
    choices: tuple[str, ...]
    answer: str


@dataclass(frozen=True)
class EditorFile:
    """A file the lab page's editor offers, and what saving it does."""

    name: str
    mode: str  # the CodeMirror mode: "dockerfile" or "yaml"
    action: str  # "submit" stores it for the grader; "apply" applies it as the learner
    # Text the editor starts from, relative to the lab folder; None starts empty.
    starter: str | None = None


EDITOR_ACTIONS = ("submit", "apply")
PLACEMENTS = ("shared", "dedicated")
EDITOR_FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Lab:
    slug: str
    module_slug: str
    order: int
    title: str
    duration_minutes: int
    level: str
    summary: str
    namespace_labels: dict = field(hash=False)
    can_label_namespace: bool = False
    steps: tuple[Step, ...] = ()
    questions: tuple[Question, ...] = ()
    editor_files: tuple[EditorFile, ...] = ()
    # "shared": a namespace on the platform's cluster. "dedicated": the lab
    # runs privileged pods and needs a cluster of its own.
    placement: str = "shared"
    folder: Path = Path()

    def editor_file(self, name: str) -> EditorFile | None:
        return next((f for f in self.editor_files if f.name == name), None)

    def question(self, question_id: str) -> Question | None:
        return next((q for q in self.questions if q.id == question_id), None)

    @property
    def resources_dir(self) -> Path:
        return self.folder / "resources"

    @property
    def solution_dir(self) -> Path:
        return self.folder / "solution"


@dataclass(frozen=True)
class Catalog:
    modules: tuple[Module, ...]
    labs: dict = field(hash=False)

    def module(self, slug: str) -> Module | None:
        return next((m for m in self.modules if m.slug == slug), None)

    def lab(self, slug: str) -> Lab | None:
        return self.labs.get(slug)

    def labs_of(self, module: Module) -> list[Lab]:
        return [self.labs[slug] for slug in module.lab_slugs if slug in self.labs]


def _read_yaml(path: Path) -> dict:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ContentError(f"{path}: file not found") from None
    except yaml.YAMLError as error:
        raise ContentError(f"{path}: invalid YAML: {error}") from None
    if not isinstance(data, dict):
        raise ContentError(f"{path}: expected a mapping at the top level")
    return data


def _require(data: dict, key: str, path: Path):
    if key not in data or data[key] in (None, ""):
        raise ContentError(f"{path}: missing required field {key!r}")
    return data[key]


def split_front_matter(text: str, path: Path) -> tuple[dict, str]:
    match = FRONT_MATTER.match(text)
    if not match:
        return {}, text
    try:
        meta = yaml.safe_load(match.group(1)) or {}
    except yaml.YAMLError as error:
        raise ContentError(f"{path}: invalid front matter: {error}") from None
    if not isinstance(meta, dict):
        raise ContentError(f"{path}: front matter must be a mapping")
    return meta, text[match.end() :]


def _comparison_side(data: dict, path: Path) -> ComparisonSide:
    return ComparisonSide(
        title=_require(data, "title", path),
        items=tuple(_require(data, "items", path)),
        outcome=_require(data, "outcome", path),
    )


def load_module(folder: Path) -> Module:
    path = folder / "module.yaml"
    data = _read_yaml(path)
    comparison = _require(data, "comparison", path)
    sections = []
    for entry in _require(data, "sections", path):
        section_file = folder / _require(entry, "file", path)
        try:
            text = section_file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise ContentError(
                f"{path}: section file {section_file.name} not found"
            ) from None
        sections.append(
            Section(
                id=_require(entry, "id", path),
                title=_require(entry, "title", path),
                html=render_markdown(text),
            )
        )
    return Module(
        slug=_require(data, "slug", path),
        position=int(_require(data, "position", path)),
        title=_require(data, "title", path),
        summary=_require(data, "summary", path),
        effort_minutes=int(_require(data, "effort_minutes", path)),
        price=str(data.get("price", "Free")),
        lab_slugs=tuple(data.get("labs") or ()),
        objectives=tuple(_require(data, "objectives", path)),
        isolated=_comparison_side(_require(comparison, "isolated", path), path),
        escape=_comparison_side(_require(comparison, "escape", path), path),
        glossary=tuple(
            GlossaryEntry(
                term=_require(g, "term", path),
                definition=_require(g, "definition", path),
            )
            for g in data.get("glossary") or ()
        ),
        sections=tuple(sections),
    )


def load_lab(folder: Path) -> Lab:
    path = folder / "lab.yaml"
    data = _read_yaml(path)
    level = _require(data, "level", path)
    if level not in LEVELS:
        raise ContentError(f"{path}: level {level!r} is not one of {', '.join(LEVELS)}")
    namespace = data.get("namespace") or {}
    steps = []
    step_files = sorted(
        path
        for path in (folder / "steps").glob("*.md")
        if not path.name.endswith(".solution.md")
    )
    for number, step_file in enumerate(step_files, start=1):
        meta, body = split_front_matter(
            step_file.read_text(encoding="utf-8"), step_file
        )
        solution_file = step_file.with_name(step_file.stem + ".solution.md")
        solution = (
            solution_file.read_text(encoding="utf-8") if solution_file.exists() else ""
        )
        steps.append(
            Step(
                number=number,
                title=_require(meta, "title", step_file),
                hint=str(meta.get("hint", "")),
                html=render_markdown(body),
                solution_html=render_markdown(solution) if solution else "",
            )
        )
    questions = []
    for question_id, entry in (data.get("questions") or {}).items():
        choices = tuple(str(choice) for choice in _require(entry, "choices", path))
        answer = str(_require(entry, "answer", path))
        if answer not in choices:
            raise ContentError(
                f"{path}: question {question_id!r} has answer {answer!r}, "
                "which is not one of its choices"
            )
        questions.append(
            Question(
                id=question_id,
                prompt=_require(entry, "prompt", path),
                choices=choices,
                answer=answer,
            )
        )
    editor_files = []
    for entry in data.get("editor") or ():
        name = str(_require(entry, "file", path))
        action = _require(entry, "action", path)
        if not EDITOR_FILE_NAME.match(name):
            raise ContentError(
                f"{path}: editor file name {name!r} must be a plain file name"
            )
        if action not in EDITOR_ACTIONS:
            raise ContentError(
                f"{path}: editor action {action!r} is not one of "
                f"{', '.join(EDITOR_ACTIONS)}"
            )
        starter = entry.get("starter")
        if starter is not None and not (folder / starter).is_file():
            raise ContentError(
                f"{path}: editor starter {starter!r} not found in the lab"
            )
        editor_files.append(
            EditorFile(
                name=name,
                mode=entry.get("mode", "yaml"),
                action=action,
                starter=starter,
            )
        )
    placement = data.get("placement", "shared")
    if placement not in PLACEMENTS:
        raise ContentError(
            f"{path}: placement {placement!r} is not one of {', '.join(PLACEMENTS)}"
        )
    slug = _require(data, "slug", path)
    if slug != folder.name:
        raise ContentError(
            f"{path}: slug {slug!r} must match the folder name {folder.name!r}"
        )
    return Lab(
        slug=slug,
        module_slug=_require(data, "module", path),
        order=int(_require(data, "order", path)),
        title=_require(data, "title", path),
        duration_minutes=int(_require(data, "duration_minutes", path)),
        level=level,
        summary=_require(data, "summary", path),
        namespace_labels=dict(namespace.get("labels") or {}),
        can_label_namespace=bool(namespace.get("can_label_namespace", False)),
        steps=tuple(steps),
        questions=tuple(questions),
        editor_files=tuple(editor_files),
        placement=placement,
        folder=folder,
    )


def load_catalog(modules_dir: Path, labs_dir: Path) -> Catalog:
    modules = sorted(
        (
            load_module(folder)
            for folder in modules_dir.iterdir()
            if (folder / "module.yaml").exists()
        ),
        key=lambda module: module.position,
    )
    labs = {}
    for folder in sorted(labs_dir.iterdir()):
        if (folder / "lab.yaml").exists():
            lab = load_lab(folder)
            labs[lab.slug] = lab
    return Catalog(modules=tuple(modules), labs=labs)


@functools.cache
def get_catalog() -> Catalog:
    return load_catalog(MODULES_DIR, settings.BASE_DIR / "labs")
