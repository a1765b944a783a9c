#!/usr/bin/env python3
"""Build the `curl-faq` retrieval set from Debian's libcurl4-doc package (curl's plain-text FAQ).

    apt-get download libcurl4-doc                          # 7.88.1-10+deb12u15 (bookworm)
    python build.py libcurl4-doc_7.88.1-10+deb12u15_all.deb [OUT_DIR]
        (or: dpkg -x the .deb into X and run `python build.py X [OUT_DIR]`)
    OUT_DIR defaults to the directory of this script; it gets corpus/, queries.jsonl,
    qrels.jsonl, README.md (counts and verification results are written into it) and the
    package's `copyright` file (the curl licence asks for its notice in all copies).

Queries  = every numbered section heading of usr/share/doc/libcurl4/FAQ.gz ("  3.2 How do I tell
           curl to resume a transfer?", also third-level ones such as "4.5.1 \"400 Bad Request\"",
           and statements such as "configure fails when using static libraries"), without the
           number. Chapter titles ("1. Philosophy") are not queries.
Corpus   = FAQ.txt: the FAQ decompressed, byte-identical except the leakage edits: every question
           heading line keeps only its indentation and number ("  3.2"), every table-of-contents
           line keeps only its number, and cross-references that quote a question become the
           number only (XREF_EDITS; none were needed for this FAQ).
           Distractors: the package's Markdown documents (usr/share/doc/libcurl4/*.md, *.md.gz),
           decompressed, unmodified, chosen by DISTRACTOR RULE below.
Answer   = the FAQ text after a heading up to the next numbered heading of any level (chapter
           titles included) or the end of the file; dedented, blank lines at both ends removed.
Deterministic, standard library only: the .deb is read with a small ar reader plus tarfile/lzma;
files are processed in sorted order; no randomness, no timestamps.
"""
import gzip, hashlib, io, json, lzma, os, re, shutil, sys, tarfile, textwrap
from collections import defaultdict

DOC = 'usr/share/doc/libcurl4'
COPYRIGHT = 'usr/share/doc/libcurl4-doc/copyright'       # libcurl4/ has none of its own in this package
CHANGELOG = 'usr/share/doc/libcurl4-doc/changelog.Debian.gz'
FAQ_SRC = DOC + '/FAQ.gz'
FAQ = 'FAQ.txt'
MIN_ANSWER_WORDS = 8
# DISTRACTOR RULE: the Markdown documents directly in usr/share/doc/libcurl4 (*.md, *.md.gz; not
# examples/), sorted by file name, each decompressed and named without .gz; a file with fewer than
# MIN_DISTRACTOR_WORDS \w+ words is skipped; files are added in that order while the whole corpus
# (FAQ included) stays within MAX_CORPUS_WORDS.
MIN_DISTRACTOR_WORDS = 300
MAX_CORPUS_WORDS = 80000
# Cross-references in the FAQ prose that quote a question's text: (exact old text, new text).
# Filled in after inspection; the FAQ refers to other entries by number only ("FAQ entry 4.12"),
# so nothing had to be replaced. The leak check below would list any that were missed.
XREF_EDITS = []

WORD = re.compile(r'\w+')
SUB_RE = re.compile(r'^( {1,4})(\d+(?:\.\d+)+) +(\S.*?)\s*$')     # "  3.2 How do I ...?"
CHAPTER_RE = re.compile(r'^ ?(\d+)\. +(\S.*?)\s*$')                  # "1. Philosophy" / TOC " 1. Philosophy"


def words(text):
    return WORD.findall(text.lower())


def joined(ws):
    return ' ' + ' '.join(ws) + ' '


def norm(text):
    return ' '.join(text.lower().split())


def contains_run(hay_joined, answer_words):
    """hay (given as joined(words)) contains a run of min(10, n) consecutive answer words."""
    m = min(10, len(answer_words))
    return m > 0 and any(joined(answer_words[i:i + m]) in hay_joined for i in range(len(answer_words) - m + 1))


# ---------------------------------------------------------------- package access (stdlib only)
class Package:
    """Regular files of a .deb (read into memory) or of an extracted tree, by path relative to its root."""

    def __init__(self, src):
        self.deb_sha256 = None
        self.control = {}
        self.files = {}
        if os.path.isfile(src):
            raw = open(src, 'rb').read()
            self.deb_sha256 = hashlib.sha256(raw).hexdigest()
            members = self._ar(raw)
            ctl = next(v for k, v in members.items() if k.startswith('control.tar'))
            data = next((k, v) for k, v in members.items() if k.startswith('data.tar'))
            for path, body in self._tar(ctl).items():
                if path == 'control':
                    for line in body.decode('utf-8').splitlines():
                        if line[:1].strip() and ':' in line:
                            k, v = line.split(':', 1)
                            self.control[k] = v.strip()
            self.files = self._tar(data[1])
            self.tree = None
        else:
            self.tree = src

    @staticmethod
    def _ar(raw):
        assert raw[:8] == b'!<arch>\n', 'not a .deb (ar) file'
        out, i = {}, 8
        while i < len(raw):
            name = raw[i:i + 16].decode().strip().rstrip('/')
            size = int(raw[i + 48:i + 58].decode().strip())
            out[name] = raw[i + 60:i + 60 + size]
            i += 60 + size + (size & 1)
        return out

    @staticmethod
    def _tar(blob):
        if blob[:6] == b'\xfd7zXZ\x00':
            blob = lzma.decompress(blob)
        elif blob[:2] == b'\x1f\x8b':
            blob = gzip.decompress(blob)
        elif blob[:4] == b'\x28\xb5\x2f\xfd':
            sys.exit('zstd-compressed .deb: unpack it with dpkg -x and pass the tree instead')
        out = {}
        with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
            for m in tf.getmembers():
                if m.isfile():
                    out[os.path.normpath(m.name).lstrip('./')] = tf.extractfile(m).read()
        return out

    def read(self, rel):
        if self.tree is None:
            return self.files[rel]
        return open(os.path.join(self.tree, rel), 'rb').read()

    def listdir(self, rel):
        """Names of the regular files directly in folder rel."""
        if self.tree is None:
            pre = rel.rstrip('/') + '/'
            return sorted(p[len(pre):] for p in self.files if p.startswith(pre) and '/' not in p[len(pre):])
        d = os.path.join(self.tree, rel)
        return sorted(n for n in os.listdir(d) if os.path.isfile(os.path.join(d, n)) and not os.path.islink(os.path.join(d, n)))


def read_maybe_gz(pkg, rel):
    b = pkg.read(rel)
    return gzip.decompress(b) if rel.endswith('.gz') else b


# ---------------------------------------------------------------- FAQ structure
def parse_faq(text):
    """TOC entries and body headings of the plain-text FAQ (line indices into text.split('\\n'))."""
    lines = text.split('\n')
    sep = [i for i, l in enumerate(lines) if re.fullmatch(r'=+', l.strip() or 'x')]
    assert len(sep) == 1, sep
    sep = sep[0]
    toc, toc_chapters = [], []
    for i in range(sep):
        m = SUB_RE.match(lines[i])
        if m:
            toc.append({'num': m.group(2), 'text': m.group(3), 'line': i})
        elif CHAPTER_RE.match(lines[i]):
            toc_chapters.append(i)
    toc_nums = [t['num'] for t in toc]
    assert len(set(toc_nums)) == len(toc_nums)

    def blank(i):
        return i < 0 or i >= len(lines) or not lines[i].strip()
    heads, chapters, numbered_prose = [], [], []
    for i in range(sep + 1, len(lines)):
        l = lines[i]
        m = SUB_RE.match(l)
        if m and blank(i - 1) and blank(i + 1):
            heads.append({'num': m.group(2), 'text': m.group(3), 'line': i, 'indent': m.group(1)})
        elif l[:1].isdigit() and CHAPTER_RE.match(l) and blank(i - 1) and blank(i + 1):
            chapters.append({'num': CHAPTER_RE.match(l).group(1), 'text': CHAPTER_RE.match(l).group(2), 'line': i})
        elif re.match(r'^\s*\d+(?:\.\d+)*\.? ', l):
            numbered_prose.append((i + 1, l.strip()))   # e.g. "4.12 and the SSLCERTS document" (a wrapped line)
    # every TOC entry has exactly one body section, in the same order, and vice versa
    assert [h['num'] for h in heads] == toc_nums, ([h['num'] for h in heads], toc_nums)
    return lines, sep, toc, toc_chapters, heads, chapters, numbered_prose


def main():
    src = sys.argv[1]
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
    pkg = Package(src)
    version = pkg.control.get('Version')
    changelog_line = gzip.decompress(pkg.read(CHANGELOG)).decode('utf-8').split('\n', 1)[0].strip()
    if version is None:   # extracted tree: take the version from the changelog line
        version = re.search(r'\(([^)]+)\)', changelog_line).group(1)

    faq_bytes = read_maybe_gz(pkg, FAQ_SRC)
    faq_text = faq_bytes.decode('ascii')              # the FAQ is pure ASCII (asserted here)
    lines, sep, toc, toc_chapters, heads, chapters, numbered_prose = parse_faq(faq_text)
    toc_by_num = {t['num']: t['text'] for t in toc}
    toc_differs = [(h['num'], toc_by_num[h['num']], h['text']) for h in heads if toc_by_num[h['num']] != h['text']]

    # 1. leakage edits (line-wise, so every other byte stays as it was)
    log = defaultdict(int)
    new = list(lines)
    for t in toc:
        m = SUB_RE.match(lines[t['line']])
        new[t['line']] = m.group(1) + m.group(2)
        log['toc_lines_reduced'] += 1
    for h in heads:
        new[h['line']] = h['indent'] + h['num']
        log['heading_lines_reduced'] += 1
    new_text = '\n'.join(new)
    for old, repl in XREF_EDITS:
        n = new_text.count(old)
        assert n >= 1, old
        new_text = new_text.replace(old, repl)
        log['xrefs_replaced'] += n
    new_lines = new_text.split('\n')
    assert len(new_lines) == len(lines)

    # 2. answers: after the heading line up to the next numbered heading of any level (or EOF)
    bounds = sorted([h['line'] for h in heads] + [c['line'] for c in chapters] + [len(lines)])
    sections = []
    for h in heads:
        end = next(b for b in bounds if b > h['line'])
        ans = textwrap.dedent('\n'.join(l.rstrip() for l in new_lines[h['line'] + 1:end])).strip('\n')
        sections.append({'num': h['num'], 'question': ' '.join(h['text'].split()), 'answer': ans})

    # 3. corpus: FAQ.txt + Markdown distractors (rule above)
    corpus = {FAQ: new_text.encode('ascii')}
    faq_words = len(words(new_text))
    total = faq_words
    md_all = [n for n in pkg.listdir(DOC) if n.endswith('.md') or n.endswith('.md.gz')]
    distractors, skipped_small, skipped_budget = [], [], []
    for n in md_all:
        body = read_maybe_gz(pkg, DOC + '/' + n)
        w = len(words(body.decode('utf-8')))
        name = n[:-3] if n.endswith('.gz') else n
        if w < MIN_DISTRACTOR_WORDS:
            skipped_small.append((n, w)); continue
        if total + w > MAX_CORPUS_WORDS:
            skipped_budget.append((n, w)); continue
        assert name not in corpus
        corpus[name] = body
        distractors.append((name, n, w))
        total += w
    others = [n for n in pkg.listdir(DOC) if n not in md_all and n != 'FAQ.gz']
    names = sorted(corpus)
    text = {p: corpus[p].decode('utf-8') for p in names}
    cj = {p: joined(words(t)) for p, t in text.items()}
    cn = {p: norm(t) for p, t in text.items()}

    # 4. short answers, leakage, findability, merging
    dropped_short = [s for s in sections if len(words(s['answer'])) < MIN_ANSWER_WORDS]
    kept = [s for s in sections if len(words(s['answer'])) >= MIN_ANSWER_WORDS]

    def leaks_of(q):
        qn, qj = norm(q), joined(words(q))
        hits = []
        for p in names:
            if qn in cn[p]:
                hits.append(('string', p))
            if qj in cj[p]:
                hits.append(('words', p))
        return hits
    dropped_leak, ok = [], []
    for s in kept:
        hits = leaks_of(s['question'])
        if hits:
            ctx = []
            for kind, p in hits:
                if kind == 'words':
                    ws = cj[p].split()
                    qw = words(s['question'])
                    i = next(i for i in range(len(ws)) if ws[i:i + len(qw)] == qw)
                    ctx.append('%s: "... %s ..."' % (p, ' '.join(ws[max(0, i - 6):i + len(qw) + 6])))
            s['leak'] = sorted(set(ctx))
            s['leak_kinds'] = sorted(set(k for k, _ in hits))
            dropped_leak.append(s)
        else:
            ok.append(s)
    unfindable = [s for s in ok if not contains_run(cj[FAQ], words(s['answer']))]
    ok = [s for s in ok if s not in unfindable]
    order, groups = [], defaultdict(list)
    for s in ok:
        if s['question'] not in groups:
            order.append(s['question'])
        groups[s['question']].append(s)
    queries, rows = [], []
    for i, t in enumerate(order, 1):
        queries.append({'_id': f'q{i}', 'text': t})
        rows += [{'query_id': f'q{i}', 'doc_id': FAQ, 'answer': s['answer'], 'score': 1} for s in groups[t]]
    # final leak check over everything that is written (must be empty)
    final_leaks = [(q['_id'], q['text'], k, p) for q in queries for k, p in leaks_of(q['text'])]
    assert not final_leaks, final_leaks

    # 5. write
    cdir = os.path.join(out, 'corpus')
    if os.path.isdir(cdir):
        shutil.rmtree(cdir)
    os.makedirs(cdir)
    for p in names:
        with open(os.path.join(cdir, p), 'wb') as f:
            f.write(corpus[p])
    with open(os.path.join(out, 'queries.jsonl'), 'w', encoding='utf-8') as f:
        for q in queries:
            f.write(json.dumps(q, ensure_ascii=False) + '\n')
    with open(os.path.join(out, 'qrels.jsonl'), 'w', encoding='utf-8') as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + '\n')
    with open(os.path.join(out, 'copyright'), 'wb') as f:
        f.write(pkg.read(COPYRIGHT))
    h = hashlib.sha256()
    for p in names:
        h.update(p.encode()); h.update(corpus[p])
    for fn in ('queries.jsonl', 'qrels.jsonl'):
        h.update(open(os.path.join(out, fn), 'rb').read())
    aw = sorted(len(words(r['answer'])) for r in rows)
    changed = sum(1 for a, b in zip(lines, new_lines) if a != b)
    st = {
        'version': version, 'changelog_line': changelog_line, 'deb_sha256': pkg.deb_sha256,
        'faq_src_sha256': hashlib.sha256(faq_bytes).hexdigest(),
        'faq_lines': len(lines), 'faq_lines_changed': changed,
        'toc_entries': len(toc), 'toc_chapters': len(toc_chapters), 'chapters': [(c['num'], c['text']) for c in chapters],
        'headings_found': len(heads), 'toc_differs': toc_differs, 'numbered_prose': numbered_prose,
        'corpus_docs': len(names), 'doc_words': {p: len(cj[p].split()) for p in names},
        'corpus_words': sum(len(v.split()) for v in cj.values()),
        'distractors': distractors, 'skipped_small': skipped_small, 'skipped_budget': skipped_budget,
        'others': others,
        'dropped_answer_lt_8_words': ['%s %s (%d words)' % (s['num'], s['question'], len(words(s['answer']))) for s in dropped_short],
        'dropped_leak': ['%s %s [%s] %s' % (s['num'], s['question'], '+'.join(s['leak_kinds']), '; '.join(s['leak'])) for s in dropped_leak],
        'dropped_answer_not_findable': ['%s %s' % (s['num'], s['question']) for s in unfindable],
        'queries': len(queries), 'qrels': len(rows),
        'statement_queries': sum(1 for q in queries if '?' not in q['text']),
        'answer_words_min_median_max': [aw[0], aw[len(aw) // 2], aw[-1]],
        'edits': dict(log), 'multi_answer_queries': [t for t in order if len(groups[t]) > 1],
        'final_leaks': len(final_leaks), 'content_sha256': h.hexdigest(),
    }
    write_readme(out, st)
    print(json.dumps(st, ensure_ascii=False, indent=1))


def write_readme(out, st):
    def bullet(items, ind='  '):
        return '\n'.join(f'{ind}- {x}' for x in items) if items else f'{ind}- (none)'
    dw = st['doc_words']
    e = st['edits']
    budget = ('The budget did not\n  bind: every Markdown file of %d+ words fits' % MIN_DISTRACTOR_WORDS if not st['skipped_budget']
              else 'Left out for the budget: ' + ', '.join('`%s` (%d)' % x for x in st['skipped_budget']))
    dist_rows = '\n'.join(f"  | `{name}` | `usr/share/doc/libcurl4/{src}`{', decompressed' if src.endswith('.gz') else ''} | {w:,} |"
                          for name, src, w in st['distractors'])
    txt = f"""# curl-faq: curl FAQ questions over the plain-text curl FAQ plus curl's Markdown docs

Retrieval evaluation set. Queries are the numbered section headings of curl's FAQ.
The corpus is the real FAQ kept as ONE plain-text file (`{FAQ}`, {dw[FAQ]:,} words; no markup at all,
a format the other sets lack), plus {len(st['distractors'])} Markdown documents of the same Debian package as
distractors (HTTP cookies, SSL certificates, TheArtOfHttpScripting, INSTALL, URL syntax...).
Every answer is in `{FAQ}`, so document-level retrieval is easy; the set measures passage-level retrieval
and how a chunker cuts a long plain-text file whose only structure is blank lines, indentation and
section numbers. Relevance is structural (derived from the document structure), not human-judged.

## Provenance
- Source: Debian package `libcurl4-doc` (source package `curl`), version `{st['version']}`,
  changelog line `{st['changelog_line']}`.
  Fetched with `apt-get download libcurl4-doc` (Debian 12 bookworm, architecture all).
  Deb sha256: `{st['deb_sha256'] or 'n/a (built from an extracted tree)'}`.
- Files of that package in `corpus/` (doc_id = file name):
  - `{FAQ}`: `usr/share/doc/libcurl4/FAQ.gz` decompressed (sha256 of the decompressed original
    `{st['faq_src_sha256']}`), edited only as described under "How it was built", {dw[FAQ]:,} words.
  - {len(st['distractors'])} Markdown distractors, byte-identical to the package's files (decompressed where gzipped):

  | doc_id | from | words |
  |---|---|---:|
{dist_rows}

  Words = `\\w+` words of the file's text (Markdown syntax included); corpus total {st['corpus_words']:,}.
- Distractor rule (in `build.py`): the Markdown documents directly in `usr/share/doc/libcurl4/`
  (`*.md`, `*.md.gz`; not `examples/`), sorted by file name, decompressed and named without `.gz`;
  files with fewer than {MIN_DISTRACTOR_WORDS} words are skipped (too short to be more than noise); files are
  added in name order while the whole corpus stays within {MAX_CORPUS_WORDS:,} words. {budget}.
  Why Markdown only: the project's parser reads `.txt` and `.md`; this set keeps the FAQ as
  the only plain-text file, and the Markdown docs are the package's topical documentation (the same
  options, protocols and error messages as the FAQ), i.e. realistic distractors.
  - Skipped as too short: {', '.join(f'`{n}` ({w})' for n, w in st['skipped_small']) or '(none)'}.
  - Not Markdown, not taken: {', '.join(f'`{n}`' for n in st['others'])}
    (`KNOWN_BUGS` and `TODO` are numbered plain-text lists in the FAQ's own format, `THANKS` is a list of
    names, `README` a short pointer file), and `examples/` (C sources, makefiles).
- Licence (the package's `/usr/share/doc/libcurl4-doc/copyright`, copied here as `copyright`; the
  `libcurl4` doc folder has no copyright file of its own in this package):
  `Files: *`, which covers `docs/` (the FAQ and the Markdown documents), is
  "Copyright: 1997-2022, Daniel Stenberg, <daniel@haxx.se>, et al." under `License: curl` (an MIT/X
  derivative; the FAQ's chapter 6 calls it that too). The permission reads:
  > Permission to use, copy, modify, and distribute this software for any purpose
  > with or without fee is hereby granted, provided that the above copyright
  > notice and this permission notice appear in all copies.

  **Verdict: a modified copy may be bundled.** Modifying and distributing are both granted, for any
  purpose; the only condition is that the copyright notice and the permission notice go with every
  copy. They do: the package's `copyright` file is bundled in this folder and the notice is repeated here.
  `{FAQ}` is a modified copy (question text removed from its heading and table-of-contents lines, see below);
  the Markdown files are unmodified copies.
- Built by `build.py` in this directory (deterministic, Python standard library only; it reads the .deb
  itself, no dpkg needed): `python build.py libcurl4-doc_{st['version']}_all.deb`.
  Content sha256 over corpus + queries + qrels: `{st['content_sha256']}`.

## Format
- `corpus/`: {st['corpus_docs']} files (1 plain text, {len(st['distractors'])} Markdown). Relative path = `doc_id` (for example `{FAQ}`).
- `queries.jsonl`: `{{"_id": "q1", "text": "..."}}`, {st['queries']} queries.
- `qrels.jsonl`: `{{"query_id", "doc_id", "answer", "score": 1}}`, {st['qrels']} rows, all with doc_id `{FAQ}`.

## How it was built
1. Questions: every numbered section heading of the FAQ body (`  3.2 How do I tell curl to resume a
   transfer?`, `    4.5.1 "400 Bad Request"`), i.e. a line of the form indentation + `N.N[.N]` + text with a
   blank line before and after. {st['headings_found']} were found; the build asserts that they are exactly the
   {st['toc_entries']} entries of the table of contents, in the same order.
   - Query = the body heading text without its number. Headings phrased as statements are kept, they are what
     users search for: {st['statement_queries']} of the {st['queries']} queries have no `?` (`curl: (1) SSL is disabled, https: not supported`,
     `configure fails when using static libraries`, `"404 Not Found"`, `I found a bug`...).
   - Chapter titles (`1. Philosophy`, ..., `8. Development`; {len(st['chapters'])}) are not queries. They stay in the corpus.
   - Where the table of contents words an entry differently from the body heading, the body heading is the query:
{bullet([f'{n}: TOC "{a}", body "{b}"' for n, a, b in st['toc_differs']], '     ')}
   - Numbered lines that are not headings (no blank line around them) are prose and stay untouched:
{bullet([f'line {i}: `{t}`' for i, t in st['numbered_prose']], '     ')}
2. Query leakage removed by line edits on `{FAQ}` (everything else byte-identical; {st['faq_lines_changed']} of {st['faq_lines']} lines changed):
   - Each question heading line keeps its indentation and number only: `  3.2 How do I tell curl to resume a
     transfer?` becomes `  3.2` ({e.get('heading_lines_reduced', 0)}), so the section structure stays visible.
   - The table of contents at the top keeps only the numbers: `  3.2 How do I ...?` becomes `  3.2`
     ({e.get('toc_lines_reduced', 0)}). Its chapter lines (` 1. Philosophy`) are kept.
   - Cross-references that quote a question: {e.get('xrefs_replaced', 0)}. The FAQ refers to other entries by number only
     ("See also item 3.14", "see 4.14", "as explained in FAQ entry 4.12"; INSTALL.md: "read section 5.7 of the FAQ
     document"), so no prose was edited. One reference quotes a title, but of an entry that is no longer in the FAQ
     (3.1: 'the other paragraph in this FAQ labeled "configure does not find OpenSSL even when it is installed"';
     that entry, once 2.3, was removed upstream); it is not a query and is kept.
   - The Markdown distractors are not edited.
   - Queries that still occur in the corpus after these edits would need prose edits, so they were dropped
     instead (the occurrence is shown):
{bullet(st['dropped_leak'], '     ')}
3. Answer = the FAQ text after the heading line up to the next numbered heading of any level (a
   sub-section `4.5.1` ends `4.5`'s answer; a chapter title ends the last answer of a chapter, so the
   chapter 6 preamble on the licence is in no answer) or the end of the file. Dedented, blank lines at both
   ends removed; line breaks kept.
   - Questions whose answer has fewer than {MIN_ANSWER_WORDS} words were dropped:
{bullet(st['dropped_answer_lt_8_words'], '     ')}
   - Identical question texts are merged into one query with one qrel per answer:
{bullet(st['multi_answer_queries'], '     ')}
4. Answer words (min / median / max): {st['answer_words_min_median_max']}.

## Relevance rule (used by the project's scorer)
A retrieved chunk is relevant to a query if both hold:
- its `doc_id` is in the query's qrels;
- the chunk's word sequence contains a run of `min(10, n)` consecutive words of that qrel's answer.

Here words = `re.findall(r"\\w+", text.lower())` and n is the answer's word count.

## Verification (run by build.py)
- Answer findability: each answer is checked with the rule above against the text of `{FAQ}` as written.
  Not findable (dropped): {len(st['dropped_answer_not_findable'])}.{(' ' + '; '.join(st['dropped_answer_not_findable'])) if st['dropped_answer_not_findable'] else ''}
- Query leakage after the edits and drops: {st['final_leaks']} hits (the build fails otherwise). Two checks, each
  over all {st['corpus_docs']} corpus files (raw text; the Markdown files are checked with their markup):
  - the normalized query string (lower case, whitespace collapsed) in the normalized text;
  - the query's `\\w+` word sequence as a contiguous run of the text's `\\w+` words.
- Scorer check (done by hand when the set was built, not by build.py): a run file whose top row for
  each query is its own answer (`chunk_text` = answer, `doc_id` = the qrel's doc) gives recall@10 = 1.0 with
  `python3 shared/eval/score.py examples/eval/curl-faq RUN.jsonl`, and the project's
  `pipeline.evaluation.dataset.load_dataset` reads the set with all {st['queries']} queries.

## Caveats
- Document-level retrieval is trivial: every qrel points to `{FAQ}`. Use the passage metrics
  (ndcg@10, recall@10, mrr@10); doc_ndcg/doc_recall will be ~1.0 for any system that finds the FAQ.
- Some answers are short (the licence answers of chapter 6 are "Yes" plus a sentence or two) and several
  sections are tiny (the `4.5.x` HTTP status codes); a chunk usually holds a few neighbouring sections and then
  counts as relevant to each of them, as in every set of this layout. Long answers (1.1 on what cURL is,
  4.19 on unplugged network cables, 3.16 on certificates, 5.15 on FTP directory listings, 4.12 on "certificate
  verify failed") span several chunks; ndcg@10 accounts for that, recall@10 needs one.
- Queries that are HTTP status lines (`"400 Bad Request"`) or error messages are short and lexical; the
  distractors (TheArtOfHttpScripting, HTTP-COOKIES, SSLCERTS, INSTALL) cover the same topics, so a chunk from them
  can look right without being judged relevant: only the FAQ section is judged.
- Removing the headings leaves only the numbers as section markers (`  3.2` on its own line); a chunker that
  splits on headings sees none in `{FAQ}` (it is plain text), but the Markdown distractors keep theirs.
- The FAQ is dated in places (Windows/NetWare drive letters, win32 Winsock, PHP/CURL), as shipped in curl 7.88.1.
"""
    with open(os.path.join(out, 'README.md'), 'w', encoding='utf-8') as f:
        f.write(txt)


if __name__ == '__main__':
    main()
