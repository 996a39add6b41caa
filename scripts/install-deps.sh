#!/usr/bin/env bash
# Installs what building, testing and packaging need, when it is missing:
# Debian's packages (as root, or through sudo), the Rust components and
# target for the Windows build, tauri-driver, cargo-fuzz and cargo-deny.
# Safe to run again: it only installs what is absent. The Tauri CLI, for
# bundling only, comes with `make bundle`.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(
    # building the app
    build-essential pkg-config file libwebkit2gtk-4.1-dev libgtk-3-dev
    librsvg2-dev libssl-dev libdbus-1-dev xdg-utils
    # the window, WebDriver, D-Bus and a Secret Service for the tests
    xvfb xauth webkit2gtk-driver dbus-x11 gnome-keyring libsecret-tools
    desktop-file-utils imagemagick libglib2.0-bin
    # the relay page, in a real headless browser
    chromium chromium-driver
    # the Windows build, and its tests run under Wine
    gcc-mingw-w64-x86-64 wine64
    # the Linux packages' checks, and the shell scripts'
    lintian rpm cpio shellcheck
)

missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done

if ((${#missing[@]})); then
    if ! command -v apt-get >/dev/null; then
        echo "Missing packages: ${missing[*]}; install them with your system's package manager." >&2
        exit 1
    fi
    sudo=()
    if [ "$(id -u)" -ne 0 ]; then
        sudo=(sudo)
    fi
    echo "Installing ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v cargo >/dev/null; then
    echo "Rust is missing: install it from rustup, then run this again." >&2
    exit 1
fi
if command -v rustup >/dev/null; then
    for component in clippy rustfmt; do
        rustup component list --installed | grep -q "^$component" || rustup component add "$component"
    done
    rustup target list --installed | grep -q "^x86_64-pc-windows-gnu$" \
        || rustup target add x86_64-pc-windows-gnu
fi
# The tools are built with cargo's debug profile (--debug): the release
# profile's optimiser makes their install on a fresh machine about three
# times as long (cargo-deny: 3 minutes against 1), and none of them does
# enough work in a run to need it (cargo-deny checks this tree in about
# 6 s, against 3).
command -v tauri-driver >/dev/null || cargo install tauri-driver --debug --locked --version 2.1.0
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --debug --locked --version 0.13.2
# This version exactly: deny.toml is written for it.
cargo_deny_version=0.20.2
if [ "$(cargo-deny --version 2>/dev/null)" != "cargo-deny $cargo_deny_version" ]; then
    cargo install cargo-deny --debug --locked --version "$cargo_deny_version"
fi
