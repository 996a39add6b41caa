#!/usr/bin/env bash
# Starts the fake OpenRouter and the app pointed at it. The consent page
# opens in your browser as usual; approve it there. Stops both on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
port="${1:-8787}"
cargo build --locked --bins -p openrouter-connect -p openrouter-connect-tests
target="${CARGO_TARGET_DIR:-target}/debug"
"$target/fake-openrouter" --port "$port" &
fake=$!
trap 'kill "$fake" 2>/dev/null || true' EXIT
OPENROUTER_BASE_URL="http://127.0.0.1:$port" "$target/openrouter-connect"
