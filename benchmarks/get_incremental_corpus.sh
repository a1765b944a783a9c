#!/usr/bin/env bash
# Assemble the incremental-ingest benchmark corpus: over 1,000 real documents from three Debian
# packages: git's release notes (all), git-doc's command manuals (AsciiDoc) and python3.11-doc's
# reST sources, each file under 16 KB. Prints the corpus folder. Idempotent.
# Usage: benchmarks/get_incremental_corpus.sh
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
target="$here/.corpus/incremental"
if [[ -f "$target/.complete" ]]; then
    echo "$target"
    exit 0
fi

work="$here/.work/download"
for package in git git-doc python3.11-doc; do
    "$here/extract_deb.sh" "$package" "$work/extract-$package"
done
cd "$work"

rm -rf "$target"
mkdir -p "$target/git-release-notes" "$target/git-manuals" "$target/python-sources"
cp extract-git/usr/share/doc/git/RelNotes/*.txt "$target/git-release-notes/"
copy_flat() {  # copy_flat FOLDER NAME-GLOB TARGET: files under 16 KB, sub/folder/a.txt -> sub__folder__a.txt
    (cd "$1" && find . -name "$2" -size -16k) | while read -r file; do
        flat="${file#./}"
        cp "$1/$file" "$3/${flat//\//__}"
    done
}
copy_flat extract-git-doc/usr/share/doc/git-doc '*.txt' "$target/git-manuals"
copy_flat extract-python3.11-doc/usr/share/doc/python3.11/html/_sources '*.rst.txt' "$target/python-sources"
touch "$target/.complete"
echo "$target"
