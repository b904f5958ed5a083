"""``python -m tests.chaos [--fast] [--only NAME]…``: run the chaos scenarios end to end, print the
table (scenario | fills | hedges | lost | duplicated | final books == model) and save it as JSON in
``bench/results/chaos.json`` (``chaos-fast.json`` with ``--fast``). Exits 1 if any scenario lost or
duplicated anything, ended with books that differ from the model, or crashed."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from arbtui.demo.anvil import REPO_ROOT
from arbtui.demo.artifacts import load_artifacts
from tests.chaos.accounting import Tally
from tests.chaos.scenarios import SCENARIOS, run_scenario

RESULTS = REPO_ROOT / "bench" / "results"
COLUMNS = ("scenario", "fills", "hedges", "lost", "duplicated", "books == model", "wall s")


def table(results: list[Tally]) -> str:
    rows = [
        (
            r.scenario,
            str(r.fills),
            str(r.hedges),
            str(r.lost),
            str(r.duplicated),
            "yes" if r.books_match else "NO",
            f"{r.wall_s:.1f}",
        )
        for r in results
    ]
    widths = [max(len(c), *(len(row[i]) for row in rows)) for i, c in enumerate(COLUMNS)]
    line = " | ".join(c.ljust(w) for c, w in zip(COLUMNS, widths, strict=True))
    out = [line, "-+-".join("-" * w for w in widths)]
    out += [" | ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in rows]
    for r in results:
        if r.error or r.mismatches:
            out.append(f"{r.scenario}: {r.error or ''} {'; '.join(r.mismatches[:5])}".rstrip())
    return "\n".join(out)


async def run(names: list[str], *, full: bool, keep: Path | None) -> list[Tally]:
    artifacts = load_artifacts()
    results: list[Tally] = []
    with tempfile.TemporaryDirectory(prefix="arbtui-chaos-") as scratch:
        base = keep or Path(scratch)
        for name in names:
            result = await run_scenario(name, full=full, workdir=base / name, artifacts=artifacts)
            status = "ok" if result.ok else "FAILED"
            print(f"{name}: {status} in {result.wall_s:.1f}s {' '.join(result.notes)}", flush=True)
            results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.chaos",
        description="Run the chaos scenarios against the real bot; print the table, save it as JSON.",
    )
    parser.add_argument("--fast", action="store_true", help="the small sizes (the subset make test runs)")
    parser.add_argument("--only", action="append", choices=sorted(SCENARIOS), help="run just this scenario")
    parser.add_argument("--keep", type=Path, help="keep each scenario's ledger, config and bot logs here")
    args = parser.parse_args(argv)
    logging.getLogger("aiohttp.server").setLevel(logging.CRITICAL)  # injected dropped connections: expected
    names = args.only or list(SCENARIOS)
    started = time.monotonic()
    results = asyncio.run(run(names, full=not args.fast, keep=args.keep))
    wall = time.monotonic() - started
    print()
    print(table(results))
    print(f"\nchaos ({'fast' if args.fast else 'full'}): {len(results)} scenarios in {wall:.1f}s")
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / ("chaos-fast.json" if args.fast else "chaos.json")
    report = {
        "size": "fast" if args.fast else "full",
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.node()} {platform.machine()} {platform.processor() or ''}".strip(),
        "python": platform.python_version(),
        "wall_s": round(wall, 1),
        "scenarios": [r.as_json() for r in results],
    }
    path.write_text(json.dumps(report, indent=2) + "\n")
    print(f"saved {path.relative_to(REPO_ROOT)}")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
