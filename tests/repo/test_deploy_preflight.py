"""`make deploy` checks the AWS region, the credentials and sam first, in a moment and without
sending anything to AWS (scripts/deploy_preflight.py), and says what to do when one is missing.

Each run gets an environment of its own: no AWS variable, a HOME and AWS config files that do not
exist. AWS_EC2_METADATA_DISABLED is set too, so the result does not depend on whether the machine
running the test is an EC2 instance with a role (where the SDK, and sam, would find credentials).
"""

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local.emulator.template import ROOT

SCRIPT = ROOT / "scripts" / "deploy_preflight.py"
SAM = ROOT / ".venv-sam" / "bin" / "sam"
# GNU make runs every target of this project: it is on every machine that runs the tests.
MAKE = shutil.which("make") or "make"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
# Well under the minutes deploycheck and sam build take, with room for a loaded machine.
FAST_SECONDS = 15
SECRET = "wJalrXUtnFEMI-not-a-real-secret-7EXAMPLEKEY"


def preflight(tmp_path: Path, sam: Path = SAM, **variables: str) -> subprocess.CompletedProcess[str]:
    environment = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path / "home"),
        "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials"),
        "AWS_EC2_METADATA_DISABLED": "true",
        **variables,
    }
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--env", "default", "--sam", str(sam)],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def needs_sam() -> None:
    if not SAM.exists():
        if IN_CI:
            pytest.fail("make deps builds .venv-sam: the preflight's success cannot be checked without it")
        pytest.skip("no .venv-sam (make deps)")


def test_with_an_empty_environment_it_fails_at_once_asking_for_a_region(tmp_path):
    started = time.monotonic()
    result = preflight(tmp_path)
    assert result.returncode == 1
    assert result.stderr.startswith("make deploy: no AWS region.")
    assert "AWS_DEFAULT_REGION" in result.stderr and "--region" in result.stderr
    assert result.stdout == ""
    assert time.monotonic() - started < FAST_SECONDS


def test_aws_region_alone_is_named_as_what_sam_does_not_read(tmp_path):
    result = preflight(tmp_path, AWS_REGION="us-east-1")
    assert result.returncode == 1
    assert "AWS_REGION is set, but sam does not read it" in result.stderr


def test_with_a_region_and_no_credentials_it_asks_for_credentials(tmp_path):
    result = preflight(tmp_path, AWS_DEFAULT_REGION="us-east-1")
    assert result.returncode == 1
    assert result.stderr.startswith("make deploy: no AWS credentials.")
    assert "aws configure" in result.stderr and "AWS_PROFILE" in result.stderr


def test_a_profile_that_does_not_exist_is_named(tmp_path):
    result = preflight(tmp_path, AWS_PROFILE="payments-ops", AWS_DEFAULT_REGION="us-east-1")
    assert result.returncode == 1
    assert "the AWS profile 'payments-ops' is not configured" in result.stderr


def test_the_region_may_come_from_args_as_sam_deploy_takes_it(tmp_path):
    result = preflight(tmp_path, ARGS="--no-execute-changeset --region=sa-east-1")
    # past the region, stopped at the credentials
    assert result.stderr.startswith("make deploy: no AWS credentials."), result.stderr


def test_a_sam_that_does_not_run_is_named(tmp_path):
    result = preflight(
        tmp_path,
        tmp_path / "no-sam",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ACCESS_KEY_ID="AKIAEXAMPLE",
        AWS_SECRET_ACCESS_KEY=SECRET,
    )
    assert result.returncode == 1
    assert "does not run: make deps installs it" in result.stderr


def test_with_a_profile_of_region_and_credentials_it_passes_and_says_from_where_never_what(tmp_path):
    needs_sam()
    config, credentials = tmp_path / "config", tmp_path / "credentials"
    config.write_text("[profile payments]\nregion = sa-east-1\n")
    credentials.write_text(f"[payments]\naws_access_key_id = AKIAEXAMPLE\naws_secret_access_key = {SECRET}\n")
    result = preflight(
        tmp_path, AWS_PROFILE="payments", AWS_CONFIG_FILE=str(config), AWS_SHARED_CREDENTIALS_FILE=str(credentials)
    )
    assert result.returncode == 0, result.stderr
    assert "region sa-east-1" in result.stdout and "shared-credentials-file (profile payments)" in result.stdout
    assert "sam 1." in result.stdout
    assert SECRET not in result.stdout + result.stderr and "AKIAEXAMPLE" not in result.stdout + result.stderr


def test_make_deploy_runs_the_preflight_before_the_long_checks():
    dry_run = subprocess.run(
        [MAKE, "-n", "--no-print-directory", "deploy"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.splitlines()
    preflight_line = next(i for i, line in enumerate(dry_run) if "scripts/deploy_preflight.py" in line)
    checks = next(i for i, line in enumerate(dry_run) if "scripts.deploycheck" in line)
    build = next(i for i, line in enumerate(dry_run) if " build --build-dir" in line)
    assert preflight_line < checks < build
    # and in a recipe line of its own after the preflight, so make -j cannot start them first
    assert any(
        "$(MAKE)" in line and "deploycheck build" in line for line in (ROOT / "Makefile").read_text().splitlines()
    )
