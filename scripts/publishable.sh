#!/usr/bin/env bash
# Publishes the core and the plugin as a dry run: packaged as crates.io
# would take them, and the plugin's package built against the core's.
#
# Cargo verifies the plugin against the core through a temporary registry
# and treats a registry crate of a given version as never changing: it
# reuses the copy it unpacked on an earlier run, and the build of it, whose
# sources carry the archive's fixed timestamps. Both are removed first, or
# a changed core goes unseen and the check passes or fails on old code.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo_home="${CARGO_HOME:-$HOME/.cargo}"
target_dir="$(cargo metadata --format-version 1 --no-deps --locked |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')"

rm -rf "$cargo_home"/registry/src/-*/openrouter-connect-core-*
for info in "$target_dir"/debug/deps/openrouter_connect_core-*.d; do
    [ -e "$info" ] || continue
    if grep -q 'registry/src/-' "$info"; then
        hash="${info##*/openrouter_connect_core-}"
        hash="${hash%.d}"
        rm -rf "$target_dir/debug/.fingerprint/openrouter-connect-core-$hash"
        rm -f "$target_dir"/debug/deps/*openrouter_connect_core-"$hash".*
    fi
done

cargo publish --dry-run --locked --allow-dirty -p openrouter-connect-core -p tauri-plugin-openrouter
