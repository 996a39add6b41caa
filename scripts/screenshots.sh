#!/usr/bin/env bash
# `make screenshots`: runs the end-to-end tests, which capture the real
# window once the panel has settled, and copies the pictures the README
# shows into docs/screenshots/.
set -euo pipefail
cd "$(dirname "$0")/.."
target="$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
cargo build --workspace --bins --locked
cargo test --locked -p openrouter-connect-tests --test app
grep -o 'docs/screenshots/[a-z-]*\.png' README.md | sort -u | while read -r path; do
  cp "$target/e2e-screenshots/$(basename "$path")" "$path"
done
cargo test --locked -p openrouter-connect-tests --test readme_screenshots
