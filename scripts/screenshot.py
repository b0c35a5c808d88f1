"""Take screenshots of a running platform with headless Chromium.

Signs up a new learner, opens the module page, starts the Pod Security
lab, types into the terminal, checks the work, and saves PNGs under
docs/. The browser and terminal helpers are the browser tests' own
(tests/e2e/browser.py). Start the platform first (make run), then:

    .venv/bin/python scripts/screenshot.py --url http://127.0.0.1:8000
"""

import argparse
import secrets
import sys
from pathlib import Path

from playwright.sync_api import sync_playwright

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.e2e.browser import LabTerminal, launch_chromium  # noqa: E402


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
        browser.close()
    print(f"Saved {module_png} and {lab_png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
