#!/usr/bin/env bash
# The Linux packages as a user gets them: the release .deb and .rpm from
# the Tauri CLI; lintian on the .deb (its errors fail, its warnings are
# shown); the .rpm's name and desktop entry (the deep-link scheme, `%u`);
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
scheme=io.github.openrouterconnect
bundle="$(realpath -m "${CARGO_TARGET_DIR:-target}")/release/bundle"
rm -rf "$bundle/deb" "$bundle/rpm"
npx tauri build --bundles deb,rpm
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
unpacked="$(mktemp -d)"
trap 'rm -rf "$unpacked"' EXIT
# Debian's rpm2cpio writes the whole archive of a Tauri .rpm and still
# exits 1: cpio's status, and the entry being there, are what count.
(cd "$unpacked" && { rpm2cpio "$rpm" || true; } | cpio -idm --quiet)
entry="$unpacked/usr/share/applications/$package.desktop"
desktop-file-validate "$entry"
if ! grep -qx "Exec=$package %u" "$entry" || ! grep -qx "MimeType=x-scheme-handler/$scheme" "$entry"; then
    echo "the .rpm's desktop entry does not take the $scheme: scheme:" >&2
    cat "$entry" >&2
    exit 1
fi
echo "rpm: $package, its desktop entry takes $scheme: links"

status=0
"${CARGO:-cargo}" test --locked -p openrouter-connect-tests --test app -- --ignored || status=$?
dpkg -r "$package" >/dev/null 2>&1 || true
exit "$status"
