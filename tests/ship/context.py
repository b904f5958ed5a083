"""The Docker build context as ``.dockerignore`` shapes it, without a Docker engine.

Docker's rules, as far as our ``.dockerignore`` uses them: one pattern a line, ``#`` comments, ``*`` and
``?`` never cross a ``/``, ``**`` matches any number of directories, a pattern also excludes everything
below a directory it matches, a leading ``!`` re-includes, and the last matching line wins.
"""

from __future__ import annotations

import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    include: bool


def _regex(pattern: str) -> re.Pattern[str]:
    parts: list[str] = []
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            parts.append("(?:.*/)?")
            i += 3
        elif pattern.startswith("**", i):
            parts.append(".*")
            i += 2
        elif pattern[i] == "*":
            parts.append("[^/]*")
            i += 1
        elif pattern[i] == "?":
            parts.append("[^/]")
            i += 1
        else:
            parts.append(re.escape(pattern[i]))
            i += 1
    return re.compile("".join(parts))


def read_rules(text: str) -> list[Rule]:
    rules = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        include = line.startswith("!")
        pattern = line.removeprefix("!").strip().strip("/")
        rules.append(Rule(_regex(pattern), include))
    return rules


def is_excluded(relative: str, rules: list[Rule]) -> bool:
    """Whether the file at ``relative`` (POSIX, from the context root) stays out of the build context."""
    parts = relative.strip("/").split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for rule in rules:
        if any(rule.pattern.fullmatch(candidate) for candidate in candidates):
            excluded = not rule.include
    return excluded


ALWAYS_HEAVY = (".git", ".venv", "node_modules")
"""Top-level trees never walked (the tests check ``.dockerignore`` excludes them)."""


def copy_context(root: Path, destination: Path) -> list[str]:
    """Copy every file of ``root`` that the build context would hold into ``destination``; return them."""
    rules = read_rules((root / ".dockerignore").read_text())
    kept = []
    for directory, subdirectories, files in os.walk(root):
        here = Path(directory)
        if here == root:
            subdirectories[:] = [d for d in subdirectories if d not in ALWAYS_HEAVY]
        for name in sorted(files):
            relative = (here / name).relative_to(root).as_posix()
            if is_excluded(relative, rules):
                continue
            target = destination / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(here / name, target)
            kept.append(relative)
    return sorted(kept)
