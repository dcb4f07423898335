"""The "At a glance: what ships today" summaries of the measurement docs cannot drift.

Each of docs/accuracy.md, liveness.md, performance.md and quality.md opens (after its title
and first paragraph) with a section "At a glance: what ships today": a table of the current
figures for the shipped defaults, each row with a link to the section below that holds the
command and the details. A summary is only honest while it repeats the measured text, so:

- every row of the glance table links to a heading that exists (in the same doc, or in the
  other doc it names);
- every number and every tree (commit) the glance gives appears again in the rest of the
  same doc, exactly as written there (``0.050%`` is not ``0.05%``): a re-measurement that
  changes a figure in the body and not in the glance, or a glance that rounds or invents a
  figure, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
MEASUREMENT_DOCS = ("accuracy.md", "liveness.md", "performance.md", "quality.md")
GLANCE_TITLE = "At a glance: what ships today"

_FENCE = re.compile(r"^```[\w-]*[^\n]*\n.*?^```[ \t]*$", re.S | re.M)
_HEADING = re.compile(r"^(#{1,6})[ \t]+(.+?)[ \t]*#*[ \t]*$", re.M)
_LINK = re.compile(r"\[[^\]]*\]\((?P<target>[^)\s]*)\)")
# A number as written: 0.050, 4.6e-5, 1e-3, 29.4; not the digits inside a name (s0001,
# dlib-resnet-v1, p95) or a commit. Thousands separators are dropped before matching.
_NUMBER = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?:e-?\d+)?(?!\w)")
# A short commit id: 7 to 40 hex digits with at least one digit and one letter.
_TREE = re.compile(r"(?<![\w/])(?=[0-9a-f]*[a-f])(?=[0-9a-f]*\d)[0-9a-f]{7,40}(?!\w)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def headings(text: str) -> list[tuple[int, str]]:
    """(level, title) of every heading outside code blocks, in order."""
    prose = _FENCE.sub("", text)
    return [(len(m.group(1)), m.group(2)) for m in _HEADING.finditer(prose)]


def anchors(text: str) -> set[str]:
    """Every heading's anchor, with GitHub's -1, -2 ... for repeated titles."""
    seen: dict[str, int] = {}
    out = set()
    for _, title in headings(text):
        base = slug(title)
        n = seen.get(base, 0)
        seen[base] = n + 1
        out.add(base if n == 0 else f"{base}-{n}")
    return out


def split_glance(text: str) -> tuple[str, str]:
    """(the glance section, the rest of the doc). The glance runs to the next heading of
    level 1 or 2."""
    start = re.search(rf"^## {re.escape(GLANCE_TITLE)}[ \t]*$", text, re.M)
    if start is None:
        raise AssertionError(f'no "## {GLANCE_TITLE}" section')
    after = start.end()
    nxt = re.search(r"^#{1,2} ", _blank_fences(text[after:]), re.M)
    end = after + nxt.start() if nxt else len(text)
    return text[start.start() : end], text[: start.start()] + text[end:]


def _blank_fences(text: str) -> str:
    """The text with code blocks' lines emptied (same length), so a '# comment' in a bash
    block is not read as a heading."""
    return _FENCE.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def _plain(text: str) -> str:
    """Link targets dropped (an anchor's digits are no figure), thousands separators gone."""
    text = _LINK.sub(lambda m: m.group(0)[: m.group(0).rindex("](")], text)
    return re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)


def numbers(text: str) -> set[str]:
    return set(_NUMBER.findall(_plain(text)))


def trees(text: str) -> set[str]:
    return set(_TREE.findall(_plain(text)))


def table_rows(section: str) -> list[str]:
    """The data rows of the section's tables (not the header or its separator)."""
    rows: list[str] = []
    lines = section.splitlines()
    for i, line in enumerate(lines):
        if not line.startswith("|") or re.fullmatch(r"\|(\s*:?-+:?\s*\|)+\s*", line):
            continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if re.fullmatch(r"\|(\s*:?-+:?\s*\|)+\s*", nxt):
            continue  # the header row
        rows.append(line)
    return rows


def problems(doc: str, text: str, known: dict[str, str]) -> list[str]:
    """Everything wrong with one doc's glance; ``known`` maps other docs' names to their text."""
    glance, body = split_glance(text)
    found: list[str] = []
    first_h2 = next((title for level, title in headings(text) if level == 2), None)
    if first_h2 != GLANCE_TITLE:
        found.append(f"{doc}: the glance is not the first section (first: {first_h2!r})")
    rows = table_rows(glance)
    if not rows:
        found.append(f"{doc}: the glance has no table rows")
    for row in rows:
        targets = [m.group("target") for m in _LINK.finditer(row)]
        if not targets:
            found.append(f"{doc}: a glance row links to no section: {row[:80]}")
        for target in targets:
            name, _, anchor = target.partition("#")
            if name and name not in known:
                found.append(f"{doc}: a glance row links to {name}, not a doc here")
                continue
            if anchor and anchor not in anchors(known[name] if name else text):
                found.append(f"{doc}: no heading for the glance's link {target!r}")
    for figure in sorted(numbers(glance) - numbers(body)):
        found.append(f"{doc}: the glance's {figure} appears nowhere else in the doc")
    body_plain = _plain(body)
    for tree in sorted(trees(glance)):
        if tree not in body_plain:
            found.append(f"{doc}: the glance's tree {tree} appears nowhere else in the doc")
    return found


def _all_docs() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8") for p in DOCS.glob("*.md")}


@pytest.mark.parametrize("doc", MEASUREMENT_DOCS)
def test_the_glance_repeats_the_measured_text_and_links_to_it(doc: str) -> None:
    known = _all_docs()
    assert problems(doc, known[doc], known) == []


def test_the_check_is_not_blind() -> None:
    """A drifted figure, an invented tree, a broken link and a row without one are caught;
    a heading inside a code block is no anchor and does not end the glance."""
    good = (
        "# Doc\n\nFirst paragraph.\n\n## At a glance: what ships today\n\n"
        "| case | figure | details |\n|---|---|---|\n"
        "| stills | FNMR 21.4% (33 of 154), 4,032 pairs, tree 9c30923 "
        "| [Stills](#still-photos-faces) |\n"
        "\n```bash\n# not a heading\n```\n\n"
        "## Still photos: `faces`\n\nMeasured on tree 9c30923: FNMR 21.4% (33 of 154), 4032"
        " pairs.\n"
    )
    assert problems("good.md", good, {"good.md": good}) == []
    drifted = good.replace("FNMR 21.4% (33", "FNMR 21.5% (33", 1)
    assert any("21.5" in p for p in problems("d.md", drifted, {}))
    rounded = good.replace("4,032 pairs", "4,000 pairs", 1)
    assert any("4000" in p for p in problems("d.md", rounded, {}))
    other_tree = good.replace("tree 9c30923 |", "tree 9c30924 |", 1)
    assert any("9c30924" in p for p in problems("d.md", other_tree, {}))
    broken = good.replace("(#still-photos-faces)", "(#still-photos)", 1)
    assert any("#still-photos" in p for p in problems("d.md", broken, {}))
    unlinked = good.replace("[Stills](#still-photos-faces)", "below", 1)
    assert any("links to no section" in p for p in problems("d.md", unlinked, {}))
    elsewhere = good.replace("(#still-photos-faces)", "(other.md#still-photos-faces)", 1)
    assert any("other.md" in p for p in problems("d.md", elsewhere, {}))
    assert problems("d.md", elsewhere, {"other.md": "## Still photos: faces\n"}) == []
    late = good.replace("## At a glance", "## Intro\n\ntext\n\n## At a glance", 1)
    assert any("not the first section" in p for p in problems("d.md", late, {}))
