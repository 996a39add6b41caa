#!/usr/bin/env bash
# Runs make targets in order, each once (a phase's prerequisites that ran
# as earlier phases are not run again), stops at the first that fails,
# and prints how long each took: the table comes at the end of the run,
# failed or not, so a slow phase is seen where the output ends. "cores"
# is the phase's processor time over its wall time: on a machine with N
# cores, a phase well below N leaves them idle (waiting on a test, a lone
# crate compiling, a link).
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

ran=()
rows=()
status=0
started=$(date +%s)

# Processor time (user and system) of every finished child so far, in
# hundredths of a second, from bash's `times` (run in this shell: a
# subshell starts with no children's time). Sets `cpu`.
cpu_file=$(mktemp)
trap 'rm -f "$cpu_file"' EXIT
children_cpu() {
    times >"$cpu_file"
    cpu=$(awk 'function sec(t, m) {
        split(t, m, "m"); return m[1] * 60 + substr(m[2], 1, length(m[2]) - 1)
    } NR == 2 { printf "%d", (sec($1) + sec($2)) * 100 }' "$cpu_file")
}

for phase in "$@"; do
    skip=()
    for earlier in "${ran[@]}"; do
        skip+=(-o "$earlier")
    done
    begin=$(date +%s)
    children_cpu
    cpu_begin=$cpu
    if make --no-print-directory "${skip[@]}" "$phase"; then
        result=ok
    else
        result=FAILED
        status=1
    fi
    children_cpu
    rows+=("$phase $(($(date +%s) - begin)) $((cpu - cpu_begin)) $result")
    ran+=("$phase")
    [ "$status" -eq 0 ] || break
done

minutes() {
    printf '%d:%02d' $(($1 / 60)) $(($1 % 60))
}
echo
echo "phase          time  cores  result"
for row in "${rows[@]}"; do
    read -r phase seconds cpu result <<<"$row"
    printf '%-14s %6s  %5s  %s\n' "$phase" "$(minutes "$seconds")" \
        "$(awk -v c="$cpu" -v s="$seconds" 'BEGIN { printf "%.1f", s ? c / 100 / s : 0 }')" "$result"
done
printf '%-14s %6s\n' total "$(minutes $(($(date +%s) - started)))"
exit "$status"
