"""Run the benchmarks: `.venv/bin/python -m bench [NAME ...] [--quick]`.

Each run starts a private platform (control plane, Redis, Celery worker,
daphne on a free 127.0.0.1 port), runs the named benchmarks against it
in order and prints one Markdown table per benchmark. NAME is one of
start, terminal, grading, capacity, pages or all (the default).
"""

import argparse
import os
import platform
import sys
import time

BENCHMARKS = ("start", "terminal", "grading", "capacity", "pages")


def parse_arguments(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description="Benchmark the platform on this machine."
    )
    parser.add_argument(
        "names",
        nargs="*",
        # A string default: argparse checks a list default against choices
        # as a whole and rejects it.
        default="all",
        choices=[*BENCHMARKS, "all"],
        help="Benchmarks to run (default: all).",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="Tiny sample counts, to check that the scripts still run.",
    )
    parser.add_argument(
        "--lab",
        default="pod-security-standards",
        help="Lab the start, terminal, capacity and pages benchmarks use.",
    )
    parser.add_argument(
        "--start-runs",
        type=int,
        default=20,
        help="Learners who start the lab one after another.",
    )
    parser.add_argument(
        "--burst",
        type=int,
        default=50,
        help="Learners who click Start lab at the same moment.",
    )
    parser.add_argument(
        "--echo-samples",
        type=int,
        default=300,
        help="Keystrokes timed per server and case.",
    )
    parser.add_argument(
        "--cat-mb", type=int, default=100, help="Size of the file cat prints, in MB."
    )
    parser.add_argument(
        "--cat-runs", type=int, default=3, help="Times the file is printed per server."
    )
    parser.add_argument(
        "--peers",
        default="terminado,wetty",
        help="Comma-separated peer terminal servers (terminado, wetty).",
    )
    parser.add_argument(
        "--grading-runs", type=int, default=50, help="Grading runs per lab and way."
    )
    parser.add_argument(
        "--terminal-steps",
        default="25,50,100,150,200,250",
        help="Open terminal counts for the capacity benchmark.",
    )
    parser.add_argument(
        "--typing-seconds",
        type=float,
        default=10,
        help="Seconds every open terminal types at each capacity step.",
    )
    parser.add_argument(
        "--page-requests", type=int, default=200, help="Timed requests per page."
    )

    arguments = parser.parse_args(argv)
    if arguments.quick:
        arguments.start_runs, arguments.burst = 2, 3
        arguments.echo_samples, arguments.cat_mb, arguments.cat_runs = 5, 1, 1
        arguments.grading_runs, arguments.terminal_steps = 2, "2,4"
        arguments.typing_seconds, arguments.page_requests = 2, 5
    arguments.terminal_steps = [
        int(step) for step in arguments.terminal_steps.split(",")
    ]
    arguments.peers = [peer for peer in arguments.peers.split(",") if peer]
    return arguments


def machine_line() -> str:
    memory = ""
    try:
        with open("/proc/meminfo") as meminfo:
            kib = int(meminfo.readline().split()[1])
        memory = f", {kib / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    model = ", " + line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"Machine: {os.cpu_count()} CPUs{model}{memory}; {platform.platform()}; "
        f"Python {platform.python_version()}; {time.strftime('%Y-%m-%d %H:%M %Z')}; "
        "load average %.1f (other work shares these CPUs)" % os.getloadavg()[0]
    )


def main(argv: list[str]) -> int:
    arguments = parse_arguments(argv)
    requested = arguments.names or ["all"]
    if isinstance(requested, str):
        requested = [requested]
    names = BENCHMARKS if "all" in requested else requested
    from .stack import Stack

    print(machine_line(), flush=True)
    stack = Stack()
    stack.start()
    try:
        for name in names:
            started = time.monotonic()
            for table in run_one(name, stack, arguments):
                print(table.render(), flush=True)
            print(f"({name} took {time.monotonic() - started:.0f} s)\n", flush=True)
    finally:
        stack.stop()
    return 0


def run_one(name: str, stack, arguments):
    if name == "start":
        from . import labstart

        return labstart.run(
            stack,
            runs=arguments.start_runs,
            burst=arguments.burst,
            lab_slug=arguments.lab,
        )
    if name == "terminal":
        from . import terminal

        return terminal.run(
            stack,
            echo_samples=arguments.echo_samples,
            cat_mb=arguments.cat_mb,
            cat_runs=arguments.cat_runs,
            peers=arguments.peers,
            lab_slug=arguments.lab,
        )
    if name == "grading":
        from . import grading

        return grading.run(stack, runs=arguments.grading_runs)
    if name == "capacity":
        from . import capacity

        return capacity.run(
            stack,
            steps=arguments.terminal_steps,
            lab_slug=arguments.lab,
            typing_seconds=arguments.typing_seconds,
        )
    from . import pages

    return pages.run(stack, requests=arguments.page_requests, lab_slug=arguments.lab)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
