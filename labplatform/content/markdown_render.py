"""Render course Markdown to HTML with highlighted code blocks."""

import markdown

EXTENSIONS = ["fenced_code", "tables", "codehilite", "sane_lists", "toc", "attr_list"]
EXTENSION_CONFIGS = {
    "codehilite": {"css_class": "highlight", "guess_lang": False},
    "toc": {"permalink": False},
}


def render_markdown(text: str) -> str:
    """Return HTML for trusted course text, which comes from the repository.

    Course files are written by course authors and reviewed like code, so
    raw HTML inside them is allowed; nothing a learner types reaches here.
    """
    return markdown.markdown(
        text, extensions=EXTENSIONS, extension_configs=EXTENSION_CONFIGS
    )
