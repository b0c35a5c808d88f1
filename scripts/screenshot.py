"""Take screenshots of a running platform with headless Chromium.

Signs up a new learner, opens the module page, starts the Pod Security
lab, types into the terminal, checks the work, and saves PNGs under
docs/. Then an instructor creates a workshop, four learners join it and
get to different points of two labs, and the instructor's matrix is
saved too. The instructor's right to create workshops is granted the way
a host grants it, with manage.py instructors, so run this script from
the checkout (and with the environment) of the running platform. The browser and terminal helpers are the browser tests' own
(tests/e2e/browser.py). Start the platform first (make run), then:

    .venv/bin/python scripts/screenshot.py --url http://127.0.0.1:8000
"""

import argparse
import secrets
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.browser import LabTerminal, launch_chromium  # noqa: E402
from tests.e2e.test_learner_journey import do_pod_security_standards  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url",
        default="http://127.0.0.1:8000",
        help="Base URL of the running platform (default: %(default)s).",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=REPO / "docs",
        help="Folder for the PNG files (default: docs/ of this checkout).",
    )
    args = parser.parse_args()
    args.output.mkdir(parents=True, exist_ok=True)
    module_png = args.output / "module-page.png"
    lab_png = args.output / "lab-terminal.png"
    username = f"screenshot-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)

    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        page = browser.new_page(viewport={"width": 1440, "height": 1000})

        page.goto(f"{args.url}/accounts/signup/")
        page.fill("#id_username", username)
        page.fill("#id_password1", password)
        page.fill("#id_password2", password)
        page.click("button[type=submit]")
        page.wait_for_selector(".who")

        page.goto(f"{args.url}/modules/containers-workload-security/")
        page.screenshot(path=str(module_png))

        page.goto(f"{args.url}/labs/pod-security-standards/")
        page.click("#start-lab")
        terminal = LabTerminal(page)
        terminal.wait_until_connected(timeout=60)
        terminal.run(
            'kubectl label namespace "$LAB_NAMESPACE" '
            "pod-security.kubernetes.io/enforce=restricted "
            "pod-security.kubernetes.io/warn=restricted "
            "pod-security.kubernetes.io/audit=restricted",
            expect="labeled",
        )
        # The second command keeps the first one's output on screen.
        terminal.type(
            "kubectl run hostpid --image=registry.k8s.io/pause:3.10 "
            '--overrides=\'{"spec":{"hostPID":true}}\'\n'
        )
        terminal.wait_for_text("forbidden")
        terminal.wait_for_prompt()
        page.click("#check-work")
        page.wait_for_selector("#grading-result .checks", timeout=30_000)
        page.screenshot(path=str(lab_png))
        matrix_png = args.output / "instructor-matrix.png"
        shoot_matrix(browser, args.url, matrix_png)
        browser.close()
    print(f"Saved {module_png}, {lab_png} and {matrix_png}")
    return 0


PASSWORDS: dict[str, str] = {}


def sign_up(browser, url: str, username: str):
    page = browser.new_page(viewport={"width": 1440, "height": 900})
    password = PASSWORDS[username] = secrets.token_urlsafe(12)
    page.goto(f"{url}/accounts/signup/")
    page.fill("#id_username", username)
    page.fill("#id_password1", password)
    page.fill("#id_password2", password)
    page.click("button[type=submit]")
    page.wait_for_selector(".who")
    return page


def sign_in_page(browser, url: str, username: str):
    """Open a page logged in as username, with the base URL the helpers expect."""
    page = browser.new_page(base_url=url, viewport={"width": 1440, "height": 900})
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORDS[username])
    page.click("main form button[type=submit]")
    page.wait_for_selector(".who")
    return page


def start_lab(page, url: str, lab_slug: str) -> LabTerminal:
    page.goto(f"{url}/labs/{lab_slug}/")
    page.click("#start-lab")
    terminal = LabTerminal(page)
    terminal.wait_until_connected(timeout=60)
    return terminal


def check_work(page) -> None:
    page.click("#check-work")
    page.wait_for_selector("#grading-result .checks", timeout=30_000)


def label_restricted(terminal: LabTerminal, modes=("enforce", "warn", "audit")):
    labels = " ".join(f"pod-security.kubernetes.io/{m}=restricted" for m in modes)
    terminal.run(f'kubectl label namespace "$LAB_NAMESPACE" {labels}', expect="labeled")


def shoot_matrix(browser, url: str, path: Path) -> None:
    """Save an instructor's matrix with learners at different points of two labs."""
    suffix = secrets.token_hex(2)
    teacher_name = f"instructor-{suffix}"
    teacher = sign_up(browser, url, teacher_name)
    subprocess.run(
        [sys.executable, str(REPO / "manage.py"), "instructors", "add", teacher_name],
        check=True,
        cwd=REPO,
    )
    teacher.goto(f"{url}/instruct/new/")
    slug = f"friday-{suffix}"
    now = datetime.now(UTC)
    teacher.fill("#id_title", "Friday workshop")
    teacher.fill("#id_slug", slug)
    teacher.fill(
        "#id_starts_at", (now - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M")
    )
    teacher.fill("#id_ends_at", (now + timedelta(hours=3)).strftime("%Y-%m-%dT%H:%M"))
    teacher.check("input[name=labs][value=harden-container]")
    teacher.check("input[name=labs][value=pod-security-standards]")
    teacher.click("main form button[type=submit]")
    code = teacher.inner_text("#join-code")

    harden = (REPO / "labs/harden-container/solution/Dockerfile").read_text()
    for number, name in enumerate(["ada", "grace", "linus", "margaret"]):
        page = sign_up(browser, url, f"{name}-{suffix}")
        page.goto(f"{url}/join/{code}/")
        page.click("#join-workshop")
        page.wait_for_selector("h1:text-is('My progress')")
        if number == 3:
            # The whole Pod Security lab, as the browser tests do it.
            page.close()
            page = sign_in_page(browser, url, f"{name}-{suffix}")
            do_pod_security_standards(page)
            page.close()
            continue
        terminal = start_lab(page, url, "pod-security-standards")
        label_restricted(
            terminal, ("enforce",) if number == 1 else ("enforce", "warn", "audit")
        )
        if number == 0:
            terminal.run(
                "kubectl run hostpid --image=registry.k8s.io/pause:3.10 "
                '--overrides=\'{"spec":{"hostPID":true}}\'',
                expect="forbidden",
            )
        check_work(page)
        if number == 0:
            terminal = start_lab(page, url, "harden-container")
            terminal.run("cat > Dockerfile <<'EOF'\n" + harden + "EOF", expect="$")
            terminal.run("lab submit Dockerfile", expect="Submitted Dockerfile")
            check_work(page)
        page.close()

    teacher.goto(f"{url}/instruct/{slug}/")
    teacher.wait_for_selector(".matrix-row")
    teacher.screenshot(path=str(path), full_page=True)


if __name__ == "__main__":
    sys.exit(main())
