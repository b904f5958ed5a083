"""``make audit`` runs the real pip-audit over the pins of ``constraints.txt`` against a local OSV-compatible
vulnerability database, and tells "vulnerable" (exit 1) from "database unreachable" (one line, exit 0)
and from "nothing could be looked up" (not a clean audit)."""

from __future__ import annotations

import asyncio
import os
import re
import socket
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from tests.ship.build_files import ROOT, pins, recipe
from tools.audit import CLEAN, FAILED, PROBE, UNREACHABLE, read_report, verdict


def test_pip_audit_is_a_pinned_dev_dependency() -> None:
    assert re.fullmatch(r"\d+(\.\d+)*", pins().get("pip-audit", "")), "pip-audit is not pinned with =="
    assert any(d.startswith('"pip-audit') for d in (ROOT / "pyproject.toml").read_text().split())


def test_make_audit_runs_the_auditor_over_the_constraints_and_the_readme_says_so() -> None:
    steps = recipe(r"audit:")
    assert steps == ["$(BIN)/python -m tools.audit constraints.txt $(AUDIT_ARGS)"]
    readme = (ROOT / "README.md").read_text()
    other_targets = next(p for p in readme.split("\n\n") if p.startswith("Other targets:"))
    assert "`make audit`" in other_targets


# --- the audit against a local vulnerability database ---------------------------------------------


@dataclass
class Osv:
    """The OSV ``/v1/query`` endpoint, answering from :attr:`advisories` (``name`` → advisories)."""

    advisories: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    status: int = 200
    queries: list[tuple[str, str]] = field(default_factory=list)
    url: str = ""

    async def query(self, request: web.Request) -> web.Response:
        body = await request.json()
        name, version = body["package"]["name"], body["version"]
        self.queries.append((name, version))
        if self.status != 200:
            return web.Response(status=self.status)
        vulns = self.advisories.get(name, [])
        return web.json_response({"vulns": vulns} if vulns else {})


def advisory(name: str, ident: str, fixed: str) -> dict[str, Any]:
    return {
        "id": ident,
        "aliases": ["CVE-2099-0001"],
        "summary": "test advisory",
        "affected": [
            {
                "package": {"name": name, "ecosystem": "PyPI"},
                "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": fixed}]}],
            }
        ],
    }


@pytest.fixture
async def osv() -> AsyncIterator[Osv]:
    database = Osv()
    app = web.Application()
    app.router.add_post("/v1/query", database.query)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    database.url = f"http://127.0.0.1:{port}/v1/query"
    yield database
    await runner.cleanup()


async def _audit(tmp_path: Path, requirements: Path, osv_url: str) -> tuple[int, list[str]]:
    """``make audit``'s command, as a real process (pip-audit runs inside it)."""
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tools.audit",
        str(requirements),
        "--osv-url",
        osv_url,
        "--timeout",
        "5",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 240)
    assert not err.strip(), err.decode()
    return process.returncode or 0, out.decode().splitlines()


async def test_vulnerabilities_found_exit_1_naming_each(osv: Osv, tmp_path: Path) -> None:
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("requests==2.34.2\nurllib3==2.8.0\nsetuptools==65.5.0\n")
    osv.advisories["setuptools"] = [advisory("setuptools", "PYSEC-2099-1", "78.1.1")]
    code, lines = await _audit(tmp_path, requirements, osv.url)
    assert code == 1
    assert lines[0] == f"1 known vulnerabilities in 1 of 3 pins of {requirements}:"
    assert lines[1] == "  setuptools==65.5.0: PYSEC-2099-1 / CVE-2099-0001 (fixed in: 78.1.1)"
    assert osv.queries[0] == PROBE
    assert sorted(osv.queries[1:]) == [("requests", "2.34.2"), ("setuptools", "65.5.0"), ("urllib3", "2.8.0")]


async def test_every_pin_of_constraints_is_looked_up_and_a_clean_audit_exits_0(osv: Osv, tmp_path: Path) -> None:
    code, lines = await _audit(tmp_path, ROOT / "constraints.txt", osv.url)
    pinned = pins()
    assert code == 0, lines
    assert lines == [f"no known vulnerabilities in {len(pinned)} pins of {ROOT / 'constraints.txt'} ({osv.url})"]
    assert osv.queries[0] == PROBE
    looked_up = {re.sub(r"[-_.]+", "-", name): version for name, version in osv.queries[1:]}
    assert looked_up == pinned
    assert {"pip", "setuptools", "wheel"} <= set(looked_up)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def test_an_unreachable_database_is_one_line_and_exit_0(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{_closed_port()}/v1/query"
    code, lines = await _audit(tmp_path, ROOT / "constraints.txt", url)
    assert code == 0
    assert len(lines) == 1
    assert lines[0].startswith(f"audit skipped: the vulnerability database ({url}) is unreachable (")
    assert lines[0].endswith("); nothing was checked")


async def test_a_failing_database_is_unreachable_not_clean(osv: Osv, tmp_path: Path) -> None:
    osv.status = 503
    code, lines = await _audit(tmp_path, ROOT / "constraints.txt", osv.url)
    assert code == 0
    assert lines == [
        f"audit skipped: the vulnerability database ({osv.url}) is unreachable (HTTP 503); nothing was checked"
    ]
    assert "no known vulnerabilities" not in " ".join(lines)


@pytest.mark.parametrize("returncode", [0, 1])
def test_a_report_that_audited_nothing_is_not_clean(returncode: int) -> None:
    """pip-audit's PyPI service answers "not found" for every pin where only the project JSON is served
    (this machine's PyPI answers 404 to /pypi/NAME/VERSION/json): pip-audit then exits 0 saying "No known
    vulnerabilities found". That must read as "nothing was checked", never as a clean audit."""
    document = {
        "dependencies": [
            {"name": "requests", "version": "2.34.2", "skip_reason": "Dependency not found on PyPI"},
            {"name": "urllib3", "version": "2.8.0", "skip_reason": "Dependency not found on PyPI"},
        ],
        "fixes": [],
    }
    status, lines = verdict(read_report(document), returncode, Path("constraints.txt"), "https://osv.test/q")
    assert status == UNREACHABLE
    assert lines == [
        "audit skipped: the vulnerability database (https://osv.test/q) looked up none of the 2 pins; "
        "nothing was checked"
    ]


def test_a_partial_lookup_names_what_was_not_audited() -> None:
    document = {
        "dependencies": [
            {"name": "requests", "version": "2.34.2", "vulns": []},
            {"name": "arbtui-private", "version": "1.0", "skip_reason": "not found"},
        ]
    }
    status, lines = verdict(read_report(document), 0, Path("c.txt"), "u")
    assert status == CLEAN
    assert lines == ["no known vulnerabilities in 1 pins of c.txt (u)", "not audited (1): arbtui-private"]


def test_a_pip_audit_failure_without_findings_is_a_failure() -> None:
    report = read_report({"dependencies": [{"name": "a", "version": "1", "vulns": []}]})
    status, lines = verdict(report, 1, Path("c"), "u")
    assert status == FAILED != 0
    assert lines == ["audit failed: pip-audit exited 1 without naming a vulnerability"]
