#!/usr/bin/env python3
"""Build the `perl-faq` retrieval set from Debian's perl-doc package (Perl's POD documentation),
converted to Markdown.

    apt-get download perl-doc                              # 5.36.0-7+deb12u4 (bookworm)
    python build.py perl-doc_5.36.0-7+deb12u4_all.deb [OUT_DIR]
        (or: dpkg -x the .deb into X and run `python build.py X [OUT_DIR]`)
    OUT_DIR defaults to the directory of this script; it gets corpus/, queries.jsonl,
    qrels.jsonl and README.md (counts and verification results are written into it).

Queries    = the =head2 headings of perlfaq3..perlfaq6 that are questions (contain '?' or start with
             How/What/Why/Where/When/Which/Can/Does/Is/Should), formatting codes resolved to plain text.
Corpus     = those four FAQ pages plus distractor manuals, each converted POD -> Markdown (one .md per
             .pod). Distractors: the pod/ pages that perlfaq3..6 link to with L<>, most-linked first
             (ties by name), each taken if it still fits the word budget (others are skipped).
             perlfaq*.pod (other FAQ pages, and perlfaq.pod's list of every question) and perltoc.pod
             (which also lists every question) are never distractors.
Leakage    = question headings are not written; links to a FAQ question (L<perlfaq4/"How ...?">,
             L</"How ...?">) render as the page name only; a double-quoted FAQ question in running
             text is replaced by the page name ("see perlfaq4: "How do I ...?"" -> "see perlfaq4").
Answer     = the Markdown text of the question's section as written in the corpus file: from where the
             heading was to the next =head1/=head2.
Deterministic (sorted / fixed order, no randomness, fixed modification date). Standard library only:
the .deb (an ar archive holding data.tar.xz) is read with Python's tarfile/lzma.
"""
import gzip, hashlib, html.entities, io, json, os, re, shutil, sys, tarfile
from collections import defaultdict

SRC = sys.argv[1] if len(sys.argv) > 1 else sys.exit(__doc__)
OUT = sys.argv[2] if len(sys.argv) > 2 else os.path.dirname(os.path.abspath(__file__))

POD_DIR = 'usr/share/perl/5.36.0/pod'
DOC_DIR = 'usr/share/doc/perl-doc'
FAQ_PAGES = ['perlfaq3', 'perlfaq4', 'perlfaq5', 'perlfaq6']     # the query subset
NEVER_DISTRACTOR = re.compile(r'^(perlfaq\d*|perltoc)$')          # question lists / other FAQ pages
WORD_BUDGET = 85000           # \w+ words of the whole corpus (Markdown files as written)
MIN_ANSWER_WORDS = 8
MODIFIED_DATE = '2026-12-06'  # date of the conversion, stated in each file's change notice
QUESTION_START = re.compile(r'^(How|What|Why|Where|When|Which|Can|Does|Is|Should)\b')


# ---------------------------------------------------------------- reading the package
def read_ar(data):
    """Members of an ar archive (a .deb): {name: bytes}."""
    assert data[:8] == b'!<arch>\n', 'not a .deb (ar archive)'
    pos, out = 8, {}
    while pos + 60 <= len(data):
        hdr = data[pos:pos + 60]
        name = hdr[:16].decode().strip().rstrip('/')
        size = int(hdr[48:58].decode().strip())
        out[name] = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
    return out


def load_source(src):
    """{relative path: bytes} for the files we need, the deb sha256 (or None) and the package version."""
    want = lambda p: (p.startswith(POD_DIR + '/') and p.endswith('.pod')) or p.startswith(DOC_DIR + '/')
    files = {}
    if src.endswith('.deb'):
        raw = open(src, 'rb').read()
        sha = hashlib.sha256(raw).hexdigest()
        members = read_ar(raw)
        data_name = next(n for n in members if n.startswith('data.tar'))
        ctrl_name = next(n for n in members if n.startswith('control.tar'))
        with tarfile.open(fileobj=io.BytesIO(members[data_name])) as t:
            for m in t.getmembers():
                p = os.path.normpath(m.name).lstrip('./')
                if m.isfile() and want(p):
                    files[p] = t.extractfile(m).read()
        with tarfile.open(fileobj=io.BytesIO(members[ctrl_name])) as t:
            control = next(t.extractfile(m).read().decode() for m in t.getmembers()
                           if os.path.basename(m.name) == 'control')
        version = re.search(r'^Version:\s*(\S+)', control, re.M).group(1)
    else:
        sha = None
        for base, _, names in os.walk(src):
            for n in names:
                full = os.path.join(base, n)
                p = os.path.relpath(full, src).replace(os.sep, '/')
                if want(p) and os.path.isfile(full):
                    files[p] = open(full, 'rb').read()
        version = None
    changelog = gzip.decompress(files[DOC_DIR + '/changelog.Debian.gz']).decode().splitlines()[0].strip()
    if version is None:
        version = re.match(r'^\S+ \(([^)]+)\)', changelog).group(1)
    return files, sha, version, changelog


def decode_pod(b):
    m = re.search(rb'^=encoding\s+(\S+)', b, re.M)
    if m:
        return b.decode(m.group(1).decode().lower().replace('utf8', 'utf-8'))
    try:
        return b.decode('utf-8')
    except UnicodeDecodeError:
        return b.decode('latin-1')      # perlpodspec: no =encoding and not UTF-8 -> Latin-1


# ---------------------------------------------------------------- POD: paragraphs
def pod_paragraphs(text):
    """[(kind, text)] with kind 'command' / 'verbatim' / 'ordinary' / 'blank' (one per run of blank
    lines; verbatim blocks use it). Non-POD regions (before the first command, after =cut) are skipped."""
    lines = text.replace('\r\n', '\n').replace('\r', '\n').split('\n')
    paras, cur = [], []
    for line in lines + ['']:
        if line.strip() == '':
            if cur:
                paras.append(cur); cur = []
            paras.append(None)
        else:
            cur.append(line)
    out, in_pod = [], False
    for p in paras:
        if p is None:
            if out and out[-1][0] != 'blank':
                out.append(('blank', ''))
            continue
        first = p[0]
        if re.match(r'^=[a-zA-Z]', first):
            in_pod = not first.startswith('=cut')
            out.append(('command', '\n'.join(p)))
        elif not in_pod:
            continue
        elif first[0] in ' \t':
            out.append(('verbatim', '\n'.join(p)))
        else:
            out.append(('ordinary', '\n'.join(p)))
    return out


# ---------------------------------------------------------------- POD: formatting codes
def parse_codes(s):
    """Formatting codes -> tree: list of str | (letter, children). Handles X<...> and X<< ... >>."""
    warnings = []

    def parse(i, close):              # close: None (top), 1 (single '>'), n >= 2 (multi, ' >>')
        out, buf = [], []
        while i < len(s):
            c = s[i]
            if close == 1 and c == '>':
                break
            if close and close > 1 and c.isspace():
                m = re.match(r'\s+' + '>' * close, s[i:])
                if m:
                    out.append(''.join(buf)); return out, i + m.end()
            if c.isupper() and c.isascii() and s[i + 1:i + 2] == '<':
                m = re.match(r'<(<+)(\s+)', s[i + 1:])
                if m:
                    n = len(m.group(1)) + 1
                    kids, j = parse(i + 1 + m.end(), n)
                else:
                    kids, j = parse(i + 2, 1)
                    if j < len(s) and s[j] == '>':
                        j += 1
                    else:
                        warnings.append('unclosed %s<' % c)
                out.append(''.join(buf)); buf = []
                out.append((c, kids)); i = j
                continue
            buf.append(c); i += 1
        if close and close > 1:
            warnings.append('unclosed multi-angle code')
        out.append(''.join(buf))
        return out, i

    tree, i = parse(0, None)
    if i != len(s):            # a stray '>' at top level can't happen (only close==1 stops on it)
        warnings.append('trailing text')
    return norm_tree(tree), warnings


def entity(name):
    n = name.strip()
    named = {'lt': '<', 'gt': '>', 'amp': '&', 'quot': '"', 'apos': "'", 'sol': '/', 'verbar': '|',
             'lchevron': '\u00ab', 'rchevron': '\u00bb'}
    if n in named:
        return named[n]
    if re.fullmatch(r'0[xX][0-9a-fA-F]+', n):
        return chr(int(n, 16))
    if re.fullmatch(r'0[0-7]+', n):
        return chr(int(n, 8))
    if re.fullmatch(r'\d+', n):
        return chr(int(n))
    if n in html.entities.name2codepoint:
        return chr(html.entities.name2codepoint[n])
    raise ValueError('unknown E<%s>' % n)


def norm_tree(nodes):
    """Resolve E<> into text, drop X<>/Z<>, merge adjacent strings."""
    out = []
    for n in nodes:
        if isinstance(n, tuple):
            letter, kids = n
            if letter == 'E':
                n = entity(plain(kids))
            elif letter in 'XZ':
                continue
            else:
                n = (letter, norm_tree(kids))
        if isinstance(n, str):
            if not n:
                continue
            if out and isinstance(out[-1], str):
                out[-1] += n
                continue
        out.append(n)
    return out


def plain(nodes, ctx=None):
    """Plain text of a code tree (all codes resolved, no Markdown)."""
    out = []
    for n in nodes:
        if isinstance(n, str):
            out.append(n)
        elif n[0] == 'E':
            out.append(entity(plain(n[1])))
        elif n[0] in 'XZ':
            pass
        elif n[0] == 'L':
            out.append(render_link(n[1], ctx, as_md=False))
        else:
            out.append(plain(n[1], ctx))
    return ''.join(out)


# ---------------------------------------------------------------- Markdown rendering of inline text
def code_span(s):
    s = ' '.join(s.split())
    if not s:
        return ''
    runs = [len(r) for r in re.findall(r'`+', s)]
    if not runs:
        return '`' + s + '`'
    d = '`' * (max(runs) + 1)
    return d + ' ' + s + ' ' + d


# a token that Markdown could read as HTML, an autolink/e-mail, an entity, or as _emphasis_ delimiters
# (an underscore at the start or end of a word) goes into a code span: its characters stay exactly
# as they are, where a backslash escape would split the \w+ word (`\_` is not a word character).
NEEDS_CODE = re.compile(r'<[A-Za-z/!?$]|<[^<>\s]*@|&[#\w]+;|(?<!\w)_|_(?!\w)')
MD_ESCAPE = re.compile(r'([\\`*\[\]])')


def escape_prose(s):
    parts = re.split(r'(\s+)', s)
    out = []
    for p in parts:
        if not p or p.isspace():
            out.append(p)
        elif NEEDS_CODE.search(p):
            out.append(code_span(p))
        else:
            out.append(MD_ESCAPE.sub(r'\\\1', p))
    return ''.join(out)


def wrap(delim, inner):
    core = inner.strip()
    if not core:
        return inner
    lead = inner[:len(inner) - len(inner.lstrip())]
    trail = inner[len(inner.rstrip()):]
    return lead + delim + core + delim + trail


def md(nodes, ctx):
    out = []
    for n in nodes:
        if isinstance(n, str):
            out.append(escape_prose(n))
            continue
        letter, kids = n
        if letter == 'B':
            out.append(wrap('**', md(kids, ctx)))
        elif letter == 'I':
            out.append(wrap('*', md(kids, ctx)))
        elif letter in 'CF':
            out.append(code_span(plain(kids, ctx)))
        elif letter == 'L':
            out.append(render_link(kids, ctx, as_md=True))
        elif letter == 'S':
            out.append(md(kids, ctx))
        else:                                        # unknown code: keep its text
            ctx['log']['unknown_code_' + letter] += 1
            out.append(md(kids, ctx))
    return ''.join(out)


def split_nodes(nodes, ch):
    """Split a code tree at the first `ch` in a top-level string: (left, right) or (nodes, None)."""
    for k, n in enumerate(nodes):
        if isinstance(n, str) and ch in n:
            a, b = n.split(ch, 1)
            return nodes[:k] + ([a] if a else []), ([b] if b else []) + nodes[k + 1:]
    return nodes, None


def strip_nodes(nodes):
    nodes = list(nodes)
    if nodes and isinstance(nodes[0], str):
        nodes[0] = nodes[0].lstrip()
    if nodes and isinstance(nodes[-1], str):
        nodes[-1] = nodes[-1].rstrip()
    return [n for n in nodes if n != '']


def unquote_nodes(nodes):
    nodes = strip_nodes(nodes)
    if (nodes and isinstance(nodes[0], str) and isinstance(nodes[-1], str) and nodes[0].startswith('"')
            and nodes[-1].endswith('"') and (len(nodes) > 1 or len(nodes[0]) >= 2)):
        nodes = list(nodes)
        nodes[0] = nodes[0][1:]
        nodes[-1] = nodes[-1][:-1]
        nodes = [n for n in nodes if n != '']
    return nodes


def norm_q(s):
    return ' '.join(re.findall(r'\w+', s.lower()))


def render_link(kids, ctx, as_md):
    """L<...> per perlpodspec: L<text|target> -> text; L<name> -> name; L<name/"sec"> -> "sec" in name;
    L</"sec"> -> "sec"; L<url> -> the url. A section that is a FAQ question -> the page name only."""
    log = ctx['log'] if ctx else defaultdict(int)
    render = (lambda ns: md(ns, ctx)) if as_md else (lambda ns: plain(ns, ctx))
    text, target = split_nodes(kids, '|')
    if target is None:
        text, target = None, kids
    target_s = ' '.join(plain(target, ctx).split())
    if re.match(r'^[a-zA-Z][\w+.-]*:[^:\s]\S*$', target_s) and not re.match(r'^\w+::', target_s):  # URL
        if text is not None:
            return render(strip_nodes(text))
        if not as_md:
            return target_s
        if re.match(r'^(https?|ftp)://', target_s) and not re.search(r'[<>\s]', target_s):
            return '<' + target_s + '>'
        return code_span(target_s)
    name, sec = split_nodes(target, '/')
    if sec is None and (target_s.startswith('"') or ' ' in target_s):   # old style L<"sec"> / L<sec words>
        name, sec = [], target
    name_s = ' '.join(plain(name, ctx).split())
    sec = unquote_nodes(sec) if sec is not None else None
    page = name_s or (ctx['page'] if ctx else '')
    is_question = sec is not None and norm_q(plain(sec, ctx)) in QUESTIONS_NORM
    if text is not None:
        t = strip_nodes(text)
        if norm_q(plain(t, ctx)) in QUESTIONS_NORM:
            log['link_texts_neutralized'] += 1
            return render([page])
        return render(t)
    if is_question:
        log['question_links_neutralized'] += 1
        return render([page])
    if sec is None:
        return render([name_s])
    s = render(sec)
    q = '"%s"' % s
    return '%s in %s' % (q, render([name_s])) if name_s else q


# ---------------------------------------------------------------- POD -> Markdown
def escape_start(s):
    """Escape what Markdown would read as block syntax at the start of a line."""
    if re.match(r'^(#|>|[-+*](\s|$)|=+\s*$)', s):
        return '\\' + s
    m = re.match(r'^(\d+)\.(\s|$)', s)
    if m:
        return m.group(1) + '\\.' + s[m.end(1) + 1:]
    if re.fullmatch(r'[-*_ ]{3,}', s):
        return '\\' + s
    return s


# not inside L<page/"sec">, L<"sec"> or L<text|...> (render_link handles those)
QUOTED = re.compile(r'(?:(L<perlfaq\d>|perlfaq\d)\s*[:,]\s*)?(?<![/<|])"([^"]{8,}?)"')


def neutralize_quoted_questions(text, ctx):
    """A double-quoted FAQ question in running text -> the page it is in (only the page when a
    page link already precedes it: 'L<perlfaq4>: "How do I ...?"' -> 'L<perlfaq4>')."""
    def repl(m):
        q = QUESTIONS_NORM.get(norm_q(re.sub(r'[A-Z]<+\s*|\s*>+', ' ', m.group(2))))
        if q is None:
            return m.group(0)
        ctx['log']['quoted_questions_neutralized'] += 1
        return m.group(1) if m.group(1) else 'L<%s>' % q
    return QUOTED.sub(repl, text)


def convert(page, pod_text, log):
    """POD -> (markdown, questions) where questions = [(question plain text, answer start, end)]."""
    ctx = {'page': page, 'log': log, 'warnings': []}
    blocks = []           # [kind, markdown, extra]
    lists = []            # stack of list contexts
    pending_item = None   # marker ('- ' or 'N. ') waiting for its text (=item * / =item N.)
    skip_region = []      # =begin stack of formats we do not render
    verb_buf = []

    def inline(text):
        text = neutralize_quoted_questions(' '.join(text.split()), ctx)
        tree, w = parse_codes(text)
        ctx['warnings'] += ['%s: %s' % (page, x) for x in w]
        return tree

    def flush_verbatim():
        if not verb_buf:
            return
        while verb_buf and verb_buf[-1] == '':
            verb_buf.pop()
        lines = [l.expandtabs(8).rstrip() for l in verb_buf]
        verb_buf.clear()
        ind = min(len(l) - len(l.lstrip()) for l in lines if l)
        lines = [l[ind:] for l in lines]
        runs = [len(r) for l in lines for r in re.findall(r'^(`{3,}|~{3,})', l)]
        fence = '`' * max([3] + [r + 1 for r in runs])
        blocks.append(['code', fence + '\n' + '\n'.join(lines) + '\n' + fence, None])

    for kind, text in pod_paragraphs(pod_text):
        if skip_region:
            if kind == 'command' and re.match(r'^=begin\s', text):
                skip_region.append(text.split()[1])
            elif kind == 'command' and re.match(r'^=end\b', text):
                skip_region.pop()
            continue
        if kind == 'blank':
            if verb_buf:
                verb_buf.append('')
            continue
        if kind == 'verbatim':
            if pending_item:
                pending_item = None       # an item with no text of its own
            verb_buf.extend(text.split('\n'))
            continue
        flush_verbatim()
        if kind == 'ordinary':
            m = md(inline(text), ctx)
            if pending_item:
                blocks.append(['item', pending_item + escape_start(m), None])
                pending_item = None
            else:
                blocks.append(['para', escape_start(m), None])
            continue
        # command
        cm = re.match(r'^(=\w+)\s*(.*)$', text, re.S)
        cmd, arg = cm.group(1), cm.group(2).strip()
        pending_item = None
        if re.fullmatch(r'=head[1-6]', cmd):
            level = int(cmd[5])
            tree = inline(arg)
            heading_plain = ' '.join(plain(tree, ctx).split())
            h = escape_prose_heading(md(tree, ctx))
            blocks.append(['heading', '#' * min(level, 6) + ' ' + h, (level, heading_plain)])
        elif cmd == '=over':
            lists.append({'n': 0})
        elif cmd == '=back':
            if lists:
                lists.pop()
            else:
                ctx['warnings'].append('%s: =back without =over' % page)
        elif cmd == '=item':
            if not lists:
                ctx['warnings'].append('%s: =item outside =over' % page)
                lists.append({'n': 0})
            lists[-1]['n'] += 1
            m = re.match(r'^(\*|\d+\.?)(?:\s+|$)(.*)$', arg, re.S)
            if m:
                marker = '- ' if m.group(1) == '*' else '%d. ' % int(m.group(1).rstrip('.'))
                if m.group(2).strip():
                    blocks.append(['item', marker + escape_start(md(inline(m.group(2)), ctx)), None])
                else:
                    pending_item = marker
            elif arg:
                blocks.append(['item', '- ' + escape_start(md(inline(arg), ctx)), None])
        elif cmd == '=begin':
            fmt = arg.split()[0] if arg else ''
            if not fmt.startswith(':'):
                skip_region.append(fmt)
                log['begin_regions_skipped'] += 1
        elif cmd == '=end':
            pass                                     # end of a ':format' region we rendered
        elif cmd == '=for':
            fmt, _, rest = arg.partition(' ')
            if fmt.startswith(':') and rest.strip():
                blocks.append(['para', escape_start(md(inline(rest), ctx)), None])
            else:
                log['for_paragraphs_skipped'] += 1
        elif cmd in ('=pod', '=cut', '=encoding'):
            pass
        else:
            ctx['warnings'].append('%s: unknown command %s' % (page, cmd))
    flush_verbatim()

    # question headings (perlfaq pages only) are left out; answers = text up to the next head1/head2
    is_faq = page in FAQ_PAGES
    out, pos, questions, open_q = [], 0, [], None
    header = NOTICE.format(page=page)
    out.append(header); pos = len(header)

    def emit(s):
        nonlocal pos
        if not s.startswith('`' * 3):       # X<> leaves double / trailing spaces (code blocks keep theirs)
            s = re.sub(r'(?<=\S) {2,}', ' ', s).strip()
        out.append('\n\n' + s); pos += 2 + len(s)

    for kind, mdtext, extra in blocks:
        if kind == 'heading' and extra[0] <= 2 and open_q is not None:
            questions.append((open_q[0], open_q[1], pos)); open_q = None
        if kind == 'heading' and is_faq and extra[0] == 2 and is_question_heading(extra[1]):
            log['question_headings_removed'] += 1
            open_q = (extra[1], pos)
            continue
        emit(mdtext)
    if open_q is not None:
        questions.append((open_q[0], open_q[1], pos))
    text = ''.join(out) + '\n'
    return text, questions, ctx['warnings']


def escape_prose_heading(h):
    h = escape_start(h)
    return re.sub(r'#(\s*)$', r'\\#\1', h)


def is_question_heading(t):
    return '?' in t or bool(QUESTION_START.match(t))


NOTICE = ('<!-- Converted from POD to Markdown by examples/eval/perl-faq/build.py on ' + MODIFIED_DATE + ' from '
          '{page}.pod of the Debian package perl-doc (see README.md there). Changes: POD markup rewritten '
          'as Markdown; index entries dropped; in perlfaq pages the question headings were removed; '
          'links to and quotations of FAQ questions were replaced by the page name. Original copyright '
          'and licence: this document\'s own copyright section, or Perl\'s (GPL-1+ or Artistic). -->')


# ---------------------------------------------------------------- checks
def words(text):
    return re.findall(r'\w+', text.lower())


def joined(ws):
    return ' ' + ' '.join(ws) + ' '


def contains_run(hay_joined, answer_words):
    m = min(10, len(answer_words))
    return m > 0 and any(joined(answer_words[i:i + m]) in hay_joined for i in range(len(answer_words) - m + 1))


QUESTIONS_NORM = {}   # norm_q(question) -> page, for every =head2 question of perlfaq1..perlfaq9


def strip_code_blocks(md_text):
    """The Markdown without fenced code blocks (verbatim POD may show POD markup on purpose)."""
    out, fence = [], None
    for line in md_text.split('\n'):
        if fence is None and re.match(r'^`{3,}$', line):
            fence = line
        elif fence is not None and line == fence:
            fence = None
        elif fence is None:
            out.append(line)
    return '\n'.join(out)


def main():
    files, deb_sha, version, changelog = load_source(SRC)
    pods = {os.path.basename(p)[:-4]: decode_pod(b) for p, b in files.items() if p.startswith(POD_DIR + '/')}

    # every FAQ question (all nine pages): links to them and quotations of them are neutralized
    for p in sorted(x for x in pods if re.fullmatch(r'perlfaq\d', x)):
        for m in re.finditer(r'^=head2[ \t]+(.*(?:\n(?!\s*\n).*)*)', pods[p], re.M):
            t = ' '.join(plain(parse_codes(' '.join(m.group(1).split()))[0]).split())
            if is_question_heading(t):
                QUESTIONS_NORM.setdefault(norm_q(t), p)

    log = defaultdict(int)
    warnings = []
    converted = {}
    for p in FAQ_PAGES:
        converted[p] = convert(p, pods[p], log)

    # distractors: pages the FAQ subset links to, most-linked first
    links = defaultdict(int)
    for p in FAQ_PAGES:
        flat = ' '.join(pods[p].split())
        for m in re.finditer(r'L<+\s*(?:[^|>]*\|\s*)?([\w:]+)', flat):
            links[m.group(1)] += 1
    cands = sorted((n for n in links if n in pods and not NEVER_DISTRACTOR.match(n)), key=lambda n: (-links[n], n))
    total = sum(len(words(converted[p][0])) for p in FAQ_PAGES)
    distractor_log = []
    for n in cands:
        c = convert(n, pods[n], defaultdict(int))
        w = len(words(c[0]))
        if total + w <= WORD_BUDGET:
            converted[n] = convert(n, pods[n], log)
            total += w
            distractor_log.append((n, links[n], w, 'taken'))
        else:
            distractor_log.append((n, links[n], w, 'skipped (over budget)'))
    pages = sorted(converted)
    for p in pages:
        warnings += converted[p][2]
    text = {p + '.md': converted[p][0] for p in pages}

    # queries and answers
    qrels, dropped_short, all_q = [], [], []
    for p in FAQ_PAGES:
        md_text = converted[p][0]
        for q, a, b in converted[p][1]:
            ans = md_text[a:b].strip()
            all_q.append(q)
            if len(words(ans)) < MIN_ANSWER_WORDS:
                dropped_short.append('%s: %s' % (p, q)); continue
            qrels.append({'question': q, 'doc_id': p + '.md', 'answer': ans})

    # verification
    corp_j = {d: joined(words(t)) for d, t in text.items()}
    corp_norm = {d: ' '.join(t.lower().split()) for d, t in text.items()}
    ok, unfindable = [], []
    for r in qrels:
        (ok if (r['answer'] in text[r['doc_id']] and contains_run(corp_j[r['doc_id']], words(r['answer'])))
         else unfindable).append(r)

    def leaks_of(qtext):
        qs_, qj = ' '.join(qtext.lower().split()), joined(words(qtext))
        s = [d for d in sorted(text) if qs_ in corp_norm[d]]
        w = [d for d in sorted(text) if qj in corp_j[d]]
        return s, w

    dropped_leak = []
    order, groups = [], defaultdict(list)
    for r in ok:
        if r['question'] not in groups:
            order.append(r['question'])
        groups[r['question']].append(r)
    kept = []
    for t in order:
        s, w = leaks_of(t)
        if s or w:      # only short generic questions are expected here (see README)
            dropped_leak.append('%s (%d words; found in %s)' % (t, len(words(t)), ', '.join(sorted(set(s + w)))))
        else:
            kept.append(t)
    queries, rows = [], []
    for i, t in enumerate(kept, 1):
        queries.append({'_id': f'q{i}', 'text': t})
        rows += [{'query_id': f'q{i}', 'doc_id': r['doc_id'], 'answer': r['answer'], 'score': 1} for r in groups[t]]
    leaks = {'string': [], 'words': []}
    for q in queries:
        s, w = leaks_of(q['text'])
        leaks['string'] += [[q['_id'], q['text'], d] for d in s]
        leaks['words'] += [[q['_id'], q['text'], d] for d in w]
    leftover = {d: sorted(set(re.findall(r'\b[BCEFILSXZ]<|^=(?:head\d|item|over|back|pod|cut|begin|end|for)\b',
                                         strip_code_blocks(t), re.M))) for d, t in text.items()}
    leftover = {d: v for d, v in leftover.items() if v}

    # write
    cdir = os.path.join(OUT, 'corpus')
    if os.path.isdir(cdir):
        shutil.rmtree(cdir)
    os.makedirs(cdir)
    for d in sorted(text):
        with open(os.path.join(cdir, d), 'w', encoding='utf-8', newline='\n') as f:
            f.write(text[d])
    with open(os.path.join(OUT, 'queries.jsonl'), 'w', encoding='utf-8', newline='\n') as f:
        for q in queries:
            f.write(json.dumps(q, ensure_ascii=False) + '\n')
    with open(os.path.join(OUT, 'qrels.jsonl'), 'w', encoding='utf-8', newline='\n') as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + '\n')
    h = hashlib.sha256()
    for d in sorted(text):
        h.update(d.encode()); h.update(text[d].encode())
    for fn in ('queries.jsonl', 'qrels.jsonl'):
        h.update(open(os.path.join(OUT, fn), 'rb').read())
    aw = sorted(len(words(r['answer'])) for r in rows)
    st = {
        'deb_sha256': deb_sha, 'version': version, 'changelog': changelog,
        'corpus_docs': len(text), 'faq_docs': [p + '.md' for p in FAQ_PAGES],
        'distractors': distractor_log,
        'corpus_words': sum(len(words(t)) for t in text.values()),
        'doc_words': {d: len(words(t)) for d, t in sorted(text.items())},
        'question_headings_found': len(all_q),
        'distinct_questions': len(set(all_q)),
        'dropped_answer_lt_8_words': dropped_short,
        'dropped_answer_not_findable': ['%s: %s' % (r['doc_id'], r['question']) for r in unfindable],
        'dropped_query_leak': dropped_leak,
        'queries': len(queries), 'qrels': len(rows),
        'multi_answer_queries': [t for t in kept if len(groups[t]) > 1],
        'answer_words_min_median_max': [aw[0], aw[len(aw) // 2], aw[-1]],
        'edits': dict(sorted(log.items())), 'leaks': leaks, 'leftover_pod': leftover,
        'converter_warnings': warnings,
        'content_sha256': h.hexdigest(),
    }
    write_readme(st)
    print(json.dumps({k: v for k, v in st.items() if k != 'doc_words'}, ensure_ascii=False, indent=1))


def write_readme(st):
    def bullet(items, ind='  '):
        return '\n'.join(f'{ind}- {x}' for x in items) if items else f'{ind}- (none)'
    leak_total = sum(len(v) for v in st['leaks'].values())
    taken = [d for d in st['distractors'] if d[3] == 'taken']
    skipped = [d for d in st['distractors'] if d[3] != 'taken']
    dw = st['doc_words']
    txt = f"""# perl-faq: Perl FAQ questions over Perl's own documentation (Markdown)

Retrieval evaluation set. Queries are the question headings of the Perl FAQ, parts 3-6
(perlfaq3 Programming Tools, perlfaq4 Data Manipulation, perlfaq5 Files and Formats,
perlfaq6 Regular Expressions). The corpus is those four FAQ pages plus the Perl manuals they link to
most, all converted from POD to Markdown by `build.py`.
Relevance is structural (derived from the document structure), not human-judged.

## Provenance
- Source: Debian package `perl-doc`, version `{st['version']}` (Debian 12 bookworm;
  changelog line `{st['changelog']}`). Fetched with `apt-get download perl-doc`.
  Deb sha256: `{st['deb_sha256'] or 'n/a (built from an extracted tree)'}`.
- Files: `/{POD_DIR}/<page>.pod` of that package, one `corpus/<page>.md` per page used.
- Built by `build.py` in this directory (deterministic; Python standard library only, it reads the
  .deb itself): `python build.py perl-doc_{st['version']}_all.deb`.
  Content sha256 over corpus + queries + qrels: `{st['content_sha256']}`.

## Licence
- The perlfaq pages end with (perlfaq3-6, AUTHOR AND COPYRIGHT):

  > Copyright (c) 1997-2010 Tom Christiansen, Nathan Torkington, and other authors as noted.
  > All rights reserved.
  >
  > This documentation is free; you can redistribute it and/or modify it under the same terms as
  > Perl itself.

  and say that all code examples in them are in the public domain. perlfaq.pod adds "This document
  is available under the same terms as Perl itself."
- The distractor manuals carry no licence of their own (or "the same terms as Perl itself");
  `/usr/share/doc/perl-doc/copyright` puts `pod/*` under Perl's `Files: *` stanza:
  "Perl is Copyright (C) 1987-2022 by Larry Wall and others. All rights reserved." License: GPL-1+ or
  Artistic.
- "The same terms as Perl itself" = the GNU GPL version 1 or later, or the Artistic License (the
  recipient's choice). Both allow distributing a modified copy: the Artistic License (clause 3) "provided
  that you insert a prominent notice in each changed file stating how and when you changed that file"
  and make the modifications freely available; the GPL v1 (clause 2a) likewise asks for "prominent
  notices stating that you changed the files and the date of any change", under the same licence.
  Verdict: this modified copy may be bundled. Each corpus file starts with an HTML comment saying what was
  changed, when ({MODIFIED_DATE}) and by which script, and that the original copyright and licence apply; the
  copyright sections of the documents are kept in the text. The modifications (this script) are freely
  available here. The corpus files stay under Perl's terms (they are bundled data, not part of the
  project's own Apache-2.0 code); the code examples in the perlfaq pages are public domain.

## Format
- `corpus/`: {st['corpus_docs']} Markdown files, {st['corpus_words']:,} words (`\\w+`, the files as written).
  Relative path = `doc_id` (for example `perlfaq4.md`).
- `queries.jsonl`: `{{"_id": "q1", "text": "..."}}`, {st['queries']} queries.
- `qrels.jsonl`: `{{"query_id", "doc_id", "answer", "score": 1}}`, {st['qrels']} rows.

## How it was built
1. POD -> Markdown (a converter in `build.py`, following perlpodspec):
   - `=head1`..`=head4` -> `#`..`####`; ordinary paragraphs -> one line each; verbatim (indented)
     paragraphs -> fenced code blocks (consecutive ones merged, common indentation removed, tabs
     expanded); `=over`/`=item`/`=back` -> `- ` or `N. ` list items. Lists are written flat: an
     item's further paragraphs and code blocks follow the item unindented (Python-Markdown does not
     support fenced code inside list items), and nested lists are not indented.
   - Formatting codes: `C<>` and `F<>` -> `` `code` ``; `B<>` -> `**bold**`; `I<>` -> `*italic*`;
     `L<text|target>` -> text, `L<name>` -> name, `L<name/"sec">` -> `"sec" in name`, `L<url>` -> `<url>`;
     `E<>` -> the character (`E<lt>` -> `<`, numeric and HTML names too); `S<>` -> its text; `X<>`
     and `Z<>` -> nothing. The `C<< ... >>` multi-angle form is handled.
   - `=pod`, `=cut`, `=encoding` produce nothing; `=begin`/`=end` regions and `=for` paragraphs
     for other formatters are skipped (here: {st['edits'].get('begin_regions_skipped', 0)} regions, {st['edits'].get('for_paragraphs_skipped', 0)} paragraphs).
   - Escaping: in running text `\\ ` * [ ]` are backslash-escaped; a word that Markdown could read
     as HTML (`<FH>`), an e-mail autolink, an entity, or underscore emphasis (`$_`, `__END__`) is
     put in a code span instead, so its `\\w+` words stay the same after rendering. Block syntax at
     the start of a paragraph (`#`, `>`, `- `, `1. `) is escaped.
2. Corpus:
   - FAQ pages (the query subset, so that the query count is 120-200): {', '.join(st['faq_docs'])}.
   - Distractors, by a rule: every page in pod/ that perlfaq3-6 link to with `L<>`, most links
     first (ties by name), each taken if the corpus stays within {WORD_BUDGET:,} words, else skipped.
     Never: perlfaq*.pod (other FAQ parts; perlfaq.pod lists every question) and perltoc.pod (it lists
     every question too). Taken ({len(taken)}):
{bullet(['%s (%d links, %s words)' % (n, k, format(w, ',')) for n, k, w, _ in taken], '     ')}
     Skipped, as the corpus would have gone over the budget when their turn came ({len(skipped)}):
{bullet(['%s (%d links, %s words)' % (n, k, format(w, ',')) for n, k, w, _ in skipped], '     ')}
   - Words per file: {', '.join('%s %s' % (d, format(w, ',')) for d, w in dw.items())}.
3. Questions: every `=head2` of perlfaq3-6 whose text contains `?` or starts with How / What / Why /
   Where / When / Which / Can / Does / Is / Should; {st['question_headings_found']} found
   ({st['distinct_questions']} distinct). Query = the heading text with formatting codes resolved
   to plain text.
4. Query leakage removed while converting (all other text unchanged):
   - question headings are not written ({st['edits'].get('question_headings_removed', 0)});
   - `L<>` links to a FAQ question (of any of perlfaq1-9), e.g. `L<perlfaq4/"How do I ...?">` or
     `L</"How do I ...?">`, are written as the page name only, e.g. `perlfaq4`
     ({st['edits'].get('question_links_neutralized', 0) + st['edits'].get('link_texts_neutralized', 0)});
   - a FAQ question quoted in running text is replaced by its page name, or dropped after a page
     link (`see L<perlfaq4>: "How do I sort a hash ...?"` -> `see perlfaq4`)
     ({st['edits'].get('quoted_questions_neutralized', 0)});
   - perlfaq.pod and perltoc.pod, which list the questions, are not in the corpus.
5. Answer = the Markdown text of the question's section as it stands in the corpus file: from where
   the heading was to the next `#`/`##` heading (the FAQ pages have no deeper headings).
   - Questions whose answer has fewer than {MIN_ANSWER_WORDS} words were dropped:
{bullet(st['dropped_answer_lt_8_words'], '     ')}
   - Identical question texts are merged into one query with one qrel per answer:
{bullet(st['multi_answer_queries'], '     ')}
   - Queries dropped because their text still occurs in the corpus (short generic questions whose
     words occur in ordinary prose; no prose was edited for them):
{bullet(st['dropped_query_leak'], '     ')}
6. Answer words (min / median / max): {st['answer_words_min_median_max']}.

## Relevance rule (used by the project's scorer)
A retrieved chunk is relevant to a query if both hold:
- its `doc_id` is in the query's qrels;
- the chunk's word sequence contains a run of `min(10, n)` consecutive words of that qrel's answer.

Here words = `re.findall(r"\\w+", text.lower())` and n is the answer's word count.

## Verification (run by build.py)
- Answer findability: each answer is checked to be a substring of its corpus file and, with the rule
  above, against the file's words. Not findable (dropped): {len(st['dropped_answer_not_findable'])}.{(' ' + '; '.join(st['dropped_answer_not_findable'])) if st['dropped_answer_not_findable'] else ''}
- Query leakage in the written corpus: {leak_total} hits. Two checks, each over all {st['corpus_docs']} corpus files:
  - the normalized query string (lower case, whitespace collapsed) in the file's text;
  - the query's `\\w+` word sequence as a contiguous run of the file's words.
{bullet(['%s %s: %s in %s' % (k, x[0], x[1], x[2]) for k, v in st['leaks'].items() for x in v]) if leak_total else ''}
- Leftover POD in the Markdown (`B< C< E< F< I< L< S< X< Z<` or a `=command` line): {sum(len(v) for v in st['leftover_pod'].values())}{(' ' + json.dumps(st['leftover_pod'])) if st['leftover_pod'] else ''}.
  Converter warnings: {len(st['converter_warnings'])}{(' ' + '; '.join(st['converter_warnings'])) if st['converter_warnings'] else ''}.
- Rendered text (a separate check when the set was made, not run by build.py as it needs
  Python-Markdown): the corpus rendered with Python-Markdown 3.11 and the extensions `tables` and
  `fenced_code` (what `unstructured`'s `partition_md` uses) kept every answer findable by the rule
  above, on average 99.9% of each answer's 10-word runs (the lowest 90.6%; 3 answers under 100%),
  and no query occurs in the rendered text either. The source and rendered words differ only where
  Markdown drops ordered-list numbers and where POD emphasises part of a word (`B<r>eturn`).

## Caveats
- Answers are Markdown source. The scorer compares `\\w+` words, which ignore Markdown punctuation
  (`**`, backticks, `\\`); a parser that renders Markdown (the project's `.md` parser goes through
  Python-Markdown) drops a list item's number, so an answer's numbers in `1.` item markers are absent
  from rendered chunks. Answers are long enough (see 6.) that this does not decide relevance.
- Lists are flat (see 1.): nesting is lost, the text is not.
- Neutralized references read oddly in places ("First, see the answer to perlfaq4." inside perlfaq4):
  the page name stands where the question's title was.
- perlfaq3 has a URL in a verbatim block written as `L<http://www.perl.org/CGI_MetaFAQ.html>`; it is
  verbatim in the POD source too, so it stays as code.
- The FAQ answers often quote the same idioms as perlop / perlre / perlfunc; the largest linked manual,
  perlfunc, is left out by the word budget, so some answers' best external match is absent by design.
- Many FAQ answers are long (see 6.); passage-level retrieval is the interesting measure. Doc-level
  retrieval ranks only {st['corpus_docs']} documents, though perlop and perlre are close to perlfaq4 and perlfaq6.
"""
    with open(os.path.join(OUT, 'README.md'), 'w', encoding='utf-8') as f:
        f.write(txt)


if __name__ == '__main__':
    main()
