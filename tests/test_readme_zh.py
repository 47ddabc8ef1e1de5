"""README.zh-CN.md keeps in step with README.md: code, headings, links and the language switch."""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
EN = ROOT / "README.md"
ZH = ROOT / "README.zh-CN.md"

FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]|$)")
INLINE_CODE = re.compile(r"(`+).+?\1", re.DOTALL)
LINK = re.compile(r"\]\(\s*<?([^)\s>]+)>?(?:\s+[\"'(][^)]*)?\)")
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s|$)")
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

# The two READMEs link to each other instead of to themselves.
LANGUAGE_LINKS = {EN.name, ZH.name}


@dataclass
class Readme:
    """The parts of a README that must match across languages."""

    code_blocks: list[str] = field(default_factory=list)
    headings: Counter[int] = field(default_factory=Counter)
    links: list[tuple[int, str]] = field(default_factory=list)  # (line number, target)


def parse(path: Path) -> Readme:
    """Fenced code blocks (fences included), ATX heading levels and link targets of `path`."""
    readme = Readme()
    prose: list[tuple[int, str]] = []
    fence: str | None = None
    block: list[str] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        opening = FENCE.match(line)
        if fence is None:
            if opening:
                fence, block = opening.group(1), [line]
                continue
            prose.append((number, line))
            heading = HEADING.match(line)
            if heading:
                readme.headings[len(heading.group(1))] += 1
        else:
            block.append(line)
            closing = opening and opening.group(1)[0] == fence[0]
            if closing and len(opening.group(1)) >= len(fence) and not line.strip(" `~"):
                readme.code_blocks.append("\n".join(block))
                fence = None
    if fence is not None:
        readme.code_blocks.append("\n".join(block))

    for number, line in prose:
        text = INLINE_CODE.sub("", line)
        readme.links += [(number, target) for target in LINK.findall(text)]
        reference = REFERENCE.match(text)
        if reference:
            readme.links.append((number, reference.group(1)))
    return readme


def relative_targets(readme: Readme) -> set[str]:
    """Link targets that point into the repository (no scheme, not a same-page anchor)."""
    targets = set()
    for _, target in readme.links:
        path = target.split("#", 1)[0]
        if path and not SCHEME.match(target) and not target.startswith(("#", "//")):
            targets.add(path)
    return targets


@pytest.fixture(scope="module")
def en() -> Readme:
    return parse(EN)


@pytest.fixture(scope="module")
def zh() -> Readme:
    if not ZH.exists():
        pytest.fail(f"{ZH.name} is missing: translate {EN.name} into it.")
    return parse(ZH)


def test_code_blocks_identical_and_in_order(en: Readme, zh: Readme) -> None:
    assert len(zh.code_blocks) == len(en.code_blocks), (
        f"{EN.name} has {len(en.code_blocks)} fenced code blocks, {ZH.name} has "
        f"{len(zh.code_blocks)}: add or remove the blocks in {ZH.name} so both match."
    )
    for index, (english, chinese) in enumerate(zip(en.code_blocks, zh.code_blocks, strict=True)):
        assert chinese == english, (
            f"code block {index + 1} differs: copy it byte for byte from {EN.name} into "
            f"{ZH.name} (code is not translated).\n--- {EN.name}\n{english}\n"
            f"--- {ZH.name}\n{chinese}"
        )


def test_same_number_of_headings_per_level(en: Readme, zh: Readme) -> None:
    for level in sorted(set(en.headings) | set(zh.headings)):
        assert zh.headings[level] == en.headings[level], (
            f"{'#' * level} headings: {EN.name} has {en.headings[level]}, {ZH.name} has "
            f"{zh.headings[level]}: translate the added or removed sections so the "
            "structure matches."
        )


def test_relative_links_kept(en: Readme, zh: Readme) -> None:
    missing = sorted(relative_targets(en) - relative_targets(zh) - LANGUAGE_LINKS)
    assert not missing, (
        f"{ZH.name} lacks links that {EN.name} has: {', '.join(missing)}; "
        f"add them to the matching places in {ZH.name}."
    )


@pytest.mark.parametrize(("source", "other"), [(EN, ZH), (ZH, EN)], ids=["en", "zh"])
def test_language_switch_near_top(source: Path, other: Path) -> None:
    early = {target for number, target in parse(source).links if number <= 5}
    assert other.name in early, (
        f"{source.name} must link to {other.name} in its first 5 lines (the language switch "
        f"right after the title); add or move that line in {source.name}."
    )
