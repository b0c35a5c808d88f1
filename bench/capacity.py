"""How many terminals one web process holds, and what each one costs.

Terminals are opened in steps (three per lab session, the platform's
limit per session). At each step every open terminal types one key a
second, at a random phase, for TYPING_SECONDS, and each key's echo round
trip is one sample. Memory is read from /proc: the web process's RSS,
and the proportional set size (PSS, shared pages split between sharers)
of every process under it, which are the sandboxes' bubblewrap, sh,
socat and bash.
"""

import asyncio
import os
import random
import time
from pathlib import Path

from .clients import PlatformTerminal
from .stats import Table, percentile
from .web import learner_http

TERMINALS_PER_SESSION = 3
OPEN_BATCH = 10
ECHO_LIMIT_MS = 50


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        tree.setdefault(int(fields[1]), []).append(int(entry.name))
    return tree


def _status_kib(pid: int, key: str, file: str = "status") -> int:
    try:
        for line in Path(f"/proc/{pid}/{file}").read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def memory(web_pid: int) -> tuple[float, float, int]:
    """Return the web RSS (MB), the PSS of its descendants (MB) and their count."""
    tree = _children()
    pending, descendants = list(tree.get(web_pid, [])), []
    while pending:
        pid = pending.pop()
        descendants.append(pid)
        pending.extend(tree.get(pid, []))
    pss = sum(_status_kib(pid, "Pss:", "smaps_rollup") for pid in descendants)
    return _status_kib(web_pid, "VmRSS:") / 1024, pss / 1024, len(descendants)


async def _typist(client: PlatformTerminal, seconds: float, samples: list[float]):
    await asyncio.sleep(random.random())
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        tick = time.monotonic()
        started = time.perf_counter()
        await client.type("x")
        await client.read_until(b"x", timeout=30)
        samples.append((time.perf_counter() - started) * 1000)
        await client.type("\x7f")
        await client.read_until(b"\x08", timeout=30)
        await asyncio.sleep(max(0.0, 1 - (time.monotonic() - tick)))


async def _steps(stack, sessions, cookies, steps, typing_seconds):
    base = stack.base_url
    https = [learner_http(base, cookie) for cookie in cookies]
    clients: list[PlatformTerminal] = []
    results = []

    async def open_one(index: int) -> PlatformTerminal:
        session = sessions[index // TERMINALS_PER_SESSION]
        url = base.replace("http", "ws", 1) + f"/ws/sessions/{session.id}/terminal/"
        client = PlatformTerminal(https[index // TERMINALS_PER_SESSION], url, base)
        await client.connect()
        await client.read_until(b"$ ", timeout=60)
        await client.drain(quiet=0.1)
        return client

    try:
        for step in steps:
            while len(clients) < step:
                batch = range(len(clients), min(step, len(clients) + OPEN_BATCH))
                clients.extend(await asyncio.gather(*(open_one(i) for i in batch)))
            await asyncio.sleep(1)
            rss, pss, processes = memory(stack.web_pid)
            samples: list[float] = []
            await asyncio.gather(
                *(_typist(client, typing_seconds, samples) for client in clients)
            )
            results.append((step, samples, rss, pss, processes))
    finally:
        for client in clients:
            await client.close()
        for http in https:
            await http.close()
    return results


def run(stack, *, steps: list[int], lab_slug: str, typing_seconds: float = 10):
    session_count = -(-max(steps) // TERMINALS_PER_SESSION)
    learners = [stack.make_learner("capacity") for _ in range(session_count)]
    sessions = stack.ready_sessions([learner for learner, _ in learners], lab_slug)
    base_rss, base_pss, _ = memory(stack.web_pid)

    results = asyncio.run(
        _steps(
            stack, sessions, [cookie for _, cookie in learners], steps, typing_seconds
        )
    )
    table = Table(
        "Open terminals in one web process, each typing one key a second: echo, ms"
    )
    held = 0
    for step, samples, rss, pss, processes in results:
        table.add(
            f"echo with {step} terminals open",
            samples,
            note=(
                f"web RSS {rss:.0f} MB ({(rss - base_rss) / step:.2f} MB/terminal); "
                f"sandboxes {pss - base_pss:.0f} MB PSS in {processes} processes "
                f"({(pss - base_pss) / step:.2f} MB/terminal)"
            ),
        )
        if percentile(samples, 0.99) < ECHO_LIMIT_MS:
            held = max(held, step)
    table.footnotes.append(
        f"Largest step with p99 echo under {ECHO_LIMIT_MS} ms: {held} terminals "
        f"(target 200). The web process had {os.cpu_count()} CPUs to share with "
        "the sandboxes, the worker and this client."
    )
    return [table]
