#!/usr/bin/env bash
# The Linux packages as a user gets them: the .deb and .rpm from the
# Tauri CLI; lintian on the .deb (its errors fail, its warnings are
# shown); both packages' names and desktop entries (the deep-link scheme,
# `%u`: scripts/check-desktop-entry.sh);
# then the .deb installed with dpkg and its deep link delivered by
# xdg-open and gio open (the ignored test in tests/tests/app). Needs root
# for dpkg -i; the package is removed again afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(id -u)" -ne 0 ]; then
    echo "package-test: needs root for dpkg -i; not run"
    exit 0
fi

package=openrouter-connect
# Built from the debug profile (`tauri build --debug`, stripped as the
# release profile is): what the packages hold and how they install and
# start does not depend on the optimiser, and this reuses the build the
# tests made (only tauri and the crates above it are built again, with
# the embedded assets), where the release profile would build every
# crate again. Being a debug build, it reads OPENROUTER_BASE_URL and
# BROWSER, which its test points at the fake. `make bench` and the
# release workflow build the shipped profile.
bundle="$(realpath -m "${CARGO_TARGET_DIR:-target}")/debug/bundle"
rm -rf "$bundle/deb" "$bundle/rpm"
CARGO_PROFILE_DEV_STRIP=symbols npx tauri build --debug --bundles deb,rpm
deb="$(ls "$bundle"/deb/*.deb)"
rpm="$(ls "$bundle"/rpm/*.rpm)"

echo "lintian $deb"
lintian --allow-root --fail-on error --info "$deb"
echo "lintian: no errors"

[ "$(dpkg-deb -f "$deb" Package)" = "$package" ] || {
    echo "the .deb is named $(dpkg-deb -f "$deb" Package), not $package" >&2
    exit 1
}
[ "$(rpm -qp --queryformat '%{NAME}' "$rpm" 2>/dev/null)" = "$package" ] || {
    echo "the .rpm is not named $package" >&2
    exit 1
}
scripts/check-desktop-entry.sh "$deb"
scripts/check-desktop-entry.sh "$rpm"

status=0
# --workspace, as `make build` builds: with -p alone, cargo would resolve
# the dependencies' features for this package only and build half the
# tree again.
"${CARGO:-cargo}" test --workspace --locked --test app -- --ignored || status=$?
dpkg -r "$package" >/dev/null 2>&1 || true
exit "$status"
