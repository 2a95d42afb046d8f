# Convenience wrappers: the scripts in scripts/ are the source of truth
# (a fresh Debian may not even have make). E.g. `make test ARGS="-x -q"`.
.PHONY: setup run test lint bench

setup:
	bash scripts/setup

run:
	bash scripts/run-demo

test:
	bash scripts/test $(ARGS)

lint: setup
	bash scripts/lint

bench: setup
	.venv/bin/python -m bench $(ARGS)
