"""The local backend's sandbox: what a hostile learner's shell cannot do."""

import asyncio
import os
from pathlib import Path

import pytest
from asgiref.sync import sync_to_async
from django.conf import settings

from .test_terminal import ORIGIN, owner_cookie, path_for
from .wsclient import TerminalClient, handshake_headers

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


async def open_terminal(session) -> TerminalClient:
    cookie = await sync_to_async(owner_cookie)(session)
    client = TerminalClient(
        path_for(session), handshake_headers(cookie=cookie, origin=ORIGIN)
    )
    connected, _ = await client.connect()
    assert connected
    return client


@pytest.mark.asyncio
async def test_sandbox_cannot_reach_redis_or_site(ready_session):
    from urllib.parse import urlsplit

    redis_port = urlsplit(settings.REDIS_URL).port
    client = await open_terminal(ready_session)

    redis = await client.run(
        f"timeout 3 bash -c 'echo > /dev/tcp/127.0.0.1/{redis_port}' "
        "&& echo REACHED || echo BLOCKED"
    )
    admin = await client.run("ls /work /root 2>&1 | head -2; echo listed")
    await client.close()

    assert "BLOCKED" in redis
    assert "REACHED" not in redis.replace("&& echo REACHED", "")
    assert "No such file or directory" in admin


@pytest.mark.skipif(
    os.geteuid() != 0, reason="host uid mapping applies when run as root"
)
@pytest.mark.asyncio
async def test_sandbox_runs_as_unprivileged_host_uid(ready_session):
    client = await open_terminal(ready_session)
    await client.run("touch ~/owned-by-me")
    nested = await client.run("unshare -Ur true 2>&1; echo exit=$?")
    await client.close()

    home = Path(settings.TERMINAL_WORKSPACE_DIR) / str(ready_session.id) / "home"
    owner = (home / "owned-by-me").stat().st_uid
    assert owner >= 200000
    assert "exit=0" not in nested


@pytest.mark.asyncio
async def test_sandbox_limits_tmp_and_file_size(ready_session):
    client = await open_terminal(ready_session)

    tmp = await client.run("head -c 100000000 /dev/zero > /tmp/fill 2>&1; echo tmp=$?")
    big = await client.run(
        "(head -c 200000000 /dev/zero > ~/big) 2>&1; echo size=$(stat -c %s ~/big)"
    )
    root = await client.run("echo x > /big 2>&1; echo root=$?")
    shm = await client.run(
        "head -c 30000000 /dev/zero > /dev/shm/fill 2>&1; echo shm=$?"
    )
    await client.run("rm -f ~/big /tmp/fill /dev/shm/fill")
    await client.close()

    assert "root=0" not in root
    assert "shm=0" not in shm
    assert "tmp=0" not in tmp
    assert "size=200000000" not in big


@pytest.mark.asyncio
async def test_platform_files_are_read_only(ready_session):
    client = await open_terminal(ready_session)

    kubeconfig = await client.run("echo x >> /opt/lab/kubeconfig 2>&1; echo rc=$?")
    socket_swap = await client.run("mv /run/lab/api.sock /run/lab/x 2>&1; echo rc=$?")
    still_works = await client.run("kubectl get pods 2>&1 | head -1")
    await client.close()

    assert "rc=0" not in kubeconfig
    assert "rc=0" not in socket_swap
    assert "Forbidden" not in still_works


@pytest.mark.asyncio
async def test_stuck_shell_does_not_block_others(
    ready_session, start_ready_session, make_learner
):
    other_session = await sync_to_async(start_ready_session)(
        await sync_to_async(make_learner)("bystander")
    )
    stuck = await open_terminal(ready_session)
    await stuck.send_input("stty raw -echo; sleep 20\r")
    await asyncio.sleep(0.5)
    for _ in range(40):
        await stuck.send_input("y" * 65000)

    bystander = await open_terminal(other_session)
    answer = await asyncio.wait_for(bystander.run("echo fine-$((6 * 7))"), timeout=20)
    await bystander.close()
    await stuck.close()

    assert "fine-42" in answer


@pytest.mark.asyncio
async def test_output_pauses_without_acks(ready_session):
    from labplatform.terminal.consumers import OUTPUT_WINDOW_BYTES

    client = await open_terminal(ready_session)
    client.acknowledge = False
    await client.send_input("head -c 8000000 /dev/zero | tr '\\0' x; echo\r")

    received = await client.drain(quiet_seconds=1.5, limit_seconds=20)
    assert received <= OUTPUT_WINDOW_BYTES + 256 * 1024
    assert client.marks

    await client.send_json({"type": "ack", "mark": client.marks[-1]})
    more = await client.drain(quiet_seconds=1.5, limit_seconds=20)
    await client.close()

    assert more > 0


@pytest.mark.asyncio
async def test_blind_acks_do_not_release_output(ready_session):
    """A client that stops reading cannot keep output coming by acking blindly."""
    from labplatform.terminal.consumers import OUTPUT_WINDOW_BYTES

    client = await open_terminal(ready_session)
    client.acknowledge = False
    await client.send_input("head -c 8000000 /dev/zero | tr '\\0' x; echo\r")
    received = await client.drain(quiet_seconds=1.5, limit_seconds=20)

    # Byte counts (the old protocol), made-up marks, and a mark twice.
    for _ in range(20):
        await client.send_json({"type": "ack", "bytes": 10_000_000})
        await client.send_json({"type": "ack", "mark": "guessed-id"})
        await client.send_json({"type": "ack", "mark": None})
    more = await client.drain(quiet_seconds=1.5, limit_seconds=10)

    assert received + more <= OUTPUT_WINDOW_BYTES + 256 * 1024
    await client.send_json({"type": "ack", "mark": client.marks[0]})
    await client.send_json({"type": "ack", "mark": client.marks[0]})
    after_old_mark = await client.drain(quiet_seconds=1.5, limit_seconds=10)
    await client.close()

    # Confirming only the first mark frees too little to resume reading.
    assert received + more + after_old_mark <= OUTPUT_WINDOW_BYTES + 256 * 1024
