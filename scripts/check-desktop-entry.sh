#!/usr/bin/env bash
# Checks the desktop entry inside a .deb or an .rpm: valid, and taking the
# app's deep-link scheme with the URL passed on (`%u`). The package test
# runs it on both packages, the release workflow on its own builds.
set -euo pipefail

package_file="$(realpath "$1")"
name=openrouter-connect
scheme=io.github.openrouterconnect

unpacked="$(mktemp -d)"
trap 'rm -rf "$unpacked"' EXIT
case "$package_file" in
    *.deb) dpkg-deb -x "$package_file" "$unpacked" ;;
    # Debian's rpm2cpio writes the whole archive of a Tauri .rpm and still
    # exits 1: cpio's status, and the entry being there, are what count.
    *.rpm) (cd "$unpacked" && { rpm2cpio "$package_file" || true; } | cpio -idm --quiet) ;;
    *) echo "not a .deb or an .rpm: $package_file" >&2; exit 2 ;;
esac
entry="$unpacked/usr/share/applications/$name.desktop"
desktop-file-validate "$entry"
if ! grep -qx "Exec=$name %u" "$entry" || ! grep -qx "MimeType=x-scheme-handler/$scheme" "$entry"; then
    echo "the desktop entry of $(basename "$package_file") does not take $scheme: links:" >&2
    cat "$entry" >&2
    exit 1
fi
echo "$(basename "$package_file"): its desktop entry takes $scheme: links"
