# The project's commands. `make test` is what CI runs.

CARGO ?= cargo

.PHONY: test deps check fmt clippy unit sandbox

## Installs what is missing, then runs every check and test.
test: deps check unit

deps:
	./scripts/install-deps.sh

check: fmt clippy

fmt:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

unit:
	$(CARGO) test --workspace --locked

## The fake OpenRouter on a fixed port, for trying the flow offline.
sandbox:
	$(CARGO) run --locked -p openrouter-connect-tests --bin fake-openrouter -- --port 8787
