# The project's commands. `make test` is what CI runs.

CARGO ?= cargo
SANDBOX_PORT ?= 8787

.PHONY: test deps check fmt clippy windows build unit run sandbox bundle

## Installs what is missing, then runs every check and test.
test: deps check build unit

deps:
	./scripts/install-deps.sh

check: fmt clippy windows

fmt:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## The Windows code paths compile (macOS can't be compiled here).
windows:
	$(CARGO) check --workspace --locked --target x86_64-pc-windows-gnu

## The binaries the end-to-end tests start: the app and the fake.
build:
	$(CARGO) build --workspace --bins --locked

unit:
	$(CARGO) test --workspace --locked

## Builds and starts the app against OpenRouter.
run: deps
	$(CARGO) run --locked -p openrouter-connect

## Starts the fake OpenRouter and the app pointed at it: the whole flow,
## offline, with no account.
sandbox: deps
	./scripts/sandbox.sh $(SANDBOX_PORT)

## A .deb whose desktop entry handles the app's deep-link scheme.
bundle: deps
	test -x node_modules/.bin/tauri || npm install --no-audit --no-fund
	npx tauri build --bundles deb
