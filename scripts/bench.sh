#!/usr/bin/env bash
# `make bench`: builds the app and the floor (bench/floor, a bare Tauri
# app) in release with their .deb packages, runs the desktop benchmarks
# (bench/desktop.py), the flow benchmark (tests/benches/flow.rs), the
# streaming benchmark (tests/benches/stream.rs: a streamed reply through
# the plugin into the app's window) and the core's Criterion benchmarks,
# and writes BENCHMARKS.md.
#
# BENCH_RUNS sets the start-ups per program (bench/desktop.py's default:
# 20). A cold start here varies by about 60 ms (sd): with 10 starts each,
# the ratio of the two medians moved by several percent from run to run.
# About 30 minutes with an empty target folder, most of it the release builds;
# 15 once they are cached.
set -euo pipefail
cd "$(dirname "$0")/.."

target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
export CARGO_TARGET_DIR="$target"
tauri="$PWD/node_modules/.bin/tauri"
mkdir -p "$target/bench"

echo "== what each crate adds (unstripped builds; the release builds below replace them)"
command -v cargo-bloat >/dev/null || cargo install cargo-bloat --locked
for program in openrouter-connect:app tauri-floor:floor; do
  CARGO_PROFILE_RELEASE_STRIP=false cargo bloat --release --locked -p "${program%%:*}" \
    --features tauri/custom-protocol --crates -n 15 --message-format json \
    > "$target/bench/bloat-${program##*:}.json"
done

echo "== release builds and packages"
"$tauri" build --bundles deb --features env-overrides
(cd bench/floor && "$tauri" build --bundles deb)
cargo build --release --locked -p openrouter-connect-tests --bin fake-openrouter --bin fake-browser

echo "== desktop: start-up, memory, idle CPU"
python3 bench/desktop.py \
  --app "$target/release/openrouter-connect" \
  --floor "$target/release/tauri-floor" \
  --fake "$target/release/fake-openrouter" \
  --browser "$target/release/fake-browser" \
  ${BENCH_RUNS:+--runs "$BENCH_RUNS"} \
  --out "$target/bench/desktop.json"

echo "== the flow, with the real keychain and store"
cargo bench --locked -p openrouter-connect-tests --bench flow -- --json "$target/bench/flow.json"

echo "== a streamed reply through the plugin, in the app's window"
cargo bench --locked -p openrouter-connect-tests --bench stream -- --json "$target/bench/stream.json"

echo "== the core's steps"
rm -rf "$target/criterion"
cargo bench --locked -p openrouter-connect-core --bench core

python3 bench/report.py --target "$target" --command "make bench"
