#!/usr/bin/env bash
# The Windows code paths, run here: the core's, the plugin's and the
# tests crate's tests that need no window, built for x86_64-pc-windows-gnu
# and run under Wine (scripts/wine/run is cargo's runner). Among them the
# data key in the Credential Manager (tests/tests/windows.rs) and the
# crash test's Credential Manager phase. Each run has a Wine prefix of its
# own, so no credential of an earlier run is there. Prints the counts.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir="${CARGO_TARGET_DIR:-target}"
mkdir -p "$target_dir"
target_dir="$(cd "$target_dir" && pwd)"
export WINEPREFIX="$target_dir/wine-prefix"
rm -rf "$WINEPREFIX"
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_RUNNER="$PWD/scripts/wine/run"
log="$target_dir/wine-test.log"

# The prefix's own processes (wineserver, services) go with the run.
trap '/usr/lib/wine/wineserver -k 2>/dev/null || true' EXIT

status=0
"${CARGO:-cargo}" test --locked --no-fail-fast --target x86_64-pc-windows-gnu \
    -p openrouter-connect-core -p tauri-plugin-openrouter -p openrouter-connect-tests \
    --lib --tests 2>&1 | tee "$log" || status=$?

echo
echo "Windows tests under Wine (x86_64-pc-windows-gnu):"
awk '
    # The test binary, named as cargo names it without its hash.
    /^ *Running / { name = $NF; sub(/.*\//, "", name); sub(/-[0-9a-f]+\.exe\)$/, "", name) }
    /^test result:/ {
        passed += $4; failed += $6; ignored += $8
        if ($4 + $6 + $8 > 0) printf "  %-26s %4d passed, %d failed, %d ignored\n", name, $4, $6, $8
    }
    /^crash phase / { crash = $0 }
    END {
        if (crash != "") printf "  %s\n", crash
        printf "  total: %d passed, %d failed, %d ignored\n", passed, failed, ignored
    }
' "$log"
exit "$status"
