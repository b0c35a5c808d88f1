"""Lab start: from the click on Start lab to the first byte of the prompt.

Each learner does what the lab page does: POST the start form, load the
lab page it redirects to, wait on the status websocket (polling the
status fragment every 2 s as the page does) until the session is ready,
then open the terminal websocket and wait for the shell's first byte.
The worker (bench.worker) records when the provisioning task started and
ended and how long each server-side apply took, which splits the time
into stages.
"""

import asyncio
import time

import aiohttp

from .stats import Table, percentile, target_note
from .web import SESSION_ID, csrf_token, learner_http

READY = b'data-status="ready"'
FAILED = b'data-status="failed"'


async def _wait_ready(http, base_url: str, session_id: str) -> None:
    status_url = f"{base_url}/sessions/{session_id}/status/"
    socket_url = (
        base_url.replace("http", "ws", 1) + f"/ws/sessions/{session_id}/status/"
    )
    async with http.ws_connect(socket_url, headers={"Origin": base_url}) as socket:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            async with http.get(status_url) as response:
                fragment = await response.read()
            if READY in fragment:
                return
            if FAILED in fragment:
                raise RuntimeError(f"session {session_id} failed: {fragment[:500]!r}")
            try:
                message = await socket.receive(timeout=2)
            except TimeoutError:
                continue
            data = message.data if isinstance(message.data, str) else ""
            if READY.decode() in data:
                return
    raise TimeoutError(f"session {session_id} not ready within 120 s")


async def start_one(base_url: str, cookie: str, lab_slug: str, gate=None) -> dict:
    """Start the lab for one learner; return wall-clock marks of each stage."""
    async with learner_http(base_url, cookie) as http:
        async with http.get(f"{base_url}/labs/{lab_slug}/") as response:
            response.raise_for_status()
        token = csrf_token(http, base_url)
        if gate is not None:
            await gate.wait()

        marks = {"click": time.time()}
        async with http.post(
            f"{base_url}/labs/{lab_slug}/start/",
            headers={"X-CSRFToken": token, "Origin": base_url},
            allow_redirects=False,
        ) as response:
            if response.status != 302:
                raise RuntimeError(
                    f"start returned {response.status}: {(await response.text())[:300]}"
                )
        marks["posted"] = time.time()
        async with http.get(f"{base_url}/labs/{lab_slug}/") as response:
            page = await response.read()
        marks["page"] = time.time()
        found = SESSION_ID.search(page)
        if found is None:
            raise RuntimeError("the lab page after the start shows no session")
        session_id = found.group(1).decode()
        marks["session"] = session_id
        await _wait_ready(http, base_url, session_id)
        marks["ready_seen"] = time.time()

        socket = await http.ws_connect(
            base_url.replace("http", "ws", 1) + f"/ws/sessions/{session_id}/terminal/",
            headers={"Origin": base_url},
        )
        marks["terminal_open"] = time.time()
        message = await socket.receive(timeout=60)
        if message.type != aiohttp.WSMsgType.BINARY:
            raise RuntimeError(f"terminal sent {message.type} {message.data!r} first")
        marks["first_byte"] = time.time()
        await socket.close()
    return marks


def _stage_table(title: str, runs: list[dict], timings: list[dict]) -> Table:
    by_session: dict[str, list[dict]] = {}
    for event in timings:
        by_session.setdefault(event["session"], []).append(event)

    def stage(label, start, end):
        return label, [(run[end] - run[start]) * 1000 for run in runs]

    api_by_kind: dict[str, list[float]] = {}
    queue, task, other, notice = [], [], [], []
    for run in runs:
        events = by_session.get(run["session"], [])
        started = [e["at"] for e in events if e["event"] == "task_start"]
        ended = [e["at"] for e in events if e["event"] == "task_end"]
        calls = [e for e in events if e["event"] == "api"]
        if not started or not ended:
            continue
        queue.append((started[0] - run["click"]) * 1000)
        task.append((ended[-1] - started[0]) * 1000)
        other.append(task[-1] - sum(call["ms"] for call in calls))
        notice.append((run["ready_seen"] - ended[-1]) * 1000)
        for call in calls:
            api_by_kind.setdefault(call["kind"], []).append(call["ms"])

    table = Table(title)
    table.add(*stage("POST start (click to redirect)", "click", "posted"))
    table.add(*stage("lab page after the redirect", "posted", "page"))
    table.add("queue wait (click to task start)", queue)
    table.add("provisioning task (start to end)", task)
    for kind, samples in sorted(api_by_kind.items()):
        table.add(f"  apply {kind}", samples)
    table.add("  rest of the task (database, progress pushes)", other)
    table.add("ready to the page seeing it", notice)
    table.add(*stage("terminal handshake", "ready_seen", "terminal_open"))
    table.add(
        *stage("terminal: shell start to first byte", "terminal_open", "first_byte")
    )
    table.add(*stage("click to first prompt byte", "click", "first_byte"))
    return table


async def _single(stack, runs: int, lab_slug: str) -> list[dict]:
    results = []
    for _ in range(runs):
        _, cookie = stack.make_learner("solo")
        results.append(await start_one(stack.base_url, cookie, lab_slug))
    return results


async def _burst(stack, learners: int, lab_slug: str) -> list[dict]:
    cookies = [stack.make_learner("burst")[1] for _ in range(learners)]
    gate = asyncio.Event()
    tasks = [
        asyncio.ensure_future(start_one(stack.base_url, cookie, lab_slug, gate))
        for cookie in cookies
    ]
    # Every learner has the lab page open before anyone clicks.
    await asyncio.sleep(0.5 + 0.02 * learners)
    gate.set()
    return await asyncio.gather(*tasks)


def run(stack, *, runs: int, burst: int, lab_slug: str) -> list[Table]:
    single = asyncio.run(_single(stack, runs, lab_slug))
    table = _stage_table(
        f"Lab start, one learner at a time ({lab_slug}), ms",
        single,
        stack.read_timings(),
    )
    total = table.row("click to first prompt byte")
    total.note = target_note(percentile(total.samples, 0.95), 1500, "p95")

    tables = [table]
    if burst:
        seen = {run["session"] for run in single}
        together = asyncio.run(_burst(stack, burst, lab_slug))
        timings = [e for e in stack.read_timings() if e["session"] not in seen]
        burst_table = _stage_table(
            f"Lab start, {burst} learners clicking together ({lab_slug}), ms",
            together,
            timings,
        )
        all_ready = (
            max(run["first_byte"] for run in together)
            - min(run["click"] for run in together)
        ) * 1000
        burst_table.add(
            f"all {burst} at their first prompt byte",
            [all_ready],
            note=target_note(all_ready, 15000, "max"),
        )
        tables.append(burst_table)
    return tables
