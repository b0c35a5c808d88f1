# The two commands of the README, plus the set-up they share.
.PHONY: setup run test lint

setup:
	@bash scripts/setup.sh

run: setup
	.venv/bin/python manage.py runplatform

test: setup
	.venv/bin/pytest

lint: setup
	.venv/bin/ruff check labplatform labs tests
