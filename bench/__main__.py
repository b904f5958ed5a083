"""Run every benchmark and print one summary: ``python -m bench [--quick] [--strict] [NAME …]``.

Each ``bench/<name>.py`` (all of them but ``report`` and this file) runs as its own process,
``python -m bench.<name>``, its output passing straight through; afterwards its
``bench/results/<name>.json`` is read back and every figure lands in one table — figure, value, baseline,
ratio, target, result — followed by a count and the machine and date, and the whole summary is saved as
``bench/results/summary.json``.

``--quick`` appends the module's ``QUICK_ARGS`` (a literal tuple of arguments at module level, read
without importing the module) to shrink it to a smoke run; a module without ``QUICK_ARGS`` runs at full
size and is marked so. Exit status: 0 when every benchmark ran and wrote its results — even if targets were
missed, which the table shows — and 1 when one crashed, timed out or wrote nothing; with ``--strict`` a
missed target is also 1. See ``bench/README.md``.
"""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.report import RESULTS, Figure, machine, read_figures

BENCH = Path(__file__).resolve().parent
NOT_BENCHMARKS = frozenset({"__init__", "__main__", "report"})
SUMMARY = "summary"
HEADER = ("bench", "figure", "value", "baseline", "ratio", "target", "result")


@dataclass
class Outcome:
    """One module's run: ``status`` is ``ok``, ``crashed``, ``timeout`` or ``no results``."""

    name: str
    status: str
    seconds: float
    quick_args: list[str] | None = None
    returncode: int | None = None
    detail: str = ""
    figures: list[Figure] = field(default_factory=list)

    @property
    def ran(self) -> bool:
        return self.status == "ok"


def discover(directory: Path = BENCH) -> list[str]:
    """Every benchmark module in ``directory``, by name (``_private.py`` helpers are not benchmarks)."""
    return sorted(p.stem for p in directory.glob("*.py") if p.stem not in NOT_BENCHMARKS and not p.stem.startswith("_"))


def quick_args(module: Path) -> list[str] | None:
    """The module's ``QUICK_ARGS = (…)``, read from its source (``None``: it has no quick mode)."""
    tree = ast.parse(module.read_text(), filename=str(module))
    for node in tree.body:
        target: ast.expr | None = None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            target = node.target
        if isinstance(target, ast.Name) and target.id == "QUICK_ARGS":
            assert isinstance(node, ast.Assign | ast.AnnAssign)
            assert node.value is not None
            try:
                value = ast.literal_eval(node.value)
            except ValueError as exc:
                raise ValueError(f"{module.name}: QUICK_ARGS must be a literal tuple of strings") from exc
            if not isinstance(value, tuple | list) or not all(isinstance(v, str) for v in value):
                raise ValueError(f"{module.name}: QUICK_ARGS must be a literal tuple of strings")
            return list(value)
    return None


def collect(name: str, results: Path, since: float) -> tuple[str, str, list[Figure]]:
    """Status, detail and figures from ``results/<name>.json``, if this run (after ``since``) wrote it."""
    path = results / f"{name}.json"
    if not path.exists():
        return "no results", f"{path.name} not written", []
    if path.stat().st_mtime < since:
        return "no results", f"{path.name} is from an earlier run", []
    try:
        return "ok", "", read_figures(json.loads(path.read_text()))
    except (ValueError, KeyError, TypeError) as exc:
        return "no results", f"{path.name}: {exc}", []


def run_one(name: str, *, quick: bool, timeout: float, directory: Path = BENCH) -> Outcome:
    """Run ``python -m <package>.<name>`` (``directory`` is the package) and read back what it wrote in
    ``directory/results``."""
    try:
        extra = quick_args(directory / f"{name}.py") if quick else None
    except (ValueError, SyntaxError) as exc:
        return Outcome(name, "crashed", 0.0, detail=str(exc))
    command = [sys.executable, "-m", f"{directory.name}.{name}", *(extra or [])]
    print(f"\n=== {directory.name}.{name}{' ' + ' '.join(extra) if extra else ''}", flush=True)
    started = time.time()
    try:
        finished = subprocess.run(command, cwd=directory.parent, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return Outcome(name, "timeout", time.time() - started, extra, detail=f"stopped after {timeout:g} s")
    seconds = time.time() - started
    if finished.returncode != 0:
        return Outcome(name, "crashed", seconds, extra, finished.returncode, f"exit status {finished.returncode}")
    status, detail, figures = collect(name, directory / "results", started - 1)
    return Outcome(name, status, seconds, extra, 0, detail, figures)


def _cells(outcome: Outcome, quick: bool) -> list[tuple[str, ...]]:
    label = outcome.name
    if quick and outcome.quick_args is None:
        label += " (full size)"
    if not outcome.ran:
        return [(label, "—", "", "", "", "", f"{outcome.status.upper()}: {outcome.detail}")]
    rows: list[tuple[str, ...]] = []
    for f in outcome.figures:
        rows.append(
            (
                label,
                f.name,
                f"{f.value:,.2f} {f.unit}",
                "—" if f.baseline is None else f"{f.baseline:,.2f} ({f.baseline_name})",
                "—" if f.ratio is None else f"{f.ratio:.2f}×",
                f.target_text(),
                {True: "PASS", False: "FAIL", None: "info"}[f.passed],
            )
        )
        label = ""
    return rows


def totals(outcomes: Sequence[Outcome]) -> dict[str, int]:
    figures = [f for o in outcomes for f in o.figures]
    return {
        "benches": len(outcomes),
        "benches_failed": sum(not o.ran for o in outcomes),
        "figures": len(figures),
        "passed": sum(f.passed is True for f in figures),
        "failed": sum(f.passed is False for f in figures),
        "info": sum(f.passed is None for f in figures),
    }


def render(outcomes: Sequence[Outcome], *, quick: bool, host: dict[str, Any], at: datetime) -> str:
    rows = [HEADER, *(row for o in outcomes for row in _cells(o, quick))]
    widths = [max(len(r[i]) for r in rows) for i in range(len(HEADER))]
    line = ["  ".join(c.ljust(w) for c, w in zip(HEADER, widths, strict=True)).rstrip()]
    line.append("  ".join("-" * w for w in widths))
    line += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows[1:]]
    count = totals(outcomes)
    line.append("")
    line.append(
        f"{count['passed']} passed, {count['failed']} missed, {count['info']} for information — "
        f"{count['benches'] - count['benches_failed']} of {count['benches']} benchmarks ran"
        + (f", {count['benches_failed']} did not" if count["benches_failed"] else "")
        + (" (quick mode: smoke sizes, not the published figures)" if quick else "")
    )
    line.append(
        f"measured {at.isoformat(timespec='seconds')} on {host['cores']} cores, {host['cpu']}, "
        f"{host['os']}, {host['python']}"
    )
    return "\n".join(line)


def summary_record(outcomes: Sequence[Outcome], *, quick: bool, host: dict[str, Any], at: datetime) -> dict[str, Any]:
    return {
        "measured_at": at.isoformat(timespec="seconds"),
        "machine": host,
        "quick": quick,
        "totals": totals(outcomes),
        "benches": [
            {
                "bench": o.name,
                "status": o.status,
                "detail": o.detail,
                "returncode": o.returncode,
                "seconds": round(o.seconds, 1),
                "quick_args": o.quick_args,
                "figures": [f.as_json() for f in o.figures],
            }
            for o in outcomes
        ],
    }


def exit_status(outcomes: Sequence[Outcome], *, strict: bool) -> int:
    count = totals(outcomes)
    return 1 if count["benches_failed"] or (strict and count["failed"]) else 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("names", nargs="*", metavar="NAME", help="benchmarks to run (default: every bench/*.py)")
    parser.add_argument("--quick", action="store_true", help="smoke sizes (each module's QUICK_ARGS)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed, too")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per benchmark (default 3600)")
    args = parser.parse_args(argv)
    available = discover()
    unknown = sorted(set(args.names) - set(available))
    if unknown:
        parser.error(f"no benchmark named {', '.join(unknown)} (there are: {', '.join(available)})")
    outcomes = [run_one(name, quick=args.quick, timeout=args.timeout) for name in args.names or available]
    at, host = datetime.now(UTC), machine()
    print("\n" + render(outcomes, quick=args.quick, host=host, at=at))
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{SUMMARY}.json"
    record = summary_record(outcomes, quick=args.quick, host=host, at=at)
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
    print(f"wrote {path}")
    return exit_status(outcomes, strict=args.strict)


if __name__ == "__main__":
    raise SystemExit(main())
