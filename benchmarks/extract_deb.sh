#!/usr/bin/env bash
# Download a Debian package (once, into benchmarks/.work/download) and extract it into a folder.
# Usage: benchmarks/extract_deb.sh PACKAGE TARGET-FOLDER   (TARGET-FOLDER is emptied first)
set -euo pipefail

package="$1"
target="$2"
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
work="$here/.work/download"
mkdir -p "$work"
if ! ls "$work/$package"_*.deb >/dev/null 2>&1; then
    if ! (cd "$work" && apt-get download "$package" >/dev/null 2>&1); then
        apt-get update -qq >/dev/null
        (cd "$work" && apt-get download "$package" >/dev/null)
    fi
fi
rm -rf "$target"
mkdir -p "$target"
dpkg -x "$(ls "$work/$package"_*.deb | head -n 1)" "$target"
