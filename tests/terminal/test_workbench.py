"""The exec backend with real lab sessions: the workbench pod and the terminal.

The local control plane stores pods but runs none, so where a test needs
a running workbench it writes the pod's status as a kubelet would, and
points the exec connection at tests/terminal/fake_exec_server.py. Every
other part is real: provisioning through Celery, the API server's Pod
Security admission and RBAC, the learner's TokenRequest token, and the
TerminalConsumer websocket stack.
"""

import asyncio
import copy
import datetime

import pytest
from asgiref.sync import sync_to_async
from kubernetes import client as k8s

from labplatform.cluster import kube, manifests
from labplatform.grading.checks import GradingContext
from labplatform.terminal.backends import ShellStartError
from labplatform.terminal.backends.exec import ExecShell, ExecTarget

from .fake_exec_server import FakeExecServer
from .test_terminal import ORIGIN, cookie_for, owner_cookie, path_for
from .wsclient import TerminalClient, handshake_headers

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def exec_server(tmp_path_factory):
    server = FakeExecServer(tmp_path_factory.mktemp("exec-server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def fake_server(exec_server, monkeypatch):
    """Send the terminal's exec connection to the fake server."""
    exec_server.reset()
    monkeypatch.setattr(
        kube, "cluster_server", lambda: (exec_server.url, exec_server.ca_pem)
    )
    yield exec_server
    exec_server.reset()


@pytest.fixture
def exec_backend(settings):
    settings.TERMINAL_BACKEND = "exec"
    settings.WORKBENCH_IMAGE = "labplatform/workbench:0.1.0"
    settings.WORKBENCH_START_SECONDS = 3


@pytest.fixture
def exec_session(exec_backend, start_ready_session, make_learner):
    return start_ready_session(make_learner("ferris"), "harden-container")


def write_pod_status(namespace: str, status: dict) -> None:
    """Write the workbench's status the way a kubelet would."""
    k8s.CoreV1Api(kube.api_client()).patch_namespaced_pod_status(
        manifests.WORKBENCH_POD, namespace, {"status": status}
    )


def mark_running(namespace: str) -> None:
    now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    write_pod_status(
        namespace,
        {
            "phase": "Running",
            "containerStatuses": [
                {
                    "name": manifests.WORKBENCH_CONTAINER,
                    "image": "labplatform/workbench:0.1.0",
                    "imageID": "",
                    "ready": True,
                    "restartCount": 0,
                    "state": {"running": {"startedAt": now}},
                }
            ],
        },
    )


def token_user(token: str) -> str:
    review = k8s.AuthenticationV1Api(kube.api_client()).create_token_review(
        k8s.V1TokenReview(spec=k8s.V1TokenReviewSpec(token=token))
    )
    assert review.status.authenticated, review.status.error
    return review.status.user.username


async def open_terminal(session, **kwargs) -> TerminalClient:
    cookie = await sync_to_async(owner_cookie)(session)
    client = TerminalClient(
        path_for(session), handshake_headers(cookie=cookie, origin=ORIGIN)
    )
    connected, _ = await client.connect()
    assert connected
    return client


async def next_close(client: TerminalClient) -> dict:
    for _ in range(200):
        frame = await client.communicator.receive_output(timeout=20)
        if frame["type"] == "websocket.close":
            return frame
        if frame.get("text"):
            import json

            client.messages.append(json.loads(frame["text"]))
        elif frame.get("bytes"):
            client.output.extend(frame["bytes"])
    raise AssertionError("the terminal did not close")


# --- the workbench pod ---------------------------------------------------------


def test_provisioning_creates_workbench(exec_session):
    namespace = exec_session.namespace
    pod = kube.get("v1", "Pod", manifests.WORKBENCH_POD, namespace)
    files = kube.get("v1", "ConfigMap", manifests.WORKBENCH_FILES_CONFIG_MAP, namespace)
    policy = kube.get(
        "networking.k8s.io/v1", "NetworkPolicy", "workbench-api-server", namespace
    )

    assert pod is not None
    labels = pod["metadata"]["labels"]
    assert labels[manifests.LABEL_MANAGED_BY] == manifests.MANAGED_BY
    assert labels[manifests.LABEL_COMPONENT] == manifests.WORKBENCH_COMPONENT
    assert pod["spec"]["serviceAccountName"] == manifests.LEARNER_SERVICE_ACCOUNT
    assert pod["spec"]["automountServiceAccountToken"] is True
    assert pod["spec"]["containers"][0]["image"] == "labplatform/workbench:0.1.0"
    assert "FROM" in "".join(files["data"].values())
    assert policy["spec"]["egress"], "no API server address in the egress policy"


def test_token_mounted_only_in_workbench(exec_session):
    namespace = exec_session.namespace
    for name in ("default", manifests.LEARNER_SERVICE_ACCOUNT):
        account = kube.get("v1", "ServiceAccount", name, namespace)
        assert account["automountServiceAccountToken"] is False, name

    pods = kube.list_objects("v1", "Pod", namespace=namespace)
    mounting = [
        pod["metadata"]["name"]
        for pod in pods
        if pod["spec"].get("automountServiceAccountToken")
    ]
    assert mounting == [manifests.WORKBENCH_POD]


def test_workbench_admitted_under_restricted(exec_session):
    namespace = exec_session.namespace
    kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {
                "name": namespace,
                "labels": {
                    "pod-security.kubernetes.io/enforce": "restricted",
                    "pod-security.kubernetes.io/enforce-version": "latest",
                },
            },
        }
    )
    labels = manifests.make_platform_labels(
        session_id=str(exec_session.id),
        lab_slug=exec_session.lab_slug,
        learner_id=exec_session.learner_id,
    )
    pod = manifests.make_workbench_pod(
        namespace=namespace,
        labels=labels,
        image="labplatform/workbench:0.1.0",
        file_paths=["Dockerfile"],
    )
    pod["metadata"]["name"] = "workbench-copy"
    weakened = copy.deepcopy(pod)
    weakened["metadata"]["name"] = "workbench-weakened"
    weakened["spec"]["containers"][0]["securityContext"].pop("capabilities")

    created = kube.apply(pod)
    rejected = kube.dry_run_create(weakened)

    assert created["metadata"]["name"] == "workbench-copy"
    assert rejected.allowed is False
    assert 'violates PodSecurity "restricted:latest"' in rejected.message
    kube.delete("v1", "Pod", "workbench-copy", namespace)


def test_grading_ignores_workbench(exec_session):
    context = GradingContext(namespace=exec_session.namespace, lab_slug="x")
    stored = kube.list_objects("v1", "Pod", namespace=exec_session.namespace)

    graded = [pod["metadata"]["name"] for pod in context.objects("Pod")]

    assert manifests.WORKBENCH_POD in [pod["metadata"]["name"] for pod in stored]
    assert manifests.WORKBENCH_POD not in graded


async def test_learner_cannot_exec_elsewhere(
    exec_backend, start_ready_session, make_learner
):
    from labplatform.terminal.sessions import _credentials_in_current_cluster

    alice = await sync_to_async(start_ready_session)(
        await sync_to_async(make_learner)("alice"), "harden-container"
    )
    bob = await sync_to_async(start_ready_session)(
        await sync_to_async(make_learner)("bob"), "harden-container"
    )
    credentials = await sync_to_async(_credentials_in_current_cluster)(alice)

    async def exec_into(namespace: str) -> str:
        shell = ExecShell(
            target=ExecTarget(
                server_url=credentials.server_url,
                ca_pem=credentials.ca_pem,
                token=credentials.token,
                namespace=namespace,
                pod=manifests.WORKBENCH_POD,
                container=manifests.WORKBENCH_CONTAINER,
                command=manifests.WORKBENCH_SHELL_COMMAND,
            ),
            on_output=lambda data: None,
            on_exit=lambda code: None,
        )
        with pytest.raises(ShellStartError) as raised:
            await shell.start(cols=80, rows=24)
        return str(raised.value)

    elsewhere = await exec_into(bob.namespace)
    own = await exec_into(alice.namespace)

    assert "may not open a shell" in elsewhere
    assert "HTTP 403" in elsewhere
    assert f"in namespace {bob.namespace}" in elsewhere
    # In the own namespace RBAC allows the exec; it fails only because no
    # node runs the pod here.
    assert "HTTP 403" not in own


# --- the terminal through the consumer -----------------------------------------


async def test_exec_terminal_runs_learner_shell(exec_session, fake_server):
    await sync_to_async(mark_running)(exec_session.namespace)
    client = await open_terminal(exec_session)

    echoed = await client.run("echo exec-$((6 * 7))")
    await client.close()

    assert "exec-42" in echoed
    record = fake_server.records[0]
    assert record.namespace == exec_session.namespace
    assert record.pod == manifests.WORKBENCH_POD
    assert record.query["container"] == [manifests.WORKBENCH_CONTAINER]
    assert tuple(record.query["command"]) == manifests.WORKBENCH_SHELL_COMMAND
    user = await sync_to_async(token_user)(record.token)
    assert user == f"system:serviceaccount:{exec_session.namespace}:learner"


async def test_exec_resize_frames(exec_session, fake_server):
    await sync_to_async(mark_running)(exec_session.namespace)
    client = await open_terminal(exec_session)

    for bad in (
        {"cols": 0, "rows": 0},
        {"cols": None, "rows": 40},
        {"cols": "wide", "rows": 40},
        {"cols": 100000, "rows": 100000},
    ):
        await client.send_json({"type": "resize", **bad})
    await client.send_json({"type": "resize", "cols": 120, "rows": 40})
    size = await client.run("stty size")
    await client.close()

    assert "40 120" in size
    sizes = fake_server.records[0].resizes
    assert {"Width": 500, "Height": 200} in sizes
    assert all(0 < size["Width"] <= 500 for size in sizes)
    assert sizes[-1] == {"Width": 120, "Height": 40}


async def test_exec_split_and_invalid_bytes(exec_session, fake_server):
    await sync_to_async(mark_running)(exec_session.namespace)
    client = await open_terminal(exec_session)

    await client.run("printf 'A\\377B\\342\\202'; sleep 0.3; printf '\\254C'")
    still_up = await client.run("echo up-$((1 + 1))")
    await client.close()

    assert b"A\xffB\xe2\x82\xacC" in bytes(client.output)
    assert "up-2" in still_up


async def test_exec_abrupt_disconnect_ends_shell(exec_session, fake_server):
    await sync_to_async(mark_running)(exec_session.namespace)
    client = await open_terminal(exec_session)
    await client.run("sleep 1000 & true")
    record = fake_server.records[0]

    # An ASGI disconnect with 1006: the browser vanished without a close frame.
    await client.communicator.send_input({"type": "websocket.disconnect", "code": 1006})
    ended = await asyncio.to_thread(record.ended.wait, 10)

    assert ended


async def test_exec_idle_close_ends_shell(exec_session, fake_server, settings):
    settings.TERMINAL_IDLE_SECONDS = 2
    await sync_to_async(mark_running)(exec_session.namespace)
    client = await open_terminal(exec_session)
    await client.run("true")

    closed = await next_close(client)
    # The ASGI server reports the end of the socket after the close frame.
    await client.communicator.send_input({"type": "websocket.disconnect", "code": 4408})
    ended = await asyncio.to_thread(fake_server.records[0].ended.wait, 10)

    assert closed["code"] == 4408
    assert ended


async def test_exec_stall_shows_message(exec_session, fake_server, monkeypatch):
    from labplatform.terminal.backends import exec as exec_backend_module

    monkeypatch.setattr(exec_backend_module, "PING_INTERVAL_SECONDS", 0.2)
    monkeypatch.setattr(exec_backend_module, "STALL_SECONDS", 1.0)
    fake_server.script = [("send", 1, b"working...\r\n"), ("stall",)]
    await sync_to_async(mark_running)(exec_session.namespace)
    client = await open_terminal(exec_session)

    await client.read_until(b"The terminal stopped because", timeout=15)
    closed = await next_close(client)

    assert b"Reload the page to reconnect" in client.output
    assert {"type": "exit"} in client.messages
    # A close without a code is a normal close (1000).
    assert closed.get("code", 1000) == 1000


@pytest.mark.parametrize(
    "case", ["foreign origin", "no origin", "no cookie", "other learner"]
)
async def test_exec_refused_handshakes_open_nothing(
    exec_session, fake_server, make_learner, case
):
    await sync_to_async(mark_running)(exec_session.namespace)
    cookie = await sync_to_async(owner_cookie)(exec_session)
    origin = ORIGIN
    if case == "foreign origin":
        origin = "http://evil.example"
    elif case == "no origin":
        origin = None
    elif case == "no cookie":
        cookie = None
    elif case == "other learner":
        intruder = await sync_to_async(make_learner)("mallory")
        cookie = await sync_to_async(cookie_for)(intruder)

    client = TerminalClient(
        path_for(exec_session), handshake_headers(cookie=cookie, origin=origin)
    )
    connected, code = await client.connect()
    await client.communicator.wait()

    assert connected is False
    assert code == 4403
    assert fake_server.handshakes == 0


async def test_image_pull_error_is_explained(exec_session, fake_server):
    await sync_to_async(write_pod_status)(
        exec_session.namespace,
        {
            "phase": "Pending",
            "containerStatuses": [
                {
                    "name": manifests.WORKBENCH_CONTAINER,
                    "image": "labplatform/workbench:0.1.0",
                    "imageID": "",
                    "ready": False,
                    "restartCount": 0,
                    "state": {
                        "waiting": {
                            "reason": "ImagePullBackOff",
                            "message": 'Back-off pulling image "labplatform/workbench:0.1.0"',
                        }
                    },
                }
            ],
        },
    )
    client = await open_terminal(exec_session)

    closed = await next_close(client)

    assert closed["code"] == 4500
    message = client.messages[-1]["message"]
    assert "The workbench image 'labplatform/workbench:0.1.0' cannot be pulled" in (
        message
    )
    assert "LABPLATFORM_WORKBENCH_IMAGE" in message
    assert fake_server.handshakes == 0


async def test_unscheduled_workbench_times_out(exec_session, fake_server):
    client = await open_terminal(exec_session)

    closed = await next_close(client)

    assert closed["code"] == 4500
    message = client.messages[-1]["message"]
    assert "Pending and no node has taken it yet" in message
    assert "Waited 3 s" in message
    assert fake_server.handshakes == 0
