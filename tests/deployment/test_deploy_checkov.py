"""checkov (static policy checks) on deployment/, the Dockerfile and the workflows: no failed check,
and every skipped check carries an inline reason."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from helpers.deploy import REPO

# Each scan: (arguments, frameworks that must have run with passing checks).
SCANS = {
    "deployment": (
        ["-d", "deployment", "--framework", "kubernetes", "kustomize", "terraform", "secrets"],
        {"kubernetes", "terraform", "kustomize"},
    ),
    "dockerfile": (["-f", "Dockerfile", "--framework", "dockerfile", "secrets"], {"dockerfile"}),
    "workflows": (["-d", ".github", "--framework", "github_actions", "secrets"], {"github_actions"}),
}


def checkov_bin() -> str:
    path = os.environ.get("CHECKOV_BIN")
    if not path:
        pytest.skip("CHECKOV_BIN is not set (.ci/run installs checkov into .ci-tools and exports it)")
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.skip(f"CHECKOV_BIN={path} is not an executable file")
    return path


@pytest.fixture(scope="module")
def reports():
    binary = checkov_bin()
    env = {
        **os.environ,
        "BC_SKIP_MAPPING": "TRUE",
        "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false",
        "LOG_LEVEL": "WARNING",
    }
    kubectl = shutil.which("kubectl")
    results = {}
    for scan, (args, _) in SCANS.items():
        cmd = [binary, *args, "--output", "json", "--skip-download", "--soft-fail"]
        proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, f"checkov {scan} crashed:\n{proc.stderr[-3000:]}"
        data = json.loads(proc.stdout)
        results[scan] = {
            r["check_type"]: r for r in (data if isinstance(data, list) else [data]) if "check_type" in r
        }
    results["_kubectl"] = kubectl
    return results


@pytest.mark.parametrize("scan", list(SCANS))
def test_no_failed_checks(reports, scan):
    failures = []
    for framework, report in reports[scan].items():
        for check in report["results"]["failed_checks"]:
            failures.append(
                f"{framework} {check['check_id']} {check['check_name']} "
                f"at {check['file_path']} ({check.get('resource')})"
            )
    assert not failures, "checkov failures:\n" + "\n".join(failures)


@pytest.mark.parametrize("scan", list(SCANS))
def test_expected_frameworks_ran(reports, scan):
    expected = set(SCANS[scan][1])
    if reports["_kubectl"] is None:
        expected.discard("kustomize")
    for framework in expected:
        assert framework in reports[scan], f"checkov did not scan {framework}"
        assert reports[scan][framework]["summary"]["passed"] > 0


@pytest.mark.parametrize("scan", list(SCANS))
def test_every_skip_has_a_reason(reports, scan):
    for framework, report in reports[scan].items():
        for check in report["results"]["skipped_checks"]:
            reason = (check.get("check_result") or {}).get("suppress_comment", "")
            assert reason and reason != "No comment provided" and len(reason) > 20, (
                f"{framework} {check['check_id']} at {check['file_path']} is skipped without a reason"
            )
