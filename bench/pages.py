"""Time to first byte of the module and lab pages, for a logged-in learner.

Requests go one at a time over one keep-alive connection, as a browser
tab loads a page, after a few warm-up requests. The time runs from
sending the request to reading the response's status line and headers,
which daphne sends together with the first body bytes.
"""

import http.client
import time

from .stats import Table, percentile, target_note

WARM_UP = 5


def _ttfb(port: int, path: str, cookie: str, count: int) -> list[float]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Cookie": f"sessionid={cookie}", "Host": f"127.0.0.1:{port}"}
    samples = []
    try:
        for index in range(WARM_UP + count):
            started = time.perf_counter()
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            elapsed = (time.perf_counter() - started) * 1000
            response.read()
            if response.status != 200:
                raise RuntimeError(f"GET {path} returned {response.status}")
            if index >= WARM_UP:
                samples.append(elapsed)
    finally:
        connection.close()
    return samples


def run(stack, *, requests: int, lab_slug: str) -> list[Table]:
    from labplatform.content.catalog import get_catalog

    catalog = get_catalog()
    lab = catalog.lab(lab_slug)
    module = next(
        module for module in catalog.modules if lab in catalog.labs_of(module)
    )
    learner, cookie = stack.make_learner("pages")
    other_lab = next(slug for slug in catalog.labs if slug != lab_slug)
    pages = [
        ("course index", "/"),
        (f"module page ({module.slug})", f"/modules/{module.slug}/"),
        (f"lab page, not started ({other_lab})", f"/labs/{other_lab}/"),
    ]
    before = {
        label: _ttfb(stack.web_port, path, cookie, requests) for label, path in pages
    }
    stack.ready_session(learner, lab_slug)
    running = (f"lab page, session ready ({lab_slug})", f"/labs/{lab_slug}/")
    before[running[0]] = _ttfb(stack.web_port, running[1], cookie, requests)

    table = Table("Page time to first byte, logged-in learner, ms")
    for label, samples in before.items():
        table.add(
            label, samples, note=target_note(percentile(samples, 0.95), 30, "p95")
        )
    return [table]
