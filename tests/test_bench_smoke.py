"""The benchmark scripts still run end to end, with tiny sample counts.

This checks that every benchmark prints its table with the expected rows
and sample counts; it asserts no timing. The figures come from
`python -m bench` without --quick (see docs/benchmarks.md).
"""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LABS = ("harden-container", "pod-security-standards", "container-escape")


def table_rows(output: str) -> dict[str, list[str]]:
    """Map each table row's label to its cells (n, p50, p95, p99, max, ...)."""
    rows = {}
    for line in output.splitlines():
        cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 8 and cells[1].isdigit():
            rows.setdefault(cells[0], []).append(cells[1:])
    return rows


@pytest.fixture(scope="module")
def quick_run() -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bench", "all", "--quick"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result.stdout


@pytest.mark.cluster
def test_bench_prints_machine_and_tables(quick_run):
    assert quick_run.startswith("Machine: ")
    for title in ("Lab start", "Terminal echo", "Grading latency", "Open terminals"):
        assert f"### {title}" in quick_run
    assert "### Page time to first byte" in quick_run


@pytest.mark.cluster
def test_bench_lab_start_rows(quick_run):
    rows = table_rows(quick_run)
    assert [cells[0] for cells in rows["click to first prompt byte"]] == ["2", "3"]
    assert rows["queue wait (click to task start)"][0][0] == "2"
    assert rows["apply Namespace"][0][0] == "2"
    assert rows["terminal: shell start to first byte"][1][0] == "3"
    assert rows["all 3 at their first prompt byte"][0][0] == "1"


@pytest.mark.cluster
def test_bench_terminal_rows_cover_peers(quick_run):
    rows = table_rows(quick_run)
    for server in ("platform", "terminado", "wetty"):
        assert rows[f"echo, {server}"][0][0] == "5"
        assert rows[f"echo while another terminal floods, {server}"][0][0] == "5"
        assert rows[f"cat 1 MB, {server}"][0][0] == "1"
    assert (
        "x terminado" in rows["echo, platform"][0][-1]
        or "x wetty" in (rows["echo, platform"][0][-1])
    )


@pytest.mark.cluster
def test_bench_grading_rows_per_lab(quick_run):
    rows = table_rows(quick_run)
    for lab in LABS:
        assert rows[f"{lab}: task body"][0][0] == "2"
        assert "API calls per run" in rows[f"{lab}: task body"][0][-1]
        assert rows[f"{lab}: Check my work to stored result"][0][0] == "2"


@pytest.mark.cluster
def test_bench_capacity_and_pages_rows(quick_run):
    rows = table_rows(quick_run)
    assert "echo with 2 terminals open" in rows
    assert "echo with 4 terminals open" in rows
    assert "MB/terminal" in rows["echo with 4 terminals open"][0][-1]
    assert rows["module page (containers-workload-security)"][0][0] == "5"
    assert rows["lab page, session ready (pod-security-standards)"][0][0] == "5"
