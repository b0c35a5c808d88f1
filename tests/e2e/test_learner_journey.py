"""A new learner signs up and finishes module 3 in the browser.

Everything goes through the page: sign-up, the module page, Start lab,
commands typed into the xterm.js terminal, the "Run in terminal"
buttons, the editor's Save, the audit panel and its question, and Check
my work. The inputs are the labs' own steps and reference solutions.

The local control plane runs no pods, so the escape lab's live probe
cannot be judged here. The page shows it as "not available on this
cluster" and leaves it out of the count, and every check it does count
passes.
"""

import re
import secrets

from labplatform.content.catalog import get_catalog
from labplatform.grading.checks import load_grader

from .browser import LabTerminal

MODULE_URL = "/modules/containers-workload-security/"
# Checks that need a running pod, shown as not available on this cluster.
NEEDS_RUNNING_PODS = {"host-not-exposed-live"}


def solution(lab_slug: str, name: str) -> str:
    return (get_catalog().lab(lab_slug).folder / "solution" / name).read_text()


def check_ids(lab_slug: str) -> list[str]:
    return [item.id for item in load_grader(get_catalog().lab(lab_slug).folder).CHECKS]


def open_lab(page, lab_slug: str) -> LabTerminal:
    """Follow the module page's link to the lab, start it, wait for the shell."""
    page.goto(MODULE_URL)
    page.click(f"#labs a[href='/labs/{lab_slug}/']")
    page.click("#start-lab")
    terminal = LabTerminal(page)
    terminal.wait_until_connected(timeout=90)
    return terminal


def run_block(terminal: LabTerminal, step: int, *, expect: str, block: int = 0):
    """Press "Run in terminal" on a command block of a step and wait for expect.

    The block's commands arrive at once, so expect must come from the last
    one: a bare prompt may show between two of them.
    """
    terminal.clear()
    terminal.page.locator(f"#step-{step} .run-button").nth(block).click()
    terminal.wait_for_text(expect)
    terminal.wait_for_prompt()


def save_in_editor(page, file_name: str, text: str) -> str:
    """Open file_name in the page's editor, replace its text, press Save."""
    page.click(f".editor-tabs button:text-is('{file_name}')")
    editor = page.locator("#editor .CodeMirror")
    editor.wait_for()
    editor.click()
    page.keyboard.press("Control+a")
    page.keyboard.press("Delete")
    page.keyboard.insert_text(text)
    page.click("#editor .editor-form button[type=submit]")
    result = page.locator("#editor-result .editor-messages")
    result.wait_for()
    return result.inner_text()


def check_my_work(page) -> dict[str, str]:
    """Press Check my work and return each check's status from the page.

    Call it once per lab: it waits for the first list of results.
    """
    page.click("#check-work")
    page.wait_for_selector("#grading-result .checks", timeout=60_000)
    statuses = {}
    for item in page.locator("#grading-result li.check").all():
        status = re.search(r"\bcheck-(\w+)", item.get_attribute("class"))
        statuses[item.get_attribute("data-check")] = status.group(1)
    return statuses


def score_line(page) -> str:
    return " ".join(page.inner_text("#grading-result .score").split())


def sign_up(page) -> str:
    username = f"learner-{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(16)
    page.goto("/")
    page.click("header a:text-is('Sign up')")
    page.fill("#id_username", username)
    page.fill("#id_password1", password)
    page.fill("#id_password2", password)
    page.click("button:text-is('Create account')")
    page.wait_for_selector(f"header .who:text-is('{username}')")
    return username


def read_module(page) -> None:
    page.click(f"a[href='{MODULE_URL}']")
    page.wait_for_selector("h1:text-is('Containers & Workload Security')")
    for section in ("#objectives", "#comparison", "#glossary", "#labs"):
        assert page.locator(section).is_visible(), section
    for slug in ("harden-container", "pod-security-standards", "container-escape"):
        assert page.locator(f"#labs a[href='/labs/{slug}/']").is_visible(), slug


def do_harden_container(page) -> None:
    slug = "harden-container"
    terminal = open_lab(page, slug)

    # Step 1: look at the starting point.
    run_block(terminal, 1, expect='return "unknown host"')
    terminal.run("cat Dockerfile", expect="CMD /app/server")

    # Steps 2 and 3: write the hardened Dockerfile with a heredoc, submit it.
    terminal.run(
        "cat > Dockerfile <<'EOF'\n" + solution(slug, "Dockerfile") + "EOF",
        expect="learner@lab:~/lab$",
    )
    terminal.run("lab submit Dockerfile", expect="Submitted Dockerfile")
    terminal.run("lab show", expect='ENTRYPOINT ["/app/server"]')

    # Step 4: the hardened Deployment, through the editor.
    messages = save_in_editor(page, "workload.yaml", solution(slug, "workload.yaml"))
    assert "applied" in messages
    terminal.run(
        "kubectl get deployment web -o "
        "jsonpath='{.spec.template.spec.containers[0].securityContext}{\"\\n\"}'",
        expect='"readOnlyRootFilesystem":true',
    )

    # Step 5: compare the attack surface.
    page.click("#show-attack-surface")
    table = page.locator("#audit-panel .comparison-table")
    table.wait_for()
    assert "distroless/static-debian12:nonroot" in table.inner_text()

    results = check_my_work(page)
    assert results == {check: "pass" for check in check_ids(slug)}
    total = len(results)
    assert re.match(rf"{total} of {total} checks pass", score_line(page))


def do_pod_security_standards(page) -> None:
    slug = "pod-security-standards"
    terminal = open_lab(page, slug)

    # Step 1: the namespace has no Pod Security label yet.
    run_block(terminal, 1, expect='"kubernetes.io/metadata.name":')
    assert "pod-security.kubernetes.io" not in terminal.text()

    # Step 2: label it restricted, typed as the step shows.
    terminal.run(
        'kubectl label namespace "$LAB_NAMESPACE" '
        "pod-security.kubernetes.io/enforce=restricted "
        "pod-security.kubernetes.io/warn=restricted "
        "pod-security.kubernetes.io/audit=restricted",
        expect="labeled",
    )

    # Step 3: the compliant pod, with the step's Run in terminal button.
    run_block(terminal, 3, expect="Pending")
    assert "pod/compliant created" in terminal.text()
    # Step 4: the hostPID pod is rejected.
    terminal.run(
        "kubectl run hostpid --image=registry.k8s.io/pause:3.10 "
        '--overrides=\'{"spec":{"hostPID":true}}\'',
        expect="host namespaces (hostPID=true)",
    )
    assert "Forbidden" in terminal.text()

    # Step 5: a Deployment with hostPID is stored with a warning, then deleted.
    run_block(terminal, 5, expect="deployment.apps/hostpid-deploy created")
    assert "would violate PodSecurity" in terminal.text()
    terminal.run(
        "kubectl delete deployment hostpid-deploy",
        expect='deployment.apps "hostpid-deploy" deleted',
    )

    # Step 6: read the audit events and answer the question under them.
    page.click("#show-audit")
    page.wait_for_selector("#audit-panel tr.violation")
    assert "hostpid" in page.inner_text("#audit-panel table.audit")
    page.check("#audit-panel input[value='host namespaces']")
    page.click("#audit-panel form.question button[type=submit]")
    page.wait_for_selector("#audit-panel form.question:has-text('Saved.')")

    results = check_my_work(page)
    assert results == {check: "pass" for check in check_ids(slug)}
    total = len(results)
    assert re.match(rf"{total} of {total} checks pass", score_line(page))


def do_container_escape(page) -> None:
    slug = "container-escape"
    terminal = open_lab(page, slug)

    # Step 1: the starting pod is privileged with hostPID.
    run_block(terminal, 1, expect="pod-security.kubernetes.io/enforce=privileged")
    assert 'hostPID=true securityContext={"privileged":true}' in terminal.text()

    # Steps 2 to 4 need a running pod. Here kubectl exec fails, as step 1
    # predicts for the development control plane.
    terminal.run("kubectl exec escape -- ps", expect="does not have a host assigned")

    # Step 5: delete the pod, then create the hardened one in the editor.
    terminal.run("kubectl delete pod escape --now", expect='pod "escape" deleted')
    messages = save_in_editor(page, "fixed-pod.yaml", solution(slug, "fixed-pod.yaml"))
    assert "applied" in messages

    # Step 6: the spec check from the page's first command block.
    run_block(terminal, 6, expect="hostPID= hostNetwork=")
    assert '"runAsNonRoot":true' in "".join(terminal.rows())

    results = check_my_work(page)
    judged = [check for check in check_ids(slug) if check not in NEEDS_RUNNING_PODS]
    assert results == {
        **{check: "pass" for check in judged},
        **{check: "not_available" for check in NEEDS_RUNNING_PODS},
    }
    live_probe = page.locator("li.check[data-check='host-not-exposed-live']")
    status = live_probe.locator(".check-status").text_content()
    assert status == "not available on this cluster"
    assert re.match(
        rf"{len(judged)} of {len(judged)} checks pass \({len(results)} checks in all;",
        score_line(page),
    )


def test_new_learner_finishes_module(new_page, dedicated_cluster):
    page = new_page()

    sign_up(page)
    read_module(page)
    do_harden_container(page)
    do_pod_security_standards(page)
    do_container_escape(page)

    page.goto(MODULE_URL)
    for slug in ("harden-container", "pod-security-standards", "container-escape"):
        badge = page.locator(f"#labs li:has(a[href='/labs/{slug}/']) .badge")
        assert badge.inner_text() == "Completed", slug
