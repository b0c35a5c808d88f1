"""Drive Debian's Chromium and the lab page's terminal with Playwright.

Plain helpers with no Django or pytest in them, shared by the browser
tests and scripts/screenshot.py. Chromium comes from the Debian package
(/usr/bin/chromium), so Playwright's own browser download is never used.
"""

import re
import time
from pathlib import Path

from playwright.sync_api import Browser, Page, Playwright

CHROMIUM_PATH = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    # The tests run as root, where Chromium's own sandbox cannot start.
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
# The lab shell's prompt (labplatform/terminal/workspace.py) with the
# current folder, as xterm.js renders it without colours.
PROMPT = re.compile(r"learner@lab:[^$\n]*\$")


def launch_chromium(playwright: Playwright) -> Browser:
    """Start headless Chromium from the Debian package."""
    if not CHROMIUM_PATH.exists():
        raise RuntimeError(
            f"{CHROMIUM_PATH} not found; install the Debian package chromium "
            "(scripts/setup.sh does this when run as root)."
        )
    return playwright.chromium.launch(
        executable_path=str(CHROMIUM_PATH), headless=True, args=CHROMIUM_ARGS
    )


class LabTerminal:
    """The xterm.js terminal of a lab page, read through its rendered rows.

    Only the visible rows are read, as a learner sees them. So run() clears
    the screen (Ctrl+L, bash's clear-screen) before each command, and
    whatever it then waits for comes from that command.
    """

    def __init__(
        self, page: Page, *, root: str = "#terminal", handle: str = "labTerminal"
    ):
        # root is the element xterm.js opened in, and window[handle].term
        # is the Terminal object. An instructor's watch view has its own.
        self.page = page
        self.root = root
        self.handle = handle

    def rows(self) -> list[str]:
        """Return the text of each visible row, trailing blanks removed."""
        texts = self.page.eval_on_selector_all(
            f"{self.root} .xterm-rows > div", "rows => rows.map(row => row.textContent)"
        )
        return [text.replace("\xa0", " ").rstrip() for text in texts]

    def text(self) -> str:
        return "\n".join(self.rows())

    def wait_until_connected(self, timeout: float = 60) -> None:
        """Wait for the session to be ready and the shell's first prompt."""
        self.page.wait_for_selector(
            "#session-status[data-status=ready]", timeout=timeout * 1000
        )
        self.page.wait_for_selector(f"{self.root} .xterm-rows", timeout=timeout * 1000)
        self.wait_for(lambda: any(PROMPT.match(row) for row in self.rows()), timeout)

    def wait_for(self, predicate, timeout: float = 30, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate():
                return
            time.sleep(0.1)
        raise AssertionError(
            f"timed out after {timeout} s waiting for {what or 'the terminal'}; "
            f"the terminal shows:\n{self.text()}"
        )

    def wait_for_text(self, text: str, timeout: float = 30) -> None:
        """Wait until text appears on screen, possibly wrapped across rows."""
        self.wait_for(
            lambda: text in self.text() or text in "".join(self.rows()),
            timeout,
            repr(text),
        )

    def locate(self, text: str) -> tuple[float, float]:
        """Return the page coordinates of the first character of text.

        The lowest row that contains text wins, so a command's output is
        found rather than the command line that printed it. The DOM
        renderer sizes .xterm-screen to exactly cols x rows cells.
        """
        rows = self.rows()
        row = next((i for i in reversed(range(len(rows))) if text in rows[i]), None)
        if row is None:
            raise AssertionError(f"{text!r} is not on screen:\n{self.text()}")
        column = rows[row].index(text)
        box = self.page.locator(f"{self.root} .xterm-screen").bounding_box()
        size = self.page.evaluate(
            "handle => [window[handle].term.cols, window[handle].term.rows]",
            self.handle,
        )
        cell_width, cell_height = box["width"] / size[0], box["height"] / size[1]
        return (
            box["x"] + (column + 0.5) * cell_width,
            box["y"] + (row + 0.5) * cell_height,
        )

    def focus(self) -> None:
        self.page.click(f"{self.root} .xterm-screen")

    def type(self, text: str) -> None:
        """Type text key by key into the terminal. A newline presses Enter."""
        self.focus()
        self.page.keyboard.type(text)

    def clear(self) -> None:
        """Clear the screen with Ctrl+L, leaving only the prompt on row one."""
        self.focus()
        self.page.keyboard.press("Control+l")
        self.wait_for(
            lambda: (
                (rows := self.rows())
                and PROMPT.fullmatch(rows[0])
                and not any(rows[1:])
            ),
            what="a cleared screen",
        )

    def wait_for_prompt(self, timeout: float = 30) -> None:
        """Wait until a command started on row one has finished.

        A finished command leaves a bare prompt, with nothing typed after
        it, on a row below the first.
        """
        self.wait_for(
            lambda: any(PROMPT.fullmatch(row) for row in self.rows()[1:]),
            timeout,
            "the next prompt",
        )

    def run(self, command: str, *, expect: str = "", timeout: float = 30) -> str:
        """Clear the screen, type command and Enter, and wait for the prompt.

        Return the screen's text. With expect, also wait for that text.
        """
        self.clear()
        self.type(command + "\n")
        if expect:
            self.wait_for_text(expect, timeout)
        self.wait_for_prompt(timeout)
        return self.text()
