"""Terminal echo round trip and output throughput, side by side with peers.

For the platform and each peer server, on the same bash: the time from
sending one keystroke to receiving its echo; the same while a second
terminal of the same server prints a file in a loop; and the rate at
which `cat` of a file of CAT_MB megabytes arrives through the websocket.
The client runs in this process and competes with the servers for the
same cores, for every server alike.
"""

import asyncio
import time
from pathlib import Path

from . import peers as peer_servers
from .clients import PlatformTerminal, TerminalClient, consume
from .stats import Table, ratio_note
from .web import learner_http

MARKER = b"__done_42__"
DONE = "; echo __done_$((6*7))__\r"
LINE = "the quick brown fox jumps over the lazy dog 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQR"


def write_big_file(path: Path, megabytes: int) -> None:
    line = (LINE + "\n").encode()
    size = megabytes * 1_000_000
    with path.open("wb") as out:
        block = line * 10_000
        while size > 0:
            out.write(block[:size])
            size -= len(block)


async def echo_samples(client: TerminalClient, count: int) -> list[float]:
    """Type x, wait for its echo, erase it; return the round trips in ms."""
    samples = []
    for _ in range(count):
        started = time.perf_counter()
        await client.type("x")
        await client.read_until(b"x", timeout=30)
        samples.append((time.perf_counter() - started) * 1000)
        await client.type("\x7f")
        await client.read_until(b"\x08", timeout=30)
    return samples


async def throughput(client: TerminalClient, path: str, megabytes: int) -> float:
    """Return MB/s for cat of the file through the terminal."""
    started = time.perf_counter()
    await client.type(f"cat {path}{DONE}")
    await client.read_until(MARKER, timeout=max(120, megabytes * 2))
    return megabytes / (time.perf_counter() - started)


async def measure(
    open_client, *, file_path: str, echo: int, cat_mb: int, cat_runs: int
):
    """Run the three measurements against one server; return their samples."""
    client = await open_client()
    try:
        await client.read_until(b"$ ", timeout=30)
        await client.drain()
        await echo_samples(client, 5)
        plain = await echo_samples(client, echo)

        flooder = await open_client()
        stop = asyncio.Event()
        try:
            await flooder.read_until(b"$ ", timeout=30)
            await flooder.type(f"while :; do cat {file_path}; done\r")
            reader = asyncio.ensure_future(consume(flooder, stop))
            await asyncio.sleep(1)
            flooded = await echo_samples(client, echo)
            await flooder.type("\x03")
            stop.set()
            await reader
        finally:
            await flooder.close()

        await client.drain()
        rates = [await throughput(client, file_path, cat_mb) for _ in range(cat_runs)]
    finally:
        await client.close()
    return plain, flooded, rates


async def _platform(stack, session_id, cookie, **options):
    base = stack.base_url
    url = base.replace("http", "ws", 1) + f"/ws/sessions/{session_id}/terminal/"
    http = learner_http(base, cookie)

    async def open_client():
        client = PlatformTerminal(http, url, base)
        await client.connect()
        return client

    try:
        first = await open_client()
        await first.read_until(b"$ ", timeout=30)
        await first.type(
            f"yes '{LINE}' | head -c {options['cat_mb'] * 1_000_000} > ~/big.txt{DONE}"
        )
        await first.read_until(MARKER, timeout=120)
        await first.close()
        return await measure(open_client, file_path="~/big.txt", **options)
    finally:
        await http.close()


async def _peer(peer, http, folder: Path, **options):
    async def open_client():
        client = peer.client_class(http, peer.url, peer.origin)
        await client.connect()
        return client

    return await measure(open_client, file_path=str(folder / "big.txt"), **options)


async def _all(stack, session_id, cookie, peers, folder, options):
    import aiohttp

    results = {"platform": await _platform(stack, session_id, cookie, **options)}
    async with aiohttp.ClientSession() as http:
        for peer in peers:
            results[peer.name] = await _peer(peer, http, folder, **options)
    return results


def run(stack, *, echo_samples: int, cat_mb: int, cat_runs: int, peers, lab_slug):
    learner, cookie = stack.make_learner("terminal")
    session = stack.ready_session(learner, lab_slug)
    folder = stack.work / "peer-home"
    folder.mkdir()
    write_big_file(folder / "big.txt", cat_mb)

    started = []
    try:
        for name in peers:
            started.append(
                peer_servers.STARTERS[name](folder, stack.work / f"{name}.log")
            )
        options = {"echo": echo_samples, "cat_mb": cat_mb, "cat_runs": cat_runs}
        results = asyncio.run(_all(stack, session.id, cookie, started, folder, options))
    finally:
        for peer in started:
            peer.stop()

    servers = ["platform", *(peer.name for peer in started)]
    table = Table(f"Terminal echo (ms) and cat of {cat_mb} MB (MB/s)")
    for index, title, unit in (
        (0, "echo", "ms"),
        (1, "echo while another terminal floods", "ms"),
        (2, f"cat {cat_mb} MB", "MB/s"),
    ):
        rows = {
            name: table.add(f"{title}, {name}", results[name][index], unit)
            for name in servers
        }
        peer_rows = [rows[name] for name in servers[1:]]
        if not peer_rows:
            continue
        if unit == "ms":
            best = min(peer_rows, key=lambda row: row.p50)
            rows["platform"].note = ratio_note(
                rows["platform"].p50, best.p50, best.label.split(", ")[1]
            )
        else:
            best = max(peer_rows, key=lambda row: row.p50)
            rows["platform"].note = ratio_note(
                rows["platform"].p50, best.p50, best.label.split(", ")[1]
            )
    table.footnotes.append(
        "Ratios compare p50 with the fastest peer. Targets: echo at most 1.2x, "
        "throughput at least 0.8x."
    )
    return [table]
