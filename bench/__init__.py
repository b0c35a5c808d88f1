"""Benchmarks that start the platform on this machine and print tables.

Run `.venv/bin/python -m bench --help` from the repository root; the
figures and the machine they came from are in docs/benchmarks.md.
"""
