"""``python -m bench``: discovery, quick mode, reading results back (every shape the modules write), the
summary table and JSON, and the exit status — on synthetic benchmark modules run as real processes."""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from textwrap import dedent

import pytest

from bench.__main__ import (
    Outcome,
    collect,
    discover,
    exit_status,
    quick_args,
    render,
    run_one,
    summary_record,
    totals,
)
from bench.report import Figure, read_figures, save

HOST = {"cores": 2, "cpu": "Test CPU 3000", "os": "Linux 6 x86_64", "python": "CPython 3.11.7"}
AT = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)

RATE = Figure("fills/s", 1200.0, "fills/s", 6000.0, "bare insert", 1000.0, at_least=True, target_on="value")
SLOW = Figure("rebuild rate", 60_000.0, "events/s", 300_000.0, "raw executemany", 0.5, at_least=True)
LATENCY = Figure("submit p99", 3.2, "ms", 2.0, "bare httpx", 1.5, at_least=False)
INFO = Figure("alpaca adapter", 2.3, "ms", 2.1, "bare httpx", None, at_least=False)

WRITES_RESULTS = """
    import json, sys
    from pathlib import Path
    figure = {{"name": "{name} figure", "value": 5.0, "unit": "ms", "baseline": 4.0, "baseline_name": "raw",
              "target": 2.0, "at_least": False, "target_on": "ratio", "ratio": 1.25, "passed": True}}
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "{name}.json").write_text(json.dumps({{"figures": [figure], "argv": sys.argv[1:]}}))
"""


@pytest.fixture
def package(tmp_path: Path) -> Path:
    """A benchmark package like ``bench/``: one module that works (with a quick mode), one that crashes,
    one that exits 0 without writing results, one that only leaves a result from an earlier run."""
    root = tmp_path / "fakebench"
    root.mkdir()
    (root / "__init__.py").write_text("")
    (root / "report.py").write_text("")
    (root / "_helpers.py").write_text("")
    (root / "good.py").write_text('QUICK_ARGS = ("--size", "10")\n' + dedent(WRITES_RESULTS.format(name="good")))
    (root / "crash.py").write_text("raise RuntimeError('the node did not start')\n")
    (root / "silent.py").write_text("print('measured nothing')\n")
    (root / "stale.py").write_text("pass\n")
    (root / "results").mkdir()
    old = root / "results" / "stale.json"
    old.write_text(json.dumps({"figures": [RATE.as_json()]}))
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    return root


def test_discovers_every_module_but_the_report_and_private_helpers(package: Path) -> None:
    assert discover(package) == ["crash", "good", "silent", "stale"]


def test_discovers_the_real_benchmarks() -> None:
    assert {"ledger", "brokers", "intake", "engine"} <= set(discover())


def test_quick_args_are_read_without_importing(package: Path) -> None:
    assert quick_args(package / "good.py") == ["--size", "10"]
    assert quick_args(package / "crash.py") is None  # importing it would raise
    bad = package / "computed.py"
    bad.write_text("QUICK_ARGS = tuple(['--size', str(10)])\n")
    with pytest.raises(ValueError, match="literal tuple of strings"):
        quick_args(bad)


def test_quick_mode_passes_the_modules_arguments(package: Path) -> None:
    quick = run_one("good", quick=True, timeout=60, directory=package)
    assert quick.status == "ok"
    assert quick.quick_args == ["--size", "10"]
    assert json.loads((package / "results" / "good.json").read_text())["argv"] == ["--size", "10"]
    full = run_one("good", quick=False, timeout=60, directory=package)
    assert json.loads((package / "results" / "good.json").read_text())["argv"] == []
    assert [f.name for f in full.figures] == ["good figure"]


@pytest.mark.parametrize(
    ("name", "status", "detail"),
    [
        ("crash", "crashed", "exit status 1"),
        ("silent", "no results", "silent.json not written"),
        ("stale", "no results", "stale.json is from an earlier run"),
    ],
)
def test_a_failing_module_is_reported_not_raised(package: Path, name: str, status: str, detail: str) -> None:
    outcome = run_one(name, quick=False, timeout=60, directory=package)
    assert (outcome.status, outcome.detail) == (status, detail)
    assert outcome.figures == []


def test_a_module_over_its_time_is_stopped(package: Path) -> None:
    (package / "hang.py").write_text("import time\ntime.sleep(60)\n")
    outcome = run_one("hang", quick=False, timeout=0.5, directory=package)
    assert outcome.status == "timeout"


def test_unreadable_results_are_reported(tmp_path: Path) -> None:
    (tmp_path / "odd.json").write_text(json.dumps({"something": "else"}))
    status, detail, figures = collect("odd", tmp_path, since=0)
    assert status == "no results"
    assert "no figures in a known format" in detail
    assert figures == []


def test_save_format_reads_back_identically(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("bench.report.RESULTS", tmp_path)
    path = save("synthetic", [RATE, SLOW, LATENCY, INFO], fills=3000)
    assert read_figures(json.loads(path.read_text())) == [RATE, SLOW, LATENCY, INFO]


def test_the_broker_results_shape_is_understood() -> None:
    record = {
        "figures": [
            {"name": "schwab", "adapter_ms": 2.4, "baseline_ms": 2.0, "ratio": 1.2, "target": 1.5, "passed": True},
            {"name": "alpaca", "adapter_ms": 3.0, "baseline_ms": 1.0, "ratio": 3.0, "target": None, "passed": None},
        ]
    }
    schwab, alpaca = read_figures(record)
    assert (schwab.value, schwab.baseline, schwab.passed) == (2.4, 2.0, True)
    assert alpaca.passed is None


def test_the_intake_results_shape_is_understood() -> None:
    record = {
        "latency_ms": {"p50": 5.0, "p99": 20.0, "baseline_p50": 3.0, "baseline_p99": 6.0, "target_ratio": 2.0},
        "backfill": {"fills_per_s": 5000.0, "baseline_getlogs_fills_per_s": 60000.0, "target_fills_per_s": 2000},
        "backfill_store_ledger": {"fills_per_s": 1500.0},
    }
    by_name = {f.name: f for f in read_figures(record)}
    assert by_name["tx → fill committed p50"].passed is True  # 1.67× ≤ 2×
    assert by_name["tx → fill committed p99"].passed is False  # 3.33× > 2×
    assert by_name["backfill into the Ledger"].passed is False  # 1,500 < 2,000 fills/s
    assert by_name["backfill, lean ledger"].passed is True


def _outcomes() -> list[Outcome]:
    return [
        Outcome("ledger", "ok", 12.0, None, 0, "", [RATE, SLOW]),
        Outcome("brokers", "ok", 3.0, ["--orders", "20"], 0, "", [LATENCY, INFO]),
        Outcome("intake", "crashed", 1.0, ["--fills", "50"], 1, "exit status 1"),
    ]


def test_summary_table_shows_every_figure_and_the_crash() -> None:
    text = render(_outcomes(), quick=True, host=HOST, at=AT)
    lines = text.splitlines()
    assert lines[0].split() == ["bench", "figure", "value", "baseline", "ratio", "target", "result"]
    ledger_rows = [line for line in lines if "fills/s" in line or "rebuild rate" in line]
    assert ledger_rows[0].startswith("ledger (full size)")  # no quick mode: ran at full size
    assert ledger_rows[0].rstrip().endswith("PASS")
    assert "0.20×" in ledger_rows[1]
    assert ledger_rows[1].rstrip().endswith("FAIL")
    assert [line for line in lines if line.startswith("intake")] == [
        next(line for line in lines if "CRASHED: exit status 1" in line)
    ]
    assert "1 passed, 2 missed, 1 for information — 2 of 3 benchmarks ran, 1 did not" in text
    assert "measured 2026-11-24T21:00:00+00:00 on 2 cores, Test CPU 3000" in text


def test_summary_json_holds_the_same_figures_and_the_machine() -> None:
    record = json.loads(json.dumps(summary_record(_outcomes(), quick=False, host=HOST, at=AT)))
    assert record["machine"] == HOST
    assert record["totals"] == {"benches": 3, "benches_failed": 1, "figures": 4, "passed": 1, "failed": 2, "info": 1}
    ledger, _, intake = record["benches"]
    assert [Figure.from_json(f) for f in ledger["figures"]] == [RATE, SLOW]
    assert [f["passed"] for f in ledger["figures"]] == [True, False]
    assert (intake["status"], intake["returncode"], intake["figures"]) == ("crashed", 1, [])


def test_exit_status_fails_only_on_a_broken_benchmark_unless_strict() -> None:
    missed_only = _outcomes()[:2]
    assert totals(missed_only)["failed"] == 2
    assert exit_status(missed_only, strict=False) == 0
    assert exit_status(missed_only, strict=True) == 1
    assert exit_status(_outcomes(), strict=False) == 1
    all_passing = [Outcome("ledger", "ok", 1.0, None, 0, "", [RATE])]
    assert exit_status(all_passing, strict=True) == 0
