#!/usr/bin/env python3
"""Build the `zsh-faq` retrieval set from Debian's zsh-doc package (the Zsh FAQ and the Zsh manual, HTML).

    apt-get download zsh-doc                               # 5.9-4 (bookworm)
    python build.py zsh-doc_5.9-4_all.deb [OUT_DIR]
        (or: dpkg -x the .deb into X and run `python build.py X [OUT_DIR]`)
    OUT_DIR defaults to the directory of this script; it gets corpus/, queries.jsonl,
    qrels.jsonl and README.md (counts and verification results are written into it).

Queries  = question headings of the FAQ chapter pages FAQ01.html .. FAQ06.html: numbered headings
           (h2 "3.4: ...", h1 "Chapter 2: ...") whose text contains '?', without the number
           ("3.4: How do I turn off ...?" -> "How do I turn off ...?").
Corpus   = the FAQ chapter pages, byte-identical except that the question heading elements are removed
           (the <a name> anchors around them stay) and links to a question that repeat its text keep
           only the number (text and title attribute), plus whole chapters of the Zsh manual (the
           texi2any chapter pages, in chapter order) while the corpus stays within WORD_BUDGET words.
Answer   = visible text of the question's section: from its heading to the next heading of the same or
           higher level (h1 > h2), without nested question sections (non-question sections such as
           "2.1: Differences from sh and ksh" stay part of the chapter-level question's answer).
Deterministic: files are processed in sorted / chapter order; no randomness. Needs beautifulsoup4 + lxml.
"""
import hashlib, html, json, os, re, shutil, subprocess, sys, tempfile, warnings
from collections import defaultdict
from bs4 import BeautifulSoup, NavigableString, Comment, Doctype, ProcessingInstruction, Declaration, CData
from bs4 import XMLParsedAsHTMLWarning
warnings.filterwarnings('ignore', category=XMLParsedAsHTMLWarning)

SRC = sys.argv[1]  # the .deb (or its extracted tree)
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
TMP = None
if SRC.endswith('.deb'):
    DEB_SHA256 = hashlib.sha256(open(SRC, 'rb').read()).hexdigest()
    TMP = SRC_ROOT = tempfile.mkdtemp(prefix='zshfaq_deb_')
    subprocess.run(['dpkg', '-x', SRC, SRC_ROOT], check=True)
    PKG = subprocess.run(['dpkg-deb', '-f', SRC, 'Package', 'Version'], check=True,
                         capture_output=True, text=True).stdout.split()
    PKG_VERSION = '%s %s' % (PKG[1], PKG[3])
else:
    DEB_SHA256, SRC_ROOT, PKG_VERSION = None, SRC, 'n/a (built from an extracted tree)'
HTML = os.path.join(SRC_ROOT, 'usr/share/doc/zsh-common/html')   # /usr/share/doc/zsh-doc -> zsh-common
MIN_ANSWER_WORDS = 8
WORD_BUDGET = 70000   # max \w+ words of visible text in the whole corpus (FAQ + manual chapters)
MIN_QUERIES = 80      # target; the build reports (does not fail) when fewer questions exist

# ---------------------------------------------------------------- text helpers (same as debian-faq/build.py)
BLOCK = set('address article aside blockquote body br caption dd details div dl dt fieldset figcaption '
            'figure footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table '
            'tbody td tfoot th thead tr ul'.split())
SKIP_TAGS = {'script', 'style', 'head', 'noscript', 'template'}
NON_TEXT = (Comment, Doctype, ProcessingInstruction, Declaration, CData)


def visible_text(node, skip=()):
    """Text a reader sees: inline elements glued, block elements separated by newlines.
    `skip`: elements (identity) whose subtree is left out."""
    skip_ids = {id(x) for x in skip}
    out = []

    def walk(n):
        for c in n.children:
            if isinstance(c, NavigableString):
                if not isinstance(c, NON_TEXT):
                    out.append(str(c))
            elif c.name in SKIP_TAGS or id(c) in skip_ids:
                continue
            elif c.name in BLOCK:
                out.append('\n'); walk(c); out.append('\n')
            else:
                walk(c)
    walk(node)
    lines = (' '.join(l.split()) for l in ''.join(out).split('\n'))
    return '\n'.join(l for l in lines if l)


def words(text):
    return re.findall(r'\w+', text.lower())


def joined(ws):
    return ' ' + ' '.join(ws) + ' '


def contains_run_fast(hay_joined, answer_words):
    """hay (given as joined(words)) contains a run of min(10, n) consecutive answer words."""
    m = min(10, len(answer_words))
    return m > 0 and any(joined(answer_words[i:i + m]) in hay_joined for i in range(len(answer_words) - m + 1))


def soup(s):
    return BeautifulSoup(s, 'lxml')


def read(p):
    with open(os.path.join(HTML, p), encoding='utf-8', newline='') as f:
        return f.read()


# YODL output: <h1 >Chapter 2: How does zsh differ from...?</h1>, <h2 >3.4: How do I ...?</h2>
HEAD_RE = re.compile(r'<h([12])\b[^>]*>(.*?)</h\1>', re.S)
NUM_RE = re.compile(r'^(?:Chapter\s+)?(\d+(?:\.\d+)*):\s*(.*)$', re.S)
# the navigation list at the bottom of each FAQ chapter page (not part of the last section's answer)
FOOTER_RE = re.compile(r'<hr>\s*<ul>\s*<li>\s*<a href="FAQ\.html">Table of Contents</a>')
ANCHOR_BEFORE_RE = re.compile(r'<a name="([^"]+)"></a>\s*$')
ANCHOR_AFTER_RE = re.compile(r'^\s*<a name="([^"]+)"></a>')
MANUAL_TITLE_RE = re.compile(r'^(\d+) (.*) \(zsh\)$')


def heading_text(inner):
    return ' '.join(soup(inner).get_text().split())


def main():
    faq_pages = sorted(f for f in os.listdir(HTML) if re.fullmatch(r'FAQ\d+\.html', f))
    raw = {p: read(p) for p in faq_pages}

    # 1. question headings (and every numbered heading, for section boundaries)
    questions = []   # page, level, number, text, anchors
    for p in faq_pages:
        for m in HEAD_RE.finditer(raw[p]):
            t = heading_text(m.group(2))
            nm = NUM_RE.match(t)
            if not nm or '?' not in t:
                continue
            anchors = [a.group(1) for a in (ANCHOR_BEFORE_RE.search(raw[p][:m.start()]),
                                             ANCHOR_AFTER_RE.search(raw[p][m.end():])) if a]
            questions.append({'page': p, 'level': int(m.group(1)), 'number': nm.group(1),
                              'text': nm.group(2).strip(), 'anchors': anchors, 'heading': m.group(0)})
    numbered_sections = sum(1 for p in faq_pages for m in HEAD_RE.finditer(raw[p])
                            if m.group(1) == '2' and NUM_RE.match(heading_text(m.group(2))))
    qkey = {(q['page'], a): q for q in questions for a in q['anchors']}
    qheads = {(q['page'], q['heading']) for q in questions}

    # 2. surgical edits on the raw HTML
    log = defaultdict(int)

    def fix_link(p):
        def repl(m):
            attrs, inner = m.group(1), m.group(2)
            hm = re.search(r'\bhref="([^"]*)"', attrs)
            if not hm or '#' not in hm.group(1):
                return m.group(0)
            f, frag = hm.group(1).split('#', 1)
            q = qkey.get((f or p, frag))
            if q is None:
                return m.group(0)
            log['links_to_questions'] += 1
            text = ' '.join(html.unescape(re.sub(r'<[^>]+>', '', inner)).split())
            if words(q['text']) and joined(words(q['text'])) in joined(words(text)):
                new_inner = q['number']          # link text repeats the question: keep the number
                log['link_texts_neutralized'] += 1
            else:                                # e.g. "see question <a>6.2</a>": already only the number
                new_inner = inner
            new_attrs, n = re.subn(r'\btitle="[^"]*"', 'title="%s"' % q['number'], attrs)
            log['title_attrs_neutralized'] += n
            return '<a%s>%s</a>' % (new_attrs, new_inner)
        return repl

    new, heads, footer = {}, {}, {}
    for p in faq_pages:
        s = re.sub(r'<a\b([^>]*)>(.*?)</a>', fix_link(p), raw[p], flags=re.S)
        out, last, hs = [], 0, []
        for m in HEAD_RE.finditer(s):
            out.append(s[last:m.start()])
            pos = sum(map(len, out))
            if (p, m.group(0)) in qheads:        # question heading: removed, anchors around it stay
                q = next(q for q in questions if q['page'] == p and q['heading'] == m.group(0))
                hs.append({'level': int(m.group(1)), 'start': pos, 'body': pos, 'q': q})
                log['headings_removed'] += 1
            else:
                out.append(m.group(0))
                hs.append({'level': int(m.group(1)), 'start': pos, 'body': pos + len(m.group(0)), 'q': None})
            last = m.end()
        out.append(s[last:])
        new[p] = ''.join(out)
        heads[p] = hs
        fm = list(FOOTER_RE.finditer(new[p]))
        assert fm and fm[-1].start() > hs[-1]['body'], p
        footer[p] = fm[-1].start()
    assert log['headings_removed'] == len(questions)

    # 3. answers: the section of each question, without nested question sections
    qrels, dropped_short = [], []
    for p in faq_pages:
        hs = heads[p]
        for i, h in enumerate(hs):
            if h['q'] is None:
                continue
            end = next((x['start'] for x in hs[i + 1:] if x['level'] <= h['level']), footer[p])
            nested = [x for x in hs[i + 1:] if x['start'] < end and x['q'] is not None]
            pieces, pos = [], h['body']
            for x in nested:                     # cut out nested question sections
                xi = hs.index(x)
                xend = next((y['start'] for y in hs[xi + 1:] if y['level'] <= x['level']), footer[p])
                if x['start'] >= pos:
                    pieces.append(new[p][pos:x['start']])
                    pos = max(pos, xend)
            pieces.append(new[p][pos:end])
            ans = '\n'.join(t for t in (visible_text(soup(piece)) for piece in pieces if piece.strip()) if t)
            q = h['q']
            if len(words(ans)) < MIN_ANSWER_WORDS:
                dropped_short.append(q['number'] + ' ' + q['text']); continue
            qrels.append({'question': q['text'], 'doc_id': p, 'answer': ans, 'number': q['number']})

    # 4. distractors: whole manual chapters in chapter order while the corpus stays within WORD_BUDGET
    vis_text = {p: visible_text(soup(new[p])) for p in faq_pages}
    faq_words = sum(len(words(t)) for t in vis_text.values())
    chapters = []
    for f in sorted(os.listdir(HTML)):
        if not f.endswith('.html') or f in raw or f == 'FAQ.html':
            continue
        s = read(f)
        if 'http-equiv="Refresh"' in s:          # texi2any redirect stubs for node names
            continue
        t = soup(s).title
        mt = MANUAL_TITLE_RE.match(' '.join(t.get_text().split())) if t else None
        if mt:
            chapters.append((int(mt.group(1)), mt.group(2), f, s))
    chapters.sort()
    manual, manual_words, skipped = [], 0, []
    for num, title, f, s in chapters:
        vt = visible_text(soup(s))
        n = len(words(vt))
        if skipped or faq_words + manual_words + n > WORD_BUDGET:
            skipped.append((num, title, f, n)); continue
        manual.append((num, title, f, n))
        manual_words += n
        raw[f] = new[f] = s
        vis_text[f] = vt
    pages = sorted(raw)

    # 5. verification
    vis_j = {p: joined(words(t)) for p, t in vis_text.items()}
    raw_j = {p: joined(words(new[p])) for p in pages}
    vis_norm = {p: ' '.join(t.lower().split()) for p, t in vis_text.items()}
    ok, unfindable = [], []
    for r in qrels:
        (ok if contains_run_fast(vis_j[r['doc_id']], words(r['answer'])) else unfindable).append(r)
    order, groups = [], defaultdict(list)
    for r in ok:
        if r['question'] not in groups:
            order.append(r['question'])
        groups[r['question']].append(r)
    queries, rows = [], []
    for i, t in enumerate(order, 1):
        queries.append({'_id': f'q{i}', 'text': t})
        rows += [{'query_id': f'q{i}', 'doc_id': r['doc_id'], 'answer': r['answer'], 'score': 1} for r in groups[t]]
    leaks = {'visible_string': [], 'visible_words': [], 'raw_words': []}
    for q in queries:
        qs_, qj = ' '.join(q['text'].lower().split()), joined(words(q['text']))
        for p in pages:
            if qs_ in vis_norm[p]:
                leaks['visible_string'].append([q['_id'], q['text'], p])
            if qj in vis_j[p]:
                leaks['visible_words'].append([q['_id'], q['text'], p])
            if qj in raw_j[p]:
                leaks['raw_words'].append([q['_id'], q['text'], p])

    # 6. write
    cdir = os.path.join(OUT, 'corpus')
    if os.path.isdir(cdir):
        shutil.rmtree(cdir)
    os.makedirs(cdir)
    for p in pages:
        if new[p] == raw[p]:
            shutil.copyfile(os.path.join(HTML, p), os.path.join(cdir, p))
        else:
            with open(os.path.join(cdir, p), 'w', encoding='utf-8', newline='') as f:
                f.write(new[p])
    with open(os.path.join(OUT, 'queries.jsonl'), 'w', encoding='utf-8') as f:
        for q in queries:
            f.write(json.dumps(q, ensure_ascii=False) + '\n')
    with open(os.path.join(OUT, 'qrels.jsonl'), 'w', encoding='utf-8') as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + '\n')
    aw = sorted(len(words(r['answer'])) for r in rows)
    h = hashlib.sha256()
    for p in pages:
        h.update(p.encode()); h.update(new[p].encode())
    for fn in ('queries.jsonl', 'qrels.jsonl'):
        h.update(open(os.path.join(OUT, fn), 'rb').read())
    st = {
        'pkg_version': PKG_VERSION, 'deb_sha256': DEB_SHA256,
        'corpus_docs': len(pages), 'faq_docs': faq_pages, 'manual_docs': len(manual),
        'modified_docs': sorted(p for p in pages if new[p] != raw[p]),
        'corpus_visible_words': sum(len(v.split()) for v in vis_j.values()),
        'faq_visible_words': faq_words, 'manual_visible_words': manual_words,
        'manual_chapters_kept': manual, 'manual_chapters_left_out': skipped,
        'question_headings_found': len(questions), 'numbered_sections': numbered_sections,
        'question_headings_by_level': {f'h{l}': sum(q['level'] == l for q in questions) for l in (1, 2)},
        'dropped_answer_lt_8_words': dropped_short,
        'dropped_answer_not_findable': [r['number'] + ' ' + r['question'] for r in unfindable],
        'queries': len(queries), 'qrels': len(rows),
        'answer_words_min_median_max': [aw[0], aw[len(aw) // 2], aw[-1]],
        'edits': dict(log), 'leaks': leaks,
        'multi_answer_queries': [t for t in order if len(groups[t]) > 1],
        'content_sha256': h.hexdigest(),
    }
    write_readme(st)
    if TMP:
        shutil.rmtree(TMP)
    print(json.dumps(st, ensure_ascii=False, indent=1))
    if len(queries) < MIN_QUERIES:
        print(f'WARNING: only {len(queries)} queries (target {MIN_QUERIES}); the FAQ has no more question headings.',
              file=sys.stderr)


def write_readme(st):
    def bullet(items, indent='  '):
        return '\n'.join(f'{indent}- {x}' for x in items) if items else f'{indent}- (none)'
    leak_total = sum(len(v) for v in st['leaks'].values())
    kept = ', '.join(f'{n} {t} (`{f}`, {w:,})' for n, t, f, w in st['manual_chapters_kept'])
    left = st['manual_chapters_left_out']
    nxt = left[0] if left else None
    txt = f"""# zsh-faq: Zsh FAQ questions over the Zsh FAQ chapters and the Zsh manual (HTML)

Retrieval evaluation set. Queries are the question headings of the Z-Shell FAQ.
The corpus is the real HTML of the FAQ chapters (YODL output) and of the first chapters of the
Zsh manual (texi2any output) as distractors, kept as HTML.
Relevance is structural (derived from the document structure), not human-judged.

**Size caveat: {st['queries']} queries.** The FAQ shipped in zsh 5.9 has only {st['question_headings_found']} question headings
({st['question_headings_by_level']['h2']} of its {st['numbered_sections']} numbered sections, plus one chapter title), so the target of
{MIN_QUERIES} queries cannot be met from this source.

## Provenance
- Source: Debian package `zsh-doc`, version `{st['pkg_version']}` (from the .deb control file).
  Fetched with `apt-get download zsh-doc` (Debian 12 bookworm).
  Deb sha256: `{st['deb_sha256'] or 'n/a (built from an extracted tree)'}`.
- Files: `usr/share/doc/zsh-common/html/` of that package (`/usr/share/doc/zsh-doc` is a symlink to it):
  - the FAQ chapter pages {', '.join(f'`{p}`' for p in st['faq_docs'])}. The FAQ's title/table-of-contents
    page `FAQ.html` is not included (it lists every question);
  - {st['manual_docs']} chapter pages of the Zsh manual as distractors (rule below).
- Built by `build.py` in this directory (deterministic; needs beautifulsoup4 and lxml):
  `python build.py zsh-doc_5.9-4_all.deb`.
  Content sha256 over corpus + queries + qrels: `{st['content_sha256']}`.

## Licence
The copyright file is `/usr/share/doc/zsh-common/copyright` (package `zsh-common`, which `zsh-doc` depends on;
zsh-doc's own doc directory is a symlink to it).
- The FAQ (`Files: Etc/FAQ.yo`, licence `PWS-Zsh-FAQ`; the same text is the FAQ's own
  "Copyright Information" section at the end of `FAQ06.html`, kept in the corpus unmodified):
  > This document is copyright (C) P.W. Stephenson, 1995, 1996, 1997, 1998, 1999, 2000, 2012, 2020.
  > This text originates in the U.K. and the author asserts his moral rights under the Copyrights,
  > Designs and Patents Act, 1988.
  >
  > Permission is hereby granted, without written agreement and without license or royalty fees, to
  > use, copy, modify, and distribute this documentation for any purpose, provided that the above
  > copyright notice appears in all copies of this documentation.

  Modifying and distributing are both granted; the only condition is the copyright notice, which stays
  in `corpus/FAQ06.html` and is repeated here. This corpus is a modified copy (question headings removed).
- The manual (`Files: *`, "Copyright: 1992-2022 The Zsh Development Group (Paul Falstad, Richard Coleman,
  Zoltán Hidvégi, Andrew Main, Peter W. Stephenson, Sven Wischnowsky, and others). All rights reserved.",
  licence `Zsh`):
  > Permission is hereby granted, without written agreement and without licence or royalty fees, to use,
  > copy, modify, and distribute this software and to distribute modified versions of this software for
  > any purpose, provided that the above copyright notice and the following two paragraphs appear in all
  > copies of this software.
  >
  > In no event shall the copy right owners liable to any party for direct, indirect, special,
  > incidental, or consequential damages arising out of the use of this software and its documentation,
  > even if and the copyright owners have been advised of the possibility of such damage.
  >
  > The copyright owners specifically disclaim any warranties, including, but not limited to, the
  > implied warranties of merchantability and fitness for a particular purpose.  The software provided
  > hereunder is on an "as is" basis, and the copyright owners have no obligation to provide
  > maintenance, support, updates, enhancements, or modifications.

  The manual's title page (`index.html`, not included) adds: "Permission is granted to make and distribute
  verbatim copies of this manual provided the copyright notice and this permission notice are preserved
  on all copies." The manual pages here are verbatim (byte-identical); the notices are preserved in this README.

## Format
- `corpus/`: {st['corpus_docs']} HTML files ({len(st['faq_docs'])} FAQ chapters + {st['manual_docs']} manual chapters).
  Relative path = `doc_id` (for example `FAQ03.html`).
- `queries.jsonl`: `{{"_id": "q1", "text": "..."}}`, {st['queries']} queries.
- `qrels.jsonl`: `{{"query_id", "doc_id", "answer", "score": 1}}`, {st['qrels']} rows. Every answer is in a FAQ page.

## How it was built
1. Questions: every numbered heading of a FAQ chapter page whose text contains `?`:
   `<h2 >N.M: ...?</h2>` sections ({st['question_headings_by_level']['h2']}) and `<h1 >Chapter N: ...?</h1>` chapter titles ({st['question_headings_by_level']['h1']}:
   "How does zsh differ from...?").
   - {st['question_headings_found']} were found. Query = the heading text without its number, whitespace-normalized.
   - Headings without `?` are not queries and stay in the corpus: "1.1: Sources of information",
     "2.1: Differences from sh and ksh", "2.2/2.4/2.5: Similarities with csh/tcsh/bash", the other chapter
     titles, "Acknowledgments:", "Copyright Information:". No other heading starts with "How"/"What"
     except the chapter title "How to get various things to work" (not a question; left out).
   - Corpus: {st['corpus_docs']} files, {st['corpus_visible_words']:,} words of visible text
     (FAQ {st['faq_visible_words']:,}, manual {st['manual_visible_words']:,}).
2. Query leakage removed by surgical edits on the raw HTML of the FAQ pages (everything else byte-identical):
   - Each question heading element is removed ({st['edits'].get('headings_removed', 0)}); the `<a name="lN">` / `<a name="NM">`
     link targets around it are kept.
   - Links to a question: {st['edits'].get('links_to_questions', 0)} found (`see question <a href="FAQ06.html#62">6.2</a>`);
     link texts that repeated the question text were reduced to the number: {st['edits'].get('link_texts_neutralized', 0)};
     `title=` attributes on such links set to the number: {st['edits'].get('title_attrs_neutralized', 0)}.
     The chapter pages have no table of contents of their own (it is in `FAQ.html`, which is left out).
   - Modified files: {', '.join(st['modified_docs'])}.
3. Answer = visible text of the question's section: from the (removed) heading to the next heading of
   the same or higher level (h1 > h2), or to the page's bottom navigation list.
   - Nested question sections are left out; nested non-question sections stay. Only the chapter-level
     question "How does zsh differ from...?" has nested sections: its answer is the chapter introduction
     plus 2.1, 2.2, 2.4 and 2.5 (2.3, 2.6, 2.7 and 2.8 are questions of their own).
   - A question's section ends at the next h2 even when that heading is not a question (2.3 ends at
     "2.4: Similarities with tcsh"; 6.5 ends at "Acknowledgments:").
   - Visible text is block-aware: inline elements are joined, block elements are separated by newlines.
   - Questions whose answer has fewer than {MIN_ANSWER_WORDS} words were dropped:
{bullet(st['dropped_answer_lt_8_words'], '     ')}
   - Identical question texts are merged into one query with one qrel per answer:
{bullet(st['multi_answer_queries'], '     ')}
4. Answer words (min / median / max): {st['answer_words_min_median_max']}.
5. Distractors: the Zsh manual's chapter pages (texi2any `--split=chapter` output: files whose `<title>` is
   "N Title (zsh)"; redirect stubs, indexes, `index.html`, `zsh_toc.html` and `zsh_abt.html` are not chapters),
   taken whole, in chapter order, while the whole corpus stays within {WORD_BUDGET:,} words of visible text
   (`\\w+` words); the first chapter that does not fit ends the selection. The early chapters are the
   shell-usage reference that FAQ readers search beside the FAQ (startup files, grammar, redirection,
   functions, jobs, arithmetic, prompts, expansion, parameters).
   - Kept ({st['manual_docs']} chapters, words): {kept}.
   - First chapter left out: {f'{nxt[0]} {nxt[1]} (`{nxt[2]}`, {nxt[3]:,} words)' if nxt else '(none)'}; chapters {left[0][0] if left else '-'}-{left[-1][0] if left else '-'} are not included.

## Relevance rule (used by the project's scorer)
A retrieved chunk is relevant to a query if both hold:
- its `doc_id` is in the query's qrels;
- the chunk's word sequence contains a run of `min(10, n)` consecutive words of that qrel's answer.

Here words = `re.findall(r"\\w+", text.lower())` and n is the answer's word count.

## Verification (run by build.py)
- Answer findability: each answer is checked with the rule above against its document's visible text.
  Not findable (dropped): {len(st['dropped_answer_not_findable'])}.{(' ' + '; '.join(st['dropped_answer_not_findable'])) if st['dropped_answer_not_findable'] else ''}
- Query leakage after the edits: {leak_total} hits. Three checks, each over all {st['corpus_docs']} corpus files
  (FAQ and manual):
  - the normalized query string in the visible text;
  - the query's `\\w+` word sequence as a contiguous run in the visible text;
  - the same word sequence in the raw HTML, with tags and attributes included.
{bullet(['%s %s: %s in %s' % (k, x[0], x[1], x[2]) for k, v in st['leaks'].items() for x in v]) if leak_total else ''}

## Caveats
- Only {st['queries']} queries: the statistical resolution is coarse (one query = {100 / max(1, st['queries']):.1f} points of recall).
- Some questions only make sense in the FAQ's context: "What is it?" and "What is it good at?" (it = zsh),
  "In which startup file do I put...?", "How does zsh differ from...?". They are kept verbatim.
- Answers vary a lot in length (see step 4); the chapter-level question has a long answer spread over several
  sections, so many chunks can be relevant to it.
- The distractors are reference-manual chapters, not other FAQs: they share vocabulary with the answers
  (options, expansion, prompts), which makes doc-level retrieval non-trivial. They are never counted as
  relevant, although some manual passages do answer a question too (for example colours in Prompt Expansion
  for "How do I get coloured prompts on my colour xterm?"); such hits count as misses.
- `FAQ.html` is left out because its table of contents lists every question verbatim; its preamble
  (archive header, a short introduction) is therefore not in the corpus either.
"""
    with open(os.path.join(OUT, 'README.md'), 'w', encoding='utf-8') as f:
        f.write(txt)


if __name__ == '__main__':
    main()
