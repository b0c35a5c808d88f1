"""Take screenshots of a running platform with headless Chromium.

Signs up a new learner, opens the module page, starts the Pod Security
lab, types into the terminal, checks the work, and saves PNGs under
docs/. Start the platform first (make run), then:

    .venv/bin/python scripts/screenshot.py --url http://127.0.0.1:8000
"""

import argparse
import secrets
import sys
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DOCS = Path(__file__).resolve().parent.parent / "docs"


def type_command(page, command: str) -> None:
    page.click("#terminal")
    page.keyboard.type(command, delay=5)
    page.keyboard.press("Enter")


def wait_for_terminal_text(page, text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if text in page.inner_text("#terminal"):
            return
        time.sleep(0.2)
    raise TimeoutError(f"{text!r} did not appear in the terminal")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--url",
        default="http://127.0.0.1:8000",
        help="Base URL of the running platform (default: %(default)s).",
    )
    args = parser.parse_args()
    username = f"screenshot-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1440, "height": 1000})

        page.goto(f"{args.url}/accounts/signup/")
        page.fill("#id_username", username)
        page.fill("#id_password1", password)
        page.fill("#id_password2", password)
        page.click("button[type=submit]")

        page.goto(f"{args.url}/modules/containers-workload-security/")
        page.screenshot(path=str(DOCS / "module-page.png"))

        page.goto(f"{args.url}/labs/pod-security-standards/")
        page.click("#start-lab")
        page.wait_for_selector("#session-status[data-status=ready]", timeout=60_000)
        page.wait_for_selector("#terminal .xterm", timeout=30_000)
        wait_for_terminal_text(page, "learner@lab")

        type_command(
            page,
            'kubectl label namespace "$LAB_NAMESPACE" '
            "pod-security.kubernetes.io/enforce=restricted "
            "pod-security.kubernetes.io/warn=restricted "
            "pod-security.kubernetes.io/audit=restricted",
        )
        wait_for_terminal_text(page, "labeled")
        type_command(
            page,
            "kubectl run hostpid --image=registry.k8s.io/pause:3.10 "
            '--overrides=\'{"spec":{"hostPID":true}}\'',
        )
        wait_for_terminal_text(page, "forbidden")
        page.click("#check-work")
        page.wait_for_selector("#grading-result .checks", timeout=30_000)
        page.screenshot(path=str(DOCS / "lab-terminal.png"))
        browser.close()
    print(f"Saved {DOCS / 'module-page.png'} and {DOCS / 'lab-terminal.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
