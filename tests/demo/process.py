"""Run ``arbtui`` as operators do, in its own process. A demo still running at teardown gets SIGINT (its
graceful path stops anvil and the broker server), then SIGKILL by PID if it does not exit in time."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from arbtui.demo.anvil import REPO_ROOT
from tests.e2e.harness import bot_environment

ARBTUI = [sys.executable, "-m", "arbtui.cli"]


def arbtui(*args: str, timeout: float = 120.0, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """``arbtui ARGS`` to completion (``env`` added to a clean environment); stdout and stderr captured."""
    return subprocess.run(
        [*ARBTUI, *args],
        cwd=REPO_ROOT,
        env={**bot_environment(), **(env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@contextlib.contextmanager
def demo_process(output: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """``arbtui demo ARGS`` in the background, stdout and stderr into ``output``."""
    with output.open("wb") as sink:
        process = subprocess.Popen(
            [*ARBTUI, "demo", *args], cwd=REPO_ROOT, env=bot_environment(), stdout=sink, stderr=subprocess.STDOUT
        )
        try:
            yield process
        finally:
            stop(process)


def stop(process: subprocess.Popen[bytes], grace: float = 40.0) -> None:
    if process.poll() is not None:
        return
    os.kill(process.pid, signal.SIGINT)
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)


def wait_for(path: Path, pattern: str, within: float, process: subprocess.Popen[bytes] | None = None) -> re.Match[str]:
    """The first match of ``pattern`` in the file at ``path``, polled until ``within`` seconds passed."""
    deadline = time.monotonic() + within
    while True:
        text = path.read_text(errors="replace") if path.exists() else ""
        found = re.search(pattern, text)
        if found:
            return found
        if process is not None and process.poll() is not None:
            raise AssertionError(f"arbtui demo exited with {process.returncode} before {pattern!r}:\n{text[-3000:]}")
        if time.monotonic() > deadline:
            raise AssertionError(f"no {pattern!r} within {within}s:\n{text[-3000:]}")
        time.sleep(0.2)


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def started_ports(progress: str) -> tuple[int, int]:
    """(anvil port, broker port) from the demo's progress lines."""
    anvil = re.search(r"anvil on http://127\.0\.0\.1:(\d+)", progress)
    broker = re.search(r"broker on http://127\.0\.0\.1:(\d+)", progress)
    assert anvil, progress
    assert broker, progress
    return int(anvil.group(1)), int(broker.group(1))
