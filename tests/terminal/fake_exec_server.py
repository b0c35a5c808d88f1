"""A stand-in for the API server's pod exec endpoint, for the exec backend's tests.

No kubelet runs here, so no exec through the real API server can reach
a shell. This server speaks the same wire protocol instead: a TLS websocket
on 127.0.0.1 at /api/v1/namespaces/NS/pods/POD/exec, bearer-token
authentication, subprotocol negotiation between v5.channel.k8s.io and
v4.channel.k8s.io the way Kubernetes' wsstream package does it (the first
offered protocol that the server supports wins), one channel byte before
every binary message, an empty stdout message once the stream is ready,
resize JSON on channel 4, the v5 close signal on 255, and a metav1.Status
on channel 3 before a normal close.

By default each connection runs a real bash on a PTY, so resizes, exit
codes and readline behave as in a container. A test can instead give a
script of frames, stalls and closes to play, for the failures a healthy
shell never shows. The server runs its own event loop in a thread, so a
stalled server never blocks the code under test.
"""

import asyncio
import json
import os
import re
import threading
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from ptyprocess import PtyProcess
from websockets.asyncio.server import ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Response

from labplatform.cluster import pki

V5 = "v5.channel.k8s.io"
V4 = "v4.channel.k8s.io"
EXEC_PATH = re.compile(r"^/api/v1/namespaces/([^/]+)/pods/([^/]+)/exec$")


def status_frame(code: int) -> bytes:
    """Build the channel 3 message that reports an exit code as Kubernetes does."""
    if code == 0:
        status = {"metadata": {}, "status": "Success"}
    else:
        status = {
            "metadata": {},
            "status": "Failure",
            "message": f"command terminated with non-zero exit code: exit status {code}",
            "reason": "NonZeroExitCode",
            "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
        }
    return bytes([3]) + json.dumps(status).encode()


def status_body(code: int, reason: str, message: str) -> bytes:
    return json.dumps(
        {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": message,
            "reason": reason,
            "code": code,
        }
    ).encode()


@dataclass
class ExecRecord:
    """What one exec connection carried, for the test to inspect."""

    namespace: str
    pod: str
    query: dict
    token: str
    subprotocol: str | None
    stdin: bytearray = field(default_factory=bytearray)
    resizes: list = field(default_factory=list)
    close_signals: list = field(default_factory=list)
    sent_bytes: int = 0
    ended: threading.Event = field(default_factory=threading.Event)
    ended_at: float | None = None
    shell_pid: int | None = None


class FakeExecServer:
    """The exec endpoint on 127.0.0.1 over TLS, served from its own thread.

    Knobs, set before a client connects:
    subprotocols  the ones this server supports, in no particular order;
    reject_v5     answer 403 with an empty body whenever v5 is offered, as
                  a server that only knows v4 does when v5 is all it gets;
    tokens        accepted bearer tokens (None accepts any non-empty one);
    script        None for a real bash, or a list of steps:
                  ("send", channel, bytes), ("sleep", seconds),
                  ("wait_input", bytes), ("status", code),
                  ("close", code, reason), ("drop",), ("stall",).
    """

    def __init__(self, folder: Path):
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        ca = pki.make_ca(folder)
        self.server_pair = pki.make_signed(
            ca,
            folder,
            file_stem="exec-server",
            common_name="fake-exec-server",
            server_names=("localhost",),
            server_ips=("127.0.0.1",),
        )
        self.ca_pem = ca.cert_path.read_text()
        self.home = folder / "home"
        self.home.mkdir(exist_ok=True)
        self.subprotocols: tuple[str, ...] = (V5, V4)
        self.reject_v5 = False
        self.tokens: set[str] | None = None
        self.script: list | None = None
        self.records: list[ExecRecord] = []
        self.handshakes = 0
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stop: asyncio.Event | None = None
        self._processes: list[PtyProcess] = []

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def reset(self) -> None:
        self.subprotocols = (V5, V4)
        self.reject_v5 = False
        self.tokens = None
        self.script = None
        self.records.clear()
        self.handshakes = 0

    # --- lifecycle ---------------------------------------------------------------

    def start(self) -> None:
        ready = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(ready,), name="fake-exec-server", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("fake exec server did not start within 10 s")

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(10)
        for process in self._processes:
            if process.isalive():
                process.terminate(force=True)

    def _run(self, ready: threading.Event) -> None:
        asyncio.run(self._serve(ready))

    async def _serve(self, ready: threading.Event) -> None:
        import ssl

        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.server_pair.cert_path, self.server_pair.key_path)
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        async with serve(
            self._handle,
            "127.0.0.1",
            0,
            ssl=context,
            process_request=self._process_request,
            select_subprotocol=self._select_subprotocol,
            ping_interval=None,
            compression=None,
            max_size=1024 * 1024,
        ) as server:
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            await self._stop.wait()

    # --- handshake ---------------------------------------------------------------

    def _offered(self, headers: Headers) -> list[str]:
        offered = []
        for value in headers.get_all("Sec-WebSocket-Protocol"):
            offered.extend(item.strip() for item in value.split(",") if item.strip())
        return offered

    def _process_request(self, connection: ServerConnection, request):
        self.handshakes += 1
        if not EXEC_PATH.match(urlsplit(request.path).path):
            return _response(
                HTTPStatus.NOT_FOUND, status_body(404, "NotFound", "no such path")
            )
        authorization = request.headers.get("Authorization", "")
        token = authorization.removeprefix("Bearer ").strip()
        if (
            not authorization.startswith("Bearer ")
            or not token
            or (self.tokens is not None and token not in self.tokens)
        ):
            return _response(
                HTTPStatus.UNAUTHORIZED,
                status_body(401, "Unauthorized", "Unauthorized"),
            )
        offered = self._offered(request.headers)
        if self.reject_v5 and V5 in offered:
            return _response(HTTPStatus.FORBIDDEN, b"")
        if not any(protocol in self.subprotocols for protocol in offered):
            return _response(HTTPStatus.FORBIDDEN, b"")
        return None

    def _select_subprotocol(self, connection: ServerConnection, offered):
        for protocol in offered:
            if protocol in self.subprotocols:
                return protocol
        return None

    # --- one exec stream -----------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        request = connection.request
        parts = urlsplit(request.path)
        namespace, pod = EXEC_PATH.match(parts.path).groups()
        record = ExecRecord(
            namespace=namespace,
            pod=pod,
            query=parse_qs(parts.query),
            token=request.headers["Authorization"].removeprefix("Bearer ").strip(),
            subprotocol=connection.subprotocol,
        )
        self.records.append(record)
        try:
            # Kubernetes sends an empty message on the lowest output
            # channel to say the stream is ready.
            await connection.send(bytes([1]))
            if self.script is not None:
                await self._play(connection, record, list(self.script))
            else:
                await self._run_shell(connection, record)
        except ConnectionClosed:
            pass
        finally:
            record.ended_at = time.monotonic()
            record.ended.set()

    async def _receive(self, connection: ServerConnection, record: ExecRecord) -> None:
        """Record the client's frames until the socket closes (script mode)."""
        await self._receive_shell(
            connection, record, lambda data: None, lambda *_: None, lambda *_: None
        )

    async def _play(
        self, connection: ServerConnection, record: ExecRecord, steps
    ) -> None:
        receiver = asyncio.ensure_future(self._receive(connection, record))
        try:
            for step in steps:
                kind = step[0]
                if kind == "send":
                    await connection.send(bytes([step[1]]) + step[2])
                    record.sent_bytes += len(step[2])
                elif kind == "sleep":
                    await asyncio.sleep(step[1])
                elif kind == "wait_input":
                    while step[1] not in record.stdin:
                        await asyncio.sleep(0.02)
                elif kind == "status":
                    await connection.send(status_frame(step[1]))
                elif kind == "close":
                    await connection.close(step[1], step[2])
                    return
                elif kind == "drop":
                    # End TCP (after what is buffered) with no close frame,
                    # as when a node or proxy goes away.
                    connection.transport.close()
                    return
                elif kind == "stall":
                    # Read nothing more, so pings go unanswered, and send
                    # nothing, while the TCP connection stays open.
                    receiver.cancel()
                    connection.transport.pause_reading()
                    await self._stop.wait()
                    return
            await connection.wait_closed()
        finally:
            receiver.cancel()

    async def _run_shell(
        self, connection: ServerConnection, record: ExecRecord
    ) -> None:
        loop = asyncio.get_running_loop()
        environment = {
            "HOME": str(self.home),
            "PATH": "/usr/local/bin:/usr/bin:/bin",
            "TERM": "xterm-256color",
            "LANG": "C.UTF-8",
            "PS1": "$ ",
        }
        process = PtyProcess.spawn(
            ["/bin/bash", "--norc", "--noprofile", "-i"],
            env=environment,
            cwd=str(self.home),
            dimensions=(24, 80),
        )
        self._processes.append(process)
        record.shell_pid = process.pid

        def write_stdin(data: bytes) -> None:
            os.write(process.fd, data)

        def resize(_record, size) -> None:
            process.setwinsize(int(size["Height"]), int(size["Width"]))

        def close_stdin(_record, channel) -> None:
            if channel == b"\x00":
                # A TTY has no half-close: end-of-file is Ctrl-D.
                os.write(process.fd, b"\x04")

        async def pump_output() -> None:
            while True:
                try:
                    data = await loop.run_in_executor(None, os.read, process.fd, 65536)
                except OSError:
                    break
                if not data:
                    break
                await connection.send(bytes([1]) + data)
                record.sent_bytes += len(data)

        receiver = asyncio.ensure_future(
            self._receive_shell(connection, record, write_stdin, resize, close_stdin)
        )
        output = asyncio.ensure_future(pump_output())
        try:
            done, _ = await asyncio.wait(
                {receiver, output}, return_when=asyncio.FIRST_COMPLETED
            )
            if output in done:
                code = await loop.run_in_executor(None, process.wait)
                await connection.send(status_frame(code if code is not None else 1))
                await connection.close(1000, "")
        finally:
            receiver.cancel()
            if process.isalive():
                # The client went away: a runtime closes the PTY, which
                # hangs up the shell.
                await loop.run_in_executor(None, lambda: process.terminate(force=True))
            output.cancel()
            await asyncio.gather(receiver, output, return_exceptions=True)
            await loop.run_in_executor(None, lambda: process.close(force=True))

    async def _receive_shell(
        self, connection, record, write_stdin, resize, close_stdin
    ):
        async for message in connection:
            if isinstance(message, str) or not message:
                continue
            channel, payload = message[0], message[1:]
            if channel == 0:
                record.stdin.extend(payload)
                write_stdin(payload)
            elif channel == 4:
                size = json.loads(payload)
                record.resizes.append(size)
                resize(record, size)
            elif channel == 255 and connection.subprotocol == V5:
                record.close_signals.append(payload[0] if payload else None)
                close_stdin(record, payload[:1])


def _response(status: HTTPStatus, body: bytes) -> Response:
    headers = Headers()
    if body:
        headers["Content-Type"] = "application/json"
    headers["Content-Length"] = str(len(body))
    return Response(status.value, status.phrase, headers, body)
