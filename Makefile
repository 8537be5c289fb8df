# The developer commands; each is a script in scripts/ that CI calls too.
.PHONY: run test lint bench soak reliability setup

run:    ## install what is missing, then start everything (gateway on :8080)
	@scripts/run

test:   ## install what is missing, then run every test
	@scripts/test

lint:   ## ruff and mypy
	@scripts/lint

bench:  ## benchmarks against a running system (start it with `make run` first)
	@scripts/bench

soak:   ## 10-minute load run with hot reloads against a running system (`make run` first)
	@scripts/soak

reliability:  ## run the reliability suite and update the committed docs/RELIABILITY.md
	@scripts/reliability

setup:  ## only the installs
	@scripts/setup --dev
