#!/usr/bin/env python3
"""Build the `vim-faq` retrieval set from Debian's vim-doc package (the plain-text Vim FAQ plus the
Vim user manual as HTML).

    apt-get download vim-doc                               # 2:9.0.1378-2+deb12u2 (bookworm)
    python build.py vim-doc_2%3a9.0.1378-2+deb12u2_all.deb [OUT_DIR]
        (or: dpkg -x the .deb into X and run `python build.py X [OUT_DIR]`)
    OUT_DIR defaults to the directory of this script; it gets corpus/, queries.jsonl,
    qrels.jsonl, README.md (counts and verification results are written into it) and the
    package's `copyright` file (the Vim licence and the OPL ask for their text in every copy).

Queries  = every numbered question of the FAQ body, usr/share/doc/vim/FAQ.gz ("5.3. How do I change
           the current directory to the directory of the current file?", a heading that may wrap
           over several lines), its lines joined into one, without the number. Section titles
           ("SECTION 5 - EDITING A FILE") are not queries.
Corpus   = FAQ.txt: the FAQ decompressed, byte-identical except the leakage edits: every question
           heading in the body keeps only its number ("5.3.", its wrapped continuation lines are
           removed), every INDEX (table of contents) entry keeps only its indentation and number
           ("    5.3.", continuation lines removed), and cross-references that quote a question
           become the number only (XREF_EDITS; none were needed for this FAQ).
           Distractors: chapters of the Vim user manual (usr/share/doc/vim/html/usr_*.html),
           byte-identical, chosen by DISTRACTOR RULE below.
Answer   = the FAQ text after a question heading up to the next question heading, section
           separator line ("=====...") or section title ("SECTION N - ...") or the end of the file;
           dedented, blank lines at both ends removed.
Deterministic, standard library only: the .deb is read with a small ar reader plus tarfile/lzma
(its data member is data.tar.xz); files are processed in sorted order; no randomness, no timestamps.
"""
import bisect, gzip, hashlib, io, json, lzma, os, re, shutil, sys, tarfile, textwrap
from collections import defaultdict
from html.parser import HTMLParser

DOC = 'usr/share/doc/vim'
HTML_DIR = DOC + '/html'
COPYRIGHT = 'usr/share/doc/vim-doc/copyright'            # vim/ has none of its own in this package
CHANGELOG = 'usr/share/doc/vim-doc/changelog.Debian.gz'
FAQ_SRC = DOC + '/FAQ.gz'
FAQ = 'FAQ.txt'
MIN_ANSWER_WORDS = 8
# DISTRACTOR RULE: the chapters of the Vim user manual as the package ships them in HTML
# (usr/share/doc/vim/html/usr_*.html, i.e. usr_01.html ... usr_90.html and usr_toc.html), sorted by
# file name, byte-identical; a file's size is the number of \w+ words of its visible text (what a
# browser shows: <head> left out, entities decoded); files are added in that order while the whole
# corpus (FAQ.txt included) stays within MAX_CORPUS_WORDS; the first file that does not fit ends
# the selection, so the distractors are the manual's first chapters.
DISTRACTOR_RE = re.compile(r'usr_.*\.html')
MAX_CORPUS_WORDS = 80000
# Cross-references in the FAQ prose that quote a question's text: (exact old text, new text).
# Filled in after inspection; the FAQ body never refers to another entry, by number or by title
# (the leak check below lists every 8-word run of a question found outside its own answer), so
# nothing had to be replaced.
XREF_EDITS = []
LEAK_RUN = 8     # the leak check's unit: this many consecutive \w+ words of a question

WORD = re.compile(r'\w+')
TOC_RE = re.compile(r'^( +)(\d+\.\d+\.) +(\S.*?)\s*$')        # "    5.3. How do I change the"
HEAD_RE = re.compile(r'^(\d+\.\d+\.) +(\S.*?)\s*$')           # "5.3. How do I change the current"
SECTION_RE = re.compile(r'^SECTION (\d+) - (\S.*?)\s*$')       # "SECTION 5 - EDITING A FILE"
SEP_RE = re.compile(r'^=+\s*$')                                 # "=====...=====" before each section
NUMBERED_RE = re.compile(r'^\s*\d+\.\d+\.?(?:\s|$)')


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
        self.data_member = None
        if os.path.isfile(src):
            raw = open(src, 'rb').read()
            self.deb_sha256 = hashlib.sha256(raw).hexdigest()
            members = self._ar(raw)
            ctl = next(v for k, v in members.items() if k.startswith('control.tar'))
            data = next((k, v) for k, v in members.items() if k.startswith('data.tar'))
            self.data_member = data[0]
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


# ---------------------------------------------------------------- HTML visible text (stdlib only)
class _Visible(HTMLParser):
    HIDDEN = {'head', 'script', 'style', 'title'}

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.out, self.hidden = [], 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.hidden += 1

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1

    def handle_data(self, data):
        if not self.hidden:
            self.out.append(data)


def decode(b):
    """Valid UTF-8 is read as UTF-8 (as the project's parser does), anything else as Latin-1 (the
    charset the vim2html pages declare)."""
    try:
        return b.decode('utf-8')
    except UnicodeDecodeError:
        return b.decode('latin-1')


def visible_text(markup):
    p = _Visible()
    p.feed(markup)
    p.close()
    return ''.join(p.out)


# ---------------------------------------------------------------- FAQ structure
def parse_faq(text):
    """INDEX entries, body question headings, section titles and separators of the plain-text FAQ
    (line indices into text.split('\\n'))."""
    lines = text.split('\n')
    index = [i for i, l in enumerate(lines) if l.strip() == 'INDEX']
    assert len(index) == 1, index
    index = index[0]
    sep = next(i for i, l in enumerate(lines) if SEP_RE.match(l))     # the INDEX ends at the first separator
    assert sep > index

    def blank(i):
        return i < 0 or i >= len(lines) or not lines[i].strip()
    toc, toc_sections = [], []
    i = index + 1
    while i < sep:
        m = TOC_RE.match(lines[i])
        if m:
            parts, j = [m.group(3)], i + 1
            while j < sep and lines[j].strip() and not TOC_RE.match(lines[j]) and not SECTION_RE.match(lines[j]):
                assert len(lines[j]) - len(lines[j].lstrip(' ')) > len(m.group(1)), (j + 1, lines[j])
                parts.append(lines[j].strip())
                j += 1
            toc.append({'num': m.group(2), 'text': ' '.join(' '.join(parts).split()), 'line': i, 'end': j,
                        'indent': m.group(1)})
            i = j
            continue
        if SECTION_RE.match(lines[i]):
            toc_sections.append(i)
        else:
            assert blank(i), (i + 1, lines[i])       # nothing else in the INDEX
        i += 1
    toc_nums = [t['num'] for t in toc]
    assert len(set(toc_nums)) == len(toc_nums)

    heads, sections, seps, numbered_prose = [], [], [], []
    i, section = sep, None
    while i < len(lines):
        l = lines[i]
        m = HEAD_RE.match(l)
        if m and blank(i - 1):
            parts, j = [m.group(2)], i + 1
            while not blank(j):                  # a heading wraps over indented lines up to a blank line
                assert lines[j].startswith(' '), (j + 1, lines[j])
                parts.append(lines[j].strip())
                j += 1
            assert section is not None and m.group(1).split('.')[0] == section, (i + 1, l, section)
            heads.append({'num': m.group(1), 'text': ' '.join(' '.join(parts).split()), 'line': i, 'end': j})
            i = j
            continue
        if SECTION_RE.match(l) and blank(i - 1):
            section = SECTION_RE.match(l).group(1)
            sections.append({'num': section, 'text': SECTION_RE.match(l).group(2), 'line': i})
        elif SEP_RE.match(l):
            seps.append(i)
        elif NUMBERED_RE.match(l):
            numbered_prose.append((i + 1, l.strip()))
        i += 1
    nums = [h['num'] for h in heads]
    assert len(set(nums)) == len(nums), 'duplicate question numbers'
    # the INDEX lists the body's questions in the same order (the body may have more, see README)
    assert [n for n in nums if n in set(toc_nums)] == toc_nums, 'INDEX and body disagree'
    assert [s['num'] for s in sections] == [str(k) for k in range(1, len(sections) + 1)]
    return lines, index, sep, toc, toc_sections, heads, sections, seps, numbered_prose


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else sys.exit(__doc__)
    out = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))
    pkg = Package(src)
    version = pkg.control.get('Version')
    changelog_line = gzip.decompress(pkg.read(CHANGELOG)).decode('utf-8').split('\n', 1)[0].strip()
    if version is None:   # extracted tree: take the version from the changelog line
        version = re.search(r'\(([^)]+)\)', changelog_line).group(1)

    faq_bytes = gzip.decompress(pkg.read(FAQ_SRC))
    faq_text = faq_bytes.decode('ascii')              # the FAQ is pure ASCII (asserted here)
    lines, index, sep, toc, toc_sections, heads, sections, seps, numbered_prose = parse_faq(faq_text)
    toc_by_num = {t['num']: t['text'] for t in toc}
    toc_differs = [(h['num'], toc_by_num[h['num']], h['text']) for h in heads
                   if h['num'] in toc_by_num and toc_by_num[h['num']] != h['text']]
    not_in_toc = [(h['num'], h['text']) for h in heads if h['num'] not in toc_by_num]

    # 1. leakage edits (line-wise, so every other byte stays as it was): the first line of a heading or
    #    INDEX entry keeps its indentation and number, its continuation lines are removed
    log = defaultdict(int)
    first = {t['line']: (t['indent'] + t['num'], t['end'], 'toc') for t in toc}
    first.update({h['line']: (h['num'], h['end'], 'head') for h in heads})
    new, new_index, i = [], {}, 0          # new_index: old line of a kept line -> its index in `new`
    while i < len(lines):
        if i in first:
            repl, end, kind = first[i]
            new_index[i] = len(new)
            new.append(repl)
            log[kind + '_entries_reduced'] += 1
            log[kind + '_continuation_lines_removed'] += end - i - 1
            i = end
        else:
            new_index[i] = len(new)
            new.append(lines[i])
            i += 1
    new_text = '\n'.join(new)
    for old, repl in XREF_EDITS:
        n = new_text.count(old)
        assert n >= 1, old
        assert '\n' not in old and '\n' not in repl
        new_text = new_text.replace(old, repl)
        log['xrefs_replaced'] += n
    new_lines = new_text.split('\n')
    assert len(new_lines) == len(new)

    # 2. answers: after the heading up to the next heading, separator or section title (or EOF)
    bounds = sorted([new_index[h['line']] for h in heads] + [new_index[s['line']] for s in sections]
                    + [new_index[s] for s in seps] + [len(new_lines)])
    qsections = []
    for h in heads:
        start = new_index[h['line']] + 1
        end = next(b for b in bounds if b >= start)
        ans = textwrap.dedent('\n'.join(l.rstrip() for l in new_lines[start:end])).strip('\n')
        qsections.append({'num': h['num'], 'question': h['text'], 'answer': ans, 'lines': (start, end)})

    # 3. corpus: FAQ.txt + user-manual distractors (rule above)
    corpus = {FAQ: new_text.encode('ascii')}
    vis = {FAQ: new_text}                      # the text a reader sees (FAQ.txt: all of it)
    total = len(words(new_text))
    candidates = [n for n in pkg.listdir(HTML_DIR) if DISTRACTOR_RE.fullmatch(n)]
    distractors, left_out = [], []
    for n in candidates:
        body = pkg.read(HTML_DIR + '/' + n)
        vt = visible_text(decode(body))
        w = len(words(vt))
        if left_out or total + w > MAX_CORPUS_WORDS:
            left_out.append((n, w)); continue
        assert n not in corpus
        corpus[n] = body
        vis[n] = vt
        distractors.append((n, w))
        total += w
    names = sorted(corpus)
    raw_text = {p: decode(corpus[p]) for p in names}
    vj = {p: joined(words(t)) for p, t in vis.items()}
    rj = {p: joined(words(t)) for p, t in raw_text.items()}
    vn = {p: norm(t) for p, t in vis.items()}
    rn = {p: norm(t) for p, t in raw_text.items()}

    # 4. short answers, findability, merging
    dropped_short = [s for s in qsections if len(words(s['answer'])) < MIN_ANSWER_WORDS]
    kept = [s for s in qsections if len(words(s['answer'])) >= MIN_ANSWER_WORDS]
    unfindable = [s for s in kept if not contains_run(vj[FAQ], words(s['answer']))]
    kept = [s for s in kept if s not in unfindable]
    order, groups = [], defaultdict(list)
    for s in kept:
        if s['question'] not in groups:
            order.append(s['question'])
        groups[s['question']].append(s)
    queries, rows = [], []
    for i, t in enumerate(order, 1):
        queries.append({'_id': f'q{i}', 'text': t})
        rows += [{'query_id': f'q{i}', 'doc_id': FAQ, 'answer': s['answer'], 'score': 1} for s in groups[t]]

    # 5. leak check over every corpus file
    # 5a. the whole question: normalized string and \w+ word sequence, in the raw file and in its
    #     visible text (for FAQ.txt both are the file). Must find nothing in FAQ.txt.
    full_leaks = []
    for q in queries:
        qn, qj = norm(q['text']), joined(words(q['text']))
        for p in names:
            kinds = [k for k, hit in (('raw string', qn in rn[p]), ('raw words', qj in rj[p]),
                                      ('visible string', qn in vn[p]), ('visible words', qj in vj[p])) if hit]
            if kinds:
                full_leaks.append((q['_id'], q['text'], p, kinds))
    assert not [x for x in full_leaks if x[2] == FAQ], full_leaks
    # 5b. every run of LEAK_RUN consecutive words of a question (the whole question if shorter), in
    #     the visible words of every file. In FAQ.txt each hit is placed in the answer it falls in.
    fw, fline = [], []                         # FAQ.txt words and the line each comes from
    for k, l in enumerate(new_lines):
        ws = words(l)
        fw += ws
        fline += [k] * len(ws)
    ans_starts = sorted((s['lines'][0], s['lines'][1], s['num']) for s in qsections)

    def where(line):
        k = bisect.bisect_right([a for a, _, _ in ans_starts], line) - 1
        if k >= 0 and ans_starts[k][0] <= line < ans_starts[k][1]:
            return ans_starts[k][2]
        return None                            # preamble, INDEX, section titles, footer
    grams = defaultdict(list)
    for k in range(len(fw) - LEAK_RUN + 1):
        grams[tuple(fw[k:k + LEAK_RUN])].append(k)
    dist_words = {p: words(vis[p]) for p in names if p != FAQ}
    dist_grams = {p: defaultdict(list) for p in dist_words}
    for p, ws in dist_words.items():
        for k in range(len(ws) - LEAK_RUN + 1):
            dist_grams[p][tuple(ws[k:k + LEAK_RUN])].append(k)
    num_of = {s['question']: s['num'] for s in kept}
    own_answer_hits, other_hits = defaultdict(int), []
    for q in queries:
        qw = words(q['text'])
        own = {s['num'] for s in groups[q['text']]}
        runs = [tuple(qw[k:k + LEAK_RUN]) for k in range(len(qw) - LEAK_RUN + 1)] if len(qw) >= LEAK_RUN else []
        seen = set()
        for run in runs:
            for k in grams.get(run, []):
                sect = where(fline[k])
                if sect in own:
                    own_answer_hits[q['_id']] += 1
                    continue
                ctx = ' '.join(fw[max(0, k - 5):k + LEAK_RUN + 5])
                key = (FAQ, sect, fline[k])
                if key not in seen:
                    seen.add(key)
                    other_hits.append((q['_id'], num_of[q['text']], q['text'], FAQ,
                                       'answer %s, line %d' % (sect, fline[k] + 1) if sect else 'line %d' % (fline[k] + 1),
                                       ' '.join(run), ctx))
            for p in sorted(dist_grams):
                for k in dist_grams[p].get(run, []):
                    ws = dist_words[p]
                    key = (p, k // 50)
                    if key not in seen:
                        seen.add(key)
                        other_hits.append((q['_id'], num_of[q['text']], q['text'], p, 'word %d' % k, ' '.join(run),
                                           ' '.join(ws[max(0, k - 5):k + LEAK_RUN + 5])))
    # 5c. answers that share a run of 10 words with FAQ text outside themselves (a chunk of that text
    #     then counts as relevant to them too; information for the README, nothing is changed)
    shared = []
    ans_j = {s['num']: joined(words(s['answer'])) for s in kept}
    for s in kept:
        aw = words(s['answer'])
        m = min(10, len(aw))
        a, b = s['lines']
        outside = (joined(w for k, w in enumerate(fw) if fline[k] < a) + '|'
                   + joined(w for k, w in enumerate(fw) if fline[k] >= b))
        runs = {joined(aw[k:k + m]) for k in range(len(aw) - m + 1)}
        n = sum(1 for r in runs if r in outside)
        if n:
            others = [t['num'] for t in kept if t is not s and any(r in ans_j[t['num']] for r in runs)]
            shared.append((s['num'], n, len(runs), others))

    # 6. write
    cdir = os.path.join(out, 'corpus')
    if os.path.isdir(cdir):
        shutil.rmtree(cdir)
    os.makedirs(cdir)
    for p in names:
        with open(os.path.join(cdir, p), 'wb') as f:
            f.write(corpus[p])
    with open(os.path.join(out, 'queries.jsonl'), 'w', encoding='utf-8', newline='\n') as f:
        for q in queries:
            f.write(json.dumps(q, ensure_ascii=False) + '\n')
    with open(os.path.join(out, 'qrels.jsonl'), 'w', encoding='utf-8', newline='\n') as f:
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
    qw = sorted(len(words(q['text'])) for q in queries)
    st = {
        'version': version, 'changelog_line': changelog_line, 'deb_sha256': pkg.deb_sha256,
        'data_member': pkg.data_member, 'faq_src_sha256': hashlib.sha256(faq_bytes).hexdigest(),
        'faq_sha256': hashlib.sha256(corpus[FAQ]).hexdigest(),
        'faq_lines': len(lines), 'faq_lines_written': len(new_lines),
        'faq_lines_changed': sum(1 for k, v in new_index.items() if lines[k] != new_lines[v]),
        'toc_entries': len(toc), 'toc_sections': len(toc_sections), 'sections': [(s['num'], s['text']) for s in sections],
        'headings_found': len(heads), 'wrapped_headings': sum(1 for h in heads if h['end'] - h['line'] > 1),
        'toc_differs': toc_differs, 'not_in_toc': not_in_toc, 'numbered_prose': numbered_prose,
        'corpus_docs': len(names), 'doc_words': {p: len(vj[p].split()) for p in names},
        'corpus_words': sum(len(v.split()) for v in vj.values()),
        'distractors': distractors, 'left_out': left_out,
        'dropped_answer_lt_8_words': ['%s %s (%d words)' % (s['num'], s['question'], len(words(s['answer']))) for s in dropped_short],
        'dropped_answer_not_findable': ['%s %s' % (s['num'], s['question']) for s in unfindable],
        'queries': len(queries), 'qrels': len(rows),
        'statement_queries': sum(1 for q in queries if '?' not in q['text']),
        'answer_words_min_median_max': [aw[0], aw[len(aw) // 2], aw[-1]],
        'query_words_min_median_max': [qw[0], qw[len(qw) // 2], qw[-1]],
        'edits': dict(log), 'multi_answer_queries': [t for t in order if len(groups[t]) > 1],
        'full_leaks': full_leaks, 'own_answer_hits': len(own_answer_hits), 'other_hits': other_hits,
        'shared_answers': shared,
        'content_sha256': h.hexdigest(),
    }
    write_readme(out, st)
    print(json.dumps({k: v for k, v in st.items() if k != 'doc_words'}, ensure_ascii=False, indent=1))
    return st


def write_readme(out, st):
    def bullet(items, ind='  '):
        return '\n'.join(f'{ind}- {x}' for x in items) if items else f'{ind}- (none)'
    dw = st['doc_words']
    e = st['edits']
    dist_rows = '\n'.join(f"  | `{n}` | `{HTML_DIR}/{n}` | {w:,} |" for n, w in st['distractors'])
    lo = st['left_out']
    left = (f"The first file that does not fit is `{lo[0][0]}` ({lo[0][1]:,} words); it and the {len(lo) - 1} files after it "
            f"(`{lo[1][0]}` ... `{lo[-1][0]}`) are not included" if len(lo) > 1 else
            f"Left out: `{lo[0][0]}` ({lo[0][1]:,} words)" if lo else 'The budget did not bind: every chapter fits')
    full = st['full_leaks']
    other = st['other_hits']
    other_faq = [x for x in other if x[3] == FAQ]
    other_dist = [x for x in other if x[3] != FAQ]
    shared = st['shared_answers']
    n_faq_lines = st['faq_lines'] - 1          # the file ends with a newline
    n_written = st['faq_lines_written'] - 1
    txt = f"""# vim-faq: Vim FAQ questions over the plain-text Vim FAQ plus the Vim user manual (HTML)

Retrieval evaluation set. Queries are the numbered questions of the Vim FAQ (Yegappan Lakshmanan's
FAQ as shipped by Debian). The corpus is the real FAQ kept as ONE plain-text file (`{FAQ}`,
{dw[FAQ]:,} words; no markup at all, only blank lines, indentation and question numbers), plus the first
{len(st['distractors'])} chapters of the Vim user manual, as the same Debian package ships them in HTML, as
distractors. Every answer is in `{FAQ}`, so document-level retrieval is easy; the set measures
passage-level retrieval: {st['queries']} queries over one long text file. Relevance is structural (derived
from the document structure), not human-judged.

## Provenance
- Source: Debian package `vim-doc` (source package `vim`), version `{st['version']}`,
  changelog line `{st['changelog_line']}`.
  Fetched with `apt-get download vim-doc` (Debian 12 bookworm, architecture all).
  Deb sha256: {f"`{st['deb_sha256']}` (its data member is `{st['data_member']}`, read with Python's lzma/tarfile)"
                if st['deb_sha256'] else 'n/a (built from an extracted tree)'}.
- Files of that package in `corpus/` (doc_id = file name):
  - `{FAQ}`: `{FAQ_SRC}` decompressed (sha256 of the decompressed original
    `{st['faq_src_sha256']}`), edited only as described under "How it was built", {dw[FAQ]:,} words.
    The FAQ is not part of upstream Vim's runtime files: Debian ships it from its packaging directory
    (in Debian's vim packaging, `debian/vim-doc.docs` lists `debian/FAQ`). It is dated: "Last updated
    on: 2 January 2005", Vim 6.3; its footer names the maintainer (Yegappan Lakshmanan) and its preamble
    credits the answers to "Peppe, Benji, Charles Campbell and numerous others".
  - {len(st['distractors'])} user-manual chapters, byte-identical to the package's files:

  | doc_id | from | words |
  |---|---|---:|
{dist_rows}

  Words = `\\w+` words of the visible text (what a browser shows: `<head>` left out, entities decoded;
  `{FAQ}`: all of its text); corpus total {st['corpus_words']:,}.
- Distractor rule (in `build.py`): the Vim user manual's chapters as the package ships them
  (`{HTML_DIR}/usr_*.html`: `usr_01.html` ... `usr_90.html` and `usr_toc.html`), sorted by file
  name, byte-identical, added in that order while the whole corpus (`{FAQ}` included) stays within
  {MAX_CORPUS_WORDS:,} words; the first file that does not fit ends the selection, so the distractors are the
  manual's first chapters: all of "Getting Started" (usr_01-usr_12) and the start of "Editing
  Effectively" (usr_20-usr_25). {left}.
  These chapters cover many of the FAQ's tasks (moving around, searching, changing text, options and
  the vimrc, several files and windows, the GUI, recovery, the command line, finding files, inserting
  and formatting text), in Vim 9.0 terms, i.e. realistic distractors. The reference manual (the other
  `html/*.html` files) is not used.
- Licence (the package's `/usr/share/doc/vim-doc/copyright`, copied here as `copyright`; it is
  machine-readable (DEP-5) and has no stanza for `debian/*`):
  - `{FAQ}` is covered by the `Files: *` stanza, the only one that matches `debian/FAQ`:
    "Copyright: 2001-2022 Bram Moolenaar <Bram@vim.org>" (and others, see the file), `License: Vim`.
    The FAQ carries no licence statement of its own (its only mention is answer 1.5, "Vim is
    Charityware ... :help copyright"), and the stanza does not name its authors; the FAQ's own credits
    (above) are kept in `FAQ.txt`. The Vim licence reads, in the parts that apply:
    > I)  There are no restrictions on distributing unmodified copies of Vim except
    >     that they must include this license text.  You can also distribute
    >     unmodified parts of Vim, likewise unrestricted except that they must
    >     include this license text. [...]
    >
    > II) It is allowed to distribute a modified (or extended) version of Vim,
    >     including executables and/or source code, when the following four
    >     conditions are met:
    >     1) This license text must be included unmodified.
    >     2) The modified Vim must be distributed in one of the following five ways: [...]
    >        c) Provide all the changes, including source code, with every copy of
    >           the modified Vim you distribute.  This may be done in the form of a
    >           context diff. [...]
    >     3) A message must be added, at least in the output of the ":version"
    >        command and in the intro screen, such that the user of the modified Vim
    >        is able to see that it was modified. [...]
    >     4) The contact information as required under 2)a) and 2)d) must not be
    >        removed or changed [...]
    >
    > IV)  It is not allowed to remove this license from the distribution of the Vim
    >      sources, parts of it or from a modified version. [...]
  - The user-manual chapters are covered by `Files: runtime/doc/*` (the HTML pages are generated from
    `runtime/doc/usr_*.txt` when the package is built): "Copyright: 1988-2003 Bram Moolenaar
    <Bram@vim.org>", `License: OPL-1+`, with "Comment: No license options are exercised." The Open
    Publication License (its full text is in `copyright`) reads:
    > The Open Publication works may be reproduced and distributed in whole or in
    > part, in any medium physical or electronic, provided that the terms of this
    > license are adhered to, and that this license or an incorporation of it by
    > reference (with any options elected by the author(s) and/or publisher) is
    > displayed in the reproduction.

    and `usr_01.html` (section 01.4, kept unmodified) carries the incorporation by reference: "The Vim
    user manual and reference manual are Copyright (c) 1988-2003 by Bram Moolenaar.  This material may be
    distributed only subject to the terms and conditions set forth in the Open Publication License, v1.0
    or later."

  **Verdict: both may be bundled.** The manual chapters are unmodified copies of an OPL work with no
  options elected; the licence travels with them (`copyright`, and the notice inside `usr_01.html`).
  `{FAQ}` is a modified copy under the Vim licence's II: 1) the licence text is included unmodified
  (`copyright`); 2)c) all changes are provided with the copy: they are listed exactly below, `build.py`
  reproduces them from the original, and the removed text is the question text that `queries.jsonl`
  holds; 3) this README says that the file was modified (the licence's ":version"/intro-screen wording is
  written for programs); 4) the FAQ's contact line ("Current Maintainer: Yegappan Lakshmanan") is kept.
- Built by `build.py` in this directory (deterministic, Python standard library only; it reads the .deb
  itself, no dpkg needed): `python build.py vim-doc_2%3a{st['version'].split(':', 1)[-1]}_all.deb`.
  sha256 of `corpus/{FAQ}` as written: `{st['faq_sha256']}`.
  Content sha256 over corpus + queries + qrels: `{st['content_sha256']}`.

## Format
- `corpus/`: {st['corpus_docs']} files (1 plain text, {len(st['distractors'])} HTML). Relative path = `doc_id` (for example `{FAQ}`).
- `queries.jsonl`: `{{"_id": "q1", "text": "..."}}`, {st['queries']} queries.
- `qrels.jsonl`: `{{"query_id", "doc_id", "answer", "score": 1}}`, {st['qrels']} rows, all with doc_id `{FAQ}`.

## How it was built
1. Questions: every numbered question of the FAQ body, i.e. a line at column 0 of the form `N.M.` + text
   after a blank line, with its continuation lines (indented, up to the next blank line;
   {st['wrapped_headings']} questions wrap over two or more lines). {st['headings_found']} were found, in
   {len(st['sections'])} sections (`SECTION 1 - GENERAL INFORMATION` ... `SECTION {st['sections'][-1][0]} - {st['sections'][-1][1]}`);
   the build asserts that the INDEX (table of contents, {st['toc_entries']} entries) lists them in the same order
   and that each question's number starts with its section's number.
   - Query = the body question's lines joined into one (whitespace collapsed), without the number.
     Query words (min / median / max): {st['query_words_min_median_max']}. Long questions are kept whole: several
     describe a situation before asking ("Some lines in a file are more than the screen width ... How do I
     move from one screen line to the next?"), and {st['statement_queries']} have no `?` at all (they state a problem:
     "Vim syntax highlighting is broken. When I am editing a file, some parts of the file is not syntax
     highlighted or syntax highlighted incorrectly.").
   - In the body but not in the INDEX (kept as queries):
{bullet([f'{n} {t}' for n, t in st['not_in_toc']], '     ')}
   - Where the INDEX words an entry differently from the body, the body is the query:
{bullet([f'{n} INDEX "{a}", body "{b}"' for n, a, b in st['toc_differs']], '     ')}
   - Numbered lines in the body that are not question headings: {len(st['numbered_prose'])}.{(' ' + '; '.join('line %d: `%s`' % x for x in st['numbered_prose'])) if st['numbered_prose'] else ''}
   - Section titles are not queries; they stay in the corpus, and so do the preamble, the section 37
     author line and the footer ("Current Maintainer: ...", "Last updated on: ...").
2. Query leakage removed by line edits on `{FAQ}` (everything else byte-identical; of the original {n_faq_lines:,}
   lines, {st['faq_lines_changed']} were shortened and {e.get('toc_continuation_lines_removed', 0) + e.get('head_continuation_lines_removed', 0)} removed, {n_written:,} lines written):
   - Each question heading in the body keeps only its number: `5.3. How do I change the current directory
     to the` + `     directory of the current file?` becomes `5.3.` ({e.get('head_entries_reduced', 0)} headings; their
     {e.get('head_continuation_lines_removed', 0)} continuation lines are removed), so the section structure stays visible.
   - Each INDEX entry keeps only its indentation and number: `    5.3. How do I change ...` becomes
     `    5.3.` ({e.get('toc_entries_reduced', 0)} entries; {e.get('toc_continuation_lines_removed', 0)} continuation lines removed). The INDEX's section titles
     (`SECTION 5 - EDITING A FILE`) are kept.
   - Cross-references that quote a question: {e.get('xrefs_replaced', 0)}. The FAQ body never refers to another entry,
     by number or by title (the leak check below shows every place where 8 words of a question recur),
     so no prose was edited (`XREF_EDITS` in `build.py` is empty).
   - The user-manual distractors are not edited.
3. Answer = the FAQ text after the question heading up to the next question heading, the separator line
   (`=====...`) that precedes each section title, or the end of the file; dedented, blank lines at both ends
   removed; line breaks kept. The last answer of a section therefore ends before the separator, and the
   footer after the last separator is in no answer.
   - Questions whose answer has fewer than {MIN_ANSWER_WORDS} words (dropped): {len(st['dropped_answer_lt_8_words'])}.{(' ' + '; '.join(st['dropped_answer_lt_8_words'])) if st['dropped_answer_lt_8_words'] else ''}
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
- Leak check, over all {st['corpus_docs']} corpus files:
  - The whole question: {len(full)} hits (the build fails on any hit in `{FAQ}`). Four checks per query and file:
    the normalized query string (lower case, whitespace collapsed) and the query's `\\w+` word sequence, each in
    the raw file (HTML with its tags) and in its visible text.{''.join(chr(10) + '    - %s %s in %s (%s)' % (x[0], x[1], x[2], ', '.join(x[3])) for x in full)}
  - Every run of {LEAK_RUN} consecutive words of a question (queries of {LEAK_RUN}+ words), in the visible words of every file:
    - in the question's own answer: {st['own_answer_hits']} queries. The FAQ's answers often restate their question
      ("You can use the ... command to change the current directory to the directory of the current file");
      that is the answer's own wording and stays.
    - in `{FAQ}` outside the question's own answer (line numbers of `{FAQ}` as written): {len(other_faq)}. All are ordinary phrases that two entries share
      (neighbouring questions such as 23.2/23.3 and 12.24/12.30, "a file with the same name as the original"),
      none is a reference to the question:
{bullet(['%s %s: "%s" in %s: "... %s ..."' % (x[0], x[1], x[5], x[4], x[6]) for x in other_faq], '      ')}
    - in a distractor: {len(other_dist)}. No distractor repeats a question; the hits are generic phrases:
{bullet(['%s %s: "%s" in %s (%s): "... %s ..."' % (x[0], x[1], x[5], x[3], x[4], x[6]) for x in other_dist], '      ')}
- Parsed text (a separate check when the set was built, not run by build.py as it needs the project's
  environment): `{FAQ}` parsed with the project's `chunkwise.connectors.unstructured_parser.UnstructuredParser`
  (`unstructured`'s `partition_text`, 3,134 elements) keeps every answer findable: for all 375 answers, a
  run of min(10, n) consecutive answer tokens occurs in the whitespace-normalized parsed text, and every
  one of each answer's `\\w+` 10-word runs occurs in the parsed text's words (the scorer's rule; 100%).
  342 answers occur whole (whitespace-normalized); the other 33 differ only in list bullets and
  punctuation that `partition_text` drops or regroups (`*`, `-`), not in words. No query occurs in the
  parsed text. The {len(st['distractors'])} HTML distractors parsed the same way (`partition_html`) give 52,462 words, the
  count of their visible text above, and contain no query either.
  `chunkwise.pipeline.evaluation.dataset.load_dataset` reads the set with all 375 queries, and a sanity run,
  `chunkwise eval examples/eval/vim-faq --chunking fixed --chunk-size 200 --mode dense` (token chunker,
  overlap 20, headers on, all-MiniLM-L6-v2), gave passage nDCG@10 0.7232, recall@10 0.8800, MRR@10 0.6889
  over 744 chunks (document nDCG@10 0.91, recall 1.0).

## Caveats
- Document-level retrieval is trivial: every qrel points to `{FAQ}`. Use the passage metrics
  (ndcg@10, recall@10, mrr@10); doc_ndcg/doc_recall will be ~1.0 for any system that finds the FAQ.
- Many answers restate their question (see the leak check): a lexical retriever gets help from that, as a
  reader of the FAQ would.
- Answers share text with other answers in {len(shared)} cases (a run of 10 words, or the whole short answer,
  also occurs elsewhere in `{FAQ}`); a chunk holding that text counts as relevant to both questions. They are
  near-duplicate entries:
{bullet(['%s shares %d of its %d runs with %s' % (n, k, m, ', '.join(o) if o else 'text outside the answers') for n, k, m, o in shared], '  ')}
- A chunk usually holds a few neighbouring answers (median {st['answer_words_min_median_max'][1]} words) and then counts as relevant
  to each of them, as in every set of this layout; long answers span several chunks.
- The FAQ is from 2005 (Vim 6.3; URLs on vim.sf.net, ftp.vim.org), the manual is Vim 9.0's. Some manual
  passages answer a FAQ question too (options, mappings, buffers, windows); such hits count as misses, as
  only the FAQ section is judged.
- Removing the headings leaves only the numbers as section markers (`5.3.` on its own line); a chunker
  that splits on headings sees none in `{FAQ}`, and no heading text either (the question is the query).
"""
    with open(os.path.join(out, 'README.md'), 'w', encoding='utf-8', newline='\n') as f:
        f.write(txt)


if __name__ == '__main__':
    main()
