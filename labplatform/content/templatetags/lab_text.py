"""Formatting for check text written by lab authors."""

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import mark_safe

register = template.Library()

BACKTICKS = re.compile(r"`([^`]+)`")


@register.filter
def inline_code(text: str) -> str:
    """Escape text, then show `spans` in backticks as code, as Markdown does."""
    return mark_safe(BACKTICKS.sub(r"<code>\1</code>", escape(text)))
