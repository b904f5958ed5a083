"""Compiled demo/test contracts: solc-js through ``arbtui/demo/contracts/compile.js``, cached by source hash."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arbtui.demo.anvil import REPO_ROOT

CONTRACTS = Path(__file__).resolve().parent / "contracts"
BUILD = Path(os.environ.get("ARBTUI_ARTIFACTS_DIR") or CONTRACTS / ".build")
PYTH_SDK = REPO_ROOT / "node_modules" / "@pythnetwork" / "pyth-sdk-solidity"
SOLC_PACKAGE = REPO_ROOT / "node_modules" / "solc" / "package.json"


@dataclass(frozen=True)
class Artifact:
    abi: list[dict[str, Any]]
    bytecode: str


def _source_hash() -> str:
    digest = hashlib.sha256()
    inputs = [*sorted(CONTRACTS.glob("*.sol")), CONTRACTS / "compile.js", SOLC_PACKAGE]
    inputs += sorted(PYTH_SDK.glob("*.sol"))
    for path in inputs:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:24]


def load_artifacts() -> dict[str, Artifact]:
    """Every contract of ``arbtui/demo/contracts`` (and Pyth's MockPyth), compiling only when sources changed."""
    BUILD.mkdir(parents=True, exist_ok=True)
    target = BUILD / f"artifacts-{_source_hash()}.json"
    if not target.exists():
        partial = target.with_suffix(f".{os.getpid()}.tmp")
        subprocess.run(
            ["node", str(CONTRACTS / "compile.js"), str(partial)],
            check=True,
            cwd=REPO_ROOT,
            env={**os.environ, "ARBTUI_NODE_ROOT": str(REPO_ROOT)},
        )
        partial.replace(target)
    raw = json.loads(target.read_text())
    return {
        name: Artifact(abi=entry["abi"], bytecode=entry["bytecode"])
        for name, entry in raw.items()
        if not name.startswith("_")
    }
