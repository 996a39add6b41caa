#!/usr/bin/env bash
# The Linux packages as a user gets them: the release .deb and .rpm from
# the Tauri CLI (built without the release profile's optimisations); lintian on the .deb (its errors fail, its warnings are
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
bundle="$(realpath -m "${CARGO_TARGET_DIR:-target}")/release/bundle"
rm -rf "$bundle/deb" "$bundle/rpm"
# The release profile without its optimisations (LTO, one codegen unit,
# opt-level "s"), which take most of this test's time: what the packages
# hold and how they install and start does not depend on them. `make
# bench` and the release workflow build the shipped profile.
CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=256 CARGO_PROFILE_RELEASE_OPT_LEVEL=0 \
    npx tauri build --bundles deb,rpm --features env-overrides
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
"${CARGO:-cargo}" test --locked -p openrouter-connect-tests --test app -- --ignored || status=$?
dpkg -r "$package" >/dev/null 2>&1 || true
exit "$status"
