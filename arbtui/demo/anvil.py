"""Start and stop a local anvil node (from the npm package) on a free loopback port."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

# The npm tooling (anvil, solc, Pyth SDK) lives in ``node_modules`` of the checkout (``make setup``);
# ARBTUI_NODE_ROOT points elsewhere when arbtui is installed from a wheel.
REPO_ROOT = Path(os.environ.get("ARBTUI_NODE_ROOT") or Path(__file__).resolve().parents[2])
ANVIL_BIN = REPO_ROOT / "node_modules" / "@foundry-rs" / "anvil-linux-amd64" / "bin" / "anvil"


class AnvilError(RuntimeError):
    """anvil is missing, did not start, or did not answer in time."""


def free_port() -> int:
    """A loopback port that was free a moment ago (anvil does not support ``--port 0``)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rpc(url: str, method: str, params: list[object] | None = None, timeout: float = 5.0) -> object:
    """One synchronous JSON-RPC call (used only for readiness and fixture plumbing)."""
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params or []}).encode()
    request = urllib.request.Request(url, data=body, headers={"content-type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        answer = json.loads(response.read())
    if "error" in answer:
        raise AnvilError(f"{method} failed: {answer['error']}")
    return answer["result"]


@dataclass
class AnvilNode:
    """A running anvil process. ``http_url`` and ``ws_url`` share the port."""

    process: subprocess.Popen[bytes]
    port: int

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, *extra_args: str, attempts: int = 5, ready_timeout: float = 15.0) -> AnvilNode:
        if not ANVIL_BIN.exists():
            raise AnvilError(f"anvil not found at {ANVIL_BIN}: run `npm ci` (make setup)")
        last: Exception | None = None
        for _ in range(attempts):
            port = free_port()
            process = subprocess.Popen(
                [str(ANVIL_BIN), "--port", str(port), "--host", "127.0.0.1", "--silent", *extra_args],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            node = cls(process, port)
            try:
                node.wait_ready(ready_timeout)
            except AnvilError as exc:  # port raced away, or the process died: try another port
                last = exc
                node.stop()
                continue
            return node
        raise AnvilError(f"anvil did not start after {attempts} attempts: {last}")

    def wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                stderr = self.process.stderr.read().decode(errors="replace") if self.process.stderr else ""
                raise AnvilError(f"anvil exited with {self.process.returncode}: {stderr.strip()}")
            with contextlib.suppress(OSError, urllib.error.URLError, AnvilError):
                rpc(self.http_url, "eth_blockNumber", timeout=1.0)
                return
            time.sleep(0.02)
        raise AnvilError(f"anvil on port {self.port} did not answer within {timeout}s")

    def stop(self) -> None:
        """Stop by our own PID (its own session), never by name."""
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        if self.process.stderr:
            self.process.stderr.close()
