"""Dependencies: the build tools are pinned in ``constraints.txt`` and the Makefile's venv setup installs
them from it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD_TOOLS = ("pip", "setuptools", "wheel")


def _pins() -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in (ROOT / "constraints.txt").read_text().splitlines():
        name, sep, version = line.partition("==")
        if sep and not line.startswith("#"):
            pins[re.sub(r"[-_.]+", "-", name).lower()] = version
    return pins


def _recipe(target_pattern: str) -> list[str]:
    """The recipe lines of the first Makefile rule whose target line matches."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if re.match(target_pattern, line))
    recipe: list[str] = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


@pytest.mark.parametrize("tool", BUILD_TOOLS)
def test_constraints_pin_the_build_tools(tool: str) -> None:
    assert re.fullmatch(r"\d+(\.\d+)*(\.post\d+)?", _pins().get(tool, "")), f"{tool} is not pinned with =="


def test_the_venv_setup_installs_the_build_tools_from_the_constraints() -> None:
    recipe = _recipe(r"\$\(PY_STAMP\):")
    assert recipe[0].startswith("$(PYTHON) -m venv")
    tools_line = recipe[1]
    assert "pip install" in tools_line
    assert "-c constraints.txt" in tools_line
    assert set(BUILD_TOOLS) <= set(tools_line.split()), "pip, setuptools and wheel come from the constraints"
    assert "-e '.[dev]'" in recipe[2]
    assert "-c constraints.txt" in recipe[2]
    for line in recipe:
        words = line.split()
        assert "--upgrade" not in words, f"an unpinned upgrade: {line}"
        assert "-U" not in words, f"an unpinned upgrade: {line}"
