"""Render course Markdown to HTML with highlighted code blocks."""

import re

import markdown

EXTENSIONS = ["fenced_code", "tables", "codehilite", "sane_lists", "toc", "attr_list"]
EXTENSION_CONFIGS = {
    "codehilite": {"css_class": "highlight", "guess_lang": False},
    "toc": {"permalink": False},
}


# A ```console block holds commands for the learner's terminal. It is
# highlighted as bash and marked "runnable", so the lab page can add a
# button that sends it to the terminal.
CONSOLE_FENCE = re.compile(r"^(\s*)(```|~~~)console\s*$", re.MULTILINE)


def render_markdown(text: str) -> str:
    """Return HTML for trusted course text, which comes from the repository.

    Course files are written by course authors and reviewed like code, so
    raw HTML inside them is allowed; nothing a learner types reaches here.
    """
    text = CONSOLE_FENCE.sub(r"\1\2{.bash .runnable}", text)
    return markdown.markdown(
        text, extensions=EXTENSIONS, extension_configs=EXTENSION_CONFIGS
    )
