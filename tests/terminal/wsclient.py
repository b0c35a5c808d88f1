"""A test client for the terminal websocket, speaking the page's protocol."""

import itertools
import json
import time

from channels.testing import WebsocketCommunicator

from labplatform.asgi import application

_markers = itertools.count(1)


def handshake_headers(
    *, cookie: str | None, origin: str | None, host: str = "testserver"
) -> list[tuple[bytes, bytes]]:
    headers = [(b"host", host.encode())]
    if cookie is not None:
        headers.append((b"cookie", cookie.encode()))
    if origin is not None:
        headers.append((b"origin", origin.encode()))
    return headers


class TerminalClient:
    def __init__(self, path: str, headers):
        self.communicator = WebsocketCommunicator(application, path, headers=headers)
        self.output = bytearray()
        self.messages: list[dict] = []
        # Flow-control marks received, in order.
        self.marks: list[str] = []
        # Acknowledge output as the page does, so the server keeps sending.
        self.acknowledge = True

    async def connect(self):
        return await self.communicator.connect(timeout=30)

    async def send_input(self, text: str) -> None:
        await self.communicator.send_to(
            text_data=json.dumps({"type": "input", "data": text})
        )

    async def send_json(self, message) -> None:
        await self.communicator.send_to(text_data=json.dumps(message))

    async def read_until(self, needle: bytes, timeout: float = 30) -> bytes:
        """Collect output until needle appears; return everything read so far."""
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(
                    f"{needle!r} not seen in terminal output:\n"
                    f"{self.output.decode('utf-8', 'replace')[-3000:]}"
                )
            try:
                frame = await self.communicator.receive_output(timeout=remaining)
            except TimeoutError:
                continue
            if frame["type"] == "websocket.close":
                raise AssertionError(
                    f"socket closed with {frame.get('code')} before "
                    f"{needle!r}: {self.output.decode('utf-8', 'replace')}"
                )
            if frame.get("bytes") is not None:
                self.output.extend(frame["bytes"])
            elif frame.get("text") is not None:
                await self._text(json.loads(frame["text"]))
        return bytes(self.output)

    async def _text(self, message) -> None:
        """Keep a text message; acknowledge marks as the page does."""
        if message.get("type") == "mark":
            self.marks.append(message["id"])
            if self.acknowledge:
                await self.send_json({"type": "ack", "mark": message["id"]})
            return
        self.messages.append(message)

    async def drain(self, *, quiet_seconds: float, limit_seconds: float) -> int:
        """Read output until none arrives for quiet_seconds; return the byte count."""
        count = 0
        deadline = time.monotonic() + limit_seconds
        while time.monotonic() < deadline:
            # receive_output cancels the application when it times out, so
            # quiet is detected with receive_nothing instead.
            if await self.communicator.receive_nothing(
                timeout=quiet_seconds, interval=0.05
            ):
                break
            frame = await self.communicator.receive_output(timeout=5)
            if frame.get("bytes") is not None:
                count += len(frame["bytes"])
                self.output.extend(frame["bytes"])
            elif frame.get("text") is not None:
                await self._text(json.loads(frame["text"]))
        return count

    async def run(self, command: str, timeout: float = 60) -> str:
        """Type a command, wait for it to finish, and return what it printed."""
        number = next(_markers)
        start = len(self.output)
        # The marker is its own command line, so a command may span lines
        # (a heredoc); the shell expands it, so the typed text never matches.
        lines = command.rstrip("\n").replace("\n", "\r")
        await self.send_input(f"{lines}\recho __done_$(( {number} * 7 ))__\r")
        marker = f"__done_{number * 7}__".encode()
        await self.read_until(marker, timeout=timeout)
        text = bytes(self.output[start:]).decode("utf-8", "replace")
        return text.split(marker.decode())[0]

    async def close(self):
        # Closing waits for the sandbox to be reaped, which can take a moment.
        await self.communicator.disconnect(timeout=15)
