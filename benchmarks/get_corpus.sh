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

"$here/extract_deb.sh" "$package" "$target"
if [[ ! -f "$html/index.html" ]]; then
    echo "error: $html/index.html not found after extracting $package" >&2
    exit 1
fi
echo "$html"
