"""The wheel the Docker build stage makes installs and runs in a fresh virtualenv.

The wheel is built from exactly the files the Docker build context holds (``.dockerignore`` applied), as
the build stage does. The virtualenv is a real fresh one (no ``--system-site-packages``): its dependencies
install normally from the configured index at the versions of ``constraints.txt`` — about half a minute
on this machine, so no shortcut is taken. It then runs ``arbtui --help`` and ``arbtui db migrate`` on a
new database from a directory outside the checkout: the schema can only come from the migrations shipped
inside the wheel.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from tests.ship.context import copy_context

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def _clean_environment() -> dict[str, str]:
    """No setting of this shell leaks in: no ``ARBTUI_*``, no active venv, no ``PYTHONPATH``."""
    drop = {"VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME"}
    return {k: v for k, v in os.environ.items() if not k.startswith("ARBTUI_") and k not in drop}


def _run(args: list[str], cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        args, cwd=cwd, env=_clean_environment(), capture_output=True, text=True, timeout=timeout, check=False
    )
    assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
    return result


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    context = tmp_path_factory.mktemp("context")
    copy_context(ROOT, context)
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "--wheel-dir", str(dist), "."], context)
    (built,) = dist.glob("arbtui-*.whl")
    return built


@pytest.fixture(scope="module")
def fresh_venv(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("venv")
    venv.EnvBuilder(with_pip=True, system_site_packages=False).create(root)
    python = root / "bin" / "python"
    constraints = str(ROOT / "constraints.txt")
    _run([str(python), "-m", "pip", "install", "--quiet", "-c", constraints, str(wheel)], root, timeout=600)
    return root


def test_wheel_ships_the_migrations_and_no_demo_contracts(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {Path(n).name for n in names if n.startswith("arbtui/migrations/") and n.endswith(".sql")}
    assert shipped == {p.name for p in (ROOT / "migrations").glob("*.sql")}
    assert not [n for n in names if n.startswith("arbtui/demo/contracts/")]
    assert not [n for n in names if n.startswith(("tests/", "bench/"))]


def test_installed_command_answers_help(fresh_venv: Path, tmp_path: Path) -> None:
    result = _run([str(fresh_venv / "bin" / "arbtui"), "--help"], tmp_path)
    assert "Usage: arbtui" in result.stdout
    for command in ("db", "run", "position", "events"):
        assert command in result.stdout


def test_installed_package_is_the_wheel_not_the_checkout(fresh_venv: Path, tmp_path: Path) -> None:
    result = _run([str(fresh_venv / "bin" / "python"), "-c", "import arbtui; print(arbtui.__file__)"], tmp_path)
    location = Path(result.stdout.strip()).resolve()
    assert location.is_relative_to(fresh_venv.resolve()), location


def test_installed_command_migrates_a_new_database(fresh_venv: Path, tmp_path: Path) -> None:
    database = tmp_path / "ledger.db"
    arbtui = str(fresh_venv / "bin" / "arbtui")
    first = _run([arbtui, "--db", str(database), "db", "migrate"], tmp_path)
    migrations = sorted(p.stem for p in (ROOT / "migrations").glob("*.sql"))
    assert [line.removeprefix("applied ") for line in first.stdout.splitlines() if line.startswith("applied")] == (
        migrations
    )
    again = _run([arbtui, "--db", str(database), "db", "migrate"], tmp_path)
    assert "applied" not in again.stdout, "a second migrate must be a no-op"
    assert f"schema version {len(migrations)}" in again.stdout
