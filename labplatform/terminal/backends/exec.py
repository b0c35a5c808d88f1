"""The exec terminal backend: a shell in the learner's workbench pod.

The web process opens the Kubernetes exec websocket
(GET /api/v1/namespaces/NS/pods/POD/exec?...&tty=true) on the API server,
authenticated with the learner's own ServiceAccount token and checking
the server's certificate against the cluster CA. The platform's own
credentials never reach this connection, so RBAC judges the learner: the
API server rejects an exec into any namespace but theirs.

Wire format, as Kubernetes' wsstream package defines it: every binary
message starts with one channel byte. 0 is stdin, 1 stdout, 2 stderr,
3 the error channel (one metav1.Status JSON when the command ends, with
the exit code in details.causes), 4 resize (JSON {"Width", "Height"}).
v5.channel.k8s.io adds 255, a close signal: [255, 0] closes stdin and
lets the server finish the other streams cleanly. v4.channel.k8s.io has
no close signal, so closing the socket is the only way to end a session.
The client offers v5 first and v4 second, and the server picks.

A stream can die without a close frame (a node or proxy vanishes), or
stall with the TCP connection still open. A ping every few seconds and a
deadline on hearing anything back catch both, and the learner reads why
the terminal stopped.
"""

import asyncio
import json
import logging
import ssl
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlencode, urlsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidStatus,
    InvalidURI,
)

from . import ShellStartError

logger = logging.getLogger(__name__)

SUBPROTOCOL_V5 = "v5.channel.k8s.io"
SUBPROTOCOL_V4 = "v4.channel.k8s.io"
SUBPROTOCOLS = (SUBPROTOCOL_V5, SUBPROTOCOL_V4)

CHANNEL_STDIN = 0
CHANNEL_STDOUT = 1
CHANNEL_STDERR = 2
CHANNEL_ERROR = 3
CHANNEL_RESIZE = 4
CHANNEL_CLOSE = 255

# client-go (v0.37) pings every 5 s and gives up after 61 s of silence. A
# learner staring at a frozen terminal needs to know sooner.
PING_INTERVAL_SECONDS = 5.0
STALL_SECONDS = 20.0
WRITE_DEADLINE_SECONDS = 20.0
CONNECT_TIMEOUT_SECONDS = 15.0
CLOSE_TIMEOUT_SECONDS = 2.0
# Largest message accepted from the API server, which bounds the memory one
# queued message can take.
MAX_MESSAGE_BYTES = 1024 * 1024
# Messages the websocket library buffers before it stops reading the
# socket, which is how pause_reading reaches the API server as TCP
# backpressure.
MAX_QUEUED_MESSAGES = 8
MAX_PENDING_INPUT = 256 * 1024


class ExecStartError(ShellStartError):
    """The exec connection to the workbench pod could not be opened."""


@dataclass(frozen=True)
class ExecTarget:
    """The workbench to exec into, and the learner's credentials for it.

    token is the learner's ServiceAccount token (from a TokenRequest), never
    the platform's. ca_pem is the cluster CA that the API server's
    certificate must chain to.
    """

    server_url: str
    ca_pem: str
    token: str
    namespace: str
    pod: str
    container: str
    command: tuple[str, ...]

    def __repr__(self) -> str:
        # Keep the token out of logs and tracebacks.
        return (
            f"ExecTarget(server_url={self.server_url!r}, "
            f"namespace={self.namespace!r}, pod={self.pod!r})"
        )


@dataclass(frozen=True)
class ExitStatus:
    """The error channel's report: an exit code, or a failure message."""

    code: int | None
    message: str


def exec_url(target: ExecTarget) -> str:
    """Build the wss:// URL of the exec subresource for target."""
    parts = urlsplit(target.server_url)
    if parts.scheme not in ("https", "http"):
        raise ExecStartError(
            f"The API server address {target.server_url!r} is not an http(s) URL; "
            "check the cluster's kubeconfig."
        )
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = (
        f"{parts.path.rstrip('/')}/api/v1/namespaces/{quote(target.namespace)}"
        f"/pods/{quote(target.pod)}/exec"
    )
    # With tty=true the kubelet merges stderr into stdout; stderr=true is
    # still sent so a runtime that keeps them apart has a channel for it.
    query = [
        ("container", target.container),
        ("stdin", "true"),
        ("stdout", "true"),
        ("stderr", "true"),
        ("tty", "true"),
        *(("command", word) for word in target.command),
    ]
    return f"{scheme}://{parts.netloc}{path}?{urlencode(query)}"


def make_ssl_context(ca_pem: str) -> ssl.SSLContext:
    """Build a TLS context that trusts only the cluster CA and checks host names."""
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cadata=ca_pem)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def parse_exit_status(payload: bytes) -> ExitStatus:
    """Read the metav1.Status JSON that the error channel carries.

    Success means exit code 0. A Failure with reason NonZeroExitCode has
    the code in a cause of type ExitCode; any other Failure (the container
    is gone, the runtime failed) has only a message.
    """
    try:
        status = json.loads(payload.decode("utf-8", errors="replace"))
    except ValueError:
        text = payload.decode("utf-8", errors="replace").strip()
        return ExitStatus(code=None, message=text or "unreadable status")
    if not isinstance(status, dict):
        return ExitStatus(code=None, message=f"unexpected status {status!r}")
    if status.get("status") == "Success":
        return ExitStatus(code=0, message="")
    message = str(status.get("message") or status.get("reason") or "unknown error")
    if status.get("reason") == "NonZeroExitCode":
        causes = (status.get("details") or {}).get("causes") or []
        for cause in causes:
            if isinstance(cause, dict) and cause.get("reason") == "ExitCode":
                try:
                    return ExitStatus(code=int(cause.get("message")), message=message)
                except (TypeError, ValueError):
                    break
    return ExitStatus(code=None, message=message)


def _status_message(body: bytes) -> str:
    """Return the message of a Kubernetes Status body, or "" for any other body."""
    try:
        status = json.loads(body.decode("utf-8", errors="replace"))
    except ValueError:
        return ""
    if isinstance(status, dict) and status.get("kind") == "Status":
        return str(status.get("message") or status.get("reason") or "")
    return ""


def _notice(text: str) -> bytes:
    """Format a platform message for the terminal, on a line of its own."""
    return f"\r\n[{text}]\r\n".encode()


class ExecShell:
    """A TTY shell in a pod, reached through the API server's exec websocket.

    The interface matches LocalShell. Input waits in a bounded queue, so a
    pod that stops reading stdin never blocks the event loop; write()
    returns False when the queue is full. pause_reading() stops reading
    the socket, and the API server then feels TCP backpressure.
    """

    def __init__(
        self,
        *,
        target: ExecTarget,
        on_output: Callable[[bytes], None],
        on_exit: Callable[[int | None], None],
        ping_interval: float | None = None,
        stall_seconds: float | None = None,
        write_deadline: float | None = None,
        connect_timeout: float | None = None,
    ):
        self.target = target
        self.on_output = on_output
        self.on_exit = on_exit
        # None takes the module's value at construction time.
        self.ping_interval = ping_interval or PING_INTERVAL_SECONDS
        self.stall_seconds = stall_seconds or STALL_SECONDS
        self.write_deadline = write_deadline or WRITE_DEADLINE_SECONDS
        self.connect_timeout = connect_timeout or CONNECT_TIMEOUT_SECONDS
        self.socket: ClientConnection | None = None
        self.subprotocol: str | None = None
        self.exit_status: ExitStatus | None = None
        self._size: tuple[int, int] | None = None
        self._outgoing: asyncio.Queue[bytes] = asyncio.Queue()
        self._pending_bytes = 0
        self._read_allowed = asyncio.Event()
        self._read_allowed.set()
        self._last_heard = 0.0
        self._tasks: list[asyncio.Task] = []
        self._finished = False
        self._closing = False

    @property
    def reading(self) -> bool:
        return self._read_allowed.is_set()

    # --- starting ------------------------------------------------------------

    async def start(self, *, cols: int, rows: int) -> None:
        """Open the exec stream, send the terminal size and start relaying."""
        self._size = (cols, rows)
        self.socket = await self._open()
        self.subprotocol = self.socket.subprotocol
        if self.subprotocol not in SUBPROTOCOLS:
            await self.socket.close()
            raise ExecStartError(
                "The API server accepted the terminal connection without agreeing "
                f"on {SUBPROTOCOL_V5} or {SUBPROTOCOL_V4} (it chose "
                f"{self.subprotocol!r}). The exec backend needs Kubernetes 1.30 or "
                "later."
            )
        loop = asyncio.get_running_loop()
        self._last_heard = loop.time()
        self._queue_resize()
        self._tasks = [
            asyncio.ensure_future(self._read_loop()),
            asyncio.ensure_future(self._write_loop()),
            asyncio.ensure_future(self._heartbeat()),
        ]
        logger.info(
            "Exec terminal opened to pod %s/%s with %s",
            self.target.namespace,
            self.target.pod,
            self.subprotocol,
        )

    async def _open(self) -> ClientConnection:
        try:
            return await self._connect(SUBPROTOCOLS)
        except InvalidStatus as error:
            response = error.response
            # A server that rejects v5 outright gets one more try with v4
            # alone. An older kubelet behind a proxy returns 403 with an empty
            # body, while an RBAC denial carries a Status message.
            if response.status_code in (400, 403) and not _status_message(
                response.body or b""
            ):
                logger.info(
                    "API server rejected %s for pod %s/%s (HTTP %d); retrying with %s",
                    SUBPROTOCOL_V5,
                    self.target.namespace,
                    self.target.pod,
                    response.status_code,
                    SUBPROTOCOL_V4,
                )
                try:
                    return await self._connect((SUBPROTOCOL_V4,))
                except InvalidStatus as retry_error:
                    raise self._rejection_error(retry_error) from None
            raise self._rejection_error(error) from None

    async def _connect(self, subprotocols: Sequence[str]) -> ClientConnection:
        url = exec_url(self.target)
        secure = url.startswith("wss://")
        try:
            return await connect(
                url,
                subprotocols=list(subprotocols),
                additional_headers={"Authorization": f"Bearer {self.target.token}"},
                ssl=make_ssl_context(self.target.ca_pem) if secure else None,
                # The API server is reached directly, never through a proxy
                # named in the environment.
                proxy=None,
                compression=None,
                open_timeout=self.connect_timeout,
                # _heartbeat sends the pings, because it skips them while
                # reading is paused on purpose.
                ping_interval=None,
                ping_timeout=None,
                close_timeout=CLOSE_TIMEOUT_SECONDS,
                max_size=MAX_MESSAGE_BYTES,
                max_queue=MAX_QUEUED_MESSAGES,
                user_agent_header="labplatform-terminal",
            )
        except InvalidStatus:
            raise
        except ssl.SSLCertVerificationError as error:
            raise ExecStartError(
                f"The API server at {self.target.server_url} presented a certificate "
                f"that does not match the cluster CA ({error.verify_message}). Check "
                "the kubeconfig's certificate-authority data."
            ) from None
        except TimeoutError:
            raise ExecStartError(
                f"The API server at {self.target.server_url} did not respond to the "
                f"terminal connection within {self.connect_timeout:g} s. Check that "
                "the cluster is running, then reload the page."
            ) from None
        except (InvalidHandshake, InvalidURI) as error:
            raise ExecStartError(
                f"The terminal connection to {self.target.server_url} failed its "
                f"websocket handshake: {error}."
            ) from None
        except OSError as error:
            raise ExecStartError(
                f"Could not reach the API server at {self.target.server_url}: "
                f"{error.strerror or error}. Check that the cluster is running, "
                "then reload the page."
            ) from None

    def _rejection_error(self, error: InvalidStatus) -> ExecStartError:
        """Build the learner's message for a handshake the API server rejected."""
        status = error.response.status_code
        detail = _status_message(error.response.body or b"")
        where = f"pod {self.target.pod} in namespace {self.target.namespace}"
        if status == 401:
            text = (
                "The API server did not accept the learner's token (HTTP 401). "
                "Reload the page to get a new one."
            )
        elif status == 403:
            text = (
                f"The learner's account may not open a shell in {where} (HTTP 403)"
                + (f": {detail}" if detail else ".")
            )
        elif status == 404:
            text = (
                f"The workbench {where} was not found (HTTP 404). Use Reset lab to "
                "create it again."
            )
        else:
            text = f"The API server rejected a shell in {where} (HTTP {status})" + (
                f": {detail}" if detail else "."
            )
        logger.warning(
            "Exec terminal to pod %s/%s rejected with HTTP %d: %s",
            self.target.namespace,
            self.target.pod,
            status,
            detail or "no Status body",
        )
        return ExecStartError(text)

    # --- relaying --------------------------------------------------------------

    async def _read_loop(self) -> None:
        assert self.socket is not None
        loop = asyncio.get_running_loop()
        try:
            while True:
                await self._read_allowed.wait()
                message = await self.socket.recv()
                self._last_heard = loop.time()
                if isinstance(message, str) or not message:
                    # Only base64.channel.k8s.io uses text, and it was not
                    # offered.
                    continue
                channel, payload = message[0], message[1:]
                if channel in (CHANNEL_STDOUT, CHANNEL_STDERR):
                    # The first message on the lowest output channel is
                    # empty and only signals that the stream is ready.
                    if payload and not self._finished:
                        self.on_output(payload)
                elif channel == CHANNEL_ERROR:
                    self.exit_status = parse_exit_status(payload)
        except ConnectionClosed as closed:
            self._finish_closed(closed)
        except asyncio.CancelledError:
            raise

    def _finish_closed(self, closed: ConnectionClosed) -> None:
        status = self.exit_status
        if status is None:
            reason = closed.rcvd.reason if closed.rcvd else ""
            self._finish(
                "The connection to your workbench closed before the shell reported "
                "how it ended"
                + (f" ({reason})" if reason else "")
                + ". Reload the page to open a new shell.",
                code=None,
            )
        elif status.code == 0:
            self._finish("", code=0)
        elif status.code is not None:
            self._finish(
                f"The shell exited with status {status.code}.", code=status.code
            )
        else:
            self._finish(
                f"The workbench reported an error: {status.message}", code=None
            )

    async def _write_loop(self) -> None:
        assert self.socket is not None
        while True:
            frame = await self._outgoing.get()
            try:
                await asyncio.wait_for(self.socket.send(frame), self.write_deadline)
            except TimeoutError:
                self._finish_stalled(
                    f"the workbench accepted no input for {self.write_deadline:g} s"
                )
                return
            except ConnectionClosed:
                return
            finally:
                self._pending_bytes -= len(frame)

    async def _heartbeat(self) -> None:
        """Ping the API server and give up when nothing comes back in time."""
        assert self.socket is not None
        loop = asyncio.get_running_loop()
        while not self._finished:
            await asyncio.sleep(self.ping_interval)
            if not self.reading:
                # A paused socket reads no pongs; the browser, not the
                # stream, is what is slow.
                continue
            try:
                pong = await asyncio.wait_for(self.socket.ping(), self.write_deadline)
                await asyncio.wait_for(pong, self.stall_seconds)
            except TimeoutError:
                silent = loop.time() - self._last_heard
                if self.reading and silent >= self.stall_seconds:
                    self._finish_stalled(
                        f"the workbench sent nothing for {silent:.0f} s and did not "
                        "respond to pings"
                    )
                    return
            except ConnectionClosed:
                return
            else:
                self._last_heard = loop.time()

    def _finish_stalled(self, reason: str) -> None:
        logger.warning(
            "Exec terminal to pod %s/%s stalled: %s",
            self.target.namespace,
            self.target.pod,
            reason,
        )
        self._finish(
            f"The terminal stopped because {reason}. Reload the page to reconnect.",
            code=None,
        )
        if self.socket is not None:
            # Abort, because a stalled peer would not complete a close
            # handshake.
            self.socket.transport.abort()

    def _finish(self, notice: str, *, code: int | None) -> None:
        """Report the end of the shell once, unless close() already started."""
        if self._finished or self._closing:
            self._finished = True
            return
        self._finished = True
        if notice:
            self.on_output(_notice(notice))
        self.on_exit(code)

    # --- the shell interface ------------------------------------------------------

    def write(self, data: bytes) -> bool:
        """Queue input for the shell; return False when the queue is full or closed."""
        if self.socket is None or self._finished or not data:
            return False
        if self._pending_bytes + len(data) > MAX_PENDING_INPUT:
            return False
        self._enqueue(bytes([CHANNEL_STDIN]) + data)
        return True

    def resize(self, *, cols: int, rows: int) -> None:
        """Set the terminal size; before start() the latest size is kept for it."""
        self._size = (cols, rows)
        if self.socket is not None and not self._finished:
            self._queue_resize()

    def _queue_resize(self) -> None:
        if self._size is None:
            return
        cols, rows = self._size
        size = json.dumps({"Width": cols, "Height": rows}).encode()
        self._enqueue(bytes([CHANNEL_RESIZE]) + size)

    def _enqueue(self, frame: bytes) -> None:
        self._pending_bytes += len(frame)
        self._outgoing.put_nowait(frame)

    def pause_reading(self) -> None:
        self._read_allowed.clear()

    def resume_reading(self) -> None:
        self._read_allowed.set()

    async def close(self) -> None:
        """End the session: close stdin (v5), close the socket, stop the tasks."""
        if self._closing:
            return
        self._closing = True
        socket = self.socket
        if socket is not None:
            if self.subprotocol == SUBPROTOCOL_V5 and not self._finished:
                # Closing stdin ends an interactive shell the way Ctrl-D does.
                try:
                    await asyncio.wait_for(
                        socket.send(bytes([CHANNEL_CLOSE, CHANNEL_STDIN])),
                        CLOSE_TIMEOUT_SECONDS,
                    )
                except (TimeoutError, ConnectionClosed):
                    pass
            try:
                await asyncio.wait_for(socket.close(), CLOSE_TIMEOUT_SECONDS * 2)
            except TimeoutError:
                socket.transport.abort()
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        self._finished = True
