"""Check the relative links of the documentation: python docs/check_links.py

Every [text](target) in README.md, docs/**/*.md and benchmarks/*.md whose target is not a URL
must name an existing file or folder (relative to the file that links), and a #fragment must
match a heading of the target as GitHub makes anchors. Exits 1 and lists the broken links.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^\s*```")
INLINE_CODE = re.compile(r"`[^`]*`")


def files() -> list[Path]:
    found = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    return found + sorted((ROOT / "benchmarks").glob("*.md"))


def prose(path: Path) -> list[tuple[int, str]]:
    """The lines outside fenced code blocks, with inline code removed."""
    out, fenced = [], False
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if FENCE.match(line):
            fenced = not fenced
            continue
        if not fenced:
            out.append((number, INLINE_CODE.sub("", line)))
    return out


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but - and _ dropped, spaces -."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    fenced = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            fenced = not fenced
            continue
        match = re.match(r"^#{1,6}\s+(.*)$", line)
        if fenced or not match:
            continue
        base = slug(match.group(1).replace("`", ""))
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return out


def main() -> int:
    broken = []
    checked = 0
    for source in files():
        for number, line in prose(source):
            for target in LINK.findall(line):
                if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
                    continue
                checked += 1
                name, _, fragment = target.partition("#")
                path = (source.parent / name).resolve() if name else source
                where = f"{source.relative_to(ROOT)}:{number}: {target}"
                if not path.exists():
                    broken.append(f"{where} (no such file)")
                elif fragment and path.suffix == ".md" and fragment not in anchors(path):
                    broken.append(f"{where} (no heading #{fragment})")
    for line in broken:
        print(line)
    print(f"{checked} relative links checked, {len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
