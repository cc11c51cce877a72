"""The events' part of template.yaml: the stream and who may read it, the event sources' settings,
the failure queues and their alarms, what depends on MerchantWebhookUrl, and that the whole
template translates (LanguageExtensions, then SAM) for every combination that matters."""

import json
import os
import subprocess
from pathlib import Path

import pytest

from local.emulator.event_sources import passes
from local.emulator.template import ROOT, load_template

SAM_PYTHON = ROOT / ".venv-sam" / "bin" / "python"
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")
STREAM_ACTIONS = {"dynamodb:DescribeStream", "dynamodb:GetRecords", "dynamodb:GetShardIterator", "dynamodb:ListStreams"}
# SAM's own policies for stream and queue events: they read every stream / queue of the account.
WILDCARD_EVENT_POLICIES = ("AWSLambdaDynamoDBExecutionRole", "AWSLambdaSQSQueueExecutionRole", "AWSLambdaKinesis")
WEBHOOK_RESOURCES = {
    "WebhookSecret",
    "WebhookQueue",
    "WebhookDeadLetterQueue",
    "WebhookDeliveryFunction",
    "WebhookDeliveryEventSource",
    "WebhookDeliveryLogGroup",
    "WebhookDeadLetterAlarm",
    "WebhookAttemptsFailingAlarm",
    "WebhookDeliveryErrorsAlarm",
}


def resources() -> dict:
    return load_template()["Resources"]


def statements_of(policies) -> list[dict]:
    """Every policy statement, both branches of an Fn::If included."""
    found = []
    for policy in policies or []:
        for statement in policy.get("Statement", []) if isinstance(policy, dict) else []:
            if "Fn::If" in statement:
                found += [branch for branch in statement["Fn::If"][1:] if "Ref" not in branch]
            else:
                found.append(statement)
    return found


def actions(statement: dict) -> set[str]:
    value = statement["Action"]
    return set(value if isinstance(value, list) else [value])


def test_the_orders_table_streams_both_images():
    assert resources()["OrdersTable"]["Properties"]["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}


def test_only_the_event_publisher_may_read_the_stream():
    readers = set()
    for name, resource in resources().items():
        properties = resource.get("Properties", {})
        for statement in statements_of(properties.get("Policies")):
            if actions(statement) & STREAM_ACTIONS:
                readers.add(name)
                assert statement["Resource"] == {"Fn::GetAtt": ["OrdersTable", "StreamArn"]}
        for event in (properties.get("Events") or {}).values():
            assert event["Type"] not in ("DynamoDB", "Kinesis", "SQS"), f"{name}: SAM would attach a wildcard policy"
        for managed in properties.get("ManagedPolicyArns") or []:
            assert not any(policy in json.dumps(managed) for policy in WILDCARD_EVENT_POLICIES), name
    assert readers == {"EventPublisherFunction"}


def test_the_stream_event_source_settings():
    source = resources()["EventPublisherStream"]["Properties"]

    assert source["FunctionName"] == {"Ref": "EventPublisherFunction.Alias"}
    assert source["EventSourceArn"] == {"Fn::GetAtt": ["OrdersTable", "StreamArn"]}
    assert source["StartingPosition"] == "TRIM_HORIZON"
    assert source["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert source["BisectBatchOnFunctionError"] is True
    assert 0 < source["MaximumRetryAttempts"] <= 10_000
    # Given up on before the stream's own 24 hours: the records can still be replayed.
    assert 60 <= source["MaximumRecordAgeInSeconds"] < 24 * 3600
    assert source["ParallelizationFactor"] == 1
    (only,) = source["FilterCriteria"]["Filters"]
    assert json.loads(only["Pattern"]) == {
        "dynamodb": {
            "Keys": {"pk": {"S": [{"prefix": "ORDER#"}]}},
            "NewImage": {"session_token": {"S": [{"exists": True}]}},
        }
    }
    assert source["DestinationConfig"]["OnFailure"]["Destination"] == {
        "Fn::GetAtt": ["EventPublisherFailuresQueue", "Arn"]
    }


@pytest.mark.parametrize(
    ("queue", "alarm"),
    [
        ("EventPublisherFailuresQueue", "EventPublisherFailuresAlarm"),
        ("WebhookDeadLetterQueue", "WebhookDeadLetterAlarm"),
    ],
)
def test_every_failure_queue_alarms_on_its_first_message(queue, alarm):
    properties = resources()[alarm]["Properties"]
    assert properties["MetricName"] == "ApproximateNumberOfMessagesVisible"
    assert properties["Dimensions"] == [{"Name": "QueueName", "Value": {"Fn::GetAtt": [queue, "QueueName"]}}]
    assert properties["Threshold"] == 1
    assert properties["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert properties["AlarmActions"] == [{"Ref": "AlarmTopic"}]


def test_every_queue_is_encrypted_by_sqs_or_by_the_stacks_key():
    # SQS's own keys by default; the stack's customer-managed key with CustomerManagedKey=true.
    for name, resource in resources().items():
        if resource["Type"] == "AWS::SQS::Queue":
            properties = resource["Properties"]
            assert properties["SqsManagedSseEnabled"] == {
                "Fn::If": ["UseCustomerManagedKey", {"Ref": "AWS::NoValue"}, True]
            }, name
            assert properties["KmsMasterKeyId"] == {
                "Fn::If": ["UseCustomerManagedKey", {"Ref": "EncryptionKey"}, {"Ref": "AWS::NoValue"}]
            }, name


def test_webhook_resources_exist_only_with_a_merchant_webhook_url():
    template = load_template()
    assert template["Conditions"]["HasWebhook"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "MerchantWebhookUrl"}, ""]}]}
    assert template["Parameters"]["MerchantWebhookUrl"]["Default"] == ""
    conditional = {name for name, resource in resources().items() if resource.get("Condition") == "HasWebhook"}
    assert conditional == WEBHOOK_RESOURCES
    outputs = template["Outputs"]
    assert outputs["WebhookSecretArn"]["Condition"] == "HasWebhook"
    for name in ("EventBusName", "EventBusArn"):
        assert name in outputs


def test_the_webhook_secret_is_generated_as_valid_base64():
    generate = resources()["WebhookSecret"]["Properties"]["GenerateSecretString"]
    # Letters and digits only: every 4 of them are 3 bytes of base64.
    assert generate["ExcludePunctuation"] is True and generate["IncludeSpace"] is False
    assert generate["PasswordLength"] % 4 == 0 and generate["PasswordLength"] * 3 // 4 >= 24


def test_the_bus_is_named_per_stack():
    assert resources()["EventBus"]["Properties"]["Name"] == {"Fn::Sub": "${AWS::StackName}-payments"}


# -- the whole template, translated offline as CloudFormation would ---------------------------------------
COMBINATIONS = {
    "AWS_IAM, no webhooks": {},
    "AWS_IAM, webhooks": {"MerchantWebhookUrl": "https://merchant.example/webhooks"},
    "API_KEY, no webhooks": {"ApiAuth": "API_KEY"},
    "API_KEY, webhooks, customer-managed key": {
        "ApiAuth": "API_KEY",
        "MerchantWebhookUrl": "https://merchant.example/webhooks",
        "CustomerManagedKey": "true",
    },
}


@pytest.mark.parametrize("parameters", COMBINATIONS.values(), ids=COMBINATIONS.keys())
def test_the_template_translates(parameters, tmp_path: Path):
    if not SAM_PYTHON.exists():
        if IN_CI:
            pytest.fail("make deps builds .venv-sam: the translation check cannot run without it")
        pytest.skip("no .venv-sam (make deps)")
    output = tmp_path / "translated.json"
    arguments = [argument for name, value in parameters.items() for argument in ("--parameter", f"{name}={value}")]

    completed = subprocess.run(  # noqa: S603 - our own script in our own venv
        [str(SAM_PYTHON), str(ROOT / "scripts" / "translate_template.py"), *arguments, "--output", str(output)],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"], "AWS_DEFAULT_REGION": "us-east-1", "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr[-3000:]
    translated = json.loads(output.read_text())["Resources"]
    # After SAM too, the stream is readable by the publisher's role alone, and no role got one of
    # SAM's account-wide event source policies.
    for name, resource in translated.items():
        if resource["Type"] != "AWS::IAM::Role":
            continue
        properties = resource["Properties"]
        assert not any(
            policy in json.dumps(properties.get("ManagedPolicyArns", [])) for policy in WILDCARD_EVENT_POLICIES
        )
        granted = {
            action
            for policy in properties.get("Policies", [])
            for statement in statements_of([policy["PolicyDocument"]])
            for action in actions(statement)
        }
        if granted & STREAM_ACTIONS:
            assert name == "EventPublisherFunctionRole"
    assert translated["EventPublisherStream"]["Type"] == "AWS::Lambda::EventSourceMapping"


def test_the_stream_filter_passes_writes_that_leave_an_order_and_nothing_else():
    (only,) = resources()["EventPublisherStream"]["Properties"]["FilterCriteria"]["Filters"]
    filters = (json.loads(only["Pattern"]),)
    key = {"pk": {"S": "ORDER#OC-1"}}
    claim = {**key, "claim_id": {"S": "c1"}, "order_amount": {"N": "50000"}}
    order = {**claim, "session_token": {"S": "sess-1"}, "status": {"S": "PENDING"}}
    paid = {**order, "status": {"S": "PAID"}}

    def record(event: str, old: dict | None, new: dict | None, keys: dict = key) -> dict:
        images = {"OldImage": old} if old else {}
        return {"eventName": event, "dynamodb": {"Keys": keys, **images, **({"NewImage": new} if new else {})}}

    assert [
        passes(filters, record("INSERT", None, claim)),  # a new order's claim, before ETpay is asked
        passes(filters, record("MODIFY", claim, claim)),  # a claim taken over
        passes(filters, record("REMOVE", claim, None)),  # a claim's expiry
        passes(filters, record("INSERT", None, {"pk": {"S": "RECONCILER#etpay-backoff"}}, {"pk": {"S": "R"}})),
        passes(filters, record("MODIFY", claim, order)),  # the order's first session
        passes(filters, record("MODIFY", order, paid)),  # its payment
    ] == [False, False, False, False, True, True]
