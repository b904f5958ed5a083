"""The real ``make demo`` console in a real terminal: a detached tmux session (its own server socket),
read with ``capture-pane``, driven with ``send-keys``. Fills appear, the inventory pane shows the vaults
the demo deposited into beside the broker's positions with a drift alert, ``p`` pauses (PAUSED on
screen), ``q`` quits and the process exits 0 having stopped everything it started."""

from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from arbtui.demo.anvil import REPO_ROOT
from tests.demo.process import listening, started_ports
from tests.e2e.harness import bot_environment

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None, reason="tmux is not installed (CI installs it in .ci/run)"
)

DEMO_ARGS = "--seed 1 --rate 3"
FILL_ROW = re.compile(r"\d\d:\d\d:\d\d\s+\d+\s+(AAPL|TSLA|MSFT|NVDA)\s+(BUY|SELL)\s+\d+\.\d+")
USDC_ROW = re.compile(r"USDC\s+50,000\.00\s+\d{2,3},\d{3}\.\d\d\s+\d{3},\d{3}\.\d\d\s+-0\.\d+\s+ok")
"""50,000 USDC deposited onchain against the broker's cash (100,000 at the start, moving as hedges fill), in
cents with separators as the console shows money."""
INVENTORY_TITLE = re.compile(r"Inventory · DRIFT [A-Z, ]*MSFT[A-Z, ]* · as of \d\d:\d\d:\d\d")
MSFT_DRIFT = re.compile(r"MSFT\s+120\s+-?\d+\s+\d+\s+0\.\d+\s+DRIFT\s+move \d+(\.\d+)? MSFT onchain → broker")
"""asset, onchain, broker, total, drift, alert, suggested transfer. The demo deposited 120 MSFT into its
vault against 12 at the broker: hedging cannot close that gap in a test's minutes (``demo.market.OPENING``)."""


class Terminal:
    """One tmux server (private socket) with one 120×40 session running a shell command."""

    def __init__(self, command: str) -> None:
        self.socket = f"arbtui-test-{uuid.uuid4().hex[:10]}"
        self._tmux("new-session", "-d", "-s", "demo", "-x", "120", "-y", "40", "-c", str(REPO_ROOT), command)

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            env=bot_environment(),
            capture_output=True,
            text=True,
            timeout=15,
            check=True,
        )
        return done.stdout

    def screen(self) -> str:
        try:
            return self._tmux("capture-pane", "-p", "-t", "demo")
        except subprocess.CalledProcessError:
            return ""  # the session ended with its command

    def keys(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", "demo", *keys)

    def wait_screen(self, pattern: str | re.Pattern[str], within: float) -> str:
        deadline = time.monotonic() + within
        while True:
            screen = self.screen()
            if re.search(pattern, screen):
                return screen
            if time.monotonic() > deadline:
                raise AssertionError(f"{pattern!r} not on screen within {within}s:\n{screen}")
            time.sleep(0.25)

    def close(self) -> None:
        """Stop the demo gracefully (SIGTERM by PID) if it still runs, then this tmux server only."""
        try:
            shell = int(self._tmux("display-message", "-p", "-t", "demo", "#{pane_pid}").strip())
        except (subprocess.CalledProcessError, ValueError):
            shell = None
        if shell is not None:
            started = _descendants(shell)  # make, and the demo under it
            for pid in started:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + 40
            while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in started):
                time.sleep(0.2)
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True, check=False)


def _descendants(pid: int) -> list[int]:
    """Every process below ``pid``, by PID (children before their own children)."""
    children = [
        int(child)
        for child in subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(pid)], capture_output=True, text=True, check=False
        ).stdout.split()
    ]
    return [*children, *(grandchild for child in children for grandchild in _descendants(child))]


@pytest.fixture
def demo_in_tmux(tmp_path: Path) -> Iterator[tuple[Terminal, Path, Path]]:
    progress, exit_file = tmp_path / "progress.txt", tmp_path / "exit.txt"
    # `make demo`, as an operator starts it (no make of ours around it: MAKEFLAGS cleared), on a fixed seed.
    # The console draws on stderr (the terminal); the set-up progress lines go to stdout → a file. Textual
    # asks stdout for the terminal's size, so with stdout a file it is told through COLUMNS and LINES.
    demo = shlex.join(
        ["env", "COLUMNS=120", "LINES=40", "MAKEFLAGS=", "MAKELEVEL=", "make", "-s", "demo", f"DEMO_ARGS={DEMO_ARGS}"]
    )
    terminal = Terminal(f"sh -c {shlex.quote(f'{demo} > {progress}; echo EXIT=$? > {exit_file}')}")
    try:
        yield terminal, progress, exit_file
    finally:
        terminal.close()


def test_the_console_demo_shows_fills_pauses_on_p_and_quits_with_0_on_q(
    demo_in_tmux: tuple[Terminal, Path, Path],
) -> None:
    terminal, progress, exit_file = demo_in_tmux
    screen = terminal.wait_screen(FILL_ROW, within=180)
    assert "Onchain fills" in screen
    assert "PAUSED" not in screen
    screen = terminal.wait_screen(USDC_ROW, within=30)  # every asset's line: the pane at full height
    assert INVENTORY_TITLE.search(screen), screen
    assert MSFT_DRIFT.search(screen), screen
    anvil_port, broker_port = started_ports(progress.read_text())

    terminal.keys("p")
    terminal.wait_screen("Pause hedging for every symbol", within=10)
    terminal.keys("Enter")
    screen = terminal.wait_screen(r"PAUSED \(all symbols\)", within=10)
    assert "paused from the console" in screen

    terminal.keys("q")
    deadline = time.monotonic() + 60
    while not exit_file.exists():
        if "Quit anyway?" in terminal.screen():
            terminal.keys("y")
        assert time.monotonic() < deadline, f"the demo did not exit after q:\n{terminal.screen()}"
        time.sleep(0.25)
    time.sleep(0.2)  # the shell has finished writing the file
    assert exit_file.read_text().strip() == "EXIT=0"
    assert not listening(anvil_port)
    assert not listening(broker_port)
