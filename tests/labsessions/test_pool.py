"""Labs with dedicated placement lease a cluster of their own from the pool."""

import pytest

from labplatform.cluster import kube
from labplatform.cluster.localcp import LocalControlPlane
from labplatform.labsessions import services
from labplatform.labsessions.models import LabSession, PoolCluster

from ..fixtures import wait_until_ready

pytestmark = [pytest.mark.cluster, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def second_plane(control_plane, tmp_path_factory):
    plane = LocalControlPlane(
        data_dir=tmp_path_factory.mktemp("pool-plane"), bin_dir=control_plane.bin_dir
    )
    plane.start()
    yield plane
    plane.stop()


@pytest.fixture
def pool(second_plane):
    return PoolCluster.objects.create(
        name="dedicated-1", kubeconfig_path=str(second_plane.kubeconfig_path)
    )


def test_escape_lab_runs_on_leased_cluster(
    pool, celery_worker_thread, make_learner, second_plane
):
    session, created = services.session_start(
        learner=make_learner("leaser"), lab_slug="container-escape"
    )
    wait_until_ready(session)
    pool.refresh_from_db()

    assert created is True
    assert pool.state == PoolCluster.State.LEASED
    assert pool.session_id == session.pk
    assert kube.get("v1", "Namespace", session.namespace) is None
    with kube.using_cluster(str(second_plane.kubeconfig_path)):
        assert kube.get("v1", "Pod", "escape", session.namespace) is not None

    services.session_end(session_id=session.pk)
    pool.refresh_from_db()
    assert pool.state == PoolCluster.State.FREE
    assert pool.session_id is None


def test_pool_exhausted_is_refused(pool, make_learner):
    first, _ = services.session_start(
        learner=make_learner("first"), lab_slug="container-escape"
    )

    with pytest.raises(services.NoClusterFree, match="in use"):
        services.session_start(
            learner=make_learner("second"), lab_slug="container-escape"
        )
    assert LabSession.objects.filter(lab_slug="container-escape").count() == 1


def test_shared_labs_do_not_lease(pool, make_learner):
    session, _ = services.session_start(
        learner=make_learner("plain"), lab_slug="pod-security-standards"
    )

    pool.refresh_from_db()
    assert pool.state == PoolCluster.State.FREE
    assert services.session_kubeconfig(session) is None


@pytest.mark.asyncio
async def test_terminal_reaches_leased_cluster(
    pool, celery_worker_thread, make_learner
):
    from asgiref.sync import sync_to_async

    from ..terminal.test_terminal import ORIGIN, owner_cookie, path_for
    from ..terminal.wsclient import TerminalClient, handshake_headers

    session, _ = await sync_to_async(services.session_start)(
        learner=await sync_to_async(make_learner)("shell-leaser"),
        lab_slug="container-escape",
    )
    await sync_to_async(wait_until_ready)(session)

    cookie = await sync_to_async(owner_cookie)(session)
    client = TerminalClient(
        path_for(session), handshake_headers(cookie=cookie, origin=ORIGIN)
    )
    connected, _ = await client.connect()
    assert connected
    pods = await client.run("kubectl get pod escape -o name")
    await client.close()

    assert "pod/escape" in pods


@pytest.fixture
def recycle_script(tmp_path):
    """A host recycle command that records what it was given."""
    log = tmp_path / "recycled.log"
    script = tmp_path / "recycle.sh"
    script.write_text(
        "#!/bin/sh\n"
        f'echo "$LABPLATFORM_CLUSTER_NAME $LABPLATFORM_CLUSTER_KUBECONFIG" >> {log}\n'
        'test -z "$FAIL" || { echo "snapshot restore failed" >&2; exit 3; }\n'
    )
    script.chmod(0o755)
    return script, log


def test_ending_a_session_recycles_its_cluster(
    pool, recycle_script, celery_worker_thread, make_learner
):
    script, log = recycle_script
    PoolCluster.objects.filter(pk=pool.pk).update(recycle_command=str(script))
    session, _ = services.session_start(
        learner=make_learner("leaser"), lab_slug="container-escape"
    )
    wait_until_ready(session)

    services.session_end(session_id=session.pk)

    from ..helpers import wait_for

    wait_for(
        lambda: PoolCluster.objects.get(pk=pool.pk).state == PoolCluster.State.FREE,
        timeout=30,
        message="the cluster to be recycled",
    )
    assert log.read_text().split() == ["dedicated-1", pool.kubeconfig_path]
    # Recycled, the cluster is leased again.
    second, _ = services.session_start(
        learner=make_learner("next"), lab_slug="container-escape"
    )
    assert PoolCluster.objects.get(pk=pool.pk).session_id == second.pk


def test_failed_recycle_marks_cluster_broken(
    pool, recycle_script, make_learner, capsys
):
    from django.core.management import call_command

    script, _ = recycle_script
    PoolCluster.objects.filter(pk=pool.pk).update(
        recycle_command=f"env FAIL=1 {script}", state=PoolCluster.State.RECYCLING
    )

    services.cluster_recycle(cluster_id=pool.pk)

    pool.refresh_from_db()
    assert pool.state == PoolCluster.State.BROKEN
    assert "exit status 3: snapshot restore failed" in pool.last_error
    with pytest.raises(services.NoClusterFree):
        services.session_start(
            learner=make_learner("unlucky"), lab_slug="container-escape"
        )
    call_command("clusterpool", "list")
    assert "broken" in capsys.readouterr().out
    call_command("clusterpool", "free", "dedicated-1")
    assert PoolCluster.objects.get(pk=pool.pk).state == PoolCluster.State.FREE
