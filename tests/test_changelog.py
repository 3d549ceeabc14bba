"""CHANGELOG.md keeps the Keep a Changelog shape, and the version the service reports is its latest release."""

import datetime
import re
import tomllib
from pathlib import Path

from api_app.factory import VERSION

ROOT = Path(__file__).resolve().parent.parent
RELEASE = re.compile(r"^## \[(\d+\.\d+\.\d+)\] - (\d{4}-\d{2}-\d{2})$")
SECTIONS = {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}


def changelog_lines() -> list[str]:
    return (ROOT / "CHANGELOG.md").read_text(encoding="utf-8").splitlines()


def releases() -> list[tuple[tuple[int, ...], datetime.date]]:
    found = []
    for line in changelog_lines():
        if match := RELEASE.match(line):
            version = tuple(int(part) for part in match.group(1).split("."))
            found.append((version, datetime.date.fromisoformat(match.group(2))))
    return found


def test_unreleased_comes_first_then_releases_newest_first():
    headings = [line for line in changelog_lines() if line.startswith("## ")]
    assert headings[0] == "## [Unreleased]"
    assert all(RELEASE.match(heading) for heading in headings[1:]), headings
    found = releases()
    assert found, "no release is listed"
    assert [version for version, _ in found] == sorted((version for version, _ in found), reverse=True)
    assert [date for _, date in found] == sorted((date for _, date in found), reverse=True)


def test_only_keep_a_changelog_sections():
    sections = {line[4:].strip() for line in changelog_lines() if line.startswith("### ")}
    assert sections <= SECTIONS, sections - SECTIONS


def test_the_service_and_the_package_report_the_latest_release():
    latest = ".".join(str(part) for part in releases()[0][0])
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["version"] == latest
    assert latest == VERSION
