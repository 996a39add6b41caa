#!/usr/bin/env bash
# Runs make targets in order, each once (a phase's prerequisites that ran
# as earlier phases are not run again), stops at the first that fails,
# and prints how long each took: the table comes at the end of the run,
# failed or not, so a slow phase is seen where the output ends.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

ran=()
rows=()
status=0
started=$(date +%s)
for phase in "$@"; do
    skip=()
    for earlier in "${ran[@]}"; do
        skip+=(-o "$earlier")
    done
    begin=$(date +%s)
    if make --no-print-directory "${skip[@]}" "$phase"; then
        result=ok
    else
        result=FAILED
        status=1
    fi
    rows+=("$phase $(($(date +%s) - begin)) $result")
    ran+=("$phase")
    [ "$status" -eq 0 ] || break
done

minutes() {
    printf '%d:%02d' $(($1 / 60)) $(($1 % 60))
}
echo
echo "phase          time   result"
for row in "${rows[@]}"; do
    read -r phase seconds result <<<"$row"
    printf '%-14s %6s  %s\n' "$phase" "$(minutes "$seconds")" "$result"
done
printf '%-14s %6s\n' total "$(minutes $(($(date +%s) - started)))"
exit "$status"
