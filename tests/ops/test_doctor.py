"""`manage.py doctor` against the real control plane and Redis, and broken ones."""

import socket

import pytest
import yaml
from django.core.management import CommandError, call_command

from labplatform.cluster import kube
from labplatform.ops import doctor


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_doctor(capsys) -> tuple[str, CommandError | None]:
    error = None
    try:
        call_command("doctor", no_color=True)
    except CommandError as raised:
        error = raised
    return capsys.readouterr().out, error


def line_of(output: str, check: str) -> str:
    for line in output.splitlines():
        if f" {check}: " in line:
            return line
    raise AssertionError(f"no line for {check} in:\n{output}")


@pytest.fixture
def healthy_settings(settings, control_plane, redis_url):
    settings.KUBECONFIG = str(control_plane.kubeconfig_path)
    settings.AUDIT_LOG_PATH = str(control_plane.audit_log_path)
    settings.REDIS_URL = redis_url
    settings.TERMINAL_BACKEND = "local"
    return settings


@pytest.mark.cluster
@pytest.mark.django_db
def test_doctor_passes_on_working_setup(healthy_settings, capsys):
    output, error = run_doctor(capsys)

    assert error is None, output
    assert line_of(output, "kubeconfig").startswith("OK")
    assert "Kubernetes v1.37.2" in line_of(output, "cluster version")
    assert line_of(output, "pod security admission").startswith("OK")
    assert "records the requests of the Pod Security probe" in line_of(
        output, "audit log"
    )
    assert line_of(output, "redis").startswith("OK")
    assert line_of(output, "database").startswith("OK")
    assert line_of(output, "terminal backend").startswith("OK")
    assert "Every check passed." in output


@pytest.mark.cluster
@pytest.mark.django_db
def test_doctor_removes_probe_namespace(healthy_settings, capsys):
    run_doctor(capsys)

    remaining = [
        item["metadata"]["name"]
        for item in kube.list_objects("v1", "Namespace")
        if item["metadata"]["name"].startswith(doctor.PROBE_PREFIX)
        and not item["metadata"].get("deletionTimestamp")
    ]
    assert remaining == []


@pytest.mark.django_db
def test_doctor_reports_unreachable_api_server(healthy_settings, tmp_path, capsys):
    port = closed_port()
    config = yaml.safe_load(open(healthy_settings.KUBECONFIG))
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{port}"
    broken = tmp_path / "unreachable.kubeconfig"
    broken.write_text(yaml.safe_dump(config))
    healthy_settings.KUBECONFIG = str(broken)

    output, error = run_doctor(capsys)

    assert error is not None
    assert "cluster version" in str(error)
    version = line_of(output, "cluster version")
    assert version.startswith("FAIL")
    assert f"cannot reach the API server at https://127.0.0.1:{port}" in version
    assert "Fix: Start the cluster, or fix the server address" in output
    assert line_of(output, "pod security admission").startswith("SKIP")
    assert line_of(output, "redis").startswith("OK")


@pytest.mark.django_db
def test_doctor_reports_bad_redis_url(healthy_settings, capsys):
    port = closed_port()
    healthy_settings.REDIS_URL = f"redis://:hunter2@127.0.0.1:{port}/0"

    output, error = run_doctor(capsys)

    redis_line = line_of(output, "redis")
    assert error is not None
    assert "redis" in str(error)
    assert redis_line.startswith("FAIL")
    assert f"Redis at redis://:***@127.0.0.1:{port}/0 is not reachable" in redis_line
    assert "hunter2" not in output
    assert "Fix: Start Redis or fix LABPLATFORM_REDIS_URL" in output


@pytest.mark.django_db
def test_doctor_reports_missing_kubeconfig(healthy_settings, tmp_path, capsys):
    healthy_settings.KUBECONFIG = str(tmp_path / "absent.kubeconfig")

    output, error = run_doctor(capsys)

    assert error is not None
    assert f"{tmp_path / 'absent.kubeconfig'} does not exist." in line_of(
        output, "kubeconfig"
    )
    assert line_of(output, "cluster version").startswith("SKIP")


@pytest.mark.cluster
@pytest.mark.django_db
def test_doctor_reports_unwired_audit_log(healthy_settings, tmp_path, capsys):
    healthy_settings.AUDIT_LOG_PATH = ""

    output, _ = run_doctor(capsys)

    assert "LABPLATFORM_AUDIT_LOG_PATH is empty" in line_of(output, "audit log")


@pytest.mark.cluster
@pytest.mark.django_db
def test_doctor_reports_stale_audit_log(healthy_settings, tmp_path, capsys):
    stale = tmp_path / "audit.log"
    stale.write_text("")
    healthy_settings.AUDIT_LOG_PATH = str(stale)

    output, error = run_doctor(capsys)

    assert error is not None
    assert "has no event for the probe namespace" in line_of(output, "audit log")


@pytest.mark.django_db
def test_doctor_reports_exec_without_image(healthy_settings, capsys):
    healthy_settings.TERMINAL_BACKEND = "exec"
    healthy_settings.WORKBENCH_IMAGE = ""

    output, error = run_doctor(capsys)

    assert error is not None
    assert "LABPLATFORM_WORKBENCH_IMAGE is empty" in line_of(output, "terminal backend")


@pytest.mark.django_db
def test_doctor_reports_unknown_backend(healthy_settings, capsys):
    healthy_settings.TERMINAL_BACKEND = "ssh"

    output, _ = run_doctor(capsys)

    assert "LABPLATFORM_TERMINAL_BACKEND='ssh' is not a backend" in line_of(
        output, "terminal backend"
    )


def test_doctor_summary_names_warnings(monkeypatch, capsys):
    findings = [
        doctor.Finding("redis", doctor.OK, "answers."),
        doctor.Finding("audit log", doctor.WARNING, "readable, not probed."),
        doctor.Finding("terminal backend", doctor.SKIPPED, "not checked: no cluster."),
    ]
    monkeypatch.setattr(doctor, "run_checks", lambda: findings)

    output, error = run_doctor(capsys)

    assert error is None
    assert "Every check passed." not in output
    assert (
        "No check failed, but 2 warned or were skipped: audit log, terminal backend."
        in output
    )
