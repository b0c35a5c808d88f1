"""Websocket clients for the platform's terminal and for the peer servers.

Each client speaks its server's protocol the way that server's own page
does, acknowledgements included, and exposes the same three calls:
connect, type and read_until. Only the last few KiB of output are kept,
so a 100 MB cat does not pile up in memory.
"""

import asyncio
import json
import time

import aiohttp

TAIL_BYTES = 4096


class TerminalClient:
    name = "?"

    def __init__(self, http: aiohttp.ClientSession, url: str, origin: str):
        self.http = http
        self.url = url
        self.origin = origin
        self.socket: aiohttp.ClientWebSocketResponse | None = None
        self.received = 0
        self.tail = b""
        self.first_byte_at: float | None = None

    async def connect(self) -> None:
        self.socket = await self.http.ws_connect(
            self.url, headers={"Origin": self.origin}, max_msg_size=0
        )

    async def type(self, text: str) -> None:
        raise NotImplementedError

    async def _output(self, message: aiohttp.WSMessage) -> bytes:
        """Return the terminal output a frame carries, answering it if needed."""
        raise NotImplementedError

    async def read_until(self, needle: bytes, timeout: float = 60) -> None:
        """Read output until needle appears in what arrives after this call."""
        window = b""
        deadline = time.monotonic() + timeout
        while needle not in window:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(
                    f"{self.name}: {needle!r} not seen within {timeout} s; last "
                    f"output: {self.tail[-300:]!r}"
                )
            message = await self.socket.receive(timeout=remaining)
            if message.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSED,
                aiohttp.WSMsgType.ERROR,
            ):
                raise ConnectionError(
                    f"{self.name}: socket closed ({message.data}) before {needle!r}"
                )
            data = await self._output(message)
            if not data:
                continue
            if self.first_byte_at is None:
                self.first_byte_at = time.perf_counter()
            self.received += len(data)
            window = window[-len(needle) :] + data
            self.tail = (self.tail + data)[-TAIL_BYTES:]

    async def drain(self, quiet: float = 0.3) -> None:
        """Read until no output arrives for quiet seconds."""
        while True:
            try:
                message = await self.socket.receive(timeout=quiet)
            except TimeoutError:
                return
            if message.type != aiohttp.WSMsgType.CLOSED:
                await self._output(message)
            else:
                return

    async def close(self) -> None:
        if self.socket is not None:
            await self.socket.close()


class PlatformTerminal(TerminalClient):
    """The platform's protocol: JSON input, binary output, acks of marks."""

    name = "platform"

    async def type(self, text: str) -> None:
        await self.socket.send_str(json.dumps({"type": "input", "data": text}))

    async def _output(self, message):
        if message.type == aiohttp.WSMsgType.BINARY:
            return message.data
        if message.type == aiohttp.WSMsgType.TEXT:
            event = json.loads(message.data)
            if event.get("type") == "mark":
                # The page acknowledges a mark once xterm.js has drawn the
                # output before it; this client draws nothing, so it
                # acknowledges on receipt.
                await self.socket.send_str(
                    json.dumps({"type": "ack", "mark": event["id"]})
                )
            elif event.get("type") == "error":
                raise ConnectionError(f"platform: {event.get('message')}")
        return b""


class TerminadoTerminal(TerminalClient):
    """terminado's protocol: JSON arrays ["stdin", text] and ["stdout", text]."""

    name = "terminado"

    async def connect(self) -> None:
        await super().connect()
        await self.socket.send_str(json.dumps(["set_size", 24, 80]))

    async def type(self, text: str) -> None:
        await self.socket.send_str(json.dumps(["stdin", text]))

    async def _output(self, message):
        if message.type != aiohttp.WSMsgType.TEXT:
            return b""
        kind, *payload = json.loads(message.data)
        if kind == "stdout":
            return payload[0].encode("utf-8", "replace")
        return b""


class WettyTerminal(TerminalClient):
    """WeTTY's protocol: socket.io events over an engine.io v4 websocket.

    Frames are "0{...}" (open), "2"/"3" (ping/pong), "40" (namespace
    connect) and "42[event, data]". WeTTY sends "data" events and pauses
    the PTY until the client emits "commit" for each 256 KiB it drew.
    """

    name = "wetty"
    COMMIT_EVERY = 262144

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.uncommitted = 0

    async def connect(self) -> None:
        await super().connect()
        await self.socket.send_str("40")

    async def type(self, text: str) -> None:
        await self.socket.send_str("42" + json.dumps(["input", text]))

    async def _output(self, message):
        if message.type != aiohttp.WSMsgType.TEXT:
            return b""
        frame = message.data
        if frame == "2":
            await self.socket.send_str("3")
            return b""
        if not frame.startswith("42"):
            return b""
        event, *payload = json.loads(frame[2:])
        if event != "data":
            return b""
        text = payload[0]
        self.uncommitted += len(text)
        while self.uncommitted >= self.COMMIT_EVERY:
            self.uncommitted -= self.COMMIT_EVERY
            await self.socket.send_str("42" + json.dumps(["commit", self.COMMIT_EVERY]))
        return text.encode("utf-8", "replace")


async def consume(client: TerminalClient, stop: asyncio.Event) -> None:
    """Read and acknowledge output until stop is set, as a page left open does."""
    while not stop.is_set():
        try:
            message = await client.socket.receive(timeout=0.5)
        except TimeoutError:
            continue
        if message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED):
            return
        await client._output(message)
