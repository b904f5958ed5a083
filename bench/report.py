"""One result format for every benchmark: a figure beside its same-run baseline, a ratio, a target.

Each ``bench/<name>.py`` prints :func:`table` and writes ``bench/results/<name>.json`` with
:func:`save`; ``make bench`` (``python -m bench``) gathers those files into one summary with
:func:`read_figures` and :func:`machine`. See ``bench/README.md``.
"""

from __future__ import annotations

import json
import os
import platform
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

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

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Figure:
        """A figure as :func:`save` wrote it (``ratio`` and ``passed`` are derived, so not read back)."""
        return cls(
            name=str(record["name"]),
            value=float(record["value"]),
            unit=str(record.get("unit", "")),
            baseline=None if record.get("baseline") is None else float(record["baseline"]),
            baseline_name=str(record.get("baseline_name", "")),
            target=None if record.get("target") is None else float(record["target"]),
            at_least=bool(record.get("at_least", False)),
            target_on=str(record.get("target_on", "ratio")),
        )

    def as_json(self) -> dict[str, Any]:
        """The record :func:`save` writes (and :meth:`from_json` reads back), derived fields included."""
        return {**asdict(self), "ratio": self.ratio, "passed": self.passed}

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
        "figures": [f.as_json() for f in figures],
        **extra,
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
    return path


def machine() -> dict[str, Any]:
    """What the figures were measured on: cores, CPU model, OS and Python."""
    return {
        "cores": os.cpu_count(),
        "cpu": _cpu_model(),
        "os": f"{platform.system()} {platform.release()} {platform.machine()}",
        "python": f"{platform.python_implementation()} {platform.python_version()}",
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            if key.strip() in {"model name", "Hardware", "Processor"} and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def read_figures(record: dict[str, Any]) -> list[Figure]:
    """The figures of one ``bench/results/<name>.json``: the :func:`save` format, or one of the two older
    shapes ``bench/brokers.py`` and ``bench/intake.py`` still write. Raises ``ValueError`` for anything else."""
    figures = record.get("figures")
    if isinstance(figures, list) and all(isinstance(f, dict) and "value" in f for f in figures):
        return [Figure.from_json(f) for f in figures]
    if isinstance(figures, list) and all(isinstance(f, dict) and "adapter_ms" in f for f in figures):
        return [_broker_figure(f) for f in figures]
    if "latency_ms" in record and "backfill" in record:
        return _intake_figures(record)
    raise ValueError("not a benchmark result: no figures in a known format")


def _broker_figure(record: dict[str, Any]) -> Figure:
    target = record.get("target")
    return Figure(
        name=str(record["name"]),
        value=float(record["adapter_ms"]),
        unit="ms",
        baseline=float(record["baseline_ms"]),
        baseline_name="bare httpx",
        target=None if target is None else float(target),
        at_least=False,
    )


def _intake_figures(record: dict[str, Any]) -> list[Figure]:
    latency, backfill = record["latency_ms"], record["backfill"]
    getlogs = float(backfill["baseline_getlogs_fills_per_s"])
    fills_target = float(backfill.get("target_fills_per_s", 2000))
    figures = [
        Figure(
            f"tx → fill committed {q}",
            float(latency[q]),
            "ms",
            float(latency[f"baseline_{q}"]),
            f"raw web3 subscription {q}",
            float(latency.get("target_ratio", 2.0)),
            at_least=False,
        )
        for q in ("p50", "p99")
    ]
    store = record.get("backfill_store_ledger")
    if isinstance(store, dict):
        figures.append(
            Figure(
                "backfill into the Ledger",
                float(store["fills_per_s"]),
                "fills/s",
                getlogs,
                "bare eth_getLogs",
                fills_target,
                at_least=True,
                target_on="value",
            )
        )
    figures.append(
        Figure(
            "backfill, lean ledger",
            float(backfill["fills_per_s"]),
            "fills/s",
            getlogs,
            "bare eth_getLogs",
            fills_target,
            at_least=True,
            target_on="value",
        )
    )
    return figures
