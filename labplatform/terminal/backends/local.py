"""The local terminal backend: a PTY shell in a bubblewrap sandbox.

For development, CI and single-user machines. The shell runs as an
unprivileged user in new user, PID, mount, IPC, UTS and network
namespaces, sees only /usr, its own home and a private /tmp, and holds
no capabilities. Its network namespace has nothing but loopback: a
socat inside forwards 127.0.0.1:6443 to a Unix socket, and the platform
relays that socket to the API server only. So the learner's kubectl
works while the platform's Redis, database, web server and every other
address stay out of reach.

Workshops and production use the exec backend into a workbench pod.
"""

import asyncio
import logging
import os
import shutil
import signal
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

from ptyprocess import PtyProcess

from ..workspace import SANDBOX_API_ADDRESS, SANDBOX_UID, Workspace

logger = logging.getLogger(__name__)

READ_SIZE = 65536
# Max output gathered from the PTY into one frame while more is waiting.
READ_BATCH_BYTES = 256 * 1024
# Concurrent API connections one sandbox may hold; kubectl uses one or two.
MAX_RELAY_CONNECTIONS = 32
LAB_HELPER = Path(__file__).resolve().parent.parent / "bin" / "lab"
MIN_COLS, MAX_COLS = 2, 500
MIN_ROWS, MAX_ROWS = 1, 200


class BackendUnavailable(RuntimeError):
    pass


def clamp_size(cols, rows) -> tuple[int, int] | None:
    """Return a usable (cols, rows), or None when the values are not numbers."""
    if isinstance(cols, bool) or isinstance(rows, bool):
        return None
    if not isinstance(cols, int) or not isinstance(rows, int):
        return None
    if cols <= 0 or rows <= 0:
        return None
    return min(max(cols, MIN_COLS), MAX_COLS), min(max(rows, MIN_ROWS), MAX_ROWS)


# Per-process limits inside the sandbox. Memory and total disk use need
# cgroups or quotas, which this backend does not set up.
# TODO: add a cgroup memory limit when the web process may create cgroups.
SANDBOX_LIMITS = {
    "--nproc": "256",
    "--nofile": "1024",
    "--fsize": str(100 * 1024 * 1024),
    "--core": "0",
}
SANDBOX_TMP_BYTES = 64 * 1024 * 1024
SANDBOX_SHM_BYTES = 16 * 1024 * 1024


def sandbox_command(
    *, workspace: Workspace, kubectl: Path, lab_helper: Path, namespace: str
) -> list[str]:
    bwrap = shutil.which("bwrap")
    socat = shutil.which("socat")
    if bwrap is None or socat is None:
        raise BackendUnavailable(
            "the local terminal needs bubblewrap and socat; install the Debian "
            "packages bubblewrap and socat"
        )
    port = SANDBOX_API_ADDRESS.split(":")[1]
    startup = (
        f"{socat} TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr "
        "UNIX-CONNECT:/run/lab/api.sock 2>/dev/null & "
        "exec /bin/bash --rcfile /opt/lab/bashrc -i"
    )
    prefix: list[str] = []
    if workspace.host_uid is not None:
        uid = str(workspace.host_uid)
        prefix = [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--",
        ]
    limits = [
        "prlimit",
        *(f"{flag}={value}" for flag, value in SANDBOX_LIMITS.items()),
        "--",
    ]
    # Each tuple is one bwrap option with its arguments, in order: later
    # mounts go on top of earlier ones.
    options = [
        ("--unshare-all",),
        ("--unshare-user",),
        ("--disable-userns",),
        ("--die-with-parent",),
        ("--ro-bind", "/usr", "/usr"),
        ("--symlink", "usr/lib", "/lib"),
        ("--symlink", "usr/lib64", "/lib64"),
        ("--symlink", "usr/bin", "/bin"),
        ("--symlink", "usr/sbin", "/sbin"),
        ("--ro-bind", str(workspace.private / "passwd"), "/etc/passwd"),
        ("--ro-bind", str(workspace.private / "group"), "/etc/group"),
        ("--proc", "/proc"),
        ("--dev", "/dev"),
        ("--size", str(SANDBOX_SHM_BYTES), "--tmpfs", "/dev/shm"),
        ("--size", str(SANDBOX_TMP_BYTES), "--tmpfs", "/tmp"),
        ("--bind", str(workspace.home), "/home/learner"),
        ("--ro-bind", str(workspace.run), "/run/lab"),
        ("--ro-bind", str(workspace.kubeconfig), "/opt/lab/kubeconfig"),
        ("--ro-bind", str(workspace.bashrc), "/opt/lab/bashrc"),
        ("--ro-bind", str(kubectl), "/opt/lab/bin/kubectl"),
        ("--ro-bind", str(lab_helper), "/opt/lab/bin/lab"),
        # bwrap builds / and /dev as unbounded in-memory filesystems; only
        # the sized mounts above and the home folder stay writable.
        ("--remount-ro", "/dev"),
        ("--remount-ro", "/"),
        ("--uid", str(SANDBOX_UID)),
        ("--gid", str(SANDBOX_UID)),
        ("--hostname", "lab"),
        ("--cap-drop", "ALL"),
        ("--chdir", "/home/learner"),
        ("--clearenv",),
        ("--setenv", "HOME", "/home/learner"),
        ("--setenv", "USER", "learner"),
        ("--setenv", "PATH", "/opt/lab/bin:/usr/local/bin:/usr/bin:/bin"),
        ("--setenv", "TERM", "xterm-256color"),
        ("--setenv", "LANG", "C.UTF-8"),
        ("--setenv", "KUBECONFIG", "/opt/lab/kubeconfig"),
        ("--setenv", "LAB_NAMESPACE", namespace),
    ]
    flat = [argument for option in options for argument in option]
    return [*prefix, *limits, bwrap, *flat, "/bin/sh", "-c", startup]


class ApiRelay:
    """Relay connections from the sandbox's Unix socket to the API server."""

    def __init__(self, socket_path: Path, server_url: str, *, owner: int | None = None):
        parts = urlsplit(server_url)
        self.socket_path = socket_path
        self.owner = owner
        self.connections = 0
        self.cap_logged = False
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 443
        self.server: asyncio.base_events.Server | None = None

    async def start(self) -> None:
        if self.socket_path.exists():
            self.socket_path.unlink()
        self.server = await asyncio.start_unix_server(
            self._relay, path=str(self.socket_path)
        )
        # The sandbox's uid must be able to connect. The folder is the
        # platform's and read-only in the sandbox, so this path cannot
        # have been swapped for a link.
        if self.owner is not None:
            os.chown(self.socket_path, self.owner, self.owner, follow_symlinks=False)
        os.chmod(self.socket_path, 0o600 if self.owner is not None else 0o666)

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            self.server = None
        if self.socket_path.exists():
            self.socket_path.unlink()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
        # Each relayed connection costs two file descriptors in the web
        # process, shared by every learner, so one sandbox gets a few.
        if self.connections >= MAX_RELAY_CONNECTIONS:
            if not self.cap_logged:
                logger.warning(
                    "API relay %s reached %d connections; refusing more",
                    self.socket_path,
                    MAX_RELAY_CONNECTIONS,
                )
                self.cap_logged = True
            writer.close()
            return
        self.connections += 1
        try:
            await self._relay_connection(reader, writer)
        finally:
            self.connections -= 1

    async def _relay_connection(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ):
        try:
            upstream_reader, upstream_writer = await asyncio.open_connection(
                self.host, self.port
            )
        except OSError as error:
            logger.warning(
                "API relay could not reach %s:%s: %s", self.host, self.port, error
            )
            writer.close()
            return

        async def pipe(source: asyncio.StreamReader, target: asyncio.StreamWriter):
            try:
                while data := await source.read(READ_SIZE):
                    target.write(data)
                    await target.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                target.close()

        await asyncio.gather(
            pipe(reader, upstream_writer), pipe(upstream_reader, writer)
        )


class LocalShell:
    """One sandboxed shell on a PTY, read and written without blocking.

    Input waits in a bounded buffer when the PTY is full (a shell that
    does not read stdin), so one learner can never block the event loop
    that serves everyone. Reading pauses while the browser has not
    acknowledged enough output, which bounds memory for slow clients.
    """

    MAX_PENDING_INPUT = 256 * 1024

    def __init__(
        self,
        *,
        command: list[str],
        relay: ApiRelay,
        on_output: Callable[[bytes], None],
        on_exit: Callable[[int | None], None],
    ):
        self.command = command
        self.relay = relay
        self.on_output = on_output
        self.on_exit = on_exit
        self.process: PtyProcess | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending_input = bytearray()
        self._reading = False
        self._writing = False

    async def start(self, *, cols: int, rows: int) -> None:
        await self.relay.start()
        self._loop = asyncio.get_running_loop()
        self.process = await self._loop.run_in_executor(
            None, lambda: PtyProcess.spawn(self.command, dimensions=(rows, cols))
        )
        os.set_blocking(self.process.fd, False)
        self.resume_reading()

    def pause_reading(self) -> None:
        if self._reading and self.process is not None:
            self._loop.remove_reader(self.process.fd)
            self._reading = False

    def resume_reading(self) -> None:
        if not self._reading and self.process is not None:
            self._loop.add_reader(self.process.fd, self._read_ready)
            self._reading = True

    def _read_ready(self) -> None:
        assert self.process is not None
        # A Linux PTY returns about 4 KiB per read. Reading on while more is
        # waiting sends a flood as fewer, larger frames, while a lone
        # keystroke's echo still goes out at once.
        chunks: list[bytes] = []
        size = 0
        ended = False
        while size < READ_BATCH_BYTES:
            try:
                data = os.read(self.process.fd, READ_SIZE)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                ended = True
                break
            chunks.append(data)
            size += len(data)
        if chunks:
            # An end seen after output is handled on the next call.
            self.on_output(b"".join(chunks))
            return
        if not ended:
            return
        # EOF or EIO: the shell exited; close() reaps the process.
        self.pause_reading()
        self._stop_writing()
        self.on_exit(None)

    def write(self, data: bytes) -> bool:
        """Queue input for the shell; return False when the buffer is full."""
        if self.process is None:
            return False
        if len(self._pending_input) + len(data) > self.MAX_PENDING_INPUT:
            return False
        self._pending_input.extend(data)
        self._flush()
        return True

    def _flush(self) -> None:
        if self.process is None:
            return
        while self._pending_input:
            try:
                written = os.write(self.process.fd, self._pending_input)
            except BlockingIOError:
                break
            except OSError:
                self._pending_input.clear()
                break
            del self._pending_input[:written]
        if self._pending_input and not self._writing:
            self._loop.add_writer(self.process.fd, self._flush)
            self._writing = True
        elif not self._pending_input:
            self._stop_writing()

    def _stop_writing(self) -> None:
        if self._writing and self.process is not None:
            self._loop.remove_writer(self.process.fd)
            self._writing = False

    def resize(self, *, cols: int, rows: int) -> None:
        if self.process is not None and self.process.isalive():
            self.process.setwinsize(rows, cols)

    async def close(self) -> None:
        if self.process is not None:
            self.pause_reading()
            self._stop_writing()
            if self.process.isalive():
                # The sandbox's PID namespace ends with bwrap, which takes
                # every process the learner started with it.
                try:
                    os.killpg(self.process.pid, signal.SIGHUP)
                except ProcessLookupError:
                    pass
            await asyncio.get_running_loop().run_in_executor(None, self._reap)
            self.process = None
        await self.relay.stop()

    def _reap(self) -> None:
        assert self.process is not None
        try:
            self.process.terminate(force=True)
        except OSError:
            pass
        try:
            self.process.close(force=True)
        except OSError:
            pass
