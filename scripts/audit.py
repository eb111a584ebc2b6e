"""CI's vulnerability audit of the locked packages (both lock files), with pip-audit.

pip-audit asks a vulnerability database about every locked package. CI must fail when one
is known to be vulnerable, but a machine that cannot reach the database (offline, or behind
an index mirror that answers "not found" for every package) must not fail CI for that, nor
pass in silence as if the packages had been checked: it says in one line that the audit was
skipped and why. pip-audit itself reports "No known vulnerabilities found" in that case, so
its JSON report is read here instead of its exit code alone.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LOCKS = ("requirements.lock", "requirements-dev.lock")
# A whole audit takes seconds when the database answers; past this it is not answering.
TIMEOUT_S = 600
# What a failure to reach the database looks like in pip-audit's error output (its own
# ConnectionError, or requests' and urllib3's when the name does not resolve).
UNREACHABLE = (
    "ConnectionError",
    "ConnectTimeout",
    "ReadTimeout",
    "NameResolutionError",
    "Max retries exceeded",
    "Could not connect",
    "Temporary failure in name resolution",
    "Network is unreachable",
)


@dataclass(frozen=True)
class Verdict:
    """What CI does with one audit: its exit status and the lines it prints."""

    status: int
    lines: list[str]


def verdict(returncode: int, stdout: str, stderr: str) -> Verdict:
    """Judge one pip-audit run (JSON on stdout) by what it says, not by its status alone."""
    try:
        report = json.loads(stdout)
    except ValueError:
        report = None
    if not isinstance(report, dict):
        return _failed_to_run(returncode, stderr)
    dependencies = report.get("dependencies", [])
    vulnerable = [d for d in dependencies if d.get("vulns")]
    if vulnerable:
        lines = [f"pip-audit: known vulnerabilities in {len(vulnerable)} locked package(s):"]
        for dep in vulnerable:
            for vuln in dep["vulns"]:
                fixed = ", ".join(vuln.get("fix_versions", [])) or "no fixed version yet"
                lines.append(f"  {dep['name']} {dep.get('version', '')}: {vuln['id']} ({fixed})")
        lines.append(
            "Raise the pin in requirements*.txt, run scripts/lock.sh and commit the locks."
        )
        return Verdict(1, lines)
    skipped = [d for d in dependencies if d.get("skip_reason")]
    audited = len(dependencies) - len(skipped)
    if audited == 0:
        reason = skipped[0]["skip_reason"] if skipped else "it listed no package"
        return Verdict(
            0,
            [
                "pip-audit: skipped, the vulnerability database answered for none of the "
                f"{len(dependencies)} locked packages (first: {reason})"
            ],
        )
    line = f"pip-audit: {audited} locked packages audited, no known vulnerabilities"
    if skipped:
        line += f" ({len(skipped)} not in the database: {', '.join(d['name'] for d in skipped)})"
    return Verdict(0, [line])


def _failed_to_run(returncode: int, stderr: str) -> Verdict:
    """No report: an unreachable database skips the audit, anything else fails CI."""
    errors = [line.strip() for line in stderr.splitlines() if line.strip()]
    last = errors[-1] if errors else f"exit status {returncode}, no output"
    if any(marker in stderr for marker in UNREACHABLE):
        return Verdict(
            0, [f"pip-audit: skipped, the vulnerability database could not be reached ({last})"]
        )
    return Verdict(1, ["pip-audit failed:", *errors[-20:]])


def main() -> int:
    command = [sys.executable, "-m", "pip_audit", "--format", "json", "--progress-spinner", "off"]
    # The locks are complete and hashed: audit them as written, without resolving anything.
    command += ["--disable-pip", "--require-hashes", "--timeout", "15"]
    for lock in LOCKS:
        command += ["--requirement", lock]
    try:
        run = subprocess.run(
            command, cwd=ROOT, capture_output=True, text=True, timeout=TIMEOUT_S, check=False
        )
    except subprocess.TimeoutExpired:
        print(f"pip-audit: skipped, the vulnerability database did not answer within {TIMEOUT_S} s")
        return 0
    result = verdict(run.returncode, run.stdout, run.stderr)
    print("\n".join(result.lines))
    return result.status


if __name__ == "__main__":
    sys.exit(main())
