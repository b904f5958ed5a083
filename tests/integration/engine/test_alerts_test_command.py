"""``arbtui alerts test`` as a process against the local alert receiver: one line per sink, exit 1 when
any failed, no secret in its output."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.fakes.alert_server import BOT_TOKEN, AlertReceiver
from tests.unit.config.support import MINIMAL, write

SECRET = "whsec-test-secret-never-logged"
CHAT = "-1001234567890"


@pytest.fixture
async def receiver() -> AsyncIterator[AlertReceiver]:
    async with AlertReceiver(secret=SECRET) as server:
        yield server


async def test_the_cli_sends_one_test_alert_to_every_sink_and_reports_each(
    receiver: AlertReceiver, tmp_path: Path
) -> None:
    config = write(
        tmp_path,
        MINIMAL
        + f'[alerts]\nmax_attempts = 2\nretry_backoff_s = 0.01\n[alerts.webhook]\nurl = "{receiver.webhook_url}"\n'
        + f'min_severity = "critical"\n[alerts.telegram]\nchat_id = "{CHAT}"\nbase_url = "{receiver.url}"\n',
    )

    async def run(token: str) -> tuple[int, str, str]:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("ARBTUI_")}
        environ |= {"ARBTUI_WEBHOOK_SECRET": SECRET, "ARBTUI_TELEGRAM_BOT_TOKEN": token}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "arbtui.cli", "--config", str(config), "alerts", "test",
            env=environ, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        out, err = await process.communicate()
        assert process.returncode is not None
        return process.returncode, out.decode(), err.decode()

    good = await run(BOT_TOKEN)
    bad = await run("42:WRONG-secret")

    assert good == (0, "webhook: delivered (1 attempt)\ntelegram: delivered (1 attempt)\n", "")
    assert bad[0] == 1
    assert bad[1] == "webhook: delivered (1 attempt)\ntelegram: failed after 1 attempt: HTTP 401: Unauthorized\n"
    assert "WRONG-secret" not in bad[1] + bad[2]
    hook = receiver.webhooks[0].fields
    assert (hook["key"], hook["severity"]) == ("alerts_test", "critical")  # at the sink's own minimum
    assert receiver.webhooks[0].signature_ok is True
    assert "test alert" in receiver.telegram[0].fields["text"]


async def test_the_cli_without_a_sink_says_so_and_fails(tmp_path: Path) -> None:
    config = write(tmp_path, MINIMAL)
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ARBTUI_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "arbtui.cli", "--config", str(config), "alerts", "test",
        env=environ, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await process.communicate()

    assert process.returncode == 1
    assert "no alert sink configured" in err.decode()
