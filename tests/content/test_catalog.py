"""Loading content files: clear errors for broken ones."""

import pytest

from labplatform.content.catalog import ContentError, load_lab, split_front_matter


def write_lab(folder, lab_yaml: str, steps: dict[str, str]):
    folder.mkdir()
    (folder / "lab.yaml").write_text(lab_yaml)
    (folder / "steps").mkdir()
    for name, text in steps.items():
        (folder / "steps" / name).write_text(text)


LAB_YAML = """\
slug: demo
module: m
order: 1
title: Demo
duration_minutes: 5
level: beginner
summary: A demo.
"""


def test_lab_loads_steps_in_file_order(tmp_path):
    write_lab(
        tmp_path / "demo",
        LAB_YAML,
        {
            "02-second.md": "---\ntitle: Second\n---\nBody two\n",
            "01-first.md": "---\ntitle: First\nhint: Try this\n---\nBody one\n",
        },
    )

    lab = load_lab(tmp_path / "demo")

    assert [step.title for step in lab.steps] == ["First", "Second"]
    assert lab.steps[0].hint == "Try this"
    assert "<p>Body one</p>" in lab.steps[0].html


def test_lab_rejects_unknown_level(tmp_path):
    write_lab(tmp_path / "demo", LAB_YAML.replace("beginner", "expert"), {})

    with pytest.raises(ContentError, match="level 'expert'"):
        load_lab(tmp_path / "demo")


def test_lab_rejects_missing_title(tmp_path):
    write_lab(tmp_path / "demo", LAB_YAML.replace("title: Demo\n", ""), {})

    with pytest.raises(ContentError, match="missing required field 'title'"):
        load_lab(tmp_path / "demo")


def test_step_without_title_names_file(tmp_path):
    write_lab(tmp_path / "demo", LAB_YAML, {"01-x.md": "---\nhint: h\n---\nBody\n"})

    with pytest.raises(ContentError, match="01-x.md"):
        load_lab(tmp_path / "demo")


def test_front_matter_invalid_yaml(tmp_path):
    with pytest.raises(ContentError, match="invalid front matter"):
        split_front_matter("---\ntitle: [unclosed\n---\nbody", tmp_path / "x.md")
