"""The peer terminal servers: terminado (PyPI) and WeTTY (npm).

Both serve the same bash as the platform, without the sandbox, from a
folder that holds the same file for the throughput run. gotty was the
other candidate, but its Go modules are not served by the module proxy
this machine reaches.
"""

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from .clients import TerminadoTerminal, TerminalClient, WettyTerminal
from .stack import ROOT, free_port, wait_for_port

SHELL = ["/bin/bash", "--norc", "--noprofile", "-i"]


@dataclass
class Peer:
    name: str
    process: subprocess.Popen
    url: str
    origin: str
    client_class: type[TerminalClient]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def _environment() -> dict[str, str]:
    # The platform's shell gets a clean environment with these variables.
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": os.environ.get("HOME", "/root"),
        "TERM": "xterm-256color",
        "LANG": "C.UTF-8",
        "PS1": "peer$ ",
        "PYTHONPATH": str(ROOT),
    }


def start_terminado(folder: Path, log: Path) -> Peer:
    try:
        import terminado  # noqa: F401
    except ImportError:
        raise RuntimeError(
            "terminado is not installed; run .venv/bin/pip install -e '.[bench]'"
        ) from None
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "bench.terminado_server", str(port), *SHELL],
        cwd=folder,
        env=_environment(),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_for_port(port, seconds=20, name="terminado")
    origin = f"http://127.0.0.1:{port}"
    return Peer(
        "terminado",
        process,
        f"ws://127.0.0.1:{port}/websocket",
        origin,
        TerminadoTerminal,
    )


def start_wetty(folder: Path, log: Path) -> Peer:
    installed = subprocess.run(
        ["bash", str(ROOT / "bench" / "install_wetty.sh")],
        capture_output=True,
        text=True,
    )
    if installed.returncode != 0:
        raise RuntimeError(f"installing wetty failed:\n{installed.stderr[-2000:]}")
    main = installed.stdout.strip().splitlines()[-1]
    port = free_port()
    process = subprocess.Popen(
        [
            "node",
            main,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--base",
            "/wetty/",
            "--command",
            " ".join(SHELL),
        ],
        cwd=folder,
        env=_environment(),
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_for_port(port, seconds=30, name="wetty")
    origin = f"http://127.0.0.1:{port}"
    url = f"ws://127.0.0.1:{port}/wetty/socket.io/?EIO=4&transport=websocket"
    return Peer("wetty", process, url, origin, WettyTerminal)


STARTERS = {"terminado": start_terminado, "wetty": start_wetty}
