#!/usr/bin/python3
"""links.py: every relative link in the project's Markdown must resolve.

Checks [text](target), ![alt](target) and <img src="target"> in the given files (default:
README.md and docs/*.md), outside fenced code blocks and inline code. A target must name an
existing file or folder, relative to the linking file; a #anchor must match a heading of the
target Markdown file (GitHub's rule: lower case, punctuation dropped, spaces to hyphens, -1, -2
for repeats), and a #Lnn anchor on a source file a line that exists. Web links (http:, https:,
mailto:) are not fetched. Exit 0 when all resolve, 1 otherwise (each broken link is printed as
FILE:LINE: target: why). Usage: tests/links.py [FILE.md ...]
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LINK = re.compile(r'!?\[(?:[^\]\\]|\\.)*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)')
IMG = re.compile(r'<img\s[^>]*src="([^"]+)"', re.I)
HEADING = re.compile(r'^(#{1,6})\s+(.*?)\s*#*\s*$')


def slug(text):
    """GitHub's anchor for a heading."""
    text = re.sub(r'`([^`]*)`', r'\1', text)                 # inline code keeps its text
    text = re.sub(r'\[([^\]]*)\]\([^)]*\)', r'\1', text)     # links keep their text
    text = re.sub(r'<[^>]+>', '', text).strip().lower()
    text = ''.join(c for c in text if c.isalnum() or c in ' -_')
    return text.replace(' ', '-')


def prose_lines(path):
    """(line number, text) of lines outside fenced code blocks, inline code removed."""
    fence = None
    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            stripped = line.lstrip()
            if fence:
                if stripped.startswith(fence):
                    fence = None
                continue
            if stripped.startswith('```') or stripped.startswith('~~~'):
                fence = stripped[:3]
                continue
            yield n, re.sub(r'`[^`]*`', '', line)


def anchors(path):
    seen, out = {}, set()
    for _, line in prose_lines(path):
        m = HEADING.match(line)
        if not m:
            continue
        s = slug(m.group(2))
        k = seen.get(s, 0)
        seen[s] = k + 1
        out.add(s if k == 0 else '%s-%d' % (s, k))
    return out


def check(path):
    errors = []
    base = os.path.dirname(path)
    for n, line in prose_lines(path):
        for target in LINK.findall(line) + IMG.findall(line):
            if re.match(r'^[a-z][a-z0-9+.-]*:', target, re.I):
                continue  # http:, https:, mailto: ...
            file_part, _, anchor = target.partition('#')
            dest = os.path.normpath(os.path.join(base, file_part)) if file_part else path
            where = '%s:%d: %s' % (os.path.relpath(path, ROOT), n, target)
            if not os.path.exists(dest):
                errors.append('%s: no such file %s' % (where, os.path.relpath(dest, ROOT)))
                continue
            if not anchor:
                continue
            if dest.endswith('.md'):
                if anchor not in anchors(dest):
                    errors.append('%s: no heading #%s in %s' % (where, anchor, os.path.relpath(dest, ROOT)))
            elif re.match(r'^L\d+(-L\d+)?$', anchor) and os.path.isfile(dest):
                with open(dest, encoding='utf-8', errors='replace') as f:
                    lines = sum(1 for _ in f)
                last = int(anchor.split('-')[-1].lstrip('L'))
                if last > lines:
                    errors.append('%s: %s has %d lines' % (where, os.path.relpath(dest, ROOT), lines))
    return errors


def main(argv):
    files = argv[1:] or [os.path.join(ROOT, 'README.md')] + sorted(glob.glob(os.path.join(ROOT, 'docs', '*.md')))
    errors, links = [], 0
    for path in files:
        path = os.path.abspath(path)
        if not os.path.isfile(path):
            errors.append('%s: no such file' % path)
            continue
        errors += check(path)
        links += sum(len(LINK.findall(l)) + len(IMG.findall(l)) for _, l in prose_lines(path))
    for e in errors:
        print(e)
    print('links: %d files, %d links, %d broken' % (len(files), links, len(errors)))
    return 1 if errors else 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
