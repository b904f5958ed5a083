"""Reading ``constraints.txt`` and the ``Makefile`` as the ship tests need them."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def pins(path: Path = ROOT / "constraints.txt") -> dict[str, str]:
    """``name==version`` lines → normalised name (PEP 503) → version."""
    found: dict[str, str] = {}
    for line in path.read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep and not line.startswith("#"):
            found[re.sub(r"[-_.]+", "-", name).lower()] = version
    return found


def recipe(target_pattern: str, makefile: Path = ROOT / "Makefile") -> list[str]:
    """The recipe lines of the first rule whose target line matches ``target_pattern``, stripped."""
    lines = makefile.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(target_pattern, line))
    body: list[str] = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        body.append(line.strip())
    return body
