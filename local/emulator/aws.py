"""The stack's AWS on this machine: moto's server in a subprocess (`moto_server.py`), and with
`persist` the tables in DynamoDB Local instead (`dynamodb_local.py`, its file storage under
`.local/`), holding what CloudFormation would create for the template: every table (its key schema,
indexes and stream), every secret, queue and EventBridge bus. The functions talk to it over HTTP
exactly as to AWS."""

import json
import logging
import os
import secrets as secrets_random
import string
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from local.emulator.processes import Child, read_line, stop_child
from local.emulator.template import choose, exists, resources_of_type, table_definitions
from local.examples import EXAMPLE_NOTIFICATION_KEY

logger = logging.getLogger("local.aws")

MOTO_SCRIPT = Path(__file__).resolve().parent / "moto_server.py"
REGION = "us-east-1"
# moto accepts any credentials; fixed fake ones keep a developer's real profile out of it.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}
# Generated secrets whose local value is fixed, so the committed example events verify locally.
LOCAL_SECRET_VALUES = {"NotificationKeySecret": EXAMPLE_NOTIFICATION_KEY}
START_TIMEOUT_SECONDS = 30.0
# Queue attributes of the template passed to CreateQueue as they are.
QUEUE_ATTRIBUTES = ("VisibilityTimeout", "MessageRetentionPeriod", "DelaySeconds", "MaximumMessageSize")


class EmulatorError(RuntimeError):
    pass


def client(endpoint_url: str, service: str, **config: Any) -> Any:
    """A boto3 client of the emulator with the fake credentials. The account id is kept out of
    DynamoDB's endpoint (botocore 1.44 puts it there, and moto's DynamoDB Streams answers 404)."""
    import boto3  # here: `python -m local` prints its first line before this second-long import
    from botocore.config import Config

    settings = {"account_id_endpoint_mode": "disabled", "retries": {"mode": "standard", "max_attempts": 3}}
    return boto3.session.Session().client(
        service,  # type: ignore[call-overload]  # any service name the emulator serves
        endpoint_url=endpoint_url,
        region_name=REGION,
        aws_access_key_id=FAKE_CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=FAKE_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=FAKE_CREDENTIALS["AWS_SESSION_TOKEN"],
        config=Config(**(settings | config)),
    )


def emulator_client(endpoint_url: str, service: str) -> Any:
    """The name bench/ and tests/ know `client` by."""
    return client(endpoint_url, service)


def child_environment() -> dict[str, str]:
    """What any child needs from ours: nothing of the developer's AWS setup, no proxies."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "HOME": os.environ.get("HOME", "/tmp"),  # noqa: S108 - only a fallback for libraries
        # Never read a developer's ~/.aws: every call goes to the emulator with fake credentials.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_ACCOUNT_ID_ENDPOINT_MODE": "disabled",
        "NO_PROXY": "127.0.0.1,localhost",
    }


# The account moto answers as.
ACCOUNT_ID = "123456789012"


def physical_names(stack_name: str) -> dict[str, str]:
    """What `!Ref` of each table and secret of the template gives in the local stack, and of the
    pseudo parameters the functions' variables name."""
    names = {logical_id: f"{stack_name}-{logical_id}" for logical_id in resources_of_type("AWS::DynamoDB::Table")}
    secrets = {
        logical_id: f"{stack_name}/{logical_id}" for logical_id in resources_of_type("AWS::SecretsManager::Secret")
    }
    stack_id = f"arn:aws:cloudformation:{REGION}:{ACCOUNT_ID}:stack/{stack_name}/00000000-0000-4000-8000-000000000000"
    pseudo = {
        "AWS::StackName": stack_name,
        "AWS::StackId": stack_id,
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT_ID,
    }
    return names | secrets | pseudo


class AwsEmulator:
    """moto's server, started by start() and ended by stop() (or when this process exits: it
    stops when its stdin closes)."""

    def __init__(self, port: int, log_path: Path, python: str = sys.executable):
        self.requested_port = port  # 0 or a busy port: moto_server.py picks a free one
        self._log_path = log_path
        self._python = python
        self._child: Child | None = None
        self.port: int | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, stopping: Callable[[], bool] = lambda: False) -> "AwsEmulator":
        log: IO[bytes] = open(self._log_path, "ab")  # noqa: SIM115 - closed by stop()
        try:
            process = subprocess.Popen(  # noqa: S603 - our own interpreter and script
                [self._python, "-I", "-B", str(MOTO_SCRIPT), "--port", str(self.requested_port)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                env=child_environment() | FAKE_CREDENTIALS | {"AWS_DEFAULT_REGION": REGION},
                start_new_session=True,
            )
        except BaseException:
            log.close()
            raise
        self._child = Child(process, log)
        line = read_line(process, START_TIMEOUT_SECONDS, stopping)
        try:
            self.port = int(json.loads(line)["port"])
        except (ValueError, KeyError, TypeError):
            self.stop()
            if stopping():
                raise EmulatorError("stopped while the AWS emulator started") from None
            raise EmulatorError(f"the AWS emulator did not start; see {self._log_path}") from None
        logger.info("AWS emulator (moto) on %s", self.endpoint_url)
        return self

    def stop(self) -> None:
        child, self._child = self._child, None
        if child is not None:
            stop_child(child)


# -- what CloudFormation would create -------------------------------------------------------------------
@dataclass
class Created:
    """What `Ref` and `Fn::GetAtt ... Arn` give for each resource created."""

    refs: dict[str, str] = field(default_factory=dict)
    arns: dict[str, str] = field(default_factory=dict)
    # Tables that were already there (DynamoDB Local's file storage): orders kept from a last run.
    kept_tables: list[str] = field(default_factory=list)


def create_tables(endpoint_url: str, names: Mapping[str, str], created: Created) -> None:
    """Every table of the template, unless a table of that name is already there (kept on disk)."""
    dynamodb = client(endpoint_url, "dynamodb")
    existing = set(dynamodb.list_tables()["TableNames"])
    for logical_id, definition in table_definitions().items():
        if names[logical_id] in existing:
            created.kept_tables.append(logical_id)
        else:
            dynamodb.create_table(TableName=names[logical_id], **definition)
        created.refs[logical_id] = names[logical_id]


def create_secrets(endpoint_url: str, names: Mapping[str, str], etpay_credentials: Mapping[str, str]) -> None:
    """Every secret holding ETpay credentials gets `etpay_credentials` (the sandbox's); a generated
    secret (GenerateSecretString) its LOCAL_SECRET_VALUES value (the examples in events/ rely on
    them), else one generated the way Secrets Manager would."""
    secrets = client(endpoint_url, "secretsmanager")
    for logical_id, resource in resources_of_type("AWS::SecretsManager::Secret").items():
        generate = resource["Properties"].get("GenerateSecretString")
        if generate is not None:
            value = LOCAL_SECRET_VALUES.get(logical_id) or generated_secret(generate)
        elif set(json.loads(resource["Properties"].get("SecretString") or "{}")) == set(etpay_credentials):
            value = json.dumps(dict(etpay_credentials))
        else:
            raise EmulatorError(f"{logical_id} does not hold ETpay credentials; add a local value for it")
        secrets.create_secret(Name=names[logical_id], SecretString=value)


def create_queues_and_buses(aws: Any, stack_name: str, conditions: Mapping[str, bool]) -> Created:
    """Each queue with its attributes and redrive policy (moto moves a message to the dead-letter
    queue after maxReceiveCount receives, as SQS does), each bus under the stack's name for it.
    `aws`: an endpoint URL, or anything with an `endpoint_url` (an AwsEmulator)."""
    endpoint = aws if isinstance(aws, str) else aws.endpoint_url
    created = Created()
    sqs = client(endpoint, "sqs")
    queues = {name: r for name, r in resources_of_type("AWS::SQS::Queue").items() if exists(r, conditions)}
    # Dead-letter queues first: a redrive policy names its target's ARN.
    for logical_id in sorted(queues, key=lambda name: _redrive_target(queues[name], conditions) is not None):
        properties = queues[logical_id].get("Properties", {})
        attributes = {
            name: str(choose(properties[name], conditions)) for name in QUEUE_ATTRIBUTES if name in properties
        }
        target = _redrive_target(queues[logical_id], conditions)
        if target is not None:
            redrive = choose(properties["RedrivePolicy"], conditions)
            attributes["RedrivePolicy"] = json.dumps(
                {"deadLetterTargetArn": created.arns[target], "maxReceiveCount": int(redrive["maxReceiveCount"])}
            )
        url = sqs.create_queue(QueueName=f"{stack_name}-{logical_id}", Attributes=attributes)["QueueUrl"]
        created.refs[logical_id] = url
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        created.arns[logical_id] = arn
    events = client(endpoint, "events")
    for logical_id, resource in resources_of_type("AWS::Events::EventBus").items():
        if exists(resource, conditions):
            created.refs[logical_id] = f"{stack_name}-{logical_id}"
            created.arns[logical_id] = events.create_event_bus(Name=created.refs[logical_id])["EventBusArn"]
    return created


def _redrive_target(resource: Mapping[str, Any], conditions: Mapping[str, bool]) -> str | None:
    redrive = choose(resource.get("Properties", {}).get("RedrivePolicy"), conditions)
    if not redrive:
        return None
    target = redrive.get("deadLetterTargetArn")
    if isinstance(target, dict) and "Fn::GetAtt" in target and target["Fn::GetAtt"][1] == "Arn":
        return str(target["Fn::GetAtt"][0])
    raise EmulatorError(f"cannot resolve the dead-letter queue {target!r} locally")


def generated_secret(options: Mapping[str, Any]) -> str:
    """What Secrets Manager's GenerateSecretString makes of these options (the ones the template
    uses: a length, letters and digits only when punctuation is excluded)."""
    alphabet = string.ascii_letters + string.digits + ("" if options.get("ExcludePunctuation") else string.punctuation)
    return "".join(secrets_random.choice(alphabet) for _ in range(int(options.get("PasswordLength", 32))))
