#!/usr/bin/env bash
# Installs what building and testing need, when it is missing: Debian's
# packages (as root, or through sudo) and the Rust components. Safe to run
# again; it only installs what is absent.
set -euo pipefail

packages=(build-essential pkg-config)

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
        if ! rustup component list --installed | grep -q "^$component"; then
            rustup component add "$component"
        fi
    done
fi
