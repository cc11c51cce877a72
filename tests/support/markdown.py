"""Reading the repository's Markdown as GitHub renders it: its headings and their anchors, its
links, its code (fenced blocks and inline spans) apart from its prose, and its sections."""

import re
from dataclasses import dataclass
from pathlib import Path

from local.emulator.template import ROOT

# Folders that hold no document of ours: virtual environments, builds, downloads, state.
NOT_DOCUMENTS = {"node_modules"}


def documents(root: Path = ROOT) -> list[Path]:
    """Every Markdown file of the repository (none under a dot-directory: venvs, .aws-sam, .local)."""
    return sorted(
        path
        for path in root.rglob("*.md")
        if not any(part.startswith(".") or part in NOT_DOCUMENTS for part in path.relative_to(root).parts)
    )


def name(path: Path) -> str:
    return str(path.relative_to(ROOT))


FENCE = re.compile(r"^(\s*)(```+|~~~+)\s*([^`\s]*)")


@dataclass(frozen=True)
class Block:
    """A fenced code block: its info string (`bash`, `mermaid` ...), first line number, lines."""

    info: str
    line: int
    lines: list[str]


def split(markdown: str) -> tuple[list[tuple[int, str]], list[Block]]:
    """(line number, text) of every line outside fenced blocks, and the fenced blocks."""
    prose: list[tuple[int, str]] = []
    blocks: list[Block] = []
    lines = markdown.splitlines()
    index = 0
    while index < len(lines):
        fence = FENCE.match(lines[index])
        if fence is None:
            prose.append((index + 1, lines[index]))
            index += 1
            continue
        marker = fence.group(2)
        end = index + 1
        while end < len(lines) and not lines[end].strip().startswith(marker):
            end += 1
        blocks.append(Block(fence.group(3), index + 2, lines[index + 1 : end]))
        index = end + 1
    return prose, blocks


INLINE_CODE = re.compile(r"(`+)(.+?)\1")


def inline_code(text: str) -> list[str]:
    """The inline code spans of a line of prose."""
    return [match.group(2).strip() for match in INLINE_CODE.finditer(text)]


def without_inline_code(text: str) -> str:
    return INLINE_CODE.sub(" ", text)


def code(markdown: str) -> list[tuple[int, str]]:
    """Every piece of code, with its line: each line of a fenced block, each inline span."""
    prose, blocks = split(markdown)
    found = [(number, span) for number, text in prose for span in inline_code(text)]
    found += [(block.line + offset, line) for block in blocks for offset, line in enumerate(block.lines)]
    return found


# -- headings and GitHub's anchors -----------------------------------------------------------------

HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LINK = re.compile(r"!?\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*<?([^)\s>]*)>?(?:\s+\"[^\"]*\")?\s*\)")


def headings(markdown: str) -> list[tuple[int, str]]:
    """(level, text) of every ATX heading outside code blocks."""
    prose, _ = split(markdown)
    found = []
    for _, text in prose:
        match = HEADING.match(text)
        if match:
            found.append((len(match.group(1)), match.group(2)))
    return found


def rendered_text(heading: str) -> str:
    """What GitHub renders of a heading's Markdown: link texts, no emphasis marks, no backticks."""
    text = LINK.sub(lambda match: match.group(1), heading)
    text = re.sub(r"<[^>]+>", "", text)  # inline HTML
    text = text.replace("`", "")
    return re.sub(r"(\*\*|__|\*)", "", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped (letters, digits, `_`, `-` and
    spaces kept), each space a hyphen."""
    text = rendered_text(heading).strip().lower()
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def anchors(markdown: str) -> set[str]:
    """Every anchor a link into this document may name: its headings' (a repeated heading gets
    `-1`, `-2` ... as on GitHub) and explicit `<a id>` / `<a name>` ones."""
    seen: dict[str, int] = {}
    found = set()
    for _, text in headings(markdown):
        base = slug(text)
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    found |= set(re.findall(r"<a\s+(?:id|name)=\"([^\"]+)\"", markdown))
    return found


def links(markdown: str) -> list[tuple[int, str]]:
    """(line, target) of every inline link and image in the prose (code is not a link), and of every
    reference definition (`[name]: target`)."""
    prose, _ = split(markdown)
    found = []
    for number, text in prose:
        bare = without_inline_code(text)
        found += [(number, match.group(2)) for match in LINK.finditer(bare)]
        definition = re.match(r"^\s{0,3}\[[^\]]+\]:\s*<?(\S+?)>?(\s|$)", bare)
        if definition:
            found.append((number, definition.group(1)))
    return found


def section(markdown: str, heading: str) -> str:
    """The text under `heading` (a whole heading line, e.g. `## Alarms`), up to the next heading of
    its level or higher (headings inside code blocks are not headings)."""
    level = len(heading) - len(heading.lstrip("#"))
    lines = markdown.splitlines()
    prose, _ = split(markdown)
    heading_lines = {number: text for number, text in prose if HEADING.match(text)}
    starts = [number for number, text in heading_lines.items() if text.strip() == heading]
    if len(starts) != 1:
        raise LookupError(f"{heading!r} appears {len(starts)} times as a heading")
    start = starts[0]
    end = next(
        (
            number
            for number, text in sorted(heading_lines.items())
            if number > start and len(HEADING.match(text).group(1)) <= level  # type: ignore[union-attr]
        ),
        len(lines) + 1,
    )
    return "\n".join(lines[start : end - 1])
