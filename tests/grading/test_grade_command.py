"""The offline grade command prints the same checks as a lab session."""

import json

import pytest
from django.core.management import CommandError, call_command

from labplatform.content.catalog import get_catalog

SOLUTION = get_catalog().lab("pod-security-standards").solution_dir


def namespace_manifest(tmp_path, labels: dict) -> str:
    path = tmp_path / "namespace.yaml"
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Namespace",
                "metadata": {"name": "offline", "labels": labels},
            }
        )
    )
    return str(path)


def test_solution_passes_offline(tmp_path, capsys):
    labels = {
        f"pod-security.kubernetes.io/{mode}": "restricted"
        for mode in ("enforce", "warn", "audit")
    }

    call_command(
        "grade",
        "pod-security-standards",
        "--json",
        "--manifest",
        namespace_manifest(tmp_path, labels),
        "--manifest",
        str(SOLUTION / "compliant-pod.yaml"),
    )

    results = {r["id"]: r["status"] for r in json.loads(capsys.readouterr().out)}
    assert results["namespace-enforces-restricted"] == "pass"
    assert results["namespace-warns-and-audits"] == "pass"
    assert results["compliant-pod-admitted"] == "pass"
    assert results["no-hostpid-pod"] == "pass"
    assert results["hostpid-pod-rejected"] == "not_available"
    assert results["audit-events-reviewed"] == "not_available"


def test_failures_exit_nonzero_with_hints(tmp_path, capsys):
    with pytest.raises(SystemExit) as raised:
        call_command(
            "grade",
            "pod-security-standards",
            "--manifest",
            namespace_manifest(tmp_path, {}),
            "--manifest",
            str(SOLUTION / "hostpid-pod.yaml"),
        )

    output = capsys.readouterr().out
    assert raised.value.code == 1
    assert "FAIL no-hostpid-pod" in output
    assert "How to fix:" in output
    assert "hostpid" in output


def test_unknown_lab_lists_known(capsys):
    with pytest.raises(CommandError, match="Known labs: .*pod-security-standards"):
        call_command("grade", "no-such-lab")


def test_invalid_yaml_is_reported(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: Pod\n  metadata: [\n")

    with pytest.raises(CommandError, match="is not valid YAML"):
        call_command("grade", "pod-security-standards", "--manifest", str(broken))


def test_non_object_document_is_reported(tmp_path):
    listing = tmp_path / "list.yaml"
    listing.write_text("- just\n- a list\n")

    with pytest.raises(CommandError, match="not a Kubernetes object"):
        call_command("grade", "pod-security-standards", "--manifest", str(listing))
