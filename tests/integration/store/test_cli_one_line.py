"""Every error is one line (issue 17): the real ``arbtui`` process on a corrupt ledger, a ledger written by
a newer arbtui, an absurd ``--limit``, a Schwab redirect with another login's state. Each case first
checks the hostile input reaches arbtui (the message names what it read), then that stderr is one line,
no traceback, the documented exit code, and the ledger unchanged."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from arbtui.store.migrate import migrate

REPO_ROOT = Path(__file__).resolve().parents[3]
CONFIG = """
[chain]
http_url = "http://127.0.0.1:9"
orderbook = "0x1111111111111111111111111111111111111111"
owner = "0x2222222222222222222222222222222222222222"
usdc = "0x3333333333333333333333333333333333333333"
[broker]
kind = "dry_run"
[api]
listen = "127.0.0.1:0"
"""


def corrupt(db: Path) -> None:
    db.write_bytes(b"not a database at all" + bytes(range(256)) * 40)


def newer(db: Path) -> None:
    migrate(db)
    conn = sqlite3.connect(db)
    conn.execute("INSERT INTO schema_migrations VALUES (999, 'from_the_future', 'x', '2030-01-01')")
    conn.commit()
    conn.close()


def fine(db: Path) -> None:
    migrate(db)


@dataclass(frozen=True)
class Case:
    name: str
    prepare: Callable[[Path], None]
    args: list[str]
    exit_code: int
    says: str
    env: dict[str, str] | None = None


SCHWAB_ENV = {
    "ARBTUI_SCHWAB_APP_KEY": "app-key",
    "ARBTUI_SCHWAB_APP_SECRET": "app-secret",
    "ARBTUI_ENCRYPTION_KEY": "ab" * 32,
}

CASES = [
    Case("run --headless, corrupt ledger", corrupt, ["run", "--headless"], 1, "file is not a database"),
    Case("run (console), corrupt ledger", corrupt, ["run"], 1, "file is not a database"),
    Case("run --headless, newer ledger", newer, ["run", "--headless"], 1, "upgrade arbtui"),
    Case("run (console), newer ledger", newer, ["run"], 1, "upgrade arbtui"),
    Case("db migrate, newer ledger", newer, ["db", "migrate"], 1, "upgrade arbtui"),
    Case("events, corrupt ledger", corrupt, ["events"], 1, "file is not a database"),
    Case("position, corrupt ledger", corrupt, ["position"], 1, "file is not a database"),
    Case("show, corrupt ledger", corrupt, ["show", "position", "AAPL"], 1, "file is not a database"),
    Case("events --limit 10^23", fine, ["events", "--limit", "99999999999999999999999"], 2, "--limit"),
    Case(
        "schwab auth, another login's state",
        fine,
        ["schwab", "auth", "--redirected-url", "https://127.0.0.1/?code=abc&state=not-this-login"],
        1,
        "state does not match",
        SCHWAB_ENV,
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_every_error_is_one_line(tmp_path: Path, case: Case) -> None:
    db = tmp_path / "ledger.db"
    case.prepare(db)
    config = tmp_path / "arbtui.toml"
    config.write_text(CONFIG)
    before = db.read_bytes()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ARBTUI_")} | (case.env or {})
    run = subprocess.run(
        [sys.executable, "-m", "arbtui.cli", "--config", str(config), "--db", str(db), *case.args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    lines = [line for line in run.stderr.splitlines() if line.strip()]
    assert "Traceback" not in run.stderr + run.stdout, run.stderr
    assert len(lines) == 1, run.stderr
    assert case.says in lines[0], lines[0]
    assert run.returncode == case.exit_code, run.stderr
    assert db.read_bytes() == before


def test_an_unexpected_exception_is_one_line_and_its_traceback_is_kept(tmp_path: Path) -> None:
    """A bug (any exception no layer expects) is not swallowed: one line naming it and a file with the
    traceback. Provoked by a command registered only for this process."""
    code = (
        "import sys, arbtui.cli as c\n"
        "@c.main.command('boom')\n"
        "def boom() -> None:\n"
        "    raise ZeroDivisionError('planted')\n"
        "sys.argv = ['arbtui', 'boom']\n"
        "c.main()\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, check=False)
    lines = run.stderr.strip().splitlines()
    assert run.returncode == 1
    assert len(lines) == 1, run.stderr
    assert "unexpected ZeroDivisionError: planted" in lines[0]
    kept = Path(lines[0].rsplit("traceback in ", 1)[1].rstrip(")"))
    try:
        assert "Traceback" in kept.read_text()
        assert "ZeroDivisionError: planted" in kept.read_text()
        assert kept.stat().st_mode & 0o777 == 0o600
    finally:
        kept.unlink()
