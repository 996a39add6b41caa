#!/usr/bin/env bash
# Runs each fuzz target for SECONDS (default 60) from the committed seeds,
# and prints its executions. New inputs go to a scratch corpus, not to the
# repository; a crash leaves its input in fuzz/artifacts/<target>/, which
# becomes a regression test.
#   scripts/fuzz.sh [--dev] [SECONDS] [TARGET...]
# --dev builds the targets without the optimiser (the sanitizer and the
# coverage instrumentation stay): a third of the build time on a fresh
# machine (about 1 minute against 3), for a tenth to a twentieth of the
# executions a second. For a short smoke run, where the build is most of
# the time (`make fuzz-smoke`).
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
build=()
if [ "${1:-}" = --dev ]; then
    build=(--dev)
    shift
fi
seconds="${1:-60}"
shift || true
targets=("$@")
if ((${#targets[@]} == 0)); then
    targets=(callback_query deep_link exchange_answer key_info_answer loopback_request sse_stream)
fi
# cargo-fuzz needs nightly-only compiler flags (sanitizers); this lets the
# stable toolchain accept them.
export RUSTC_BOOTSTRAP=1
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
    mkdir -p "$scratch/$target"
    log="$scratch/$target.log"
    if ! cargo fuzz run "${build[@]}" "$target" "$scratch/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -print_final_stats=1 >"$log" 2>&1; then
        tail -40 "$log"
        echo "fuzz: $target FAILED (input kept in fuzz/artifacts/$target/)"
        exit 1
    fi
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' || echo "?")
    echo "fuzz: $target ok, $runs executions in ${seconds}s"
done
