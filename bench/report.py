"""One result format for every benchmark: a figure beside its same-run baseline, a ratio, a target.

Each ``bench/<name>.py`` prints :func:`table` and writes ``bench/results/<name>.json`` with
:func:`save`; ``make bench`` gathers those files into one summary.
"""

from __future__ import annotations

import json
import platform
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

RESULTS = Path(__file__).parent / "results"


@dataclass(frozen=True)
class Figure:
    """``value`` measured beside ``baseline`` in the same run. ``ratio`` is value/baseline; ``target``
    bounds the ratio (``at_least`` for rates, ``at_most`` for latencies) or, with ``target_on="value"``,
    the value itself."""

    name: str
    value: float
    unit: str
    baseline: float | None
    baseline_name: str
    target: float | None
    at_least: bool
    target_on: str = "ratio"

    @property
    def ratio(self) -> float | None:
        return None if not self.baseline else self.value / self.baseline

    @property
    def passed(self) -> bool | None:
        measured = self.ratio if self.target_on == "ratio" else self.value
        if self.target is None or measured is None:
            return None
        return measured >= self.target if self.at_least else measured <= self.target

    def target_text(self) -> str:
        if self.target is None:
            return "—"
        sign = "≥" if self.at_least else "≤"
        return f"{sign} {self.target:g}{'×' if self.target_on == 'ratio' else ' ' + self.unit}"


def table(title: str, figures: list[Figure]) -> str:
    rows = [("figure", "value", "baseline", "ratio", "target", "result")]
    for f in figures:
        rows.append(
            (
                f.name,
                f"{f.value:,.2f} {f.unit}",
                "—" if f.baseline is None else f"{f.baseline:,.2f} ({f.baseline_name})",
                "—" if f.ratio is None else f"{f.ratio:.2f}×",
                f.target_text(),
                {True: "PASS", False: "FAIL", None: "info"}[f.passed],
            )
        )
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = [title, "  ".join(c.ljust(w) for c, w in zip(rows[0], widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows[1:]]
    return "\n".join(lines)


def save(name: str, figures: list[Figure], **extra: object) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    record = {
        "bench": name,
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": f"{platform.machine()} {platform.python_implementation()} {platform.python_version()}",
        "figures": [{**asdict(f), "ratio": f.ratio, "passed": f.passed} for f in figures],
        **extra,
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path
