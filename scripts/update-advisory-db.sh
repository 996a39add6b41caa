#!/usr/bin/env bash
# Writes a snapshot of the RustSec advisory database into DEST, for
# scripts/deny.sh on a machine that cannot fetch the database: its
# advisories (crates/), its licence files, and a README.md naming the
# commit and its date. Needs a network, or a copy of the database:
#
#   scripts/update-advisory-db.sh DEST [SOURCE]
#
# SOURCE is the database's git repository, a URL or a local path (bare or
# not); by default the RustSec one. DEST is replaced whole.
set -euo pipefail

if (($# < 1 || $# > 2)); then
    echo "usage: $0 DEST [SOURCE]" >&2
    exit 2
fi
dest="$1"
source="${2:-https://github.com/rustsec/advisory-db}"
# git clones a local path with hard links and ignores --depth: a file:// URL
# makes it copy only the newest commit, as from a server.
if [ -d "$source" ]; then
    source="file://$(cd "$source" && pwd)"
fi

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

git clone --quiet --depth 1 "$source" "$work/clone"
commit="$(git -C "$work/clone" log -1 --format=%H)"
date="$(git -C "$work/clone" log -1 --format=%cI)"

snapshot="$work/snapshot"
mkdir "$snapshot"
cp -R "$work/clone/crates" "$work/clone/LICENSE.txt" "$work/clone/LICENSES" "$snapshot/"
cat >"$snapshot/README.md" <<EOF
# The RustSec advisory database: a snapshot

The advisories (\`crates/\`) of the RustSec advisory database, which
\`scripts/deny.sh\` checks the dependencies against when it cannot fetch the
database itself. \`scripts/update-advisory-db.sh\` writes this folder again.

Commit: $commit
Date: $date

The database is dedicated to the public domain (CC0-1.0); the advisories
imported from GitHub's advisory database are under CC-BY-4.0, as each says
(LICENSE.txt, LICENSES/).
EOF

rm -rf "$dest"
mkdir -p "$(dirname "$dest")"
cp -R "$snapshot" "$dest"
echo "$dest: the advisory database at commit $commit of $date," \
    "$(find "$dest/crates" -name '*.md' | wc -l) advisories"
