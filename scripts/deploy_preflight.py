"""`make deploy`'s first step: is there an AWS region, are there AWS credentials, does sam run?
Answered in a second or two, before the minutes of `make deploycheck` and `sam build`, and without
calling AWS: the region and credentials are resolved the way the AWS SDK (and so sam) resolves
them (environment, ~/.aws/config and credentials, the profile, SSO, a container or instance role),
and nothing is sent with them. Whether they are still valid is for `sam deploy` to find out.

    python scripts/deploy_preflight.py --env default --sam .venv-sam/bin/sam

`ARGS` (the options `make deploy` passes to `sam deploy`) is read from the environment, for a
`--region` or `--profile` given there. Exit status 0, or 1 with what to do.
"""

import argparse
import os
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path

import botocore.session
from botocore.exceptions import BotoCoreError, ProfileNotFound

ROOT = Path(__file__).resolve().parent.parent
SAMCONFIG = ROOT / "samconfig.toml"
# The instance-metadata lookup (the last place credentials can come from) waits this long, once.
METADATA_TIMEOUT_SECONDS = 1


class PreflightError(Exception):
    """Something `make deploy` would fail on later: the message says what to do."""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="default", help="samconfig.toml environment (make deploy's ENV)")
    parser.add_argument("--sam", type=Path, required=True, help="the sam executable make deploy runs")
    arguments = parser.parse_args(argv)
    try:
        settings = samconfig_settings(arguments.env)
        given = option_values(os.environ.get("ARGS", ""))
        profile = given.get("--profile") or settings.get("profile")
        session = aws_session(profile)
        region = given.get("--region") or settings.get("region") or configured_region(session, profile)
        if not region:
            # sam reads the region as the AWS SDK for Python does: AWS_DEFAULT_REGION, not the
            # AWS CLI v2's AWS_REGION.
            hint = " (AWS_REGION is set, but sam does not read it)" if os.environ.get("AWS_REGION") else ""
            raise PreflightError(
                f"no AWS region{hint}. Set one for the profile (aws configure set region us-east-1), or "
                'AWS_DEFAULT_REGION=us-east-1, or pass it: make deploy ARGS="--region us-east-1"'
            )
        source = credentials_source(session, profile)
        version = sam_version(arguments.sam)
    except PreflightError as error:
        print(f"make deploy: {error}", file=sys.stderr)
        return 1
    print(f"make deploy: region {region}, credentials from {source}, {version}; nothing was sent to AWS yet")
    return 0


def samconfig_settings(environment: str) -> dict[str, str]:
    """region and profile as samconfig.toml's environment sets them (deploy's own, else global)."""
    with open(SAMCONFIG, "rb") as handle:
        config = tomllib.load(handle)
    if environment not in config or not isinstance(config[environment], dict):
        known = sorted(name for name, value in config.items() if isinstance(value, dict))
        raise PreflightError(f"samconfig.toml has no environment {environment!r} (ENV= one of {known})")
    found: dict[str, str] = {}
    for command in ("global", "deploy"):
        parameters = config[environment].get(command, {}).get("parameters", {})
        found |= {key: str(parameters[key]) for key in ("region", "profile") if key in parameters}
    return found


def option_values(args: str) -> dict[str, str]:
    """`--region X` / `--region=X` and the like, from sam deploy's command line."""
    words = shlex.split(args)
    found = {}
    for index, word in enumerate(words):
        name, equals, value = word.partition("=")
        if name in ("--region", "--profile"):
            if equals:
                found[name] = value
            elif index + 1 < len(words):
                found[name] = words[index + 1]
    return found


def aws_session(profile: str | None) -> botocore.session.Session:
    session = botocore.session.Session(profile=profile)
    # The SDK's defaults, stated: one short try at the instance metadata service, if it comes to it.
    session.set_config_variable("metadata_service_timeout", METADATA_TIMEOUT_SECONDS)
    session.set_config_variable("metadata_service_num_attempts", 1)
    return session


def configured_region(session: botocore.session.Session, profile: str | None) -> str | None:
    try:
        return session.get_config_variable("region")
    except ProfileNotFound:
        raise PreflightError(_missing_profile(profile)) from None


def _missing_profile(profile: str | None) -> str:
    name = profile or os.environ.get("AWS_PROFILE", "")
    return f"the AWS profile {name!r} is not configured: aws configure --profile {name}, or another profile"


def credentials_source(session: botocore.session.Session, profile: str | None) -> str:
    """Where the SDK finds credentials (its own name for the provider), or PreflightError. Nothing
    is fetched with them: an SSO or assume-role profile is resolved when sam first uses it."""
    try:
        credentials = session.get_credentials()
    except ProfileNotFound:
        raise PreflightError(_missing_profile(profile)) from None
    except BotoCoreError as error:
        raise PreflightError(f"AWS credentials are configured but unreadable: {type(error).__name__}") from None
    if credentials is None:
        raise PreflightError(
            "no AWS credentials. Configure them (aws configure, or aws sso login for an SSO profile), "
            "or choose a profile (AWS_PROFILE=name, or [<env>.global.parameters] profile in samconfig.toml)"
        )
    method = getattr(credentials, "method", None) or "the AWS SDK's chain"
    name = profile or os.environ.get("AWS_PROFILE")
    return f"{method}" + (f" (profile {name})" if name else "")


def sam_version(sam: Path) -> str:
    try:
        completed = subprocess.run([str(sam), "--version"], capture_output=True, text=True, timeout=60, check=False)  # noqa: S603 - our own venv's sam
    except OSError:
        raise PreflightError(f"{sam} does not run: make deps installs it") from None
    if completed.returncode != 0:
        raise PreflightError(f"{sam} --version failed: {completed.stderr.strip()[-300:]} (make clean deps?)")
    return completed.stdout.strip().lower().removeprefix("sam cli, ").replace("version ", "sam ")


if __name__ == "__main__":
    sys.exit(main())
