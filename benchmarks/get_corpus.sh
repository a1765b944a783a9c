#!/usr/bin/env bash
# Download the Python 3.11 documentation (Debian package python3.11-doc) as a benchmark corpus.
# Extracts it into benchmarks/.corpus/python-docs and prints the HTML folder. Idempotent.
# Usage: benchmarks/get_corpus.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="$here/.corpus/python-docs"
html="$target/usr/share/doc/python3.11/html"
package="python3.11-doc"

if [[ -f "$html/index.html" ]]; then
    echo "$html"
    exit 0
fi

work="$here/.work/download"
mkdir -p "$work"
cd "$work"
if ! ls ./"$package"_*.deb >/dev/null 2>&1; then
    if ! apt-get download "$package" >/dev/null 2>&1; then
        apt-get update -qq >/dev/null
        apt-get download "$package" >/dev/null
    fi
fi
deb="$(ls ./"$package"_*.deb | head -n 1)"

rm -rf "$target"
mkdir -p "$target"
dpkg -x "$deb" "$target"
if [[ ! -f "$html/index.html" ]]; then
    echo "error: $html/index.html not found after extracting $deb" >&2
    exit 1
fi
echo "$html"
