"""Rain's ``@rainlanguage/float`` (npm, wasm) through ``node``: the oracle for arbtui's Float decoder and
the encoder of the Float bytes the V6 orderbook stand-in emits in tests (never arbtui's own code)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from arbtui.demo.anvil import REPO_ROOT

SCRIPT = Path(__file__).with_name("rain_float.js")


@dataclass(frozen=True)
class RainAnswer:
    """What Rain's library says of one Float: ``format()`` and ``toFixedDecimalLossy(decimals)``."""

    format: str | None
    fixed: int | None
    error: str | None


def _run(request: dict[str, Any]) -> Any:
    done = subprocess.run(
        ["node", str(SCRIPT)],
        input=json.dumps(request),
        capture_output=True,
        text=True,
        check=True,
        cwd=REPO_ROOT,
        timeout=120,
    )
    return json.loads(done.stdout)


def rain_format(hexes: Sequence[str], decimals: int = 18) -> list[RainAnswer]:
    answers = _run({"op": "format", "items": list(hexes), "decimals": decimals})
    return [RainAnswer(a["format"], int(a["fixed"]) if a["fixed"] is not None else None, a["error"]) for a in answers]


def rain_parse(texts: Sequence[str]) -> list[bytes]:
    """``Float.parse(text).asHex()`` for each decimal text, as 32 bytes."""
    return [bytes.fromhex(str(h).removeprefix("0x")) for h in _run({"op": "parse", "items": list(texts)})]
