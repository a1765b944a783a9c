#!/usr/bin/env python3
"""Build the `fetchmail-faq` retrieval set from Debian's fetchmail package (one long HTML FAQ).

    apt-get download fetchmail                             # 6.4.37-1 (bookworm)
    python build.py fetchmail_6.4.37-1_amd64.deb [OUT_DIR]
        (or: dpkg -x the .deb into X and run `python build.py X [OUT_DIR]`)
    OUT_DIR defaults to the directory of this script; it gets corpus/, queries.jsonl,
    qrels.jsonl, README.md (counts and verification results are written into it) and the
    licence files (the package's `copyright`, and `GPL-2` when the host has it).

Queries  = the labelled question headings of fetchmail-FAQ.html (`<h2><a name="G3">G3. ...</a></h2>`),
           without the label ("G3. Where ...?" -> "Where ...?"). All 119 labelled items are
           taken, including statements ("B2. Lex bombs out ...") and struck-out (obsolete) items.
Corpus   = fetchmail-FAQ.html kept as ONE long HTML file, byte-identical except: question heading
           elements are removed (their <a id/name> anchor is kept, empty), table-of-contents links
           to a question keep only the label ("G3"), title= attributes of links to a question
           become the label, and an HTML comment stating the modification (GPL-2 section 2a) is
           inserted after the opening comment.
           Distractors from the same package, unmodified: design-notes.html, fetchmail-features.html,
           todo.html, NEWS, README.SSL, README.Debian (text files decompressed, named *.txt so the
           project's file source picks them up), and the manual page fetchmail(1) rendered to plain
           text with groff (fetchmail.1.txt).
Answer   = visible text of a question's part: the FAQ body elements after its heading, up to the
           next question heading, the next <h1> part title or <hr/> (every part and the page
           footer start with <hr/>). Sub-headings (<h3>) inside a question stay in the answer.
Deterministic: files are processed in a fixed, sorted order; no randomness. Needs beautifulsoup4 +
lxml, and groff + col (groff-base, bsdextrautils) to render the manual page.
"""
import bs4, lxml.etree
import gzip, hashlib, html, json, os, re, shutil, subprocess, sys, tempfile, warnings
from collections import defaultdict
from bs4 import BeautifulSoup, NavigableString, Comment, Doctype, ProcessingInstruction, Declaration, CData
from bs4 import XMLParsedAsHTMLWarning
warnings.filterwarnings('ignore', category=XMLParsedAsHTMLWarning)

SRC = sys.argv[1]  # the .deb (or its extracted tree)
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
TMP = None
if SRC.endswith('.deb'):
    DEB_SHA256 = hashlib.sha256(open(SRC, 'rb').read()).hexdigest()
    TMP = SRC_ROOT = tempfile.mkdtemp(prefix='fetchmailfaq_deb_')
    subprocess.run(['dpkg', '-x', SRC, SRC_ROOT], check=True)
else:
    DEB_SHA256, SRC_ROOT = None, SRC
DOC = os.path.join(SRC_ROOT, 'usr/share/doc/fetchmail')
MAN = os.path.join(SRC_ROOT, 'usr/share/man/man1/fetchmail.1.gz')
PKG_VERSION_LINE = gzip.open(os.path.join(DOC, 'changelog.Debian.gz'), 'rt').readline().strip()
FAQ = 'fetchmail-FAQ.html'
FAQ_ENCODING = 'iso-8859-1'          # declared in its <?xml?> line; the file is pure ASCII
MIN_ANSWER_WORDS = 8
BS4_LXML = 'beautifulsoup4 %s, lxml %s' % (bs4.__version__, lxml.etree.__version__)
GPL2_HOST = '/usr/share/common-licenses/GPL-2'
# groff invocation for the manual page: fixed 80-column line length, no hyphenation (hyphenated
# line breaks would split words), no SGR escapes; col -bx then removes overstrikes and tabs.
GROFF = ['groff', '-t', '-man', '-Tutf8', '-P-c', '-rLL=80n', '-rLT=80n', '-rHY=0']
MOD_DATE = '2026-12-06'             # fixed, so that the output stays byte-identical between runs
MOD_NOTICE = ('\n<!-- Modified copy (GPL-2, section 2a), ' + MOD_DATE + ': for the chunkwise "fetchmail-faq" retrieval '
              'evaluation set, examples/eval/fetchmail-faq/build.py removed the question headings '
              '(their anchors are kept) and reduced the table-of-contents entries to their labels '
              '(e.g. G3). Nothing else was changed. Original: Debian package fetchmail 6.4.37-1, '
              'usr/share/doc/fetchmail/fetchmail-FAQ.html. -->\n')

# corpus file name -> (kind, source path relative to the package root)
DISTRACTORS = {
    'design-notes.html': ('copy', 'usr/share/doc/fetchmail/design-notes.html'),
    'fetchmail-features.html': ('copy', 'usr/share/doc/fetchmail/fetchmail-features.html'),
    'todo.html': ('copy', 'usr/share/doc/fetchmail/todo.html'),
    'NEWS.txt': ('gunzip', 'usr/share/doc/fetchmail/NEWS.gz'),
    'README.SSL.txt': ('gunzip', 'usr/share/doc/fetchmail/README.SSL.gz'),
    'README.Debian.txt': ('gunzip', 'usr/share/doc/fetchmail/README.Debian.gz'),
    'fetchmail.1.txt': ('man', 'usr/share/man/man1/fetchmail.1.gz'),
}

# ---------------------------------------------------------------- text helpers (same as debian-faq/build.py)
BLOCK = set('address article aside blockquote body br caption dd details div dl dt fieldset figcaption '
            'figure footer form h1 h2 h3 h4 h5 h6 header hr li main nav ol p pre section summary table '
            'tbody td tfoot th thead tr ul'.split())
SKIP_TAGS = {'script', 'style', 'head', 'noscript', 'template'}
NON_TEXT = (Comment, Doctype, ProcessingInstruction, Declaration, CData)


def visible_text(node, skip=(), nodes=None):
    """Text a reader sees: inline elements glued, block elements separated by newlines.
    `skip`: elements (identity) whose subtree is left out. `nodes`: walk this list of sibling
    nodes (as if they were the children of one element) instead of node's children."""
    skip_ids = {id(x) for x in skip}
    out = []

    def walk_list(children):
        for c in children:
            if isinstance(c, NavigableString):
                if not isinstance(c, NON_TEXT):
                    out.append(str(c))
            elif c.name in SKIP_TAGS or id(c) in skip_ids:
                continue
            elif c.name in BLOCK:
                out.append('\n'); walk_list(c.children); out.append('\n')
            else:
                walk_list(c.children)
    walk_list(nodes if nodes is not None else node.children)
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


LABEL_RE = re.compile(r'^([A-Z]\d+)\.\s*(.*)$', re.S)
HEAD_RE = re.compile(r'<h2>(<a (?:id="([A-Z]\d+)" )?name="([A-Z]\d+)">)((?:(?!</h2>).)*?)</a>(?:\s|<br\s*/?>)*</h2>', re.S)


def soup(s):
    return BeautifulSoup(s, 'lxml')


def render_man(path):
    src = gzip.open(path, 'rb').read()
    env = dict(os.environ, LC_ALL='C.UTF-8')
    r = subprocess.run(GROFF, input=src, capture_output=True, env=env, check=True)
    c = subprocess.run(['col', '-bx'], input=r.stdout, capture_output=True, env=env, check=True)
    return c.stdout


def groff_version():
    try:
        return subprocess.run(['groff', '--version'], capture_output=True, text=True).stdout.splitlines()[0].strip()
    except (OSError, IndexError):
        return 'groff not found'


def main():
    try:
        build()
    finally:
        if TMP:
            shutil.rmtree(TMP)


def build():
    raw_bytes = open(os.path.join(DOC, FAQ), 'rb').read()
    raw = raw_bytes.decode(FAQ_ENCODING)

    # 1. question headings (document order)
    questions = []   # label, text, anchor tag
    for m in HEAD_RE.finditer(raw):
        id_, name, inner = m.group(2), m.group(3), m.group(4)
        assert id_ in (None, name), m.group(0)
        t = ' '.join(html.unescape(re.sub(r'<[^>]+>', '', inner)).split())
        lm = LABEL_RE.match(t)
        assert lm and lm.group(1) == name, t
        questions.append({'label': name, 'text': lm.group(2).strip(), 'struck': '<strike>' in inner})
    # every <h2> holding a labelled anchor was matched (cross-check with the parser)
    parsed = [h for h in soup(raw).find_all('h2') if h.find('a', attrs={'name': True})]
    assert len(parsed) == len(questions), (len(parsed), len(questions))
    qkey = {q['label']: q for q in questions}
    assert len(qkey) == len(questions)

    # 2. surgical edits on the raw HTML
    log = defaultdict(int)
    new, n = HEAD_RE.subn(lambda m: m.group(1) + '</a>', raw)
    log['headings_removed'] = n

    def fix_link(m):
        attrs, inner = m.group(1), m.group(2)
        hm = re.search(r'\bhref="(?:%s)?#([^"]*)"' % re.escape(FAQ), attrs)
        q = qkey.get(hm.group(1)) if hm else None
        if q is None:
            return m.group(0)
        text = ' '.join(html.unescape(re.sub(r'<[^>]+>', '', inner)).split())
        if LABEL_RE.match(text) and LABEL_RE.match(text).group(1) == q['label']:
            # table-of-contents entry "G3. question text" -> "G3" (a <strike> wrapper is kept)
            new_inner = '<strike>%s</strike>' % q['label'] if inner.lstrip().startswith('<strike>') else q['label']
            log['toc_texts_neutralized'] += 1
        else:   # cross-reference with other text ("G3", "see below", "exim"): keep it
            assert words(q['text']) and joined(words(q['text'])) not in joined(words(text)), text
            new_inner = inner
            log['xrefs_kept'] += 1
        new_attrs, k = re.subn(r'\btitle="[^"]*"', 'title="%s"' % q['label'], attrs)
        log['title_attrs_neutralized'] += k
        return '<a%s>%s</a>' % (new_attrs, new_inner)
    new = re.sub(r'<a\b([^>]*)>(.*?)</a>', fix_link, new, flags=re.S)
    # modification notice, right after the opening comment block (invisible: an HTML comment)
    i = new.index('-->') + len('-->')
    new = new[:i] + MOD_NOTICE.rstrip('\n') + new[i:]
    log['notice_comment_inserted'] = 1

    # 3. answers: body siblings after each (now empty) anchor, up to the next boundary
    s = soup(new)
    body = s.body
    anchors = {}
    for a in body.find_all('a', attrs={'name': True}):
        if a['name'] in qkey:
            assert a.parent is body and not a.contents, a
            anchors[a['name']] = a
    assert len(anchors) == len(questions)
    anchor_ids = {id(a) for a in anchors.values()}

    def is_boundary(n):
        return (not isinstance(n, NavigableString)) and (n.name in ('h1', 'hr') or id(n) in anchor_ids)
    qrels, dropped_short = [], []
    for q in questions:
        part = []
        for sib in anchors[q['label']].next_siblings:
            if is_boundary(sib):
                break
            part.append(sib)
        ans = visible_text(None, nodes=part)
        if len(words(ans)) < MIN_ANSWER_WORDS:
            dropped_short.append('%s. %s' % (q['label'], q['text'])); continue
        qrels.append({'question': q['text'], 'label': q['label'], 'doc_id': FAQ, 'answer': ans,
                      'struck': q['struck']})

    # 4. corpus: the FAQ + distractors
    corpus = {FAQ: new.encode(FAQ_ENCODING)}
    man_sha = None
    for name, (kind, rel) in sorted(DISTRACTORS.items()):
        p = os.path.join(SRC_ROOT, rel)
        if kind == 'copy':
            corpus[name] = open(p, 'rb').read()
        elif kind == 'gunzip':
            corpus[name] = gzip.open(p, 'rb').read()
        else:
            corpus[name] = render_man(p)
            man_sha = hashlib.sha256(corpus[name]).hexdigest()
    names = sorted(corpus)

    def decode(name):
        return corpus[name].decode(FAQ_ENCODING if name == FAQ else 'utf-8')
    text = {p: decode(p) for p in names}
    vis_text = {p: (visible_text(soup(text[p])) if p.endswith('.html') else text[p]) for p in names}

    # 5. verification
    vis_j = {p: joined(words(t)) for p, t in vis_text.items()}
    raw_j = {p: joined(words(text[p])) for p in names}
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
        for p in names:
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
    for p in names:
        with open(os.path.join(cdir, p), 'wb') as f:
            f.write(corpus[p])
    with open(os.path.join(OUT, 'queries.jsonl'), 'w', encoding='utf-8') as f:
        for q in queries:
            f.write(json.dumps(q, ensure_ascii=False) + '\n')
    with open(os.path.join(OUT, 'qrels.jsonl'), 'w', encoding='utf-8') as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + '\n')
    shutil.copyfile(os.path.join(DOC, 'copyright'), os.path.join(OUT, 'copyright'))
    gpl2 = os.path.isfile(GPL2_HOST)
    if gpl2:
        shutil.copyfile(GPL2_HOST, os.path.join(OUT, 'GPL-2'))
    aw = sorted(len(words(r['answer'])) for r in rows)
    h = hashlib.sha256()
    for p in names:
        h.update(p.encode()); h.update(corpus[p])
    for fn in ('queries.jsonl', 'qrels.jsonl'):
        h.update(open(os.path.join(OUT, fn), 'rb').read())
    struck = [r['label'] for q in order for r in groups[q] if r['struck']]
    st = {
        'corpus_docs': len(names),
        'doc_words': {p: len(vis_j[p].split()) for p in names},
        'corpus_visible_words': sum(len(v.split()) for v in vis_j.values()),
        'question_headings_found': len(questions),
        'dropped_answer_lt_8_words': dropped_short,
        'dropped_answer_not_findable': ['%s. %s' % (r['label'], r['question']) for r in unfindable],
        'queries': len(queries), 'qrels': len(rows), 'struck_kept': struck,
        'answer_words_min_median_max': [aw[0], aw[len(aw) // 2], aw[-1]],
        'edits': dict(log), 'leaks': leaks,
        'multi_answer_queries': [t for t in order if len(groups[t]) > 1],
        'content_sha256': h.hexdigest(), 'man_sha256': man_sha, 'groff': groff_version(),
        'faq_src_sha256': hashlib.sha256(raw_bytes).hexdigest(), 'gpl2_bundled': gpl2,
    }
    write_readme(st)
    print(json.dumps(st, ensure_ascii=False, indent=1))


def write_readme(st):
    def bullet(items, ind='  '):
        return '\n'.join(f'{ind}- {x}' for x in items) if items else f'{ind}- (none)'
    leak_total = sum(len(v) for v in st['leaks'].values())
    dw = st['doc_words']
    e = st['edits']
    txt = f"""# fetchmail-faq: fetchmail FAQ questions over one long HTML FAQ plus the package's other docs

Retrieval evaluation set. Queries are the question headings of the fetchmail FAQ.
The corpus is the real FAQ, kept as ONE long HTML file ({dw[FAQ]:,} words), plus the other documentation
of the same Debian package as distractors (release notes, manual page, design notes, READMEs).
Unlike debian-faq (many short chapter pages), this set has a few LONG documents: finding the right
document is trivial (every answer is in `{FAQ}`), so it measures passage-level retrieval and
how a chunker cuts a long page. Relevance is structural (derived from the document structure), not human-judged.

## Provenance
- Source: Debian package `fetchmail`, changelog line `{PKG_VERSION_LINE}`.
  Fetched with `apt-get download fetchmail` (Debian 12 bookworm, amd64).
  Deb sha256: `{DEB_SHA256 or 'n/a (built from an extracted tree)'}`.
- Files of that package in `corpus/` (doc_id = file name):

  | doc_id | from | words | why |
  |---|---|---:|---|
  | `{FAQ}` | `usr/share/doc/fetchmail/{FAQ}` (sha256 `{st['faq_src_sha256'][:16]}…`), edited as below | {dw[FAQ]:,} | the FAQ: all queries and answers |
  | `NEWS.txt` | `usr/share/doc/fetchmail/NEWS.gz`, decompressed | {dw['NEWS.txt']:,} | release notes 6.0.0-6.4.37: same options, servers and errors as the FAQ, strongest distractor |
  | `fetchmail.1.txt` | `usr/share/man/man1/fetchmail.1.gz`, rendered (below) | {dw['fetchmail.1.txt']:,} | the manual page: every option the FAQ talks about |
  | `fetchmail-features.html` | `usr/share/doc/fetchmail/fetchmail-features.html` | {dw['fetchmail-features.html']:,} | feature list (HTML) |
  | `design-notes.html` | `usr/share/doc/fetchmail/design-notes.html` | {dw['design-notes.html']:,} | design notes (HTML) |
  | `todo.html` | `usr/share/doc/fetchmail/todo.html` | {dw['todo.html']:,} | known bugs / to-do (HTML) |
  | `README.SSL.txt` | `usr/share/doc/fetchmail/README.SSL.gz`, decompressed | {dw['README.SSL.txt']:,} | SSL/TLS notes (same topic as FAQ K5/K6) |
  | `README.Debian.txt` | `usr/share/doc/fetchmail/README.Debian.gz`, decompressed | {dw['README.Debian.txt']:,} | Debian notes (MTA, lost mail) |

  Words = `\\w+` words of the visible text; total {st['corpus_visible_words']:,}.
  The distractors are byte-identical to the package's files (decompressed where gzipped). Text files get
  a `.txt` suffix because the project's file source only takes known extensions.
  Left out: `OLDNEWS.gz` (release notes before 6.3, ~21,000 words; it would push the corpus past
  ~90,000 words and adds only old history), `contrib/` (scripts), `copyright`, `changelog.Debian.gz`,
  `NEWS.Debian.gz`, `README.contrib`, `README.systemd`, `TODO.Debian` (a few lines each).
- Manual page: `zcat fetchmail.1.gz | LC_ALL=C.UTF-8 {' '.join(GROFF)} | col -bx`
  (80 columns, hyphenation off so no word is split at a line end). Rendered with `{st['groff']}`;
  output sha256 `{st['man_sha256']}`. Another groff version may reflow the text differently
  (then the content sha256 below changes; queries and qrels do not depend on it).
- Licence (from `/usr/share/doc/fetchmail/copyright`, copied here as `copyright`):
  `Files: *` (which covers the FAQ, the manual page, NEWS and the other documents) is
  "GPL-2+ with OpenSSL exception", Copyright 1993-2021 Carl E. Harris, George M. Sipe, Eric S. Raymond,
  Matthias Andree, Sunil Shetye and others. The GPL-2+ grant it refers to reads:
  > This program is free software; you can redistribute it and/or modify it under the terms of the
  > GNU General Public License as published by the Free Software Foundation; either version 2 of the
  > License, or (at your option) any later version.

  The FAQ itself says (G1): "Fetchmail is licensed under the GNU General Public License v2. Details,
  including an exception that allows linking against OpenSSL, are in the COPYING file in the fetchmail
  distribution." The manual page source says "For license terms, see the file COPYING".
  **Verdict: a modified copy may be bundled**, under the GPL's conditions: the corpus stays under GPL-2+
  (it is only aggregated with the project's Apache-2.0 code, GPL-2 section 2, last paragraph), a copy
  of the licence goes with it ({'bundled here as `GPL-2`, copied from `' + GPL2_HOST + '`' if st['gpl2_bundled'] else 'NOT bundled: the host had no ' + GPL2_HOST + '; add the GPL-2 text before distributing'}),
  and the modified file carries a notice of the change (section 2a): `{FAQ}` has an HTML comment
  saying what was changed, when ({MOD_DATE}), by which script, from which package. The rendered manual page is
  regenerated from its source by this script; the source itself is `fetchmail.1` in the .deb above
  (and in Debian's source package `fetchmail` 6.4.37-1), which is where to point for section 3.
- Built by `build.py` in this directory (deterministic; needs beautifulsoup4 and lxml, plus groff and col
  for the manual page; `dpkg -x` to unpack the .deb):
  `python build.py fetchmail_6.4.37-1_amd64.deb` (built with {BS4_LXML}).
  Content sha256 over corpus + queries + qrels: `{st['content_sha256']}`.

## Format
- `corpus/`: {st['corpus_docs']} files (4 HTML, 4 plain text). Relative path = `doc_id` (for example `{FAQ}`).
- `queries.jsonl`: `{{"_id": "q1", "text": "..."}}`, {st['queries']} queries.
- `qrels.jsonl`: `{{"query_id", "doc_id", "answer", "score": 1}}`, {st['qrels']} rows, all with doc_id `{FAQ}`.

## How it was built
1. Questions: every `<h2>` of the FAQ whose `<a name>` anchor is a question label (`G3`, `K6`, `O17`...).
   - {st['question_headings_found']} were found. Query = the heading text without its label
     (`G3. Something does not work/I think I've found a bug. Will you fix it?` -> `Something does not work/...`).
   - All labelled items are queries, also the ones phrased as statements ("Lex bombs out while building the
     fetchmail lexer.") and the struck-out (obsolete) ones, whose answer says what changed. Struck-out items kept:
     {', '.join(st['struck_kept']) or '(none)'}.
   - Part titles (`<h1>` "Runtime fatal errors") and sub-headings (`<h3>` "If your file predates 6.4.0",
     "Single-drop mode") are not queries. They stay in the corpus.
2. Query leakage removed by surgical edits on the raw HTML of `{FAQ}` (everything else byte-identical):
   - Each question heading element `<h2><a id="G3" name="G3">G3. ...</a></h2>` is replaced by its empty
     anchor `<a id="G3" name="G3"></a>`, so `#G3` links still resolve ({e.get('headings_removed', 0)}).
   - The "Detailed Contents" list at the top repeated every question as a link; each entry keeps only its
     label: `G3. Something doesn't work/...` becomes `G3` (a `<strike>` around it is kept)
     ({e.get('toc_texts_neutralized', 0)}). Some entries were worded differently from the heading; all are reduced.
   - Cross-references to a question in running text already use the label or other words ("see G3",
     "exim", "see below"): kept as they are ({e.get('xrefs_kept', 0)}).
   - `title=` attributes of links to a question: {e.get('title_attrs_neutralized', 0)} (the FAQ has none).
   - One HTML comment (the GPL-2 section 2a modification notice) is inserted after the file's opening comment.
   - The distractor files are not edited: none repeats a question (see Verification); the manual page and
     NEWS refer to FAQ items by label only ("item #G3 in fetchmail's FAQ", "FAQ item R12").
3. Answer = visible text of the question's part: the elements after its (removed) heading up to the next
   question heading, the next `<h1>` part title or `<hr/>` (each part and the page footer begin with `<hr/>`,
   so part titles and the footer are not in any answer).
   - `<h3>` sub-headings inside a question stay in the answer.
   - Visible text is block-aware: inline elements are joined, block elements are separated by newlines.
   - Questions whose answer has fewer than 8 words were dropped:
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
- Answer findability: each answer is checked with the rule above against its document's visible text.
  Not findable (dropped): {len(st['dropped_answer_not_findable'])}.{(' ' + '; '.join(st['dropped_answer_not_findable'])) if st['dropped_answer_not_findable'] else ''}
- Query leakage after the edits: {leak_total} hits. Three checks, each over all {st['corpus_docs']} corpus files
  (for the text files, visible text = raw text):
  - the normalized query string in the visible text;
  - the query's `\\w+` word sequence as a contiguous run in the visible text;
  - the same word sequence in the raw HTML, with tags, attributes and comments included.
{bullet(['%s %s: %s in %s' % (k, x[0], x[1], x[2]) for k, v in st['leaks'].items() for x in v]) if leak_total else ''}
- Scorer check (done once by hand when the set was built, not by build.py): a run file whose top row for
  each query is its own answer (`chunk_text` = answer, `doc_id` = the qrel's doc) gives recall@10 = 1.0 with
  `python3 shared/eval/score.py examples/eval/fetchmail-faq RUN.jsonl`.

## Caveats
- Document-level retrieval is trivial here: every qrel points to `{FAQ}`. Use the passage metrics
  (ndcg@10, recall@10, mrr@10); doc_ndcg/doc_recall will be ~1.0 for any system that finds the FAQ.
- Answers vary a lot in length (median {st['answer_words_min_median_max'][1]} words, max {st['answer_words_min_median_max'][2]}: X6 on attachments,
  K5 on SSL/TLS, F1 listing the config-file changes of a dozen releases, G3 on bug reports), so several chunks can
  be relevant to one query; ndcg@10 accounts for that, recall@10 (hit rate) needs only one.
- Some answers are short and generic (struck-out F2: "This referred to an older fetchmail 5.x version. Upgrade.");
  a chunk that holds a neighbour's text plus such an answer counts as relevant to both, as in every set of this layout.
- Answer texts keep the source's line breaks inside paragraphs (same `visible_text` as debian-faq: text is split
  at every newline, block elements add more). Only the words matter to the relevance rule.
- The FAQ is old in places (Y2K, Demon Internet, geocities, CompuServe RPA). Queries about them are still
  answerable from the FAQ text, but NEWS.txt and the manual page may also mention the feature without
  being marked relevant: only the FAQ part is judged.
- Removing the headings leaves the FAQ without question boundaries; a heading-aware chunker only sees the
  `<h1>` part titles and the `<h3>` sub-headings.
"""
    with open(os.path.join(OUT, 'README.md'), 'w', encoding='utf-8') as f:
        f.write(txt)


if __name__ == '__main__':
    main()
