"""Dependencies: the build tools are pinned in ``constraints.txt`` and the Makefile's venv setup installs
them from it."""

from __future__ import annotations

import re

import pytest

from tests.ship.build_files import pins, recipe

BUILD_TOOLS = ("pip", "setuptools", "wheel")


@pytest.mark.parametrize("tool", BUILD_TOOLS)
def test_constraints_pin_the_build_tools(tool: str) -> None:
    assert re.fullmatch(r"\d+(\.\d+)*(\.post\d+)?", pins().get(tool, "")), f"{tool} is not pinned with =="


def test_the_venv_setup_installs_the_build_tools_from_the_constraints() -> None:
    steps = recipe(r"\$\(PY_STAMP\):")
    assert steps[0].startswith("$(PYTHON) -m venv")
    tools_line = steps[1]
    assert "pip install" in tools_line
    assert "-c constraints.txt" in tools_line
    assert set(BUILD_TOOLS) <= set(tools_line.split()), "pip, setuptools and wheel come from the constraints"
    assert "-e '.[dev]'" in steps[2]
    assert "-c constraints.txt" in steps[2]
    for line in steps:
        words = line.split()
        assert "--upgrade" not in words, f"an unpinned upgrade: {line}"
        assert "-U" not in words, f"an unpinned upgrade: {line}"
