"""``make audit``: every pin of ``constraints.txt`` against the OSV vulnerability database, with pip-audit.

pip-audit reads the pins as they are (``--no-deps --disable-pip``: nothing is resolved or installed) and
asks OSV about each ``name==version``. Before that, one query checks that the database answers, so that
an offline machine gets one line instead of a traceback — and never a false "no vulnerabilities".

Exit status:

* 0 — no known vulnerability in any pin; or the database is unreachable, and the one line printed says
  so (nothing was checked);
* 1 — vulnerabilities found: one line per package and advisory, with the fixed versions;
* 2 — the audit itself failed for another reason (its last error line is printed).

Run it as ``python -m tools.audit [--osv-url URL] [--timeout S] [REQUIREMENTS]``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

OSV_URL = "https://api.osv.dev/v1/query"
PROBE = ("pip", "20.0")
"""The query that checks the database answers (any pin would do; this one has known advisories)."""
CLEAN = 0
UNREACHABLE = 0
"""Not a failure: an offline machine cannot audit, and says so."""
FOUND = 1
FAILED = 2


def probe(osv_url: str, timeout: float) -> str | None:
    """``None`` if the OSV endpoint answers a query with JSON, else why not (one short phrase)."""
    name, version = PROBE
    query = json.dumps({"package": {"name": name, "ecosystem": "PyPI"}, "version": version}).encode()
    request = urllib.request.Request(osv_url, data=query, headers={"Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return f"HTTP {exc.code}"
    except urllib.error.URLError as exc:
        return str(exc.reason)
    except (TimeoutError, OSError) as exc:
        return type(exc).__name__ if not str(exc) else str(exc)
    except ValueError:
        return "the answer is not JSON"
    return None


@dataclass(frozen=True)
class Finding:
    name: str
    version: str
    ids: tuple[str, ...]
    fixed_in: tuple[str, ...]

    def line(self) -> str:
        fix = ", ".join(self.fixed_in) if self.fixed_in else "no fixed version yet"
        return f"  {self.name}=={self.version}: {' / '.join(self.ids)} (fixed in: {fix})"


@dataclass(frozen=True)
class Report:
    audited: int
    skipped: dict[str, str]
    findings: list[Finding]


def read_report(document: dict[str, Any]) -> Report:
    """pip-audit's ``-f json`` document → what ``make audit`` prints."""
    findings: list[Finding] = []
    skipped: dict[str, str] = {}
    audited = 0
    for dependency in document.get("dependencies", []):
        name = str(dependency["name"])
        if "skip_reason" in dependency:
            skipped[name] = str(dependency["skip_reason"])
            continue
        audited += 1
        for vuln in dependency.get("vulns", []):
            findings.append(
                Finding(
                    name=name,
                    version=str(dependency["version"]),
                    ids=(str(vuln["id"]), *(str(a) for a in vuln.get("aliases", []))),
                    fixed_in=tuple(str(v) for v in vuln.get("fix_versions", [])),
                )
            )
    return Report(audited, skipped, findings)


def run_pip_audit(requirements: Path, osv_url: str, timeout: float, output: Path) -> subprocess.CompletedProcess[str]:
    command = [
        sys.executable,
        "-m",
        "pip_audit",
        "--requirement",
        str(requirements),
        "--no-deps",
        "--disable-pip",
        "--vulnerability-service",
        "osv",
        "--osv-url",
        osv_url,
        "--timeout",
        str(max(1, round(timeout))),
        "--progress-spinner",
        "off",
        "--aliases",
        "on",
        "--format",
        "json",
        "--output",
        str(output),
    ]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def audit(requirements: Path, osv_url: str = OSV_URL, timeout: float = 15.0) -> tuple[int, list[str]]:
    """The exit status and the lines to print."""
    where = f"the vulnerability database ({osv_url})"
    reason = probe(osv_url, timeout)
    if reason is not None:
        return UNREACHABLE, [f"audit skipped: {where} is unreachable ({reason}); nothing was checked"]
    with tempfile.TemporaryDirectory(prefix="arbtui-audit-") as scratch:
        output = Path(scratch) / "audit.json"
        finished = run_pip_audit(requirements, osv_url, timeout, output)
        document = json.loads(output.read_text()) if output.is_file() and output.stat().st_size else None
    if document is None:
        again = probe(osv_url, timeout)  # it may have gone away during the run
        if again is not None:
            return UNREACHABLE, [f"audit skipped: {where} became unreachable during the audit ({again})"]
        errors = [line for line in finished.stderr.splitlines() if line.strip()]
        last = errors[-1] if errors else f"exit status {finished.returncode}, no report"
        return FAILED, [f"audit failed: pip-audit: {last}"]
    return verdict(read_report(document), finished.returncode, requirements, osv_url)


def verdict(report: Report, returncode: int, requirements: Path, osv_url: str) -> tuple[int, list[str]]:
    """The exit status and lines for a report pip-audit wrote. A report in which no pin could be looked
    up is not a clean audit (pip-audit itself says "No known vulnerabilities found" then)."""
    if report.audited == 0:
        return UNREACHABLE, [
            f"audit skipped: the vulnerability database ({osv_url}) looked up none of the "
            f"{len(report.skipped)} pins; nothing was checked"
        ]
    not_audited = (
        [f"not audited ({len(report.skipped)}): " + ", ".join(sorted(report.skipped))] if report.skipped else []
    )
    if report.findings:
        found, packages = len(report.findings), len({finding.name for finding in report.findings})
        heading = f"{found} known vulnerabilities in {packages} of {report.audited} pins of {requirements}:"
        return FOUND, [heading, *(finding.line() for finding in report.findings), *not_audited]
    if returncode != 0:
        return FAILED, [f"audit failed: pip-audit exited {returncode} without naming a vulnerability"]
    return CLEAN, [f"no known vulnerabilities in {report.audited} pins of {requirements} ({osv_url})", *not_audited]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="make audit", description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("requirements", nargs="?", default="constraints.txt", type=Path)
    parser.add_argument("--osv-url", default=OSV_URL, help="the OSV query endpoint (default: %(default)s)")
    parser.add_argument("--timeout", type=float, default=15.0, help="seconds per request (default: %(default)s)")
    args = parser.parse_args(argv)
    status, lines = audit(args.requirements, args.osv_url, args.timeout)
    for line in lines:
        print(line)
    return status


if __name__ == "__main__":
    raise SystemExit(main())
