#!/usr/bin/env bash
# Checks every dependency with cargo-deny against deny.toml: known
# advisories, licences, bans and sources, for the workspace and for the
# fuzz crate (its own lock file), both with --locked.
#
# The advisories come from the RustSec database, fetched now when it can
# be. Where it can't (a machine that reaches crates.io but not GitHub),
# they come from a snapshot of it (scripts/update-advisory-db.sh writes
# one): $ADVISORY_DB_SNAPSHOT, else ../shared/advisory-db beside the
# clone. With neither, the other three checks run and the output says
# loudly that advisories were not checked. On GitHub Actions the live
# database is required. The output names the database, its commit, its
# date and its age.
set -euo pipefail
cd "$(dirname "$0")/.."

# Where cargo-deny keeps a database: a folder of db-path named after the
# database's URL; this is the name for its default URL (the RustSec one).
db_folder=advisory-db-3157b0e258782691

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

# The crates of every target, so that the checks below run --offline.
cargo fetch --locked --quiet
cargo fetch --locked --quiet --manifest-path fuzz/Cargo.toml

config=deny.toml
checks=(advisories licenses bans sources)
snapshot=""
if cargo deny --log-level error fetch db 2>"$work/fetch.log"; then
    db="${CARGO_HOME:-$HOME/.cargo}/advisory-dbs/$db_folder"
    origin="the live RustSec database, fetched now"
    commit="$(git -C "$db" log -1 --format=%H)"
elif [ "${GITHUB_ACTIONS:-}" = true ]; then
    cat "$work/fetch.log" >&2
    echo "deny: the advisory database could not be fetched" >&2
    exit 1
else
    snapshot="${ADVISORY_DB_SNAPSHOT:-../shared/advisory-db}"
    if [ ! -d "$snapshot/crates" ]; then
        snapshot=""
        checks=(licenses bans sources)
        echo "cargo deny: ADVISORIES NOT CHECKED: the RustSec database can't be fetched here" \
            "($(awk 'NF { last = $0 } END { print last }' "$work/fetch.log"))," \
            "and no snapshot of it was found (ADVISORY_DB_SNAPSHOT, ../shared/advisory-db;" \
            "scripts/update-advisory-db.sh writes one). Licences, bans and sources are checked."
    fi
fi
if [ -n "$snapshot" ]; then
    origin="the snapshot in $snapshot (the live one could not be fetched: $(awk 'NF { last = $0 } END { print last }' "$work/fetch.log"))"
    commit="$(sed -n 's/^Commit: //p' "$snapshot/README.md")"
    snapshot_date="$(sed -n 's/^Date: //p' "$snapshot/README.md")"
    # cargo-deny opens a database as a git repository: the snapshot's
    # advisories become one commit, dated as the snapshot, by a fixed
    # author, so that the same snapshot always makes the same commit.
    db="$work/dbs/$db_folder"
    mkdir -p "$db"
    cp -R "$snapshot/crates" "$db/"
    (
        export GIT_AUTHOR_NAME=snapshot GIT_AUTHOR_EMAIL=snapshot@localhost
        export GIT_COMMITTER_NAME=snapshot GIT_COMMITTER_EMAIL=snapshot@localhost
        export GIT_AUTHOR_DATE="$snapshot_date" GIT_COMMITTER_DATE="$snapshot_date"
        git -C "$db" init --quiet
        git -C "$db" add crates
        git -C "$db" -c commit.gpgsign=false commit --quiet --no-verify --message "RustSec advisory database at $commit"
    )
    # deny.toml, with the database's folder set to the copy, and no
    # refusal of an old database: its age is printed instead.
    config="$work/deny.toml"
    awk -v root="$work/dbs" '
        { print }
        /^\[advisories\]$/ {
            print "db-path = \"" root "\""
            print "maximum-db-staleness = \"P36500D\""
        }' deny.toml >"$config"
    grep -q '^maximum-db-staleness' "$config"
fi

if [ -n "${db:-}" ]; then
    db_date="$(git -C "$db" log -1 --format=%cI)"
    age_days=$((($(date +%s) - $(git -C "$db" log -1 --format=%ct)) / 86400))
    count="$(find "$db/crates" -name '*.md' | wc -l)"
    echo "Advisory database: $origin"
    echo "Advisory database: commit $commit of $db_date ($age_days days old), $count advisories"
    if [ -n "$snapshot" ] && ((age_days > 90)); then
        echo "Advisory database: older than 90 days; scripts/update-advisory-db.sh makes a new snapshot"
    fi
fi

# Without the inclusion graphs: the duplicate versions alone would print
# thousands of lines. `cargo tree --invert CRATE --workspace --all-features
# --target all` shows what brings a crate in.
check() {
    local manifest="$1"
    shift
    cargo deny --locked --offline --workspace --manifest-path "$manifest" --config "$config" \
        check --show-stats --hide-inclusion-graph "$@" "${checks[@]}"
}
status=0
echo "cargo deny: the workspace"
check Cargo.toml || status=1
# The fuzz crate's dependencies are the core's and the fuzzer's: the
# ignored advisories and licence exceptions that only Tauri's tree needs
# are not an error there (the workspace's check above keeps them needed).
echo "cargo deny: the fuzz crate"
check fuzz/Cargo.toml --allow advisory-not-detected \
    --allow license-exception-not-encountered --allow license-not-encountered || status=1
exit "$status"
