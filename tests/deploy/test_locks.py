"""The image, .venv and CI install exactly the locked packages, and CI audits them.

requirements.txt and requirements-dev.txt name the top-level packages; scripts/lock.sh resolves
them into requirements.lock and requirements-dev.lock, where every package, transitive ones
included, has an exact version and the hashes of its files. An install that is not
``--require-hashes`` from a lock would let an unpinned or altered package in unnoticed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from scripts.audit import verdict

ROOT = Path(__file__).resolve().parents[2]
IMAGE_LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


@dataclass(frozen=True)
class Locked:
    """One package as a lock file names it."""

    requirement: Requirement
    hashes: tuple[str, ...]

    @property
    def version(self) -> str:
        (spec,) = self.requirement.specifier
        return spec.version


def logical_lines(path: Path) -> list[str]:
    """The file's entries: continuation lines joined, comments and blank lines left out."""
    joined = re.sub(r"\\\n", " ", path.read_text())
    lines = (line.split(" #", 1)[0].strip() for line in joined.splitlines())
    return [line for line in lines if line and not line.startswith("#")]


def read_lock(path: Path) -> dict[str, Locked]:
    entries: dict[str, Locked] = {}
    for line in logical_lines(path):
        hashes = tuple(HASH.findall(line))
        requirement = Requirement(HASH.sub("", line).strip())
        entries[canonicalize_name(requirement.name)] = Locked(requirement, hashes)
    return entries


def top_level(path: Path) -> dict[str, Requirement]:
    """The requirements a file names, following its ``-r`` includes."""
    found: dict[str, Requirement] = {}
    for line in logical_lines(path):
        if line.startswith("-r "):
            found |= top_level(path.parent / line.split(maxsplit=1)[1])
        else:
            requirement = Requirement(line)
            found[canonicalize_name(requirement.name)] = requirement
    return found


def commands(path: Path) -> list[str]:
    """A shell script's or Dockerfile's commands, continuation lines joined."""
    return [line for line in logical_lines(path) if not line.startswith("#")]


@pytest.mark.parametrize("lock", [IMAGE_LOCK, DEV_LOCK], ids=lambda p: p.name)
def test_every_locked_package_has_an_exact_version_and_hashes(lock: Path) -> None:
    lines = logical_lines(lock)
    assert lines, f"{lock.name} is empty"
    for line in lines:
        assert not line.startswith("-"), f"{lock.name}: an option, not a package: {line}"
        requirement = Requirement(HASH.sub("", line).strip())
        assert requirement.url is None, line
        specs = list(requirement.specifier)
        assert len(specs) == 1 and specs[0].operator == "==", f"not one exact version: {line}"
        assert "*" not in specs[0].version, f"not one exact version: {line}"
        assert HASH.search(line), f"{lock.name}: {requirement.name} has no sha256 hash"
        assert not re.search(r"\s-", HASH.sub("", line)), f"{lock.name}: an option in {line}"


@pytest.mark.parametrize(
    ("requirements", "lock"),
    [("requirements.txt", IMAGE_LOCK), ("requirements-dev.txt", DEV_LOCK)],
    ids=["image", "dev"],
)
def test_the_locks_are_resolved_from_the_top_level_requirements(
    requirements: str, lock: Path
) -> None:
    locked = read_lock(lock)
    for name, requirement in top_level(ROOT / requirements).items():
        assert name in locked, f"{requirement} is not in {lock.name}: run scripts/lock.sh"
        version = locked[name].version
        assert requirement.specifier.contains(version, prereleases=True), (
            f"{lock.name} has {name}=={version}, {requirements} asks for {requirement}: "
            "run scripts/lock.sh"
        )


def test_the_image_lock_covers_what_used_to_install_unpinned() -> None:
    locked = read_lock(IMAGE_LOCK)
    assert {"greenlet", "mako", "pamqp", "yarl", "anyio"} <= set(locked)


def test_tests_run_on_the_versions_and_files_the_image_installs() -> None:
    image, dev = read_lock(IMAGE_LOCK), read_lock(DEV_LOCK)
    for name, entry in image.items():
        assert name in dev, f"{name} is in the image but not in {DEV_LOCK.name}"
        assert dev[name].version == entry.version, name
        assert set(dev[name].hashes) == set(entry.hashes), name


def test_the_image_installs_the_hashed_lock_and_nothing_else() -> None:
    lines = commands(ROOT / "Dockerfile")
    assert "COPY requirements.lock ./" in lines
    installs = [line for line in lines if "pip install" in line]
    assert installs == ["RUN pip install --no-cache-dir --require-hashes -r requirements.lock"]


def test_the_venv_installs_the_hashed_dev_lock_and_nothing_else() -> None:
    script = ROOT / "scripts" / "venv.sh"
    installs = [line for line in commands(script) if "pip install" in line]
    assert len(installs) == 1
    (install,) = installs
    assert "--require-hashes" in install.split()
    assert re.search(r"(-r|--requirement) requirements-dev\.lock\b", install)
    # A change to either lock reinstalls.
    assert "cat requirements.lock requirements-dev.lock | sha256sum" in script.read_text()


def test_ci_installs_from_the_lock_audits_and_the_lock_script_hashes_everything() -> None:
    test = commands(ROOT / "scripts" / "test.sh")
    assert "bash scripts/venv.sh" in test
    assert ".venv/bin/python scripts/audit.py" in test
    assert test.index(".venv/bin/python scripts/audit.py") < next(
        i for i, line in enumerate(test) if "pytest" in line
    )
    lock = (ROOT / "scripts" / "lock.sh").read_text()
    assert "--generate-hashes" in lock
    assert "compile requirements.txt -o requirements.lock" in lock
    assert "compile requirements-dev.txt -c requirements.lock -o requirements-dev.lock" in lock


# --- the audit's verdicts ---------------------------------------------------------------------


def report(*dependencies: dict[str, object]) -> str:
    return json.dumps({"dependencies": list(dependencies), "fixes": []})


def test_a_known_vulnerability_fails_ci_and_names_the_package_and_fix() -> None:
    stdout = report(
        {
            "name": "jinja2",
            "version": "3.1.2",
            "vulns": [{"id": "GHSA-h5c8-rqwp-cp95", "fix_versions": ["3.1.3"], "aliases": []}],
        },
        {"name": "anyio", "version": "4.16.0", "vulns": []},
    )
    result = verdict(1, stdout, "")
    assert result.status == 1
    assert any("jinja2 3.1.2: GHSA-h5c8-rqwp-cp95 (3.1.3)" in line for line in result.lines)


def test_a_clean_audit_passes_and_says_how_many_packages_it_checked() -> None:
    stdout = report(
        {"name": "anyio", "version": "4.16.0", "vulns": []},
        {"name": "yarl", "version": "1.25.1", "vulns": []},
    )
    assert verdict(0, stdout, "").lines == [
        "pip-audit: 2 locked packages audited, no known vulnerabilities"
    ]


def test_a_database_that_knows_no_package_skips_in_one_line_without_failing() -> None:
    reason = "Dependency not found on PyPI and could not be audited: anyio (4.16.0)"
    result = verdict(0, report({"name": "anyio", "skip_reason": reason}), "")
    assert result.status == 0
    (line,) = result.lines
    assert line.startswith("pip-audit: skipped") and reason in line


def test_an_unreachable_database_skips_in_one_line_without_failing() -> None:
    stderr = (
        "Traceback (most recent call last):\n  ...\n"
        "requests.exceptions.ConnectionError: HTTPSConnectionPool(host='vulns.invalid', "
        "port=443): Max retries exceeded with url: /v1/query (Caused by NameResolutionError)\n"
    )
    result = verdict(1, "", stderr)
    assert result.status == 0
    (line,) = result.lines
    assert line.startswith("pip-audit: skipped, the vulnerability database could not be reached")


def test_an_audit_that_breaks_for_another_reason_fails_ci() -> None:
    stderr = "ERROR:pip_audit._cli:requirements.lock: invalid requirement: 'anyio=='\n"
    result = verdict(1, "", stderr)
    assert result.status == 1
    assert result.lines[-1] == stderr.strip()
