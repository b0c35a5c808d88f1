"""The module and lab pages render every section and step from content files."""

import pytest
from django.utils.html import escape

from labplatform.content.catalog import get_catalog

pytestmark = pytest.mark.django_db

MODULE = "containers-workload-security"


def test_module_page_shows_every_section(client):
    module = get_catalog().module(MODULE)

    response = client.get(f"/modules/{MODULE}/")

    assert response.status_code == 200
    html = response.content.decode()
    for anchor in ("objectives", "comparison", "glossary", "labs"):
        assert f'id="{anchor}"' in html
    for section in module.sections:
        assert f'id="{section.id}"' in html
        assert escape(section.title) in html
    expected_sections = {
        "core-idea",
        "primitives",
        "image-patterns",
        "standards",
        "where-it-matters",
        "production",
        "mistakes",
        "threats",
        "recap",
    }
    assert expected_sections <= {section.id for section in module.sections}
    assert len(module.objectives) == 4
    for objective in module.objectives:
        assert escape(objective) in html


def test_module_page_draws_comparison(client):
    module = get_catalog().module(MODULE)

    html = client.get(f"/modules/{MODULE}/").content.decode()

    assert 'class="side side-isolated"' in html
    assert 'class="side side-escape"' in html
    for item in (*module.isolated.items, *module.escape.items):
        assert escape(item) in html


def test_module_page_highlights_code(client):
    html = client.get(f"/modules/{MODULE}/").content.decode()

    assert 'class="highlight"' in html
    assert "gcr.io/distroless/static-debian12:nonroot" in html
    assert "ubuntu:22.04" in html


def test_glossary_has_key_terms():
    terms = {entry.term for entry in get_catalog().module(MODULE).glossary}

    for term in (
        "Namespace (Linux)",
        "cgroup",
        "Seccomp",
        "Distroless",
        "Pod Security Standard",
    ):
        assert term in terms


def test_module_teaches_read_only_root_accurately():
    module = get_catalog().module(MODULE)
    standards = next(
        section for section in module.sections if section.id == "standards"
    )

    assert "readOnlyRootFilesystem" in standards.html
    assert "not" in standards.html.lower()


@pytest.mark.parametrize(
    "slug", ["harden-container", "pod-security-standards", "container-escape"]
)
def test_lab_page_lists_steps(client, slug):
    lab = get_catalog().lab(slug)

    response = client.get(f"/labs/{slug}/")

    assert response.status_code == 200
    html = response.content.decode()
    assert escape(lab.title) in html
    assert f"{lab.duration_minutes} min" in html
    assert lab.level in html
    assert len(lab.steps) >= 4
    for step in lab.steps:
        assert f'id="step-{step.number}"' in html
        assert escape(step.title) in html


def test_labs_match_module_facts():
    catalog = get_catalog()
    expected = {
        "harden-container": (1, 30, "beginner"),
        "pod-security-standards": (2, 25, "beginner"),
        "container-escape": (3, 30, "intermediate"),
    }
    for slug, (order, minutes, level) in expected.items():
        lab = catalog.lab(slug)
        assert (lab.order, lab.duration_minutes, lab.level) == (order, minutes, level)


def test_unknown_module_is_404(client):
    assert client.get("/modules/no-such-module/").status_code == 404
    assert client.get("/labs/no-such-lab/").status_code == 404


def test_anonymous_lab_page_asks_to_log_in(client):
    html = client.get("/labs/pod-security-standards/").content.decode()

    assert "to start this lab" in html
    assert "Start lab" not in html
