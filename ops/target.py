"""Where the API is (`--api`, `--stack` or ETPAY_OPS_API) and who signs for it: the operator's AWS
identity (botocore's credential chain: `--profile`, the AWS_* variables, SSO, ...) and the region
the signature is for."""

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import botocore.session
from botocore.client import BaseClient
from botocore.credentials import Credentials, ReadOnlyCredentials
from botocore.exceptions import ClientError

ENVIRONMENT_VARIABLE = "ETPAY_OPS_API"
# The stack's outputs: the API's base URL (stage included) and the operators' managed policy.
API_OUTPUT = "ApiBaseUrl"
POLICY_OUTPUT = "OperatorApiPolicyArn"
# https://{api id}.execute-api.{region}.amazonaws.com[.cn]/{stage}: the URL says its region.
EXECUTE_API_HOST = re.compile(r"[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?")
# The local stack (python -m local) ignores auth. With no region configured its requests are
# signed for this one, and with no credentials at all, with this stand-in pair: the same code path,
# and nothing of the operator's is needed to try the CLI on it. Never used for another host.
LOCAL_REGION = "us-east-1"
LOCAL_ACCESS_KEY = "LOCALSTACKNOAUTH"
LOCAL_SECRET_KEY = "the-local-stack-ignores-auth"  # noqa: S105 - no secret: nothing checks it


class TargetError(Exception):
    """The API or the identity to call it with cannot be found; the message says what to do."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def base_url(url: str) -> str:
    """The API's base URL, checked: https (http only on this machine), no query, no user part. The
    URL itself is never repeated in a message: a mistyped one may hold a password."""
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host or parts.query or parts.fragment or "@" in parts.netloc:
        raise TargetError(
            "the API URL must be the stack's ApiBaseUrl (no user, query or fragment), "
            "e.g. https://<api id>.execute-api.<region>.amazonaws.com/<stage>"
        )
    if parts.scheme == "http" and not is_loopback(host):
        raise TargetError("the API URL must be https (http only for 127.0.0.1 or localhost): a signature is replayable")
    try:
        parts.port  # noqa: B018 - reading it refuses a port that is no number
    except ValueError:
        raise TargetError("the API URL's port is not a number") from None
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


@dataclass
class Identity:
    """The operator's AWS session: credentials looked up on first use, fresh for each request
    (SSO and assumed roles expire)."""

    session: botocore.session.Session
    loopback: bool
    _credentials: Credentials | None = None

    def credentials(self) -> Credentials | ReadOnlyCredentials:
        if self._credentials is None:
            self._credentials = self.session.get_credentials()
        if self._credentials is not None:
            return self._credentials.get_frozen_credentials()
        if self.loopback:
            return ReadOnlyCredentials(LOCAL_ACCESS_KEY, LOCAL_SECRET_KEY, None)
        raise TargetError(
            "no AWS credentials found: use --profile, AWS_PROFILE or the AWS_* variables (aws sso login for SSO)"
        )


@dataclass(frozen=True)
class Target:
    base_url: str
    region: str
    identity: Identity
    policy_arn: str | None  # the stack's OperatorApiPolicyArn, when --stack read it


def aws_session(profile: str | None, region: str | None) -> botocore.session.Session:
    session = botocore.session.Session(profile=profile)
    if region:
        session.set_config_variable("region", region)
    return session


def cloudformation_client(session: botocore.session.Session, region: str) -> BaseClient:
    return session.create_client("cloudformation", region_name=region)


def stack_outputs(client: BaseClient, stack_name: str) -> dict[str, str]:
    """The stack's outputs (DescribeStacks)."""
    outputs: dict[str, str] = {}
    try:
        for page in client.get_paginator("describe_stacks").paginate(StackName=stack_name):
            for stack in page.get("Stacks", []):
                for output in stack.get("Outputs", []):
                    outputs[str(output["OutputKey"])] = str(output.get("OutputValue", ""))
    except ClientError as error:
        details: Mapping[str, Any] = error.response.get("Error", {})
        raise TargetError(
            f"--stack {stack_name}: CloudFormation says {details.get('Code', 'error')}: {details.get('Message', '')}"
        ) from None
    return outputs


def configured_region(session: botocore.session.Session) -> str | None:
    region = session.get_config_variable("region")
    return str(region) if region else None


def find_target(
    api: str | None, stack: str | None, environ: Mapping[str, str], profile: str | None, region: str | None
) -> Target:
    """--api, else --stack (its ApiBaseUrl output), else ETPAY_OPS_API."""
    session = aws_session(profile, region)
    policy_arn = None
    if api and stack:
        raise TargetError("say where the API is once: --api or --stack, not both")
    if stack:
        stack_region = configured_region(session)
        if stack_region is None:
            raise TargetError(f"--stack {stack}: which region is it in? Use --region or configure one (AWS_REGION)")
        outputs = stack_outputs(cloudformation_client(session, stack_region), stack)
        if not outputs.get(API_OUTPUT):
            raise TargetError(f"--stack {stack}: the stack has no {API_OUTPUT} output (is it this project's stack?)")
        api, policy_arn = outputs[API_OUTPUT], outputs.get(POLICY_OUTPUT)
    api = api or environ.get(ENVIRONMENT_VARIABLE)
    if not api:
        raise TargetError(f"where is the API? Use --api URL, --stack NAME or set {ENVIRONMENT_VARIABLE}")
    url = base_url(api)
    host = urlsplit(url).hostname or ""
    from_host = EXECUTE_API_HOST.fullmatch(host)
    signing_region = region or (from_host.group(1) if from_host else None) or configured_region(session)
    if signing_region is None and is_loopback(host):
        signing_region = LOCAL_REGION
    if signing_region is None:
        raise TargetError("which AWS region is the API in? Use --region or configure one (AWS_REGION)")
    return Target(url, signing_region, Identity(session, is_loopback(host)), policy_arn)
