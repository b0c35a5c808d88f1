"""The exec terminal backend against a server that speaks the exec protocol.

A real bash runs behind tests/terminal/fake_exec_server.py, so echo,
resize and exit codes are the shell's own. Scripted connections cover
what a healthy shell never does: stalls, closes mid-output, odd frames.
"""

import asyncio
import os
import socket
import time

import pytest

from labplatform.terminal.backends import ShellStartError
from labplatform.terminal.backends.exec import (
    SUBPROTOCOL_V4,
    SUBPROTOCOL_V5,
    ExecShell,
    ExecTarget,
    exec_url,
    parse_exit_status,
)

from .fake_exec_server import V4, V5, FakeExecServer, status_frame

TOKEN = "learner-token-for-tests"


@pytest.fixture(scope="module")
def exec_server(tmp_path_factory):
    server = FakeExecServer(tmp_path_factory.mktemp("exec-server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def server(exec_server):
    exec_server.reset()
    yield exec_server
    exec_server.reset()


class Screen:
    """Collects what the shell sends to the consumer."""

    def __init__(self):
        self.output = bytearray()
        self.exits: list[int | None] = []
        self.exited = asyncio.Event()

    def on_output(self, data: bytes) -> None:
        self.output.extend(data)

    def on_exit(self, code: int | None) -> None:
        self.exits.append(code)
        self.exited.set()

    async def wait_for(self, needle: bytes, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while needle not in self.output:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{needle!r} not in output: {bytes(self.output)[-2000:]!r}"
                )
            await asyncio.sleep(0.02)

    async def wait_exit(self, timeout: float = 15) -> None:
        await asyncio.wait_for(self.exited.wait(), timeout)


def target_for(server: FakeExecServer, **overrides) -> ExecTarget:
    values = {
        "server_url": server.url,
        "ca_pem": server.ca_pem,
        "token": TOKEN,
        "namespace": "lab-ferris",
        "pod": "workbench",
        "container": "shell",
        "command": ("/bin/bash", "-i"),
    }
    values.update(overrides)
    return ExecTarget(**values)


def shell_for(server, screen, **options) -> ExecShell:
    target_options = {
        key: options.pop(key)
        for key in list(options)
        if key in ExecTarget.__dataclass_fields__
    }
    return ExecShell(
        target=target_for(server, **target_options),
        on_output=screen.on_output,
        on_exit=screen.on_exit,
        **options,
    )


async def wait_until(condition, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)


# --- the request -------------------------------------------------------------


def test_exec_url_carries_command_and_streams():
    target = ExecTarget(
        server_url="https://10.0.0.1:6443",
        ca_pem="",
        token=TOKEN,
        namespace="lab-a",
        pod="workbench",
        container="shell",
        command=("/bin/bash", "--rcfile", "/etc/lab/bashrc", "-i"),
    )

    url = exec_url(target)

    assert url.startswith(
        "wss://10.0.0.1:6443/api/v1/namespaces/lab-a/pods/workbench/exec?"
    )
    assert "container=shell" in url
    assert "stdin=true&stdout=true&stderr=true&tty=true" in url
    assert "command=%2Fbin%2Fbash&command=--rcfile" in url
    assert TOKEN not in url
    assert TOKEN not in repr(target)


@pytest.mark.parametrize(
    ("payload", "code"),
    [
        (status_frame(0)[1:], 0),
        (status_frame(42)[1:], 42),
        (b'{"status": "Failure", "message": "container not found"}', None),
        (b"not json", None),
    ],
)
def test_parse_exit_status(payload, code):
    assert parse_exit_status(payload).code == code


# --- a shell through the protocol ---------------------------------------------


async def test_echo_through_stdin_and_stdout(server):
    screen = Screen()
    shell = shell_for(server, screen)
    await shell.start(cols=80, rows=24)

    assert shell.write(b"echo hello-$((40 + 2))\r")
    await screen.wait_for(b"hello-42")
    await shell.close()

    record = server.records[0]
    assert shell.subprotocol == SUBPROTOCOL_V5
    assert record.token == TOKEN
    assert record.query["tty"] == ["true"]
    assert record.query["command"] == ["/bin/bash", "-i"]
    assert b"echo hello-$((40 + 2))\r" in record.stdin


async def test_stderr_channel_reaches_output(server):
    server.script = [
        ("send", 1, b"out "),
        ("send", 2, b"err-text"),
        ("status", 0),
        ("close", 1000, ""),
    ]
    screen = Screen()
    shell = shell_for(server, screen)
    await shell.start(cols=80, rows=24)
    await screen.wait_exit()
    await shell.close()

    assert bytes(screen.output) == b"out err-text"
    assert screen.exits == [0]


async def test_resize_frames_set_pty_size(server):
    screen = Screen()
    shell = shell_for(server, screen)
    shell.resize(cols=90, rows=20)
    await shell.start(cols=100, rows=30)

    shell.resize(cols=120, rows=40)
    shell.write(b"stty size\r")
    await screen.wait_for(b"40 120")
    await shell.close()

    assert server.records[0].resizes == [
        {"Width": 100, "Height": 30},
        {"Width": 120, "Height": 40},
    ]


async def test_exit_zero_reports_success(server):
    screen = Screen()
    shell = shell_for(server, screen)
    await shell.start(cols=80, rows=24)

    shell.write(b"exit 0\r")
    await screen.wait_exit()
    await shell.close()

    assert screen.exits == [0]
    assert shell.exit_status.code == 0
    assert b"The shell exited" not in screen.output
    assert b"closed before" not in screen.output


async def test_exit_nonzero_reports_code(server):
    screen = Screen()
    shell = shell_for(server, screen)
    await shell.start(cols=80, rows=24)

    shell.write(b"exit 42\r")
    await screen.wait_exit()
    await shell.close()

    assert screen.exits == [42]
    assert b"The shell exited with status 42." in screen.output


async def test_close_sends_v5_close_signal(server):
    screen = Screen()
    shell = shell_for(server, screen)
    await shell.start(cols=80, rows=24)
    shell.write(b"true\r")
    # The server records the connection in its own thread, a moment after
    # the handshake.
    await wait_until(lambda: server.records and b"true\r" in server.records[0].stdin)

    await shell.close()
    await asyncio.to_thread(server.records[0].ended.wait, 10)

    assert server.records[0].close_signals == [0]
    assert screen.exits == []


async def test_v4_when_server_lacks_v5(server):
    server.subprotocols = (V4,)
    screen = Screen()
    shell = shell_for(server, screen)
    await shell.start(cols=80, rows=24)

    shell.write(b"echo v4-$((2 * 2))\r")
    await screen.wait_for(b"v4-4")
    shell.write(b"exit 3\r")
    await screen.wait_exit()
    await shell.close()

    assert shell.subprotocol == SUBPROTOCOL_V4
    assert server.records[0].close_signals == []
    assert screen.exits == [3]


async def test_v4_retry_when_v5_rejected(server):
    server.reject_v5 = True
    screen = Screen()
    shell = shell_for(server, screen)
    await shell.start(cols=80, rows=24)

    shell.write(b"echo retried\r")
    await screen.wait_for(b"retried\r\n")
    await shell.close()

    assert server.handshakes == 2
    assert shell.subprotocol == SUBPROTOCOL_V4
    assert server.records[0].subprotocol == V4


async def test_v5_is_preferred(server):
    screen = Screen()
    shell = shell_for(server, screen)
    await shell.start(cols=80, rows=24)
    await shell.close()

    assert server.records[0].subprotocol == V5


# --- failures ----------------------------------------------------------------


async def test_stalled_stream_is_noticed(server):
    server.script = [("send", 1, b"before the stall\r\n"), ("stall",)]
    screen = Screen()
    shell = shell_for(server, screen, ping_interval=0.2, stall_seconds=1.0)
    await shell.start(cols=80, rows=24)

    started = time.monotonic()
    await screen.wait_exit(timeout=10)
    waited = time.monotonic() - started
    await shell.close()

    assert screen.exits == [None]
    assert b"before the stall" in screen.output
    assert b"The terminal stopped because the workbench sent nothing" in screen.output
    assert b"Reload the page" in screen.output
    assert waited < 5


async def test_paused_reading_is_not_a_stall(server):
    server.script = [("send", 1, b"first\r\n"), ("sleep", 30)]
    screen = Screen()
    shell = shell_for(server, screen, ping_interval=0.1, stall_seconds=0.5)
    await shell.start(cols=80, rows=24)
    await screen.wait_for(b"first")

    shell.pause_reading()
    await asyncio.sleep(1.5)
    paused_exits = list(screen.exits)
    shell.resume_reading()
    await shell.close()

    assert paused_exits == []


@pytest.mark.parametrize("ending", ["close", "drop"])
async def test_close_mid_output_keeps_bytes(server, ending):
    chunks = [f"chunk-{index:04d};".encode() * 50 for index in range(200)]
    steps = [("send", 1, chunk) for chunk in chunks]
    steps.append(("close", 1000, "") if ending == "close" else ("drop",))
    server.script = steps
    screen = Screen()
    shell = shell_for(server, screen)
    await shell.start(cols=80, rows=24)

    await screen.wait_exit()
    await shell.close()

    expected = b"".join(chunks)
    assert bytes(screen.output).startswith(expected)
    notice = bytes(screen.output)[len(expected) :]
    assert b"closed before the shell reported how it ended" in notice
    assert screen.exits == [None]


async def test_status_failure_without_code_is_shown(server):
    server.script = [
        ("send", 3, b'{"status":"Failure","message":"container shell not found"}'),
        ("close", 1000, ""),
    ]
    screen = Screen()
    shell = shell_for(server, screen)
    await shell.start(cols=80, rows=24)
    await screen.wait_exit()
    await shell.close()

    assert b"The workbench reported an error: container shell not found" in (
        screen.output
    )
    assert screen.exits == [None]


async def test_server_down_is_clear_error(server):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    screen = Screen()
    shell = shell_for(server, screen, server_url=f"https://127.0.0.1:{port}")

    with pytest.raises(ShellStartError) as raised:
        await shell.start(cols=80, rows=24)

    assert f"Could not reach the API server at https://127.0.0.1:{port}" in str(
        raised.value
    )
    assert "Check that the cluster is running" in str(raised.value)


async def test_unknown_ca_is_rejected(server, tmp_path):
    from labplatform.cluster import pki

    other_ca = pki.make_ca(tmp_path).cert_path.read_text()
    screen = Screen()
    shell = shell_for(server, screen, ca_pem=other_ca)

    with pytest.raises(ShellStartError) as raised:
        await shell.start(cols=80, rows=24)

    assert "does not match the cluster CA" in str(raised.value)
    assert server.records == []


async def test_rejected_token_is_clear_error(server):
    server.tokens = {"some-other-token"}
    screen = Screen()
    shell = shell_for(server, screen)

    with pytest.raises(ShellStartError) as raised:
        await shell.start(cols=80, rows=24)

    assert "did not accept the learner's token (HTTP 401)" in str(raised.value)
    assert TOKEN not in str(raised.value)


async def test_full_input_queue_rejects_writes(server):
    # The script never reads stdin fast enough to matter: the socket is
    # not read at all once it stalls, so the queue fills.
    server.script = [("stall",)]
    screen = Screen()
    shell = shell_for(server, screen, write_deadline=30, stall_seconds=30)
    await shell.start(cols=80, rows=24)

    accepted = 0
    for _ in range(200):
        if not shell.write(b"x" * 8192):
            break
        accepted += 1
        await asyncio.sleep(0)
    await shell.close()

    assert accepted < 200


async def test_pause_reading_holds_back_output(server):
    screen = Screen()
    shell = shell_for(server, screen)
    await shell.start(cols=80, rows=24)
    shell.write(
        b"stty -echo; head -c 40000000 /dev/zero | tr '\\0' x; echo; echo E$((7))ND\r"
    )
    await screen.wait_for(b"xxxx")

    shell.pause_reading()
    await asyncio.sleep(1.0)
    sent_paused = server.records[0].sent_bytes
    await asyncio.sleep(1.0)
    sent_later = server.records[0].sent_bytes
    shell.resume_reading()
    await screen.wait_for(b"E7ND", timeout=120)
    await shell.close()

    # While paused the server can send only what the socket buffers and
    # the client's small message queue hold.
    assert sent_later - sent_paused < 512 * 1024
    assert sent_later < 40_000_000
    assert bytes(screen.output).count(b"x") >= 40_000_000


# --- terminal cases that the backend must keep ---------------------------------


async def test_split_utf8_and_invalid_bytes_pass_through(server):
    screen = Screen()
    shell = shell_for(server, screen)
    await shell.start(cols=80, rows=24)

    shell.write(b"printf 'A\\377B\\342\\202'; sleep 0.3; printf '\\254C'; echo\r")
    await screen.wait_for(b"C\r\n")
    shell.write(b"echo still-$((1 + 1))\r")
    await screen.wait_for(b"still-2")
    await shell.close()

    assert b"A\xffB\xe2\x82\xacC" in screen.output


async def test_bracketed_paste_stays_text(server, tmp_path):
    target = tmp_path / "pwned"
    screen = Screen()
    shell = shell_for(server, screen)
    await shell.start(cols=80, rows=24)
    shell.write(b"echo ready-$((3 * 3))\r")
    await screen.wait_for(b"ready-9")

    # What the page sends for a paste of "echo ok" ESC[201~ "touch ..." CR:
    # the page strips the ESC, then xterm.js brackets the paste.
    paste = f"\x1b[200~echo ok[201~touch {target}\r\x1b[201~".encode()
    shell.write(paste)
    await asyncio.sleep(0.5)
    # Ctrl-C drops the pasted line without running it.
    shell.write(b"\x03")
    shell.write(b"echo after-$((5 + 5))\r")
    await screen.wait_for(b"after-10")
    await shell.close()

    assert paste in server.records[0].stdin
    assert not target.exists()


async def test_resize_values_are_sent_as_given(server):
    """Clamping happens in the consumer; the backend sends what it gets in order."""
    screen = Screen()
    shell = shell_for(server, screen)
    await shell.start(cols=80, rows=24)
    for cols, rows in ((2, 1), (500, 200), (120, 40)):
        shell.resize(cols=cols, rows=rows)
    shell.write(b"stty size\r")
    await screen.wait_for(b"40 120")
    await shell.close()

    assert server.records[0].resizes[-1] == {"Width": 120, "Height": 40}


async def test_close_ends_remote_shell(server):
    screen = Screen()
    shell = shell_for(server, screen)
    await shell.start(cols=80, rows=24)
    shell.write(b"sleep 1000 & echo started\r")
    await screen.wait_for(b"started")
    pid = server.records[0].shell_pid

    started = time.monotonic()
    await shell.close()
    ended = await asyncio.to_thread(server.records[0].ended.wait, 10)

    assert ended
    assert time.monotonic() - started < 10
    await wait_until(lambda: not _alive(pid))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # kill(0) still succeeds on a zombie, although the process has exited.
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_subprotocols_offered_in_order():
    from labplatform.terminal.backends.exec import SUBPROTOCOLS

    assert SUBPROTOCOLS == (SUBPROTOCOL_V5, SUBPROTOCOL_V4)
