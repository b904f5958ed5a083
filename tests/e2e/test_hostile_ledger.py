"""Hostile starts against one ledger, as real processes (issue 17): a second bot, a kill -9'd holder, a
ledger from another chain, two demos on one ``--keep-db``. Each case first proves the attack reaches
arbtui (the process really starts on that ledger), then that it is refused in one line on stderr,
naming what refused it, with nothing in the ledger changed."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from arbtui.demo.anvil import REPO_ROOT, AnvilNode
from arbtui.demo.artifacts import Artifact
from arbtui.demo.deploy import ChainDriver, deploy_all
from arbtui.store.lock import lock_path
from tests.e2e.harness import (
    Bot,
    Chain,
    CountingAlpacaServer,
    allocate_port,
    bot_environment,
    eventually,
    write_config,
)

ARBTUI = [sys.executable, "-m", "arbtui.cli"]


def ledger_fingerprint(db: Path) -> str:
    """A digest of everything the ledger holds (events, cursor, chain binding), read without writing."""
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        digest = hashlib.sha256()
        for table in ("events", "chain_checkpoints", "ledger_chain", "ledger_orderbooks", "schema_migrations"):
            for row in conn.execute(f"SELECT * FROM {table} ORDER BY 1"):
                digest.update(repr(row).encode())
        return digest.hexdigest()
    finally:
        conn.close()


def recorded_chain(db: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return [tuple(r) for r in conn.execute("SELECT chain_id FROM ledger_chain")]
    finally:
        conn.close()


def one_line_refusal(result: subprocess.CompletedProcess[str]) -> str:
    """The refused process's stderr: exactly one line, no traceback; returns it."""
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert "Traceback" not in result.stderr + result.stdout, result.stderr
    assert len(lines) == 1, result.stderr
    return lines[0]


def run_headless(config: Path, db: Path, timeout: float = 60.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ARBTUI, "--config", str(config), "--db", str(db), "run", "--headless"],
        cwd=REPO_ROOT,
        env=bot_environment(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.slow
async def test_a_second_bot_on_a_ledger_in_use_is_refused_naming_the_holder(bot: Bot, tmp_path: Path) -> None:
    await bot.start()
    await bot.wait_healthy()
    assert bot.process is not None
    await eventually(lambda: recorded_chain(bot.db) == [(31337,)], within=15, what="the chain id recorded")
    before = ledger_fingerprint(bot.db)
    # the attack reaches arbtui: a second headless bot on the same ledger (through another path spelling)
    # with its own API port, so only the ledger is shared
    other = tmp_path / "second.toml"
    text = bot.config.read_text().replace(f"127.0.0.1:{bot.api_port}", f"127.0.0.1:{allocate_port()}")
    other.write_text(text)
    alias = tmp_path / "alias" / ".." / bot.db.name
    (tmp_path / "alias").mkdir()
    second = await asyncio.to_thread(run_headless, other, alias)
    assert second.returncode == 1
    line = one_line_refusal(second)
    assert f"pid {bot.process.pid} on host {socket.gethostname()}" in line, line
    assert "one writer per ledger" in line
    assert ledger_fingerprint(bot.db) == before
    assert await bot.healthy(), "the first bot kept running"
    # the same for the other writers: the console, db migrate, db rebuild-views, a demo on that path
    for args in (["run"], ["db", "migrate"], ["db", "rebuild-views"]):
        refused = await asyncio.to_thread(
            subprocess.run,
            [*ARBTUI, "--config", str(other), "--db", str(bot.db), *args],
            cwd=REPO_ROOT,
            env=bot_environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            stdin=subprocess.DEVNULL,
        )
        assert refused.returncode == 1, (args, refused.stderr)
        assert f"pid {bot.process.pid}" in one_line_refusal(refused), args
    assert ledger_fingerprint(bot.db) == before
    # readers do not take the lock
    for args in (["events"], ["position"], ["report", "pnl"]):
        read = await asyncio.to_thread(
            subprocess.run,
            [*ARBTUI, "--db", str(bot.db), *args],
            cwd=REPO_ROOT,
            env=bot_environment(),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert read.returncode == 0, (args, read.stderr)


@pytest.mark.slow
async def test_a_kill_9d_holder_does_not_block_the_next_start(bot: Bot) -> None:
    await bot.start()
    await bot.wait_healthy()
    assert bot.process is not None
    holder = bot.process.pid
    assert lock_path(bot.db).read_text().startswith(f"{holder}@")
    await bot.kill9()
    await bot.start()  # the kernel released the dead holder's lock: no stale file to clean up
    await bot.wait_healthy()
    assert bot.process.pid != holder
    assert lock_path(bot.db).read_text().startswith(f"{bot.process.pid}@")


@pytest.mark.slow
async def test_a_ledger_from_another_chain_is_refused_and_left_unchanged(
    bot: Bot, chain: Chain, alpaca: CountingAlpacaServer, artifacts: dict[str, Artifact], tmp_path: Path
) -> None:
    await bot.start()
    await bot.wait_healthy()
    await eventually(lambda: recorded_chain(bot.db) == [(31337,)], within=15, what="the chain id recorded")
    bot.signal(signal.SIGTERM)
    assert await bot.wait_exit(30) == 0, bot.tail()
    before = ledger_fingerprint(bot.db)
    other_chain = await asyncio.to_thread(start_chain_with_id, artifacts, 84532)
    try:
        config = write_config(
            tmp_path / "other-chain.toml",
            chain=other_chain,
            alpaca_url=alpaca.url,
            api_port=allocate_port(),
            db=bot.db,
        )
        refused = await asyncio.to_thread(run_headless, config, bot.db)
    finally:
        other_chain.node.stop()
    assert refused.returncode == 1, refused.stderr
    line = one_line_refusal(refused)
    assert "belongs to chain id 31337" in line, line
    assert "answers chain id 84532" in line, line
    assert ledger_fingerprint(bot.db) == before
    # the same ledger on its own chain still starts
    await bot.start()
    await bot.wait_healthy()


def start_chain_with_id(artifacts: dict[str, Artifact], chain_id: int) -> Chain:
    """Like the ``chain`` fixture (same contracts, same addresses), on a node with another chain id."""
    node = AnvilNode.start("--chain-id", str(chain_id))
    try:
        deployment = deploy_all(node.http_url, artifacts)
        driver = ChainDriver(node.http_url, deployment, artifacts)
        return Chain(node, deployment, driver, driver.head() + 1)
    except BaseException:
        node.stop()
        raise


@pytest.mark.slow
def test_two_demos_on_one_keep_db_one_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "demo.db"
    first_out = tmp_path / "first.log"
    with first_out.open("wb") as sink:
        first = subprocess.Popen(
            [*ARBTUI, "demo", "--headless", "--duration", "20", "--seed", "3", "--keep-db", str(db)],
            cwd=REPO_ROOT,
            env=bot_environment(),
            stdout=sink,
            stderr=subprocess.STDOUT,
        )
        try:
            deadline = time.monotonic() + 120
            while "engine built" not in first_out.read_text(errors="replace"):  # the attack reaches arbtui
                assert first.poll() is None, first_out.read_text()
                assert time.monotonic() < deadline, first_out.read_text()
                time.sleep(0.2)
            second = subprocess.run(
                [*ARBTUI, "demo", "--headless", "--duration", "5", "--keep-db", str(db)],
                cwd=REPO_ROOT,
                env=bot_environment(),
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
            assert second.returncode == 1, second.stdout + second.stderr
            line = one_line_refusal(second)
            assert f"pid {first.pid} on host {socket.gethostname()}" in line, line
            assert "engine built" not in second.stdout
            assert first.wait(120) == 0, first_out.read_text()[-3000:]
        finally:
            if first.poll() is None:
                os.kill(first.pid, signal.SIGKILL)
                first.wait(10)
    assert recorded_chain(db) == [(31337,)]
    assert f"{db} (kept)" in first_out.read_text()
